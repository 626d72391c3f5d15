#!/usr/bin/env bash
# A listener on every address under synack also serves the kernel's side (shim/socket/kside.h), and a
# program connects to synack's own address (core/loopback.c). docs/architecture.md, "Listening
# on every address" and "Connections to our own address".
#  1. python3 http.server on 0.0.0.0:8000 under synack: a kernel curl in the synack namespace
#     (127.0.0.1, through the kernel's loopback) and a kernel curl on the peer (through synack)
#     download 10 MiB each at the same time, both SHA-256 equal.
#  2. One listener on 0.0.0.0:7700 under synack, clients on both sides (accept_mix.py):
#     poll() reports a connection waiting on the kernel side alone and on the synack side alone;
#     level-triggered epoll reports one event for the listener when both wait, both are
#     accepted without blocking, then EAGAIN, then no event; with EPOLLONESHOT the kernel
#     side's event disarms synack's side too, until EPOLL_CTL_MOD; with 8 connections waiting on
#     each side, blocking accepts take them turn about (kernel, synack, kernel... or the
#     other way round): neither starves.
#  3. One python3 process under synack connects to its own address 10.77.0.1: to its listener
#     on 0.0.0.0:7800, on 10.77.0.1:7801, and through an AF_INET6 socket to ::ffff:10.77.0.1;
#     4 MiB each, byte-exact, with Linux's addresses (both ends 10.77.0.1, the server's peer
#     port is the client's); a port nobody listens on refuses at once (ECONNREFUSED). None of
#     it reaches the wire (tcpdump on the peer), SYNACK_STATS counts looped packets.
#  4. Another synack process connecting to 10.77.0.1 reaches the first one's listener: both use
#     the interface's one stack (shim/shared/shm_stack.h), which loops the packets to its own
#     address, 10 MiB byte-exact, none of it on the wire; through 127.0.0.1 (not strict: the
#     kernel's loopback) it does too, by the listener's kernel side.
. "$(dirname "$0")/lib.sh"

lab_up
www=$LAB_TMP/www
mkdir -p "$www"
make_file "$www/10MiB.bin" 10485760
cp "$LAB_TMP/labpeer.py" "$www/"

# ---- 1. loopback and the interface at once --------------------------------------------------
LAB_TIMEOUT=120 spawn "$LAB_TMP/http.err" synack_exec "$LAB_PY" -m http.server -b 0.0.0.0 -d "$www" 8000
http=$LAB_LAST_PID
synack_wait_http "http.server on 0.0.0.0:8000 under synack answers the peer" "$http" \
	"http://$ADDR_A:8000/labpeer.py" "$LAB_TMP/probe.out" "$LAB_TMP/http.err"
ip netns exec "$NS_A" timeout -k 3 60 curl -sS --max-time 55 -o "$LAB_TMP/lo.bin" \
	"http://127.0.0.1:8000/10MiB.bin" 2>"$LAB_TMP/lo.err" &
lo_curl=$!
peer_exec timeout -k 3 60 curl -sS --max-time 55 -o "$LAB_TMP/if.bin" \
	"http://$ADDR_A:8000/10MiB.bin" 2>"$LAB_TMP/if.err" &
if_curl=$!
rc=0
wait "$lo_curl" || rc=$?
check_transfer "kernel curl to 127.0.0.1:8000 (loopback, the listener's kernel side)" "$rc" \
	"$LAB_TMP/lo.bin" "$www/10MiB.bin" "$LAB_TMP/lo.err" "$LAB_TMP/http.err"
rc=0
wait "$if_curl" || rc=$?
check_transfer "... at the same time, kernel curl on the peer to $ADDR_A:8000 (synack)" "$rc" \
	"$LAB_TMP/if.bin" "$www/10MiB.bin" "$LAB_TMP/if.err" "$LAB_TMP/http.err"
