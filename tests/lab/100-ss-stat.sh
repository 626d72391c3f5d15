#!/usr/bin/env bash
# `synack ss` and `synack stat` read running programs through their query socket
# (shim/runtime/query.c, docs/operations.md), without stopping them:
#  - curl under synack in the middle of a download (the peer sends the header and N bytes, then
#    holds the connection until the test releases it): ss lists it ESTAB with the local port the
#    peer saw and the peer's address, users:(("curl",pid=PID,fd=FD)) where FD is a socket of
#    that pid, and with -i bytes_received = every byte the peer sent, bytes_acked = the request;
#    "state established" keeps it, "state time-wait" does not; -p PID from outside the
#    namespace finds it too (the tool enters the process's network namespace); another user
#    is refused (SO_PEERCRED); released, curl finishes the download intact;
#  - a python3 http.server under synack: ss -l lists its LISTEN socket with its pid, ss
#    without -l does not, ss -a does;
#  - a python3 client under synack exchanging N messages in lockstep with a kernel echo
#    server whose firewall drops the first data segment it receives from synack (once):
#    between a `synack stat` before and one after, tcp_conn_active +1, tcp_retransmits >= 1 and
#    equal to the connection's retrans total in ss -i, tcp_tx_segs >= N+2, tcp_rx_segs >= N+1,
#    bytes_acked = bytes_received = N * size in ss -i; stat -r gives a per-second sample;
#    stat -a lists exactly the counters SYNACK_STATS writes at exit;
#  - a python3 program under synack run that connects and forks, the child connecting too:
#    each connection is listed under its own process (the child runs its own stack and query
#    socket; it opens its own packet socket rather than the number synack run handed down).
. "$(dirname "$0")/lib.sh"

lab_up
if [[ ! -x $LAB_TOOL ]]; then
	fail "synack is built" "$LAB_TOOL is missing"
	lab_finish
fi

SS() { timeout -k 3 15 ip netns exec "$NS_A" "$LAB_TOOL" ss "$@"; }
STAT() { timeout -k 3 15 ip netns exec "$NS_A" "$LAB_TOOL" stat "$@"; }
# Start a program under `synack run` in the background; LAB_LAST_PID is the program's own pid
# (ip netns exec, env and synack run all exec).
run_bg() {
	local log=$1
	shift
	spawn "$log" ip netns exec "$NS_A" env SYNACK_STRICT=1 ${SYNACK_STATS:+SYNACK_STATS=$SYNACK_STATS} \
		"$LAB_TOOL" run --iface "$IF_A" --addr "$ADDR_A/24" --strict -- "$@"
}
wait_for() { # wait_for FILE: at most 15 s
	local i
	for ((i = 0; i < 150; i++)); do
		[[ -e $1 ]] && return 0
		sleep 0.1
	done
	return 1
}

# ---- 1. a live download ---------------------------------------------------------------------
N=300000
cat >"$LAB_TMP/hold.py" <<'PYEOF'
# Serve one HTTP/1.0 request: the header and N bytes of a body of N + 1000, then wait for the
# release file before the last 1000 bytes. Writes what it saw and sent for the test.
import os, socket, sys, labpeer
d, n = sys.argv[1], int(sys.argv[2])
ls = labpeer.listener('10.77.0.2', 8000)
c, (_, port) = ls.accept()
req = b''
while b'\r\n\r\n' not in req:
    req += c.recv(4096)
head = b'HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n' % (n + 1000)
c.sendall(head + b'x' * n)
with open(d + '/seen.tmp', 'w') as f:
    f.write('%d %d %d\n' % (port, len(req), len(head) + n))
os.rename(d + '/seen.tmp', d + '/seen')
labpeer.wait_file(d + '/release', 60)
c.sendall(b'y' * 1000)
c.close()
PYEOF
spawn "$LAB_TMP/hold.log" ip netns exec "$NS_B" "$LAB_PY" "$LAB_TMP/hold.py" "$LAB_TMP" "$N"
peer_wait_listen 8000
run_bg "$LAB_TMP/curl.log" curl -sS --max-time 60 -o "$LAB_TMP/body" "http://$ADDR_B:8000/held"
curl_pid=$LAB_LAST_PID
if ! wait_for "$LAB_TMP/seen"; then
	fail "ss lists curl's connection" "the peer never sent its first $N bytes"
	show "$LAB_TMP/curl.log"
	show "$LAB_TMP/hold.log"
	lab_finish
