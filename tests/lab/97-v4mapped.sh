#!/usr/bin/env bash
# AF_INET6 stream sockets under synack (docs/compatibility.md, "IPv6 sockets"): IPv4 through
# IPv4-mapped addresses (::ffff:a.b.c.d), with the IPv6 API's answers.
#  1. examples/inet6_http does what a JVM does (AF_INET6 socket, IPV6_V6ONLY off, non-blocking
#     connect to ::ffff:10.77.0.2): without synack the kernel answers ENETUNREACH (it has no
#     IPv4 address there); under synack it downloads 4 MiB from python3 http.server on the
#     peer, SHA-256 equal, and reads local ::ffff:10.77.0.1 / peer ::ffff:10.77.0.2 back in
#     28-byte sockaddr_in6 (flowinfo and scope 0).
#  2. Its listener side, on :: under synack: a kernel curl on the peer downloads byte-exact and
#     accept() reports ::ffff:10.77.0.2 (local ::ffff:10.77.0.1); kernel clients of the synack
#     host's own loopback, 127.0.0.1 and ::1, reach the same listener through its kernel side.
#  3. node's http server on listen(port) (::, dual stack) under synack serves a kernel curl,
#     byte-exact, and ab -n 500 -c 10.
#  4. nginx "listen [::]:8080 ipv6only=off" under synack: 10 MiB byte-exact, ab -n 2000 -c 20.
#  5. One python3 script, differentially (as 95): its 85 answers (options IPV6_V6ONLY,
#     IPV6_TCLASS, IPV6_UNICAST_HOPS, IP_TOS on fresh, connected, listening and accepted
#     sockets; addresses of sockets bound to ::, ::ffff:0.0.0.0, ::ffff:10.77.0.1, unbound
#     listeners; IPV6_V6ONLY refusing mapped addresses; dual-stack port conflicts; sockaddr
#     lengths and families) on the kernel (reference lab) and under synack, equal line for line;
#     on the wire (tcpdump on the peer), in both labs, IPV6_TCLASS 0x28 leaves the IPv4 TOS at 0
#     and IP_TOS 0x28 sets it, as Linux does for a v4-mapped socket.
#  6. Strict mode names each socket that would fall back to the kernel and why, one line each
#     (native IPv6, ::1, IPV6_V6ONLY, loopback after a bind to [::]:0 or 0.0.0.0:0), and the
#     call fails; without it they work through the kernel.
. "$(dirname "$0")/lib.sh"

lab_up
ref_lab_up
EX=$LAB_BUILD/examples/inet6_http
www=$LAB_TMP/www
mkdir -p "$www"
make_file "$www/small.bin" 4096
make_file "$www/4MiB.bin" 4194304
make_file "$www/10MiB.bin" 10485760

# ---- 1. a JVM's client socket ------------------------------------------------------------
peer_http_server "$www" 8001 HTTP/1.0 || lab_finish
rc=0
timeout -k 3 20 ip netns exec "$NS_A" "$EX" get "::ffff:$ADDR_B" 8001 4MiB.bin "$LAB_TMP/kernel.out" \
	>/dev/null 2>"$LAB_TMP/kernel.err" || rc=$?
if ((rc != 0)) && grep -q "Network is unreachable" "$LAB_TMP/kernel.err"; then
	pass "without synack, the kernel answers the same connect with ENETUNREACH"
else
	fail "without synack, the kernel answers the same connect with ENETUNREACH" "exit $rc"
	show "$LAB_TMP/kernel.err"
fi
rc=0
synack_exec "$EX" get "::ffff:$ADDR_B" 8001 4MiB.bin "$LAB_TMP/get.bin" >"$LAB_TMP/get.out" \
	2>"$LAB_TMP/get.err" || rc=$?
check_transfer "inet6_http (a JVM's AF_INET6 socket) downloads 4 MiB through ::ffff:$ADDR_B" \
	"$rc" "$LAB_TMP/get.bin" "$www/4MiB.bin" "$LAB_TMP/get.err" "$LAB_TMP/get.out"
