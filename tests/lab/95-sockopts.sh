#!/usr/bin/env bash
# Socket options as Linux answers them, differentially (as 77): one python3 script runs twice,
#   1. the reference: in a second lab whose synack-side namespace has the kernel address
#      10.77.0.1, WITHOUT synack;
#   2. under synack (strict) in this test's normal lab;
# against the same kernel peer program, with net.ipv4.tcp_fastopen = 0 in both synack-side
# namespaces. Every line must be equal:
#  - IP_TOS (ECN bits masked, one-byte get/set), IP_TTL (64, -1, EINVAL), TCP_NOTSENT_LOWAT,
#    TCP_DEFER_ACCEPT (5 s reads back 7), IP_BIND_ADDRESS_NO_PORT (bind leaves port 0, connect
#    picks it), SO_PRIORITY (inherited by an accepted connection), SO_BINDTODEVICE (synack's
#    own interface, ENODEV, the name read back), TCP_FASTOPEN (accepted on a listener, EINVAL
#    when connected), TCP_FASTOPEN_CONNECT and MSG_FASTOPEN (EOPNOTSUPP), SO_BUSY_POLL (50 read
#    back, -1 and a 2-byte value EINVAL, a 2-byte read, inherited by an accepted connection), on
#    fresh, connected and listening sockets;
#  - TCP_NOTSENT_LOWAT in effect: against a peer that does not read, a non-blocking sender gets
#    EAGAIN once the unsent bytes reach the mark, POLLOUT is off, and on once the peer reads;
#  - O_NONBLOCK set by ioctl(FIONBIO) or F_SETFL before bind/connect (nginx sets FIONBIO before
#    bind): accept with none waiting, connect and recv with nothing sent do not block;
#  - TCP_DEFER_ACCEPT in effect: a connection that sent nothing is not accepted while its
#    30 s period runs; its data makes it acceptable at once, data included; with 1 s, a
#    connection without data is accepted after the period;
# and, on the wire (tcpdump on the peer): every segment of the IP_TOS 0x28 / IP_TTL 33
# connection carries tos 0x28 and ttl 33.
# Under synack only (differences chosen and documented in docs/compatibility.md):
# SO_BINDTODEVICE to another device on an offloaded socket is EINVAL with a log line; set on a
# pending socket it leaves the socket to the kernel (refused in strict mode, ENETUNREACH).
. "$(dirname "$0")/lib.sh"

lab_up
ref_lab_up
for ns in "$NS_A" "$REF_NS_A"; do
	ip netns exec "$ns" sysctl -qw net.ipv4.tcp_fastopen=0
done

cat >"$LAB_TMP/peer.py" <<'PYEOF'
# The kernel peer: 7400 control lines ("dial PORT DATA|-" connects back to the script's
# listener; "drain" lets the 7402 sink read), 7401 echo, 7402 sink (reads only when drained).
import socket, sys, threading
import labpeer
A, B = sys.argv[1], sys.argv[2]
drain = threading.Event()
kept = []
def echo(c):
    while b := c.recv(65536):
        c.sendall(b)
def sink(c):
    drain.wait()
    while c.recv(1 << 20):
        pass
def control(c):
    f = c.makefile("rwb", buffering=0)
    for line in f:
        w = line.decode().split()
        if w[0] == "dial":
            s = socket.create_connection((A, int(w[1])))
            if w[2] != "-":
                s.sendall(w[2].encode())
            kept.append(s)
        elif w[0] == "drain":
            drain.set()
        f.write(b"ok\n")
def sink_server():
    # A small fixed receive buffer (no autotuning): unread, the window closes and stays shut.
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    ls.bind((B, 7402))
    ls.listen(4)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=sink, args=(c,), daemon=True).start()
threading.Thread(target=labpeer.serve_threads, args=(B, 7401, echo), daemon=True).start()
threading.Thread(target=sink_server, daemon=True).start()
labpeer.serve_threads(B, 7400, control)
PYEOF