if grep -q '"GET /10MiB.bin HTTP/1.1" 200' "$LAB_TMP/http.err" &&
	[[ $(grep -c '^127\.0\.0\.1 .*"GET /10MiB.bin' "$LAB_TMP/http.err") == 1 &&
		$(grep -c "^$ADDR_B .*\"GET /10MiB.bin" "$LAB_TMP/http.err") == 1 ]]; then
	pass "http.server logged one request from 127.0.0.1 and one from $ADDR_B"
else
	fail "http.server's log of the two requests" "unexpected"
	show "$LAB_TMP/http.err"
fi

# ---- 2. accept from both sides ---------------------------------------------------------------
K=8
cat >"$LAB_TMP/accept_mix.py" <<'PYEOF'
# A listener on 0.0.0.0:PORT under synack: connections through synack (the peer, via the
# interface) and through its kernel side (loopback clients in this namespace). The test script
# drives the clients; this program waits for its go-files ($DIR/goN) between phases.
import errno, os, select, socket, sys, time
from labpeer import say as out
PORT, DIR = int(sys.argv[1]), sys.argv[2]
def wait_go(n):
    out(f"phase {n} ready")
    deadline = time.monotonic() + 30
    while not os.path.exists(f"{DIR}/go{n}"):
        if time.monotonic() > deadline:
            sys.exit(f"no go{n}")
        time.sleep(0.01)
def kind(peer):
    return "kernel" if peer[0] == "127.0.0.1" else "synack" if peer[0] == "10.77.0.2" else peer[0]
def serve(c, n):
    c.sendall(b"hello %d\n" % n)
    c.close()

l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", PORT))
l.listen(64)
n = 0

# 1. poll() reports a connection waiting on the kernel side alone, and on the synack side alone.
for who in ("loopback", "peer"):
    wait_go(f"1{who}")
    p = select.poll()
    p.register(l, select.POLLIN)
    ev = p.poll(10000)
    out(f"poll with a {who} connection waiting:", [e for _, e in ev] == [select.POLLIN])
    c, peer = l.accept()
    out(f"accept: {kind(peer)}")
    serve(c, n); n += 1

# 2. epoll (level-triggered): one event for the listener when both sides have a connection;
#    both accepted without blocking, then EAGAIN.
wait_go("2")
ep = select.epoll()
ep.register(l.fileno(), select.EPOLLIN)
ev = ep.poll(10, 8)
out("epoll events with both sides waiting:", [(fd == l.fileno(), e) for fd, e in ev])
l.setblocking(False)
kinds = []
for _ in range(2):
    c, peer = l.accept()
    kinds.append(kind(peer))
    c.setblocking(True)
    serve(c, n); n += 1
out("accepted without blocking:", sorted(kinds))
try:
    l.accept()
    out("third accept: a connection?")
except BlockingIOError:
    out("third accept: EAGAIN")
out("epoll events with none waiting:", ep.poll(0.2, 8))

# 2b. EPOLLONESHOT: the event of one side disarms the other too, until EPOLL_CTL_MOD.
wait_go("2b")
ep.modify(l.fileno(), select.EPOLLIN | select.EPOLLONESHOT)
out("oneshot: first wait (a loopback connection):", [(fd == l.fileno(), e) for fd, e in ep.poll(10, 8)])
wait_go("2c")
out("oneshot: second wait, a peer connection too:", ep.poll(0.2, 8))
ep.modify(l.fileno(), select.EPOLLIN | select.EPOLLONESHOT)
out("oneshot: after EPOLL_CTL_MOD:", [(fd == l.fileno(), e) for fd, e in ep.poll(10, 8)])
for _ in range(2):
    c, peer = l.accept()
    c.setblocking(True)
    serve(c, n); n += 1
ep.close()
l.setblocking(True)

# 3. Fairness: with K connections waiting on each side, blocking accepts take them turn about.
wait_go("3")
seq = []
for _ in range(int(sys.argv[3]) * 2):
    c, peer = l.accept()
    seq.append(kind(peer))
    serve(c, n); n += 1