if grep -qE "^local ::ffff:$ADDR_A [0-9]+ flowinfo 0 scope 0$" "$LAB_TMP/get.out" &&
	grep -qx "peer ::ffff:$ADDR_B 8001 flowinfo 0 scope 0" "$LAB_TMP/get.out"; then
	pass "getsockname/getpeername: sockaddr_in6 ::ffff:$ADDR_A / ::ffff:$ADDR_B, 28 bytes"
else
	fail "getsockname/getpeername of the mapped connection" "unexpected"
	show "$LAB_TMP/get.out"
fi

# ---- 2. its listener side, on :: -----------------------------------------------------------
LAB_TIMEOUT=60 spawn "$LAB_TMP/serve.out" synack_exec "$EX" serve 8081 "$www/4MiB.bin" 3
server=$LAB_LAST_PID
if ! wait_line "$LAB_TMP/serve.out" '^listening :: 8081 ' "$server"; then
	fail "inet6_http serve on [::]:8081 under synack" "not listening"
	show "$LAB_TMP/serve.out"
	lab_finish
fi
pass "inet6_http listens on [::]:8081 under synack, getsockname ::"
peer_fetch "kernel curl on the peer from [::]:8081 under synack" "http://$ADDR_A:8081/" \
	"$LAB_TMP/s1.out" "$www/4MiB.bin" "$LAB_TMP/serve.out"
for host in 127.0.0.1 "[::1]"; do
	rc=0
	ip netns exec "$NS_A" timeout -k 3 30 curl -sS -g --max-time 25 -o "$LAB_TMP/lo.out" \
		"http://$host:8081/" 2>"$LAB_TMP/lo.err" || rc=$?
	check_transfer "kernel curl on the synack host's loopback, $host:8081" "$rc" "$LAB_TMP/lo.out" \
		"$www/4MiB.bin" "$LAB_TMP/lo.err" "$LAB_TMP/serve.out"
done
rc=0
wait "$server" || rc=$?
want="accepted ::ffff:$ADDR_B <port> flowinfo 0 scope 0 local ::ffff:$ADDR_A 8081 flowinfo 0 scope 0 len 28
accepted ::ffff:127.0.0.1 <port> flowinfo 0 scope 0 local ::ffff:127.0.0.1 8081 flowinfo 0 scope 0 len 28
accepted ::1 <port> flowinfo 0 scope 0 local ::1 8081 flowinfo 0 scope 0 len 28"
got=$(sed -nE 's/^(accepted [^ ]+) [0-9]+ /\1 <port> /p' "$LAB_TMP/serve.out")
if ((rc == 0)) && [[ $got == "$want" ]]; then
	pass "accept reports ::ffff:$ADDR_B (synack), ::ffff:127.0.0.1 and ::1 (its kernel side), as Linux"
else
	fail "accept's addresses on [::]:8081" "exit $rc"
	show "$LAB_TMP/serve.out"
fi

# ---- 3. node ---------------------------------------------------------------------------------
cat >"$LAB_TMP/server.js" <<'JSEOF'
// http.createServer().listen(port): node listens on :: (dual stack) by default. Serves the
// files of the directory argv[2].
const http = require('http'), fs = require('fs'), path = require('path');
const server = http.createServer((req, res) => {
	const body = fs.readFileSync(path.join(process.argv[2], path.basename(req.url)));
	res.writeHead(200, {'Content-Length': body.length});
	res.end(body);
});
server.listen(+process.argv[3], () => console.log('listening ' + JSON.stringify(server.address())));
JSEOF
LAB_TIMEOUT=120 spawn "$LAB_TMP/node.out" synack_exec node "$LAB_TMP/server.js" "$www" 8090
node_pid=$LAB_LAST_PID
if wait_line "$LAB_TMP/node.out" '^listening \{"address":"::","family":"IPv6","port":8090\}$' "$node_pid"; then
	pass "node listen(8090) under synack: address ::, family IPv6"
	peer_fetch "kernel curl from node under synack, 4 MiB" "http://$ADDR_A:8090/4MiB.bin" \
		"$LAB_TMP/node.bin" "$www/4MiB.bin" "$LAB_TMP/node.out"
	rc=0
	peer_exec timeout -k 3 60 ab -q -s 20 -n 500 -c 10 "http://$ADDR_A:8090/small.bin" \
		>"$LAB_TMP/ab-node.out" 2>&1 || rc=$?
	check_ab "ab -n 500 -c 10 against node under synack" "$LAB_TMP/ab-node.out" "$rc" 500 4096 \
		"$LAB_TMP/node.out"
	check_running "node under synack still running" "$node_pid" "$LAB_TMP/node.out"