cat >"$LAB_TMP/opts.py" <<'PYEOF'
import errno, fcntl, os, select, signal, socket, struct, sys, termios, time
import labpeer
A, B, IFACE = sys.argv[1], sys.argv[2], sys.argv[3].encode()
TCP, IP, SOL = socket.IPPROTO_TCP, socket.IPPROTO_IP, socket.SOL_SOCKET
IP_BIND_ADDRESS_NO_PORT, TCP_FASTOPEN_CONNECT = 24, 30
SO_BUSY_POLL = 46 # asm-generic/socket.h: Python's socket module has no name for it

def out(*a):
    print(*a, flush=True)

def t(name, f):
    try:
        out(name, "->", f())
    except OSError as e:
        out(name, "->", errno.errorcode.get(e.errno, e.errno))

ctl = labpeer.connect(B, 7400)
ctlf = ctl.makefile("rwb", buffering=0)
def peer(cmd):
    ctlf.write(cmd.encode() + b"\n")
    assert ctlf.readline() == b"ok\n"

def options(tag, s):
    t(f"{tag} IP_TOS", lambda: s.getsockopt(IP, socket.IP_TOS))
    t(f"{tag} IP_TOS=0xbb", lambda: s.setsockopt(IP, socket.IP_TOS, 0xbb))
    t(f"{tag} IP_TOS", lambda: s.getsockopt(IP, socket.IP_TOS))
    t(f"{tag} IP_TOS 1-byte get", lambda: s.getsockopt(IP, socket.IP_TOS, 1))
    t(f"{tag} IP_TOS=b'\\x10'", lambda: s.setsockopt(IP, socket.IP_TOS, b"\x10"))
    t(f"{tag} IP_TOS", lambda: s.getsockopt(IP, socket.IP_TOS))
    t(f"{tag} IP_TTL", lambda: s.getsockopt(IP, socket.IP_TTL))
    for v in (0, 256, -2, 17):
        t(f"{tag} IP_TTL={v}", lambda: s.setsockopt(IP, socket.IP_TTL, v))
    t(f"{tag} IP_TTL=b''", lambda: s.setsockopt(IP, socket.IP_TTL, b""))
    t(f"{tag} IP_TTL", lambda: s.getsockopt(IP, socket.IP_TTL))
    t(f"{tag} IP_TTL 1-byte get", lambda: s.getsockopt(IP, socket.IP_TTL, 1))
    t(f"{tag} IP_TTL=-1", lambda: s.setsockopt(IP, socket.IP_TTL, -1))
    t(f"{tag} IP_TTL", lambda: s.getsockopt(IP, socket.IP_TTL))
    t(f"{tag} TCP_NOTSENT_LOWAT", lambda: s.getsockopt(TCP, socket.TCP_NOTSENT_LOWAT))
    t(f"{tag} TCP_NOTSENT_LOWAT=16384", lambda: s.setsockopt(TCP, socket.TCP_NOTSENT_LOWAT, 16384))
    t(f"{tag} TCP_NOTSENT_LOWAT", lambda: s.getsockopt(TCP, socket.TCP_NOTSENT_LOWAT))
    t(f"{tag} TCP_NOTSENT_LOWAT=0", lambda: s.setsockopt(TCP, socket.TCP_NOTSENT_LOWAT, 0))
    t(f"{tag} TCP_DEFER_ACCEPT", lambda: s.getsockopt(TCP, socket.TCP_DEFER_ACCEPT))
    t(f"{tag} SO_PRIORITY", lambda: s.getsockopt(SOL, socket.SO_PRIORITY))
    t(f"{tag} SO_PRIORITY=5", lambda: s.setsockopt(SOL, socket.SO_PRIORITY, 5))
    t(f"{tag} SO_PRIORITY", lambda: s.getsockopt(SOL, socket.SO_PRIORITY))
    t(f"{tag} SO_BINDTODEVICE=nosuchdev", lambda: s.setsockopt(SOL, socket.SO_BINDTODEVICE, b"nosuchdev"))
    t(f"{tag} SO_BINDTODEVICE", lambda: s.getsockopt(SOL, socket.SO_BINDTODEVICE, 16))
    t(f"{tag} SO_BINDTODEVICE=iface", lambda: s.setsockopt(SOL, socket.SO_BINDTODEVICE, IFACE))
    t(f"{tag} SO_BINDTODEVICE", lambda: s.getsockopt(SOL, socket.SO_BINDTODEVICE, 16))
    t(f"{tag} SO_BINDTODEVICE short buffer", lambda: s.getsockopt(SOL, socket.SO_BINDTODEVICE, 4))
    t(f"{tag} IP_BIND_ADDRESS_NO_PORT", lambda: s.getsockopt(IP, IP_BIND_ADDRESS_NO_PORT))
    t(f"{tag} TCP_FASTOPEN=5", lambda: s.setsockopt(TCP, socket.TCP_FASTOPEN, 5))
    t(f"{tag} TCP_FASTOPEN", lambda: s.getsockopt(TCP, socket.TCP_FASTOPEN))
    t(f"{tag} TCP_FASTOPEN_CONNECT=1", lambda: s.setsockopt(TCP, TCP_FASTOPEN_CONNECT, 1))
    t(f"{tag} TCP_FASTOPEN_CONNECT=2", lambda: s.setsockopt(TCP, TCP_FASTOPEN_CONNECT, 2))
    t(f"{tag} TCP_FASTOPEN_CONNECT", lambda: s.getsockopt(TCP, TCP_FASTOPEN_CONNECT))
    t(f"{tag} SO_BUSY_POLL", lambda: s.getsockopt(SOL, SO_BUSY_POLL))
    t(f"{tag} SO_BUSY_POLL=50", lambda: s.setsockopt(SOL, SO_BUSY_POLL, 50))
    t(f"{tag} SO_BUSY_POLL", lambda: s.getsockopt(SOL, SO_BUSY_POLL))
    t(f"{tag} SO_BUSY_POLL=-1", lambda: s.setsockopt(SOL, SO_BUSY_POLL, -1))
    t(f"{tag} SO_BUSY_POLL=b'\\x07\\x00'", lambda: s.setsockopt(SOL, SO_BUSY_POLL, b"\x07\x00"))
    t(f"{tag} SO_BUSY_POLL 2-byte get", lambda: s.getsockopt(SOL, SO_BUSY_POLL, 2))
    t(f"{tag} SO_BUSY_POLL=0", lambda: s.setsockopt(SOL, SO_BUSY_POLL, 0))
    t(f"{tag} SO_BUSY_POLL", lambda: s.getsockopt(SOL, SO_BUSY_POLL))

