#!/usr/bin/env bash
# nginx under synack in its default process model: a master (as root, in the foreground) that
# forks 2 worker processes (as nobody), which share its one listening socket on 10.77.0.1:8080
# (no reuseport); kernel clients in the peer namespace.
#  1. both workers run (ps: 2 "worker process" children of the master) once nginx answers;
#     `ab -n 5000 -c 50`: all 5000 complete, 0 failed, 0 non-2xx, every body 4096 B; curl
#     fetches a 20 MiB file byte-exact (SHA-256); the master took in under a tenth of the frames
#     the workers did (synack stat: it neither accepts nor polls, they do).
#  2. kill -9 of a worker while `ab -r -n 20000 -c 20` runs (past its 2000th request), the
#     worker that serves the first of 10 keep-alive connections a client (held.py) holds open
#     (each response names its worker: X-Worker), so that it dies with connections in hand:
#     - each of the killed worker's held connections ends (the client sees EOF or a reset)
#       within 20 s, each of the other worker's still answers a second request;
#     - ab ends by itself (exit 0; -s 20: a request without an answer for 20 s would make ab
#       give up, exit 1) with all 20000 requests done, at most 20 failed (the connections the
#       dead worker may have held: at most ab's 20 in flight), none non-2xx;
#     - the master and the other worker still run, the master has started a new worker (2
#       again), and `ab -n 2000 -c 20` afterwards succeeds for every request;
#     - tcpdump on the peer (SYN, FIN, RST of port 8080) from before the kill to the end: every
#       connection the server accepted (SYN-ACK) ended with a FIN or an RST from the server,
#       none is left open.
#  3. neither nginx's stderr (synack's log) nor its error log says "stack broken", and the
#     error log has no [alert]/[crit]/[emerg] line but the master's own report of the killed
#     worker ("exited on signal 9").
# By hand, LAB_KERNEL_ONLY=1 runs nginx on the kernel: every check passes there.
. "$(dirname "$0")/lib.sh"