else
	fail "node listen(8090) under synack" "no listening line"
	show "$LAB_TMP/node.out"
fi
kill -TERM "$node_pid" 2>/dev/null || true

# ---- 4. nginx [::]:8080 ipv6only=off ---------------------------------------------------------
nginx_conf "$LAB_TMP/nginx" "$ADDR_A" "$www" 512 "[::]:8080 ipv6only=off"
NGINX_LOG=$LAB_TMP/nginx/error.log
LAB_TIMEOUT=150 spawn "$LAB_TMP/nginx.err" synack_exec /usr/sbin/nginx -p "$LAB_TMP/nginx" \
	-e "$NGINX_LOG" -c "$LAB_TMP/nginx/nginx.conf"
nginx_pid=$LAB_LAST_PID
synack_wait_http "nginx [::]:8080 under synack answers" "$nginx_pid" "http://$ADDR_A:8080/small.bin" \
	"$LAB_TMP/ngx-probe.out" "$LAB_TMP/nginx.err" "$NGINX_LOG"
peer_fetch "nginx listen [::]:8080 ipv6only=off, 10 MiB to kernel curl" \
	"http://$ADDR_A:8080/10MiB.bin" "$LAB_TMP/ngx.out" "$www/10MiB.bin" "$NGINX_LOG"
rc=0
peer_exec timeout -k 3 90 ab -q -s 20 -n 2000 -c 20 "http://$ADDR_A:8080/small.bin" \
	>"$LAB_TMP/ab-ngx.out" 2>&1 || rc=$?
check_ab "ab -n 2000 -c 20 against nginx [::]:8080 under synack" "$LAB_TMP/ab-ngx.out" "$rc" 2000 \
	4096 "$NGINX_LOG"
check_nginx_log "$NGINX_LOG"
kill -TERM "$nginx_pid" 2>/dev/null || true

# ---- 5. the IPv6 API, differentially -------------------------------------------------------
cat >"$LAB_TMP/peer.py" <<'PYEOF'
# The kernel peer: 7400 control lines ("dial PORT DATA" connects to the script's listener and
# sends DATA), echo servers on 7401, 7411, 7412.
import socket, sys, threading
import labpeer
A, B = sys.argv[1], sys.argv[2]
kept = []
def echo(c):
    while b := c.recv(65536):
        c.sendall(b)
def control(c):
    f = c.makefile("rwb", buffering=0)
    for line in f:
        w = line.decode().split()
        if w[0] == "dial":
            s = socket.create_connection((A, int(w[1])))
            s.sendall(w[2].encode())
            kept.append(s)
        f.write(b"ok\n")
for port in (7401, 7411, 7412):
    threading.Thread(target=labpeer.serve_threads, args=(B, port, echo), daemon=True).start()
labpeer.serve_threads(B, 7400, control)
PYEOF

cat >"$LAB_TMP/v6opts.py" <<'PYEOF'
# The same script on the kernel (reference lab) and under synack: every line must be equal.
import ctypes, errno, socket, struct, sys
import labpeer
A, B = sys.argv[1], sys.argv[2]
IP6, IP, TCP, SOL = socket.IPPROTO_IPV6, socket.IPPROTO_IP, socket.IPPROTO_TCP, socket.SOL_SOCKET
FIXED = {7401, 7411, 7412, 7500, 7501, 7502, 7503, 7504}
libc = ctypes.CDLL(None, use_errno=True)

def recv_exact(s, n):
    got = b""
    while len(got) < n:
        b = s.recv(n - len(got))
        if not b:
            break
        got += b
    return got

def out(*a):
    print(*a, flush=True)

def t(name, f):
    try:
        out(name, "->", f())
    except OSError as e:
        out(name, "->", errno.errorcode.get(e.errno, e.errno))

def name(sa):
    """An address as (host, port, flowinfo, scope), ephemeral ports shown as E."""
    return (sa[0], sa[1] if sa[1] in FIXED else "E") + tuple(sa[2:])