# Fresh, connected, listening.
options("fresh", socket.socket())
s = socket.create_connection((B, 7401), timeout=20)
options("connected", s)
t("connected send MSG_FASTOPEN", lambda: s.send(b"x", socket.MSG_FASTOPEN))
s.sendall(b"still echoes")
t("connected echo after the options", lambda: s.recv(100))
s.close()
f = socket.socket()
t("fresh sendto MSG_FASTOPEN", lambda: f.sendto(b"x", socket.MSG_FASTOPEN, (B, 7401)))
t("after it, the socket is unconnected", lambda: f.getpeername())
f.close()
l = labpeer.listener(A, 7403)
options("listener", l)
t("listener TCP_FASTOPEN=100000", lambda: l.setsockopt(TCP, socket.TCP_FASTOPEN, 100000))
t("listener TCP_FASTOPEN (capped at somaxconn)", lambda: l.getsockopt(TCP, socket.TCP_FASTOPEN))
for v in (5, 1, 2, 30, 0, -3):
    t(f"listener TCP_DEFER_ACCEPT={v}", lambda: l.setsockopt(TCP, socket.TCP_DEFER_ACCEPT, v))
    t("listener TCP_DEFER_ACCEPT", lambda: l.getsockopt(TCP, socket.TCP_DEFER_ACCEPT))
l.close()

# O_NONBLOCK set by ioctl(FIONBIO) or fcntl before bind (nginx's order): accept() on the
# listener and recv() on a connection do not block (an alarm ends a blocked call).
def unblocked(f):
    signal.alarm(5)
    try:
        return f()
    except InterruptedError:
        return "blocked"
    finally:
        signal.alarm(0)
def on_alarm(*a):
    raise InterruptedError()
