#!/usr/bin/env bash
# The entry points real programs reach besides send/recv, called on a synack socket by a
# python3 client under synack (ctypes for the ones python does not wrap) against a kernel
# python3 server in the peer namespace, under strace -f: every check is byte-exact, and no
# data-path system call on the offloaded socket's fd may reach the kernel.
#  - sendfile64 (os.sendfile) with an offset and with the file position (offset NULL);
#  - syscall(SYS_write), syscall(SYS_sendto), syscall(SYS_recvfrom), sendmmsg, recvmmsg;
#  - recv flags: MSG_PEEK, MSG_TRUNC (consumed, not copied), MSG_WAITALL, MSG_DONTWAIT (EAGAIN);
#  - send after shutdown(SHUT_WR): EPIPE and SIGPIPE, and with MSG_NOSIGNAL EPIPE alone;
#  - ioctl SIOCOUTQ (0 once the peer acknowledged everything) and SIOCINQ.
. "$(dirname "$0")/lib.sh"

lab_up

cat >"$LAB_TMP/server.py" <<'EOF'
# Port 7000: read to end of stream, answer the SHA-256 (hex) of what came, close.
# Port 7001: send PATTERN, then read to end of stream and close.
import hashlib, sys, threading
from labpeer import serve_threads
PATTERN = bytes(range(256)) * 4096  # 1 MiB

def sink(c):
    h = hashlib.sha256()
    while b := c.recv(65536):
        h.update(b)
    c.sendall(h.hexdigest().encode())
    c.close()

def source(c):
    c.sendall(PATTERN)
    while c.recv(65536):
        pass
    c.close()

threading.Thread(target=serve_threads, args=(sys.argv[1], 7000, sink), daemon=True).start()
serve_threads(sys.argv[1], 7001, source)
EOF

cat >"$LAB_TMP/client.py" <<'EOF'
import ctypes, errno, fcntl, hashlib, os, signal, socket, struct, sys, time
host, datafile = sys.argv[1], sys.argv[2]
PATTERN = bytes(range(256)) * 4096
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_write, SYS_sendto, SYS_recvfrom = 1, 44, 45
SIOCINQ, SIOCOUTQ = 0x541B, 0x5411
fds = []
failed = []

def check(name, ok, why=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + why), flush=True)
    if not ok:
        failed.append(name)

def conn(port):
    # Blocking, as the raw calls below expect (a Python timeout makes the fd O_NONBLOCK, set
    # with ioctl(FIONBIO), and ctypes calls bypass Python's waiting).
    s = socket.create_connection((host, port), timeout=20)
    s.setblocking(True)
    fds.append(s.fileno())
    return s

def sink_digest(s):
    s.shutdown(socket.SHUT_WR)
    out = b""
    while b := s.recv(100):
        out += b
    return out.decode()