def raw(fd, call, data, length):
    """bind/connect with a sockaddr given as bytes and a length of our choosing."""
    buf = ctypes.create_string_buffer(data, max(len(data), 28))
    r = getattr(libc, call)(fd, buf, length)
    return "ok" if r == 0 else errno.errorcode[ctypes.get_errno()]

def sin6(addr, port, family=socket.AF_INET6):
    return struct.pack("<H", family) + struct.pack("!HI", port, 0) + socket.inet_pton(socket.AF_INET6, addr) + b"\0\0\0\0"

ctl = labpeer.connect(B, 7400)
ctlf = ctl.makefile("rwb", buffering=0)
def peer(cmd):
    ctlf.write(cmd.encode() + b"\n")
    assert ctlf.readline() == b"ok\n"

def options(tag, s):
    t(f"{tag} SO_DOMAIN", lambda: s.getsockopt(SOL, socket.SO_DOMAIN))
    t(f"{tag} IPV6_V6ONLY", lambda: s.getsockopt(IP6, socket.IPV6_V6ONLY))
    t(f"{tag} IPV6_V6ONLY=1", lambda: s.setsockopt(IP6, socket.IPV6_V6ONLY, 1))
    t(f"{tag} IPV6_V6ONLY=0", lambda: s.setsockopt(IP6, socket.IPV6_V6ONLY, 0))
    t(f"{tag} IPV6_TCLASS", lambda: s.getsockopt(IP6, socket.IPV6_TCLASS))
    for v in (0xbb, -1, 256, -2, 0x28):
        t(f"{tag} IPV6_TCLASS={v}", lambda: s.setsockopt(IP6, socket.IPV6_TCLASS, v))
        t(f"{tag} IPV6_TCLASS", lambda: s.getsockopt(IP6, socket.IPV6_TCLASS))
    t(f"{tag} IPV6_UNICAST_HOPS", lambda: s.getsockopt(IP6, socket.IPV6_UNICAST_HOPS))
    t(f"{tag} IP_TOS", lambda: s.getsockopt(IP, socket.IP_TOS))
    t(f"{tag} IP_TTL", lambda: s.getsockopt(IP, socket.IP_TTL))
    t(f"{tag} TCP_NODELAY", lambda: s.getsockopt(TCP, socket.TCP_NODELAY))
    t(f"{tag} getsockname", lambda: name(s.getsockname()))

# Fresh, then connected through an IPv4-mapped address.
options("fresh", socket.socket(socket.AF_INET6))
s = socket.socket(socket.AF_INET6)
t("connect ::ffff:B", lambda: s.connect(("::ffff:" + B, 7401)))
t("connected getpeername", lambda: name(s.getpeername()))
options("connected", s)
s.sendall(b"mapped echo")
t("connected echo", lambda: s.recv(100))
t("connected recvfrom source", lambda: (s.sendall(b"x"), s.recvfrom(10))[1])
t("connected connect again", lambda: s.connect(("::ffff:" + B, 7401)))
s.close()

# The wire (the peer's tcpdump): TCLASS does not touch an IPv4 header, IP_TOS does.
for what, level, opt, port in (("TCLASS", IP6, socket.IPV6_TCLASS, 7411), ("IP_TOS", IP, socket.IP_TOS, 7412)):
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(level, opt, 0x28)
    s.connect(("::ffff:" + B, port))
    s.sendall(b"tos 0x28" * 375)
    t(f"{what} 0x28 connection echoes", lambda: len(recv_exact(s, 3000)))
    s.close()

# IPV6_V6ONLY: IPv4-mapped addresses are refused.
v = socket.socket(socket.AF_INET6)
t("v6only IPV6_V6ONLY=1", lambda: v.setsockopt(IP6, socket.IPV6_V6ONLY, 1))
t("v6only connect ::ffff:B", lambda: v.connect(("::ffff:" + B, 7401)))
t("v6only bind ::ffff:A", lambda: v.bind(("::ffff:" + A, 0)))
t("v6only bind ::ffff:0.0.0.0", lambda: v.bind(("::ffff:0.0.0.0", 0)))
t("v6only IPV6_V6ONLY=0 (still unbound)", lambda: v.setsockopt(IP6, socket.IPV6_V6ONLY, 0))
t("v6only then connect ::ffff:B", lambda: v.connect(("::ffff:" + B, 7401)))
t("v6only then getsockname", lambda: name(v.getsockname()))
v.close()