out("order:", " ".join(seq))
out("-- end")
PYEOF
cat >"$LAB_TMP/clients.py" <<'PYEOF'
# N connections to HOST:PORT (kernel TCP): "connected N" once all are established (they wait in
# the listener's queue), then each one's line.
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = [socket.create_connection((host, port), timeout=30) for _ in range(n)]
print("connected", n, flush=True)
for s in socks:
    f = s.makefile("rb")
    print(f.readline().decode().strip(), flush=True)
PYEOF
SYNACK_TRACE=states LAB_TIMEOUT=90 spawn "$LAB_TMP/mix.out" synack_exec "$LAB_PY" \
	"$LAB_TMP/accept_mix.py" 7700 "$LAB_TMP" "$K"
mix=$LAB_LAST_PID
synack_children=0 # connections from the peer established so far on synack's side

# clients NAME SIDE N: N kernel clients of the listener, from the synack host's loopback
# (SIDE loopback) or from the peer (SIDE peer), in the background; waits (10 s) until all are
# connected.
clients() {
	local name=$1 side=$2 n=$3
	if [[ $side == loopback ]]; then
		spawn "$LAB_TMP/$name.out" ip netns exec "$NS_A" "$LAB_PY" "$LAB_TMP/clients.py" 127.0.0.1 7700 "$n"
	else
		spawn "$LAB_TMP/$name.out" ip netns exec "$NS_B" "$LAB_PY" "$LAB_TMP/clients.py" "$ADDR_A" 7700 "$n"
		synack_children=$((synack_children + n))
	fi
	wait_line "$LAB_TMP/$name.out" "^connected $n\$" "$LAB_LAST_PID" || true
}

# queued KERNEL: wait (10 s) until the listener's kernel side holds KERNEL connections (its
# accept queue, ss Recv-Q) and synack's side has established every peer connection so far (the
# state trace), so that the program finds them all waiting. 0 when they do.
queued() {
	local i q est
	for ((i = 0; i < 200; i++)); do
		q=$(ip netns exec "$NS_A" ss -Hltn "sport = :7700" | awk '{print $2}')
		est=$(grep -cE "^synack: trace [0-9.]+ $ADDR_A:7700 > $ADDR_B:[0-9]+ SYN_RECEIVED -> ESTABLISHED" \
			"$LAB_TMP/mix.out" || true)
		((${q:-0} >= $1 && est >= synack_children)) && return 0
		sleep 0.05
	done
	echo "# queued: kernel side ${q:-?} (want $1), synack side $est (want $synack_children)"
	return 1
}

# ready PHASE: wait (10 s) until the program says it is ready for PHASE.
ready() { wait_line "$LAB_TMP/mix.out" "^phase $1 ready\$" "$mix" || true; }

ready 1loopback
touch "$LAB_TMP/go1loopback"
clients c1 loopback 1
ready 1peer
touch "$LAB_TMP/go1peer"
clients c2 peer 1
ready 2
clients c3 loopback 1
clients c4 peer 1
queued 1 || fail "set-up of phase 2" "connections not queued"
touch "$LAB_TMP/go2"
ready 2b
clients c3b loopback 1
queued 1 || fail "set-up of phase 2b" "connections not queued"
touch "$LAB_TMP/go2b"
ready 2c
clients c4b peer 1
queued 1 || fail "set-up of phase 2c" "connections not queued"
touch "$LAB_TMP/go2c"
ready 3
clients c5 loopback "$K"
clients c6 peer "$K"
queued "$K" || fail "set-up of phase 3" "connections not queued"
touch "$LAB_TMP/go3"
rc=0
wait "$mix" || rc=$?
grep -v '^synack: trace' "$LAB_TMP/mix.out" >"$LAB_TMP/mix.lines" || true
alt1=$(printf 'kernel synack %.0s' $(seq "$K") | sed 's/ $//')
alt2=$(printf 'synack kernel %.0s' $(seq "$K") | sed 's/ $//')
expect_line() { # NAME LINE...
	local name=$1 l
	shift
	for l; do
		if ! grep -qxF "$l" "$LAB_TMP/mix.lines"; then
			fail "$name" "no line '$l'"
			show "$LAB_TMP/mix.lines"
			return
		fi
	done
	pass "$name"
}
expect_line "poll() reports a connection waiting on the kernel side alone (accepted from 127.0.0.1)" \
	"poll with a loopback connection waiting: True" "accept: kernel"