lab_up
www=$LAB_TMP/www
mkdir -p "$www"
make_file "$www/small.bin" 4096
make_file "$www/20MiB.bin" $((20 * 1024 * 1024))
# The workers run as nobody: they must reach the files.
chmod 711 "$LAB_TMP"
chmod 755 "$www"
chmod 644 "$www"/*
NGINX_DIR=$LAB_TMP/nginx
NGINX_LOG=$NGINX_DIR/error.log
NGINX_WORKERS=2 nginx_conf "$NGINX_DIR" "$ADDR_A" "$www" 1024
URL=http://$ADDR_A:8080

LAB_TIMEOUT=170 spawn "$LAB_TMP/server.err" synack_exec /usr/sbin/nginx -p "$NGINX_DIR" \
	-e "$NGINX_LOG" -c "$NGINX_DIR/nginx.conf"
server=$LAB_LAST_PID
synack_wait_http "nginx (master + 2 workers) under synack answers" "$server" "$URL/small.bin" \
	"$LAB_TMP/small.out" "$LAB_TMP/server.err" "$NGINX_LOG"
nginx_wait_two_workers "$NGINX_DIR" "$LAB_TMP/server.err" "$NGINX_LOG"
master=$NGINX_MASTER

rc=0
peer_exec timeout -k 3 150 ab -q -s 20 -n 5000 -c 50 "$URL/small.bin" >"$LAB_TMP/ab1.out" 2>&1 || rc=$?
check_ab "ab -n 5000 -c 50 against nginx's 2 workers under synack" "$LAB_TMP/ab1.out" "$rc" 5000 4096 \
	"$LAB_TMP/server.err" "$NGINX_LOG"
peer_fetch "curl fetches 20 MiB from nginx's workers under synack" "$URL/20MiB.bin" \
	"$LAB_TMP/20MiB.out" "$www/20MiB.bin" "$NGINX_LOG"
# The master neither accepts nor polls: it leaves the frames to the workers, which take them in
# (synack stat of each process: the frames its threads took in), instead of taking them in for
# them and waking them (a third of them before).
frames() { # PID: the frames the process's threads took in
	ip netns exec "$NS_A" timeout -k 2 10 "$LAB_TOOL" stat -p "$1" 2>/dev/null |
		awk '$1 == "rt_frames_by_runtime" || $1 == "rt_frames_by_app" { n += $2 } END { print n + 0 }'
}
if [[ ${LAB_KERNEL_ONLY:-0} != 1 ]]; then
	m=$(frames "$master")
	w=0
	for p in $(nginx_workers "$master"); do
		w=$((w + $(frames "$p")))
	done
	if ((w > 10000 && m * 10 < w)); then
		pass "the master leaves the frames to the workers: it took in $m, the workers $w"
	else
		fail "the master leaves the frames to the workers" "master $m frames, workers $w"
	fi
fi

# 2. kill -9 of a worker during a run of ab. Without -q ab prints "Completed 2000 requests"
# (every 10 %) to stderr as it goes; -r: a reset or cut response counts as a failed request
# instead of ending ab. Beside ab, held.py keeps 10 keep-alive connections open, each after one
# answer, which names its worker (X-Worker): the victim is the worker of the first one, so it
# certainly dies with connections in its hands. After the kill, held.py checks that each of the
# victim's connections ends (EOF or reset) within 20 s and each of the other worker's still
# answers.
cat >"$LAB_TMP/held.py" <<'PYEOF'
import socket, sys
import labpeer
addr, killed = sys.argv[1], sys.argv[2]
REQ = b"GET /small.bin HTTP/1.1\r\nHost: lab\r\n\r\n"
def answer(s):
    """One response on s: (its X-Worker, the body's length)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(4096)
        if not b:
            raise ConnectionError("EOF in the headers")
        buf += b
    head, body = buf.split(b"\r\n\r\n", 1)
    hdr = dict(l.split(b": ", 1) for l in head.split(b"\r\n")[1:])
    n = int(hdr[b"Content-Length"])
    while len(body) < n:
        b = s.recv(65536)
        if not b:
            raise ConnectionError("EOF in the body")
        body += b
    return int(hdr[b"X-Worker"]), len(body)
held = []
for i in range(10):
    s = labpeer.connect(addr, 8080)
    s.settimeout(20)
    s.sendall(REQ)
    held.append((s, answer(s)[0]))
print("held " + " ".join(str(w) for _, w in held), flush=True)
labpeer.wait_file(killed, 90)
victim = int(open(killed).read())
ended, served, bad = 0, 0, []
for s, w in held:
    try:
        if w == victim:
            try:
                b = s.recv(4096)
                if b:
                    bad.append(f"a connection of the killed worker sent {len(b)} bytes")
                else:
                    ended += 1
            except ConnectionResetError:
                ended += 1
        else:
            s.sendall(REQ)
            if answer(s) == (w, 4096):
                served += 1
            else:
                bad.append(f"a connection of worker {w} answered by another worker")
    except OSError as e:
        bad.append(f"a connection of worker {w}: {e!r}")
name = "the killed worker's held keep-alive connections end (EOF or reset) within 20 s, the other worker's still answer"
if bad:
    print(f"FAIL {name}: {'; '.join(bad[:3])}")
else:
    print(f"ok {name} ({ended} ended, {served} answered)")
PYEOF
peer_capture kill "tcp port 8080 and ($PCAP_CTL)"
spawn "$LAB_TMP/ab2.out" peer_exec timeout -k 3 150 ab -r -s 20 -n 20000 -c 20 "$URL/small.bin"
ab=$LAB_LAST_PID
spawn "$LAB_TMP/held.out" peer_exec timeout -k 3 150 "$LAB_PY" -u "$LAB_TMP/held.py" "$ADDR_A" \
	"$LAB_TMP/killed"
held=$LAB_LAST_PID
w1=""
w2=""
if wait_for 60 grep -q 'Completed 2000 requests' "$LAB_TMP/ab2.out" &&
	wait_for 60 grep -q '^held ' "$LAB_TMP/held.out"; then
	w1=$(sed -nE 's/^held ([0-9]+).*/\1/p' "$LAB_TMP/held.out")
	w2=$(nginx_workers "$master" | grep -vx "$w1" | head -1)
	kill -KILL "$w1"
	echo "$w1" >"$LAB_TMP/killed"
	pass "worker $w1 killed (kill -9) while ab -n 20000 -c 20 runs, past its 2000th request, holding $(grep -o " $w1\b" "$LAB_TMP/held.out" | wc -l) of held.py's 10 keep-alive connections"
else
	fail "kill -9 of a worker during ab -n 20000 -c 20" \
		"within 60 s, ab did not reach 2000 requests or held.py did not hold its connections"
	show "$LAB_TMP/ab2.out"
	show "$LAB_TMP/held.out"