# Addresses of bound and listening sockets.
l = socket.socket(socket.AF_INET6)
l.setsockopt(SOL, socket.SO_REUSEADDR, 1)
t("bind [::]:7500", lambda: l.bind(("::", 7500)))
t("bound :: getsockname", lambda: name(l.getsockname()))
t("bound :: IPV6_V6ONLY=1", lambda: l.setsockopt(IP6, socket.IPV6_V6ONLY, 1))
t("AF_INET bind 0.0.0.0:7500 beside it", lambda: socket.socket().bind(("0.0.0.0", 7500)))
t("AF_INET bind A:7500 beside it", lambda: socket.socket().bind((A, 7500)))
t("AF_INET6 bind [::ffff:A]:7500 beside it", lambda: socket.socket(socket.AF_INET6).bind(("::ffff:" + A, 7500)))
l.setsockopt(IP6, socket.IPV6_TCLASS, 0x48)
l.setsockopt(IP6, socket.IPV6_UNICAST_HOPS, 9)
l.listen(4)
t("listener getsockname", lambda: name(l.getsockname()))
t("listener SO_ACCEPTCONN", lambda: l.getsockopt(SOL, socket.SO_ACCEPTCONN))
peer("dial 7500 hi")
c, p = l.accept()
t("accepted peer", lambda: name(p))
t("accepted getsockname", lambda: name(c.getsockname()))
t("accepted getpeername", lambda: name(c.getpeername()))
t("accepted SO_DOMAIN", lambda: c.getsockopt(SOL, socket.SO_DOMAIN))
t("accepted IPV6_V6ONLY", lambda: c.getsockopt(IP6, socket.IPV6_V6ONLY))
t("accepted IPV6_TCLASS (the listener's)", lambda: c.getsockopt(IP6, socket.IPV6_TCLASS))
t("accepted IPV6_UNICAST_HOPS (the listener's)", lambda: c.getsockopt(IP6, socket.IPV6_UNICAST_HOPS))
t("accepted data", lambda: recv_exact(c, 2))
c.close(); l.close()
k = socket.socket(socket.AF_INET6)
t("bind [::ffff:0.0.0.0]:7501", lambda: k.bind(("::ffff:0.0.0.0", 7501)))
t("bound ::ffff:0.0.0.0 getsockname", lambda: name(k.getsockname()))
k.close()
k = socket.socket(socket.AF_INET6)
t("bind [::ffff:A]:7502", lambda: k.bind(("::ffff:" + A, 7502)))
t("bound ::ffff:A getsockname", lambda: name(k.getsockname()))
k.close()
u = socket.socket(socket.AF_INET6)
t("unbound listen", lambda: u.listen(1))
t("unbound listen getsockname", lambda: name(u.getsockname()))
u.close()

# Lengths and families, as the kernel checks them.
for what, data, length in (("bind sockaddr_in6 of 23 bytes", sin6("::ffff:" + A, 7503), 23),
                           ("bind sockaddr_in6 of 24 bytes", sin6("::ffff:" + A, 7503), 24),
                           ("bind family AF_INET in 28 bytes", sin6("::ffff:" + A, 7504, socket.AF_INET), 28),
                           ("connect a sockaddr_in", struct.pack("<H", socket.AF_INET) + struct.pack("!H", 7401) + socket.inet_aton(B) + b"\0" * 8, 16),
                           ("connect family AF_INET in 28 bytes", sin6("::ffff:" + B, 7401, socket.AF_INET), 28)):
    x = socket.socket(socket.AF_INET6)
    call = "bind" if what.startswith("bind") else "connect"
    t(what, lambda: raw(x.fileno(), call, data, length))
    x.close()

# An AF_INET socket has no IPv6 level.
s4 = socket.socket()
t("AF_INET IPV6_TCLASS", lambda: s4.getsockopt(IP6, socket.IPV6_TCLASS))
s4.connect((B, 7401))
t("AF_INET connected IPV6_TCLASS=0x28", lambda: s4.setsockopt(IP6, socket.IPV6_TCLASS, 0x28))
t("AF_INET connected IPV6_V6ONLY", lambda: s4.getsockopt(IP6, socket.IPV6_V6ONLY))
s4.close()
out("-- end")
PYEOF