signal.signal(signal.SIGALRM, on_alarm)
for how in ("FIONBIO", "F_SETFL"):
    l = socket.socket()
    if how == "FIONBIO":
        fcntl.ioctl(l.fileno(), termios.FIONBIO, struct.pack("i", 1))
    else:
        fcntl.fcntl(l.fileno(), fcntl.F_SETFL, fcntl.fcntl(l.fileno(), fcntl.F_GETFL) | os.O_NONBLOCK)
    l.setsockopt(SOL, socket.SO_REUSEADDR, 1)
    l.bind((A, 7406))
    l.listen(4)
    t(f"{how} before bind: accept with none waiting", lambda: unblocked(l.accept))
    l.close()
    s = socket.socket()
    if how == "FIONBIO":
        fcntl.ioctl(s.fileno(), termios.FIONBIO, struct.pack("i", 1))
    else:
        fcntl.fcntl(s.fileno(), fcntl.F_SETFL, fcntl.fcntl(s.fileno(), fcntl.F_GETFL) | os.O_NONBLOCK)
    t(f"{how} before connect: connect", lambda: unblocked(lambda: s.connect((B, 7401))))
    select.select([], [s], [], 10)
    t(f"{how} before connect: recv with nothing sent", lambda: unblocked(lambda: s.recv(10)))
    s.close()

# IP_BIND_ADDRESS_NO_PORT: the port waits for connect.
s = socket.socket()
s.setsockopt(IP, IP_BIND_ADDRESS_NO_PORT, 1)
t("NO_PORT get", lambda: s.getsockopt(IP, IP_BIND_ADDRESS_NO_PORT))
s.bind((A, 0))
t("NO_PORT getsockname after bind", lambda: s.getsockname())
s.connect((B, 7401))
t("NO_PORT port chosen by connect", lambda: s.getsockname()[1] != 0)
s.sendall(b"np")
t("NO_PORT echo", lambda: s.recv(10))
s.close()

# What an accepted connection takes from its listener.
l = labpeer.listener(A, 7404)
l.setsockopt(SOL, socket.SO_PRIORITY, 3)
l.setsockopt(SOL, socket.SO_BINDTODEVICE, IFACE)
l.setsockopt(IP, socket.IP_TTL, 40)
l.setsockopt(TCP, socket.TCP_NOTSENT_LOWAT, 9999)
l.setsockopt(SOL, SO_BUSY_POLL, 77)
peer("dial 7404 hi")
c, _ = l.accept()
t("accepted SO_PRIORITY", lambda: c.getsockopt(SOL, socket.SO_PRIORITY))
t("accepted SO_BINDTODEVICE", lambda: c.getsockopt(SOL, socket.SO_BINDTODEVICE, 16))
t("accepted IP_TTL", lambda: c.getsockopt(IP, socket.IP_TTL))
t("accepted IP_TOS", lambda: c.getsockopt(IP, socket.IP_TOS))
t("accepted TCP_NOTSENT_LOWAT", lambda: c.getsockopt(TCP, socket.TCP_NOTSENT_LOWAT))
t("accepted SO_BUSY_POLL", lambda: c.getsockopt(SOL, SO_BUSY_POLL))
c.close(); l.close()

# IP_TOS 0x28, IP_TTL 33 on a connection the peer's tcpdump watches (port 7401 from 7405).
s = socket.socket()
s.setsockopt(IP, socket.IP_TOS, 0x28)
s.setsockopt(IP, socket.IP_TTL, 33)
s.bind((A, 7405))
s.connect((B, 7401))
s.sendall(b"z" * 5000)
got = b""
while len(got) < 5000:
    got += s.recv(65536)
t("TOS/TTL connection echoes 5000 bytes", lambda: got == b"z" * 5000)
s.close()