fi
rc=0
wait "$held" || rc=$?
report_checks "$LAB_TMP/held.out" "$rc" "held.py"
rc=0
wait "$ab" || rc=$?
# ab counts a failed request once in "Failed requests" for each way it failed: judge the
# breakdown, "(Connect: N, Receive: N, Length: N, Exceptions: N)".
complete=$(sed -nE 's/^Complete requests: +([0-9]+)$/\1/p' "$LAB_TMP/ab2.out")
failed=$(sed -nE 's/^Failed requests: +([0-9]+)$/\1/p' "$LAB_TMP/ab2.out")
ways=$(sed -nE 's/^ +\(Connect: ([0-9]+), Receive: ([0-9]+), Length: ([0-9]+), Exceptions: ([0-9]+)\)$/\1 \2 \3 \4/p' \
	"$LAB_TMP/ab2.out")
[[ $failed != 0 ]] || ways="0 0 0 0"
non2xx=$(sed -nE 's/^Non-2xx responses: +([0-9]+)$/\1/p' "$LAB_TMP/ab2.out")
most=$(tr ' ' '\n' <<<"${ways:-999}" | sort -n | tail -1)
if ((rc == 0 && most <= 20)) && [[ $complete == 20000 && -z $non2xx ]]; then
	pass "ab -r -n 20000 -c 20 across the kill ends by itself: 20000 done, none non-2xx, failed: $failed (connect, receive, length, exceptions: $ways; each at most 20)"
else
	fail "ab -r -n 20000 -c 20 across the kill ends by itself with at most 20 failed requests" \
		"exit $rc, complete=${complete:-?} failed=${failed:-?} (connect, receive, length, exceptions: ${ways:-?}) non-2xx=${non2xx:-0}"
	show "$LAB_TMP/ab2.out"
fi
if kill -0 "$master" 2>/dev/null && kill -0 "$w2" 2>/dev/null; then
	pass "the master ($master) and the other worker ($w2) survive the kill"
else
	fail "the master and the other worker survive the kill" \
		"master $(kill -0 "$master" 2>/dev/null && echo runs || echo gone), worker $(kill -0 "$w2" 2>/dev/null && echo runs || echo gone)"
	show "$LAB_TMP/server.err"
	show "$NGINX_LOG"
fi
replaced() { nginx_two_workers && ! nginx_workers "$master" | grep -qx "$w1"; }
if wait_for 15 replaced; then
	pass "the master replaced the killed worker (workers now: $(nginx_workers "$master" | tr '\n' ' '))"
else
	fail "the master replaced the killed worker" "workers: $(nginx_workers "$master" | tr '\n' ' ')"
fi
rc=0
peer_exec timeout -k 3 120 ab -q -s 20 -n 2000 -c 20 "$URL/small.bin" >"$LAB_TMP/ab3.out" 2>&1 || rc=$?
check_ab "ab -n 2000 -c 20 after the kill: every request succeeds" "$LAB_TMP/ab3.out" "$rc" 2000 4096 \
	"$LAB_TMP/server.err" "$NGINX_LOG"
# Every accepted connection has ended on the server's side: wait (at most 20 s) until the
# capture shows it, then judge the whole capture.
conns() {
	tcpdump -n -r "$LAB_TMP/kill.pcap" 2>/dev/null | "$LAB_PY" "$LAB_TMP/labpeer.py" conns "$ADDR_A" 8080 \
		>"$LAB_TMP/conns.txt"
}
all_ended() { conns && grep -q ' open 0$' "$LAB_TMP/conns.txt"; }
wait_for 20 all_ended || true
peer_capture_stop
conns
read -r _ accepted _ fins _ rsts _ open <"$LAB_TMP/conns.txt"
if ((open == 0 && accepted >= 22000)); then
	pass "tcpdump: each of the $accepted connections accepted from before the kill on ended with the server's FIN ($fins) or RST ($rsts), none left open"
else
	fail "tcpdump: each connection accepted from before the kill on ended with the server's FIN or RST" \
		"$(head -1 "$LAB_TMP/conns.txt") (want open 0, at least 22000 accepted); still open:"
	tail -n +2 "$LAB_TMP/conns.txt" | sed 's/^/  | /'
fi

# 3. Logs.
check_running "nginx's master under synack still running" "$server" "$LAB_TMP/server.err"
check_not_broken "$LAB_TMP/server.err" "$NGINX_LOG"
check_nginx_log "$NGINX_LOG" "worker process $w1 exited on signal 9" "the killed worker's exit"
lab_finish