fi
read -r cport reqlen sent <"$LAB_TMP/seen"
# The bytes are on the wire: wait (at most 10 s) until synack has taken all of them in.
for ((i = 0; i < 100; i++)); do
	SS -i -p "$curl_pid" >"$LAB_TMP/ss.out" 2>"$LAB_TMP/ss.err" || true
	grep -q "bytes_received:$sent " "$LAB_TMP/ss.out" && break
	sleep 0.1
done
row=$(grep -E "^ESTAB +[0-9]+ +[0-9]+ +$ADDR_A:$cport +$ADDR_B:8000 +users:\(\(\"curl\",pid=$curl_pid,fd=[0-9]+\)\)\$" "$LAB_TMP/ss.out" || true)
if [[ -z $row ]]; then
	fail "ss lists curl's connection ESTAB" "no row for $ADDR_A:$cport -> $ADDR_B:8000 of pid $curl_pid"
	show "$LAB_TMP/ss.out"
	show "$LAB_TMP/ss.err"
else
	fd=$(sed -E 's/.*fd=([0-9]+).*/\1/' <<<"$row")
	link=$(readlink "/proc/$curl_pid/fd/$fd" || true)
	if [[ $link != socket:* ]]; then
		fail "ss lists curl's connection ESTAB" "fd $fd of pid $curl_pid is '$link', not a socket"
	else
		pass "ss lists curl's connection ESTAB $ADDR_A:$cport -> $ADDR_B:8000, users:((\"curl\",pid=$curl_pid,fd=$fd)), fd $fd a socket"
	fi
	info=$(grep -A1 -F "$row" "$LAB_TMP/ss.out" | tail -n1)
	if [[ $info == *" bytes_received:$sent "* && $info == *" bytes_acked:$reqlen "* ]]; then
		pass "ss -i: bytes_received:$sent (all the peer sent) and bytes_acked:$reqlen (the request)"
	else
		fail "ss -i: byte counts" "want bytes_received:$sent and bytes_acked:$reqlen in: $info"
	fi
fi
if SS state established -p "$curl_pid" | grep -q "$ADDR_A:$cport " &&
	! SS state time-wait -p "$curl_pid" | grep -q "$ADDR_A:$cport "; then
	pass "state filters: 'state established' lists it, 'state time-wait' does not"
else
	fail "state filters" "$(SS -a -p "$curl_pid" 2>&1)"
fi
if timeout -k 3 15 "$LAB_TOOL" ss -p "$curl_pid" 2>&1 | grep -q "$ADDR_A:$cport .*pid=$curl_pid"; then
	pass "ss -p PID from the root namespace enters the process's namespace"
else
	fail "ss -p PID from the root namespace" "$(timeout 15 "$LAB_TOOL" ss -p "$curl_pid" 2>&1)"
fi
rc=0
ip netns exec "$NS_A" setpriv --reuid=nobody --regid=nogroup --clear-groups "$LAB_TOOL" ss -p "$curl_pid" \
	>"$LAB_TMP/nobody.out" 2>"$LAB_TMP/nobody.err" || rc=$?
if ((rc == 1)) && grep -q "pid $curl_pid: permission denied" "$LAB_TMP/nobody.err"; then
	pass "another user is refused: exit 1, \"$(cat "$LAB_TMP/nobody.err")\""
else
	fail "another user is refused" "exit $rc: $(cat "$LAB_TMP/nobody.out" "$LAB_TMP/nobody.err")"
fi
touch "$LAB_TMP/release"
rc=0
timeout 30 tail --pid="$curl_pid" -f /dev/null || rc=$?
if ((rc != 0)) || [[ $(stat -c %s "$LAB_TMP/body" 2>/dev/null) != $((N + 1000)) ]]; then
	fail "curl finishes after the queries" "body $(stat -c %s "$LAB_TMP/body" 2>/dev/null) bytes, want $((N + 1000))"
	show "$LAB_TMP/curl.log"
else
	pass "curl, queried meanwhile, finishes the download: $((N + 1000)) bytes"
fi

# ---- 2. a listener --------------------------------------------------------------------------
mkdir -p "$LAB_TMP/www"
run_bg "$LAB_TMP/http.log" "$LAB_PY" -m http.server -b "$ADDR_A" -d "$LAB_TMP/www" 8080
srv_pid=$LAB_LAST_PID
for ((i = 0; i < 100; i++)); do
	SS -l -p "$srv_pid" >"$LAB_TMP/ssl.out" 2>"$LAB_TMP/ssl.err" && grep -q "^LISTEN" "$LAB_TMP/ssl.out" && break
	sleep 0.1
