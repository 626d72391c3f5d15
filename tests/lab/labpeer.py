# Shared pieces of the Python programs the lab tests write into $LAB_TMP (lib.sh copies this
# file there, so `import labpeer` works from any of them, kernel side or under synack).
import os
import socket
import struct
import sys
import threading
import time


def say(*args):
    # print(), but the whole line in one write(2): a program under synack shares its output file
    # with synack's own log lines (SYNACK_TRACE), and print() under PYTHONUNBUFFERED writes each
    # argument and the newline apart, so a log line could land inside one of the program's.
    os.write(1, (" ".join(str(a) for a in args) + "\n").encode())


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


def echo_client(addr, port, size, secs=60):
    """One connection to an echo server at addr:port: send size random bytes (from a thread,
    so that both directions flow at once) and half-close, read the echo to its end. Returns
    '' when every byte came back in order and the stream ended with an orderly EOF (the
    server's FIN), else why not (an RST shows as 'connection reset')."""
    import hashlib
    import os
    data = os.urandom(size)
    try:
        s = connect(addr, port)
    except OSError as e:
        return f'connect: {e}'
    s.settimeout(secs)
    sent = []

    def send():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            sent.append(True)
        except OSError as e:
            sent.append(e)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    h, n = hashlib.sha256(), 0
    try:
        while b := s.recv(1 << 16):
            h.update(b)
            n += len(b)
    except ConnectionResetError:
        return f'connection reset after {n} of {size} bytes'
    except OSError as e:
        return f'recv after {n} of {size} bytes: {e}'
    finally:
        t.join(secs)
        s.close()
    if sent != [True]:
        return f'send: {sent}'
    if n != size or h.digest() != hashlib.sha256(data).digest():
        return f'{n} bytes back of {size}, SHA-256 {"equal" if h.digest() == hashlib.sha256(data).digest() else "differs"}'
    return ''


def echo_clients(addr, port, size, count, parallel):
    """count echo_client runs, one after the other or all at once; prints one report line,
    'ok WHAT' or 'FAIL WHAT: why' (report_checks' form), and returns whether all were good."""
    what = (f'{count} {"parallel" if parallel else "sequential"} clients to {addr}:{port}: '
            f'{size} random bytes each echoed byte-exact, orderly EOF')
    errors = [None] * count

    def one(i):
        errors[i] = echo_client(addr, port, size)
    if parallel:
        ts = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    else:
        for i in range(count):
            one(i)
    bad = [f'client {i}: {e}' for i, e in enumerate(errors) if e != '']
    if bad:
        print(f'FAIL {what}: {len(bad)} bad; {"; ".join(bad[:3])}', flush=True)
    else:
        print(f'ok {what}', flush=True)
    return not bad


def capture_conns(lines, server):
    """The TCP connections to server ('ADDR.PORT') in a capture, as `tcpdump -n -r FILE`
    prints it (lines), and how each ended on the server's side. A connection starts with the
    client's SYN and is accepted with the server's SYN-ACK; it has ended once the server sent
    a FIN or an RST. Prints "accepted N fin F rst R open O", then each open connection's client
    end (at most 20)."""
    import re
    line_re = re.compile(r' IP (\S+) > (\S+?): Flags \[([^\]]*)\]')
    conns = {}  # client end -> [accepted, how it ended: None, 'F' or 'R']
    order = []
    for line in lines:
        m = line_re.search(line)
        if not m:
            continue
        src, dst, flags = m.groups()
        if dst == server and flags == 'S':
            c = conns.get(src)
            # A new connection, unless the SYN is a retransmission on one still open.
            if c is None or c[1] is not None or not c[0]:
                conns[src] = c = [False, None]
                order.append(c)
        elif src == server and dst in conns:
            c = conns[dst]
            if 'S' in flags:
                c[0] = True
            elif c[0] and c[1] is None and ('F' in flags or 'R' in flags):
                c[1] = 'R' if 'R' in flags else 'F'
    acc = [c for c in order if c[0]]
    still = [k for k, c in conns.items() if c[0] and c[1] is None]
    print(f"accepted {len(acc)} fin {sum(c[1] == 'F' for c in acc)} "
          f"rst {sum(c[1] == 'R' for c in acc)} open {len(still)}")
    for k in still[:20]:
        print(k)


if __name__ == '__main__':
    # python3 labpeer.py echo-clients ADDR PORT SIZE COUNT parallel|sequential
    if len(sys.argv) == 7 and sys.argv[1] == 'echo-clients':
        ok = echo_clients(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
                          sys.argv[6] == 'parallel')
        sys.exit(0 if ok else 1)
    # tcpdump -n -r FILE | python3 labpeer.py conns ADDR PORT
    if len(sys.argv) == 4 and sys.argv[1] == 'conns':
        capture_conns(sys.stdin, f'{sys.argv[2]}.{sys.argv[3]}')
        sys.exit(0)
    sys.exit('usage: labpeer.py echo-clients ADDR PORT SIZE COUNT parallel|sequential\n'
             '       labpeer.py conns ADDR PORT (a tcpdump -n -r listing on stdin)')