# run NAME PEER_NS RUNNER...: the peer program in PEER_NS (and tcpdump on its veth for the two
# TOS connections), the script through RUNNER.
run() {
	local name=$1 peer_ns=$2 rc=0 i
	shift 2
	spawn "$LAB_TMP/$name.peer.log" timeout -k 3 120 ip netns exec "$peer_ns" "$LAB_PY" "$LAB_TMP/peer.py" "$ADDR_A" "$ADDR_B"
	local peer=$LAB_LAST_PID
	# --immediate-mode: the kernel run ends within the capture buffer's timeout, and what
	# tcpdump has not read by then would be lost.
	spawn "$LAB_TMP/$name.tcpdump.log" timeout -k 3 120 ip netns exec "$peer_ns" tcpdump -i veth-peer -n -U \
		--immediate-mode -w "$LAB_TMP/$name.pcap" "tcp port 7411 or tcp port 7412"
	local dump=$LAB_LAST_PID
	for ((i = 0; i < 200; i++)); do
		[[ -n $(ip netns exec "$peer_ns" ss -Hltn "sport = :7412") ]] &&
			grep -q "listening on" "$LAB_TMP/$name.tcpdump.log" && break
		sleep 0.05
	done
	LAB_TIMEOUT=60 "$@" "$LAB_PY" "$LAB_TMP/v6opts.py" "$ADDR_A" "$ADDR_B" >"$LAB_TMP/$name.out" \
		2>"$LAB_TMP/$name.err" || rc=$?
	kill -TERM "$peer" "$dump" 2>/dev/null || true
	wait "$dump" 2>/dev/null || true
	return "$rc"
}

# check_wire NAME: the segments from 10.77.0.1 to port 7411 (IPV6_TCLASS 0x28) carry tos 0x0,
# those to 7412 (IP_TOS 0x28) tos 0x28. RSTs are left out: one answering a segment for a
# connection already gone takes that segment's TOS, on Linux as under synack.
check_wire() {
	local name=$1 port want n bad
	for port in 7411 7412; do
		want=$([[ $port == 7411 ]] && echo 0x0 || echo 0x28)
		tcpdump -r "$LAB_TMP/$name.pcap" -n -v \
			"src host $ADDR_A and dst port $port and tcp[tcpflags] & tcp-rst == 0" 2>/dev/null |
			grep -E '^[0-9:.]+ IP ' >"$LAB_TMP/$name.$port.wire" || true
		n=$(wc -l <"$LAB_TMP/$name.$port.wire")
		bad=$(grep -cv "(tos $want," "$LAB_TMP/$name.$port.wire" || true)
		if ((n >= 3 && bad == 0)); then
			pass "$name: the $n segments of the $([[ $port == 7411 ]] && echo IPV6_TCLASS || echo IP_TOS) 0x28 connection carry tos $want"
		else
			fail "$name: TOS on the wire, port $port" "$bad of $n segments without tos $want"
			show "$LAB_TMP/$name.$port.wire"
		fi
	done
}

if diff_ran kernel "kernel reference run" "$REF_NS_B" ref_exec; then
	pass "kernel reference run: $(wc -l <"$LAB_TMP/kernel.out") observations"
	check_wire kernel
	diff_ran synack "run under synack" "$NS_B" synack_exec || true
	diff_same "AF_INET6 answer"
	check_wire synack
fi

# ---- 6. what synack leaves to the kernel -----------------------------------------------------
cat >"$LAB_TMP/native.py" <<'PYEOF'
import errno, socket, sys
IP6 = socket.IPPROTO_IPV6
def t(name, f):
    try:
        print(name, "->", f(), flush=True)
    except OSError as e:
        print(name, "->", errno.errorcode.get(e.errno, e.errno), flush=True)
def echo(s):
    s.sendall(b"v6")
    return s.recv(10)