done
if grep -qE "^LISTEN +0 +[0-9]+ +$ADDR_A:8080 +0\.0\.0\.0:\* +users:\(\(\"python3\",pid=$srv_pid,fd=[0-9]+\)\)\$" "$LAB_TMP/ssl.out"; then
	pass "ss -l lists the http.server's LISTEN $ADDR_A:8080 with its pid $srv_pid"
else
	fail "ss -l lists the listener" "$(cat "$LAB_TMP/ssl.out" "$LAB_TMP/ssl.err")"
fi
if ! SS -p "$srv_pid" | grep -q "^LISTEN" && SS -a | grep -q "^LISTEN .*pid=$srv_pid,"; then
	pass "ss without -l leaves the listener out, ss -a lists it"
else
	fail "ss default and -a filters" "$(SS -a 2>&1)"
fi

# ---- 3. counters of a known exchange ---------------------------------------------------------
MSGS=20
SIZE=300
cat >"$LAB_TMP/echo.py" <<'PYEOF'
import labpeer
def echo(c):
    while b := c.recv(65536):
        c.sendall(b)
    c.close()
labpeer.serve_threads('10.77.0.2', 9000, echo)
PYEOF
cat >"$LAB_TMP/lockstep.py" <<'PYEOF'
# bind (the stack starts), say "ready", wait for "go", exchange N messages of SIZE bytes one
# at a time, say "done", wait for "exit".
import os, socket, sys, labpeer
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket()
s.bind(('0.0.0.0', 0))
open(d + '/ready', 'w').close()
labpeer.wait_file(d + '/go', 60)
s.connect(('10.77.0.2', 9000))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(n):
    s.sendall(bytes([65 + i % 26]) * size)
    got = b''
    while len(got) < size:
        got += s.recv(size - len(got))
open(d + '/done', 'w').close()
labpeer.wait_file(d + '/exit', 60)
s.close()
PYEOF
spawn "$LAB_TMP/echo.log" ip netns exec "$NS_B" "$LAB_PY" "$LAB_TMP/echo.py"
peer_wait_listen 9000
# The peer drops the first data segment from synack to port 9000, once (a dynamic set
# remembers that it did).
peer_exec nft -f - <<EOF
table inet dropfirst {
	set seen { type ipv4_addr; flags dynamic; }
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr $ADDR_A tcp dport 9000 meta length > 200 ip saddr @seen accept
		ip saddr $ADDR_A tcp dport 9000 meta length > 200 add @seen { ip saddr } counter drop
	}
}
EOF
SYNACK_STATS=$LAB_TMP/exit.stats run_bg "$LAB_TMP/lockstep.log" "$LAB_PY" "$LAB_TMP/lockstep.py" "$LAB_TMP" "$MSGS" "$SIZE"
lpid=$LAB_LAST_PID
if ! wait_for "$LAB_TMP/ready"; then
	fail "stat: the client starts" "no ready file"
	show "$LAB_TMP/lockstep.log"
	lab_finish
fi
STAT -a -p "$lpid" >"$LAB_TMP/before" 2>&1
touch "$LAB_TMP/go"
if ! wait_for "$LAB_TMP/done"; then
	fail "stat: the exchange" "not done within 15 s"
	show "$LAB_TMP/lockstep.log"
	lab_finish
fi
STAT -a -p "$lpid" >"$LAB_TMP/after" 2>&1
SS -i -p "$lpid" >"$LAB_TMP/ss3.out" 2>&1
delta() { # delta NAME: after - before
	echo $(($(awk -v n="$1" '$1 == n {print $2}' "$LAB_TMP/after") - $(awk -v n="$1" '$1 == n {print $2}' "$LAB_TMP/before")))
}
drops=$(peer_exec nft list chain inet dropfirst input | sed -nE 's/.*counter packets ([0-9]+) .*/\1/p')
active=$(delta tcp_conn_active)
rxt=$(delta tcp_retransmits)
txs=$(delta tcp_tx_segs)
rxs=$(delta tcp_rx_segs)
info=$(grep -A1 "$ADDR_B:9000" "$LAB_TMP/ss3.out" | tail -n1)
conn_rxt=$(sed -nE 's/.* retrans:[0-9]+\/([0-9]+).*/\1/p' <<<"$info")
want=$((MSGS * SIZE))
if [[ $drops != 1 ]]; then
	fail "stat: counters of $MSGS exchanges" "the peer's rule dropped ${drops:-?} segments, want 1"