class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
class msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint), ("iov", ctypes.POINTER(iovec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]

def mmsg_vec(bufs):
    vec = (mmsghdr * len(bufs))()
    iovs = []
    for i, b in enumerate(bufs):
        iov = (iovec * 1)(iovec(ctypes.cast(b, ctypes.c_void_p), len(b)))
        iovs.append(iov)
        vec[i].hdr.iov = iov
        vec[i].hdr.iovlen = 1
    return vec, iovs

data = open(datafile, "rb").read()

# sendfile64: first half with an explicit offset (the file position must not move), the
# rest from the file position (offset NULL: the position must advance).
s = conn(7000)
with open(datafile, "rb") as f:
    half = len(data) // 2
    sent = 0
    while sent < half:
        n = os.sendfile(s.fileno(), f.fileno(), sent, half - sent)
        assert n > 0
        sent += n
    check("sendfile with an offset leaves the file position", f.tell() == 0, str(f.tell()))
    f.seek(half)
    while (n := os.sendfile(s.fileno(), f.fileno(), None, len(data))) > 0:
        pass
    check("sendfile without offset advances the file position", os.lseek(f.fileno(), 0, os.SEEK_CUR) == len(data))
digest = sink_digest(s)
check("sendfile 3 MiB in two halves, SHA-256 equal", digest == hashlib.sha256(data).hexdigest(), digest)
outq = ctypes.c_int(-1)
r = libc.ioctl(s.fileno(), SIOCOUTQ, ctypes.byref(outq))
check("ioctl(SIOCOUTQ) is 0 once everything was acknowledged", r == 0 and outq.value == 0, f"r={r} value={outq.value}")
s.close()

# syscall() and sendmmsg.
s = conn(7000)
parts = [data[:1000], data[1000:300000], data[300000:300001], data[300001:600000], data[600000:1 << 20]]
b0 = ctypes.create_string_buffer(parts[0], len(parts[0]))
r = libc.syscall(SYS_write, s.fileno(), b0, len(parts[0]))
check("syscall(SYS_write) on a synack socket", r == len(parts[0]), f"r={r} errno={ctypes.get_errno()}")
b1 = ctypes.create_string_buffer(parts[1], len(parts[1]))
r = libc.syscall(SYS_sendto, s.fileno(), b1, len(parts[1]), 0, None, 0)
check("syscall(SYS_sendto) on a synack socket", r == len(parts[1]), f"r={r} errno={ctypes.get_errno()}")
bufs = [ctypes.create_string_buffer(p, len(p)) for p in parts[2:]]
vec, keep = mmsg_vec(bufs)
r = libc.sendmmsg(s.fileno(), vec, len(bufs), 0)
check("sendmmsg of 3 messages", r == 3 and [vec[i].len for i in range(3)] == [len(p) for p in parts[2:]],
      f"r={r} errno={ctypes.get_errno()}")
digest = sink_digest(s)
check("syscall(write, sendto) + sendmmsg, SHA-256 equal", digest == hashlib.sha256(b"".join(parts)).hexdigest(), digest)
s.close()

# Receive flags, recvmmsg and syscall(SYS_recvfrom) against the 1 MiB pattern.
s = conn(7001)
got = bytearray()
p = s.recv(10, socket.MSG_PEEK)
check("MSG_PEEK returns the next bytes", p == PATTERN[:10], repr(p))
p = s.recv(10)
check("recv after MSG_PEEK returns the same bytes", p == PATTERN[:10], repr(p))
got += p
# MSG_TRUNC on TCP: consumed, not copied (Linux tcp_recvmsg); wait until 1000 B are queued.
deadline = time.monotonic() + 10
inq = ctypes.c_int(0)
while time.monotonic() < deadline:
    libc.ioctl(s.fileno(), SIOCINQ, ctypes.byref(inq))
    if inq.value >= 1000:
        break
    time.sleep(0.01)
check("ioctl(SIOCINQ) counts queued bytes", inq.value >= 1000, str(inq.value))
buf = ctypes.create_string_buffer(b"\xee" * 1000, 1000)
r = libc.recv(s.fileno(), buf, 1000, socket.MSG_TRUNC)
check("recv(MSG_TRUNC) consumes 1000 B without copying", r == 1000 and buf.raw == b"\xee" * 1000, f"r={r}")
got += PATTERN[10:1010]  # what was discarded, to keep the offsets
p = s.recv(100000, socket.MSG_WAITALL)
check("MSG_WAITALL returns the whole 100000 B", p == PATTERN[1010:101010], f"{len(p)} B")
got += p
bufs = [ctypes.create_string_buffer(4096) for _ in range(2)]
vec, keep = mmsg_vec(bufs)
r = libc.recvmmsg(s.fileno(), vec, 2, 0, None)
ok = r == 2
for i in range(max(r, 0)):
    got += bufs[i].raw[:vec[i].len]
check("recvmmsg of 2 messages", ok and bytes(got) == PATTERN[:len(got)], f"r={r} errno={ctypes.get_errno()}")
rb = ctypes.create_string_buffer(65536)
r = libc.syscall(SYS_recvfrom, s.fileno(), rb, 65536, 0, None, None)
check("syscall(SYS_recvfrom) on a synack socket", r > 0, f"r={r} errno={ctypes.get_errno()}")
got += rb.raw[:max(r, 0)]
while len(got) < len(PATTERN):
    b = s.recv(65536)
    if not b:
        break
    got += b
check("the 1 MiB pattern arrives byte-exact through every receive path", bytes(got) == PATTERN, f"{len(got)} B")
s.setblocking(False)
try:
    s.recv(10)
    check("MSG_DONTWAIT/non-blocking recv with nothing queued: EAGAIN", False, "data")
except BlockingIOError:
    check("MSG_DONTWAIT/non-blocking recv with nothing queued: EAGAIN", True)
s.setblocking(True)

# EPIPE and SIGPIPE after our own shutdown(SHUT_WR).
pipes = []
signal.signal(signal.SIGPIPE, lambda *a: pipes.append(1))
s.shutdown(socket.SHUT_WR)
try:
    s.send(b"x")
    check("send after SHUT_WR fails with EPIPE", False, "succeeded")
except BrokenPipeError:
    check("send after SHUT_WR fails with EPIPE", True)
check("... and raises SIGPIPE", len(pipes) == 1, f"{len(pipes)} signals")
try:
    s.send(b"x", socket.MSG_NOSIGNAL)
    check("send(MSG_NOSIGNAL) after SHUT_WR fails with EPIPE", False, "succeeded")
except BrokenPipeError:
    check("send(MSG_NOSIGNAL) after SHUT_WR fails with EPIPE", True)
check("... without SIGPIPE", len(pipes) == 1, f"{len(pipes)} signals")
s.close()
print("FDS " + " ".join(map(str, sorted(set(fds)))), flush=True)
sys.exit(1 if failed else 0)
EOF

make_file "$LAB_TMP/data.bin" 3145728
spawn "$LAB_TMP/server.log" ip netns exec "$NS_B" "$LAB_PY" "$LAB_TMP/server.py" "$ADDR_B"
peer_wait_listen 7001

rc=0
LAB_TIMEOUT=90 synack_exec strace -f -qq -o "$LAB_TMP/strace.log" \
	-e trace=socket,close,read,write,readv,writev,sendto,recvfrom,sendmsg,recvmsg,sendmmsg,recvmmsg,sendfile,ioctl,shutdown \
	"$LAB_PY" "$LAB_TMP/client.py" "$ADDR_B" "$LAB_TMP/data.bin" >"$LAB_TMP/client.out" 2>"$LAB_TMP/client.err" || rc=$?
report_checks "$LAB_TMP/client.out" "$rc" "python3 entry-point client under synack"
fds=$(sed -nE 's/^FDS (.*)$/\1/p' "$LAB_TMP/client.out")
if [[ -z $fds ]]; then
	fail "no data-path syscall on an offloaded socket reaches the kernel" "the client did not list its fds"
else
	# A data-path call on one of those fds while it names a TCP socket (from its socket() to
	# its close(); the numbers are reused for files before and after). FIONBIO is not data
	# path: the shim applies it to the placeholder too, on purpose, to keep it in step.
	awk -v fds=" $fds " '
		/ socket\(AF_INET, SOCK_STREAM/ && match($0, /= [0-9]+$/) {
			fd = substr($0, RSTART + 2); if (index(fds, " " fd " ")) live[fd] = 1; next }
		match($0, /^[0-9]+ +[a-z0-9]+\([0-9]+/) {
			split(substr($0, RSTART, RLENGTH), w, "("); sub(/^[0-9]+ +/, "", w[1])
			if (w[1] == "close") { delete live[w[2]]; next }
			if (w[1] == "ioctl" && / FIONBIO, /) next
			if (w[2] in live) print }' "$LAB_TMP/strace.log" >"$LAB_TMP/leaks"
	check_no_leaks "$LAB_TMP/leaks" "$fds"
fi
lab_finish