expect_line "poll() reports a connection waiting on synack's side alone (accepted from $ADDR_B)" \
	"poll with a peer connection waiting: True" "accept: synack"
expect_line "epoll: one event for the listener with both sides waiting, both accepted without blocking, then EAGAIN and no event" \
	"epoll events with both sides waiting: [(True, 1)]" "accepted without blocking: ['kernel', 'synack']" \
	"third accept: EAGAIN" "epoll events with none waiting: []"
expect_line "epoll: EPOLLONESHOT, one side's event disarms the other side too, EPOLL_CTL_MOD arms them again" \
	"oneshot: first wait (a loopback connection): [(True, 1)]" "oneshot: second wait, a peer connection too: []" \
	"oneshot: after EPOLL_CTL_MOD: [(True, 1)]"
order=$(sed -n 's/^order: //p' "$LAB_TMP/mix.lines")
if ((rc == 0)) && [[ $order == "$alt1" || $order == "$alt2" ]]; then
	pass "with $K connections waiting on each side, accept takes them turn about: $order"
else
	fail "accept's order with $K connections waiting on each side" "exit $rc, order '$order'"
	show "$LAB_TMP/mix.lines"
fi
n=0
for c in c1 c2 c3 c4 c3b c4b c5 c6; do
	n=$((n + $(grep -c '^hello [0-9]*$' "$LAB_TMP/$c.out" || true)))
done
if ((n == 2 * K + 6)); then
	pass "every client got its line ($n)"
else
	fail "clients' lines" "$n of $((2 * K + 6))"
fi

# ---- 3. connections to our own address, in one process ---------------------------------------
cat >"$LAB_TMP/self.py" <<'PYEOF'
import errno, os, socket, sys, threading
A = sys.argv[1]
data = os.urandom(4 << 20)
def t(name, f):
    try:
        print(name, "->", f(), flush=True)
    except OSError as e:
        print(name, "->", errno.errorcode.get(e.errno, e.errno), flush=True)
def serve(l):
    while True:
        c, peer = l.accept()
        c.sendall(("%s %d\n" % peer).encode() + data)
        c.close()
for addr, port in (("0.0.0.0", 7800), (A, 7801)):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port))
    l.listen(8)
    threading.Thread(target=serve, args=(l,), daemon=True).start()
def fetch(family, host, port):
    s = socket.socket(family)
    s.connect((host, port))
    local, peer = s.getsockname(), s.getpeername()
    got = bytearray()
    while b := s.recv(1 << 20):
        got += b
    line, body = bytes(got).split(b"\n", 1)
    seen = line.decode().split()
    return (f"local {local[0]} peer {peer[0]}:{peer[1]}, the server saw {seen[0]}"
            f"{' from our port' if int(seen[1]) == local[1] else ' from ANOTHER PORT'}, "
            f"{'byte-exact' if body == data else 'DIFFERENT'} ({len(body)} bytes)")
t("to A:7800 (listener on 0.0.0.0)", lambda: fetch(socket.AF_INET, A, 7800))
t("to A:7801 (listener on A)", lambda: fetch(socket.AF_INET, A, 7801))
t("AF_INET6 to ::ffff:A:7800", lambda: fetch(socket.AF_INET6, "::ffff:" + A, 7800))
t("to A:7802 (nobody listens)", lambda: socket.create_connection((A, 7802), timeout=10))
PYEOF
spawn "$LAB_TMP/self.tcpdump.log" timeout -k 3 60 ip netns exec "$NS_B" tcpdump -i veth-peer -n -U \
	--immediate-mode -w "$LAB_TMP/self.pcap" "tcp portrange 7800-7802"