# TCP_NOTSENT_LOWAT in effect, against the sink that does not read yet: send until the socket
# stays unwriteable (the peer's window shut), then it is the mark that holds the sender back,
# not the send buffer; the peer reading makes it writeable again. (Whether one more send()
# goes through then depends on what a window probe took meanwhile: the segment-level rule is
# in tests/unit/test_tcp_sockopts.c.)
s = socket.create_connection((B, 7402), timeout=20)
s.setsockopt(SOL, socket.SO_SNDBUF, 1 << 20)
s.setsockopt(TCP, socket.TCP_NOTSENT_LOWAT, 16384)
s.setblocking(False)
p = select.poll(); p.register(s, select.POLLOUT)
def unsent():
    return struct.unpack_from("<I", s.getsockopt(TCP, socket.TCP_INFO, 232), 144)[0]
total, chunk, end = 0, b"n" * 4096, time.monotonic() + 30
while time.monotonic() < end:
    try:
        total += s.send(chunk)
    except BlockingIOError:
        if not p.poll(500):
            break
notsent = unsent()
queued = struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, b"\0" * 4))[0]
t("NOTSENT_LOWAT: the stalled sender (no POLLOUT for 0.5 s) has 2 x unsent >= the mark", lambda: 2 * notsent >= 16384)
t("NOTSENT_LOWAT: ... fewer than the mark + 64 KiB unsent", lambda: notsent < 16384 + 65536)
t("NOTSENT_LOWAT: ... and the send buffer far from full (< 512 KiB)", lambda: queued < (512 << 10))
peer("drain")
t("NOTSENT_LOWAT: POLLOUT once the peer reads (10 s bound)", lambda: [e for _, e in p.poll(10000)])
s.close()

# TCP_DEFER_ACCEPT in effect.
l = labpeer.listener(A, 7406)
l.setsockopt(TCP, socket.TCP_DEFER_ACCEPT, 30)
p = select.poll(); p.register(l, select.POLLIN)
peer("dial 7406 -")
t("DEFER 30 s: a connection without data is not accepted (0.5 s)", lambda: p.poll(500))
peer("dial 7406 data!")
t("DEFER 30 s: one with data is (10 s bound)", lambda: [e for _, e in p.poll(10000)])
c, _ = l.accept()
c.settimeout(10)
t("DEFER 30 s: the accepted connection's data", lambda: c.recv(100))
c.close(); l.close()
l = labpeer.listener(A, 7407)
l.setsockopt(TCP, socket.TCP_DEFER_ACCEPT, 1)
p = select.poll(); p.register(l, select.POLLIN)
peer("dial 7407 -")
t("DEFER 1 s: accepted without data after the period (10 s bound)", lambda: [e for _, e in p.poll(10000)])
c, _ = l.accept()
c.setblocking(False)
t("DEFER 1 s: nothing to read", lambda: c.recv(100))
c.close(); l.close()
out("-- end")
PYEOF

# run NAME PEER_NS RUNNER...: the peer program in PEER_NS, the script through RUNNER.
run() {
	local name=$1 peer_ns=$2 rc=0
	shift 2
	spawn "$LAB_TMP/$name.peer.log" timeout -k 3 120 ip netns exec "$peer_ns" "$LAB_PY" "$LAB_TMP/peer.py" "$ADDR_A" "$ADDR_B"
	local peer=$LAB_LAST_PID
	# --immediate-mode: what tcpdump has not read from its capture buffer when it is stopped
	# would be lost (tests/lab/97-v4mapped.sh found it: a short run ends within the buffer's
	# timeout).
	spawn "$LAB_TMP/$name.tcpdump.log" timeout -k 3 120 ip netns exec "$peer_ns" tcpdump -i veth-peer -n -U \
		--immediate-mode -w "$LAB_TMP/$name.pcap" "tcp port 7405"
	local dump=$LAB_LAST_PID
	for ((i = 0; i < 200; i++)); do
		[[ -n $(ip netns exec "$peer_ns" ss -Hltn "sport = :7400") ]] &&
			grep -q "listening on" "$LAB_TMP/$name.tcpdump.log" && break
		sleep 0.05
	done
	LAB_TIMEOUT=90 "$@" "$LAB_PY" "$LAB_TMP/opts.py" "$ADDR_A" "$ADDR_B" "$IF_A" >"$LAB_TMP/$name.out" \
		2>"$LAB_TMP/$name.err" || rc=$?
	kill -TERM "$peer" "$dump" 2>/dev/null || true
	wait "$dump" 2>/dev/null || true
	return "$rc"
}