elif ((active == 1 && rxt >= 1 && txs >= MSGS + 2 && rxs >= MSGS + 1)) && [[ $conn_rxt == "$rxt" ]]; then
	pass "stat: after $MSGS exchanges and 1 drop: tcp_conn_active +1, tcp_retransmits +$rxt (= the connection's retrans total), tcp_tx_segs +$txs, tcp_rx_segs +$rxs"
else
	fail "stat: counters of $MSGS exchanges" "tcp_conn_active +$active (want 1), tcp_retransmits +$rxt (want >= 1 and = ss's ${conn_rxt:-?}), tcp_tx_segs +$txs (>= $((MSGS + 2))), tcp_rx_segs +$rxs (>= $((MSGS + 1)))"
	show "$LAB_TMP/before"
	show "$LAB_TMP/after"
fi
if [[ $info == *" bytes_acked:$want "* && $info == *" bytes_received:$want "* ]]; then
	pass "ss -i of the exchange: bytes_acked:$want bytes_received:$want"
else
	fail "ss -i of the exchange" "want bytes_acked:$want bytes_received:$want in: $info"
	show "$LAB_TMP/ss3.out"
fi
start=$SECONDS
STAT -r -a -p "$lpid" >"$LAB_TMP/rate" 2>&1
if head -n1 "$LAB_TMP/rate" | grep -q "^#synack pid=$lpid python3 (per second)$" &&
	grep -qE "^tcp_rx_segs +[0-9]+\.[0-9]$" "$LAB_TMP/rate" && ((SECONDS - start >= 1)); then
	pass "stat -r: two samples a second apart, per-second figures"
else
	fail "stat -r" "$(cat "$LAB_TMP/rate")"
fi
touch "$LAB_TMP/exit"
timeout 30 tail --pid="$lpid" -f /dev/null || true
if [[ -s $LAB_TMP/exit.stats ]] &&
	diff <(awk '{print $1}' "$LAB_TMP/exit.stats") <(tail -n +2 "$LAB_TMP/after" | awk '{print $1}') >"$LAB_TMP/names.diff"; then
	pass "stat -a lists exactly the $(wc -l <"$LAB_TMP/exit.stats") counters SYNACK_STATS writes at exit, in its order"
else
	fail "stat -a and SYNACK_STATS list the same counters" "$(cat "$LAB_TMP/names.diff" 2>/dev/null)"
	show "$LAB_TMP/lockstep.log"
fi

# ---- 4. a fork child with a stack of its own -------------------------------------------------
cat >"$LAB_TMP/forky.py" <<'PYEOF'
# Connect, fork; the child connects too (its own stack: the parent's is not its); each writes
# its local port, then waits for the release file.
import os, socket, sys, labpeer
d = sys.argv[1]
a = socket.create_connection(('10.77.0.2', 9000))
pid = os.fork()
s = a if pid else socket.create_connection(('10.77.0.2', 9000))
who = 'parent' if pid else 'child'
with open('%s/%s.tmp' % (d, who), 'w') as f:
    f.write('%d %d\n' % (os.getpid(), s.getsockname()[1]))
os.rename('%s/%s.tmp' % (d, who), '%s/%s' % (d, who))
labpeer.wait_file(d + '/forky-exit', 60)
if pid:
    os.waitpid(pid, 0)
PYEOF
run_bg "$LAB_TMP/forky.log" "$LAB_PY" "$LAB_TMP/forky.py" "$LAB_TMP"
if wait_for "$LAB_TMP/parent" && wait_for "$LAB_TMP/child"; then
	read -r ppid pport <"$LAB_TMP/parent"
	read -r cpid cport2 <"$LAB_TMP/child"
	SS >"$LAB_TMP/fork.out" 2>&1 || true
	if grep -qE "^ESTAB .* $ADDR_A:$pport +$ADDR_B:9000 +users:\(\(\"python3\",pid=$ppid,fd=[0-9]+\)\)\$" "$LAB_TMP/fork.out" &&
		grep -qE "^ESTAB .* $ADDR_A:$cport2 +$ADDR_B:9000 +users:\(\(\"python3\",pid=$cpid,fd=[0-9]+\)\)\$" "$LAB_TMP/fork.out"; then
		pass "a fork child's own stack answers under its pid $cpid, the parent's under $ppid"
	else
		fail "a fork child's own stack" "want port $pport of pid $ppid and $cport2 of pid $cpid"
		show "$LAB_TMP/fork.out"
	fi
else
	fail "a fork child's own stack" "the parent or the child did not connect"
	show "$LAB_TMP/forky.log"
fi
touch "$LAB_TMP/forky-exit"
lab_finish
