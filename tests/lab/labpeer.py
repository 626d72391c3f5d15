# Shared pieces of the Python programs the lab tests write into $LAB_TMP (lib.sh copies this
# file there, so `import labpeer` works from any of them, kernel side or under synack).
import socket
import struct
import sys
import threading
import time


def listener(addr, port, backlog=4):
    """A TCP socket listening on addr:port (SO_REUSEADDR: tests reuse their ports)."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(backlog)
    return ls


def connect(addr, port, secs=10):
    """A TCP connection to addr:port, retried while refused (the server is not listening
    yet) for at most secs seconds."""
    deadline = time.monotonic() + secs
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect((addr, port))
            return s
        except ConnectionRefusedError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def serve_threads(addr, port, fn, backlog=16):
    """Accept on addr:port forever; each connection is fn(conn) in a daemon thread."""
    ls = listener(addr, port, backlog)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=fn, args=(c,), daemon=True).start()


def wait_file(path, secs=15):
    """Wait until path exists (the test script's signal); exit with an error after secs."""
    import os
    deadline = time.monotonic() + secs
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit('timed out waiting for ' + path)
        time.sleep(0.005)


def echo_line(c):
    """Read one line from connection c, send it back, close c."""
    with c:
        buf = b''
        while not buf.endswith(b'\n'):
            b = c.recv(100)
            if not b:
                return
            buf += b
        c.sendall(buf)


def csum(data):
    """The Internet checksum (RFC 1071) of data, as IPv4, ICMP and TCP headers carry it."""
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