dump=$LAB_LAST_PID
for ((i = 0; i < 200; i++)); do
	grep -q "listening on" "$LAB_TMP/self.tcpdump.log" && break
	sleep 0.05
done
rc=0
SYNACK_STATS=$LAB_TMP/self.stats synack_exec "$LAB_PY" "$LAB_TMP/self.py" "$ADDR_A" \
	>"$LAB_TMP/self.out" 2>"$LAB_TMP/self.err" || rc=$?
# Something sent to the peer meanwhile would be on the wire by now; tcpdump writes each packet
# as it comes (--immediate-mode).
kill -TERM "$dump" 2>/dev/null || true
wait "$dump" 2>/dev/null || true
want="to A:7800 (listener on 0.0.0.0) -> local $ADDR_A peer $ADDR_A:7800, the server saw $ADDR_A from our port, byte-exact (4194304 bytes)
to A:7801 (listener on A) -> local $ADDR_A peer $ADDR_A:7801, the server saw $ADDR_A from our port, byte-exact (4194304 bytes)
AF_INET6 to ::ffff:A:7800 -> local ::ffff:$ADDR_A peer ::ffff:$ADDR_A:7800, the server saw $ADDR_A from our port, byte-exact (4194304 bytes)
to A:7802 (nobody listens) -> ECONNREFUSED"
if ((rc == 0)) && [[ $(cat "$LAB_TMP/self.out") == "$want" ]]; then
	pass "a program under synack reaches its own listeners at $ADDR_A (0.0.0.0, $ADDR_A, ::ffff:$ADDR_A), 4 MiB byte-exact each, Linux's addresses; a closed port refuses"
else
	fail "connections to our own address" "exit $rc"
	show "$LAB_TMP/self.out"
	show "$LAB_TMP/self.err"
fi
wire=$(tcpdump -r "$LAB_TMP/self.pcap" -n 2>/dev/null | wc -l)
looped=$(sed -n 's/^ip_loop_packets //p' "$LAB_TMP/self.stats" 2>/dev/null || true)
if ((wire == 0 && ${looped:-0} > 100)); then
	pass "none of it on the wire (tcpdump on the peer: 0 packets), $looped packets looped back (SYNACK_STATS)"
else
	fail "own-address traffic stays inside the stack" "$wire packets on the wire, ip_loop_packets ${looped:-none}"
	show "$LAB_TMP/self.stats"
fi

# ---- 4. another synack process ---------------------------------------------------------------
rc=0
peer_capture other "tcp port 8000"
synack_exec curl -sS --max-time 30 -o "$LAB_TMP/other0.bin" "http://$ADDR_A:8000/10MiB.bin" \
	2>"$LAB_TMP/other.err" || rc=$?
peer_capture_stop
check_transfer "another synack process through $ADDR_A:8000 (the interface's one stack loops it)" \
	"$rc" "$LAB_TMP/other0.bin" "$www/10MiB.bin" "$LAB_TMP/other.err"
wire=$(tcpdump -r "$LAB_TMP/other.pcap" -n 2>/dev/null | wc -l)
if ((wire == 0)); then
	pass "none of the other process's connection on the wire (tcpdump on the peer: 0 packets)"
else
	fail "the other process's connection stays inside the stack" "$wire packets on the wire"
fi
rc=0
synack_exec_lax curl -sS --max-time 30 -o "$LAB_TMP/other.bin" "http://127.0.0.1:8000/10MiB.bin" \
	2>"$LAB_TMP/other2.err" || rc=$?
check_transfer "another synack process (not strict) through 127.0.0.1:8000, the listener's kernel side" \
	"$rc" "$LAB_TMP/other.bin" "$www/10MiB.bin" "$LAB_TMP/other2.err"
check_running "http.server under synack still running" "$http" "$LAB_TMP/http.err"
lab_finish