# check_wire NAME: every segment from 10.77.0.1.7405 in NAME.pcap has tos 0x28 and ttl 33 (the
# kernel's replies from TIME_WAIT aside, below).
check_wire() {
	local name=$1 n bad
	# The kernel answers from TIME_WAIT (the peer's FIN resent, on a loaded machine) with
	# ip_send_unicast_reply (net/ipv4/tcp_ipv4.c tcp_v4_send_ack): IP id 0, the default TTL, not
	# the socket's. That reply is not the connection's own segment: left out, for the kernel.
	tcpdump -r "$LAB_TMP/$name.pcap" -n -v "src host $ADDR_A and src port 7405" 2>/dev/null |
		grep -E '^[0-9:.]+ IP ' |
		{ if [[ $name == kernel ]]; then grep -v ', id 0, '; else cat; fi; } >"$LAB_TMP/$name.wire" || true
	n=$(wc -l <"$LAB_TMP/$name.wire")
	bad=$(grep -cv 'tos 0x28, ttl 33,' "$LAB_TMP/$name.wire" || true)
	if ((n >= 3 && bad == 0)); then
		pass "$name: all $n segments of the IP_TOS 0x28 / IP_TTL 33 connection carry tos 0x28, ttl 33 on the wire"
	else
		fail "$name: IP_TOS / IP_TTL on the wire" "$bad of $n segments differ"
		show "$LAB_TMP/$name.wire"
	fi
}

diff_ran kernel "kernel reference run" "$REF_NS_B" ref_exec || lab_finish
pass "kernel reference run: $(wc -l <"$LAB_TMP/kernel.out") observations"
check_wire kernel
diff_ran synack "run under synack" "$NS_B" synack_exec || true
diff_same "option answer and effect"
check_wire synack

# Under synack only: another device than synack's.
cat >"$LAB_TMP/dev.py" <<'PYEOF'
import errno, socket, sys
B = sys.argv[1]
def t(name, f):
    try:
        print(name, "->", f(), flush=True)
    except OSError as e:
        print(name, "->", errno.errorcode.get(e.errno, e.errno), flush=True)
s = socket.create_connection((B, 7401), timeout=20)
t("offloaded SO_BINDTODEVICE=lo", lambda: s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo"))
t("offloaded SO_BINDTODEVICE after it", lambda: s.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16))
s.sendall(b"ok")
t("offloaded still echoes", lambda: s.recv(10))
p = socket.socket()
p.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo")
t("pending bound to lo, connect (strict)", lambda: p.connect((B, 7401)))
PYEOF
spawn "$LAB_TMP/dev.peer.log" ip netns exec "$NS_B" "$LAB_PY" "$LAB_TMP/peer.py" "$ADDR_A" "$ADDR_B"
peer_wait_listen 7401
rc=0
synack_exec "$LAB_PY" "$LAB_TMP/dev.py" "$ADDR_B" >"$LAB_TMP/dev.out" 2>"$LAB_TMP/dev.err" || rc=$?
want="offloaded SO_BINDTODEVICE=lo -> EINVAL
offloaded SO_BINDTODEVICE after it -> b''
offloaded still echoes -> b'ok'
pending bound to lo, connect (strict) -> ENETUNREACH"
if ((rc == 0)) && [[ $(cat "$LAB_TMP/dev.out") == "$want" ]]; then
	pass "SO_BINDTODEVICE to another device: EINVAL on an offloaded socket (which carries on), the kernel's (strict: ENETUNREACH) when pending"
else
	fail "SO_BINDTODEVICE to another device" "exit $rc"
	show "$LAB_TMP/dev.out"
	show "$LAB_TMP/dev.err"
fi
if grep -q 'SO_BINDTODEVICE lo: this socket is served by synack' "$LAB_TMP/dev.err" &&
	grep -q 'SO_BINDTODEVICE lo, not synack' "$LAB_TMP/dev.err"; then
	pass "both refusals are explained in the log"
else
	fail "both refusals are explained in the log" "lines missing"
	show "$LAB_TMP/dev.err"
fi
lab_finish