s = socket.socket(socket.AF_INET6)
t("connect [::1]:7601", lambda: (s.connect(("::1", 7601)), echo(s))[1])
s = socket.socket(socket.AF_INET6)
t("connect [2001:db8::1]:80", lambda: s.connect(("2001:db8::1", 80)))
v = socket.socket(socket.AF_INET6)
v.setsockopt(IP6, socket.IPV6_V6ONLY, 1)
t("IPV6_V6ONLY socket bind [::]:7602", lambda: v.bind(("::", 7602)))
# Bound through synack on every address first: the first connect may still go to the kernel.
b = socket.socket(socket.AF_INET6)
b.bind(("::", 0))
t("bound to [::]:0, connect [::1]:7601", lambda: (b.connect(("::1", 7601)), echo(b))[1])
b = socket.socket()
b.bind(("0.0.0.0", 0))
t("bound to 0.0.0.0:0, connect 127.0.0.1:7601", lambda: (b.connect(("127.0.0.1", 7601)), echo(b))[1])
PYEOF
cat >"$LAB_TMP/v6echo.py" <<'PYEOF'
import socket
ls = socket.socket(socket.AF_INET6)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("::", 7601))
ls.listen(4)
while True:
    c, _ = ls.accept()
    c.sendall(c.recv(10))
    c.close()
PYEOF
spawn "$LAB_TMP/v6echo.log" ip netns exec "$NS_A" "$LAB_PY" "$LAB_TMP/v6echo.py"
for ((i = 0; i < 200; i++)); do
	[[ -n $(ip netns exec "$NS_A" ss -Hltn "sport = :7601") ]] && break
	sleep 0.05
done
rc=0
synack_exec "$LAB_PY" "$LAB_TMP/native.py" >"$LAB_TMP/strict.out" 2>"$LAB_TMP/strict.err" || rc=$?
want="connect [::1]:7601 -> ENETUNREACH
connect [2001:db8::1]:80 -> ENETUNREACH
IPV6_V6ONLY socket bind [::]:7602 -> EADDRNOTAVAIL
bound to [::]:0, connect [::1]:7601 -> ENETUNREACH
bound to 0.0.0.0:0, connect 127.0.0.1:7601 -> ENETUNREACH"
n1=$(grep -c 'refused (SYNACK_STRICT=1): loopback IPv6 address \[::1\]:7601' "$LAB_TMP/strict.err" || true)
n2=$(grep -c 'refused (SYNACK_STRICT=1): native IPv6 address \[2001:db8::1\]:80' "$LAB_TMP/strict.err" || true)
n3=$(grep -c 'refused (SYNACK_STRICT=1): IPV6_V6ONLY socket (\[::\]:7602)' "$LAB_TMP/strict.err" || true)
n4=$(grep -c 'refused (SYNACK_STRICT=1): loopback address' "$LAB_TMP/strict.err" || true)
if ((rc == 0)) && [[ $(cat "$LAB_TMP/strict.out") == "$want" ]] && ((n1 == 2 && n2 == 1 && n3 == 1 && n4 == 1)); then
	pass "strict: ::1, a native IPv6 address, an IPV6_V6ONLY socket, loopback after a bind on every address are refused, one log line each naming it"
else
	fail "strict refusals of what synack does not carry" "exit $rc, log lines $n1 $n2 $n3 $n4"
	show "$LAB_TMP/strict.out"
	show "$LAB_TMP/strict.err"
fi
rc=0
synack_exec_lax "$LAB_PY" "$LAB_TMP/native.py" >"$LAB_TMP/lax.out" 2>"$LAB_TMP/lax.err" || rc=$?
want="connect [::1]:7601 -> b'v6'
connect [2001:db8::1]:80 -> ENETUNREACH
IPV6_V6ONLY socket bind [::]:7602 -> None
bound to [::]:0, connect [::1]:7601 -> b'v6'
bound to 0.0.0.0:0, connect 127.0.0.1:7601 -> b'v6'"
if ((rc == 0)) && [[ $(cat "$LAB_TMP/lax.out") == "$want" ]]; then
	pass "not strict: the same sockets are the kernel's (::1 echoes, 2001:db8::1 is the kernel's ENETUNREACH, the V6ONLY bind succeeds, a socket bound on every address connects to loopback)"
else
	fail "not strict: the kernel's sockets" "exit $rc"
	show "$LAB_TMP/lax.out"
	show "$LAB_TMP/lax.err"
fi
lab_finish
