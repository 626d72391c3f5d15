#!/usr/bin/env bash
# nginx under synack with one listening socket per worker: `worker_processes 2` and
# `listen 10.77.0.1:8080 reuseport`. The master opens both sockets with SO_REUSEPORT on the one
# port before it forks; each worker accepts on its own. synack's stack (one for every process
# of the interface) sends each SYN to one of the two listeners by a keyed hash of its 4-tuple
# (core/tcp_table.c, Linux reuseport_select_sock); kernel clients in the peer namespace.
#  1. both workers run (ps: 2 "worker process" children of the master) once nginx answers, and
#     `synack ss -l` lists the master holding two LISTEN sockets on 10.77.0.1:8080;
#  2. `ab -n 5000 -c 50` from the peer: all 5000 complete, 0 failed, 0 non-2xx, every body
#     4096 B;
#  3. 200 new connections from the peer, one after the other (one request each, Connection:
#     close, each from the source port the kernel picks next): every answer is whole and names
#     its worker (X-Worker: PID, a pid of one of the two workers), and each worker answered at
#     least 20. Which worker answers depends only on the hash of the 4-tuple: each worker
#     accepts on its own socket, so neither timing nor load (a busy CPU, a slow worker) moves a
#     connection to the other; a worker that got none would mean the stack did not spread.
#  4. neither nginx's stderr (synack's log) nor its error log says "stack broken", the error
#     log has no [alert]/[crit]/[emerg] line, and the master still runs.
# By hand, LAB_KERNEL_ONLY=1 runs nginx on the kernel (its SO_REUSEPORT): every check but the
# `synack ss` one passes there.
. "$(dirname "$0")/lib.sh"

lab_up
www=$LAB_TMP/www
mkdir -p "$www"
make_file "$www/small.bin" 4096
# The workers run as nobody: they must reach the files.
chmod 711 "$LAB_TMP"
chmod 755 "$www"
chmod 644 "$www"/*
NGINX_DIR=$LAB_TMP/nginx
NGINX_LOG=$NGINX_DIR/error.log
NGINX_WORKERS=2 NGINX_REUSEPORT=1 nginx_conf "$NGINX_DIR" "$ADDR_A" "$www" 1024
URL=http://$ADDR_A:8080

LAB_TIMEOUT=170 spawn "$LAB_TMP/server.err" synack_exec /usr/sbin/nginx -p "$NGINX_DIR" \
	-e "$NGINX_LOG" -c "$NGINX_DIR/nginx.conf"
server=$LAB_LAST_PID
synack_wait_http "nginx (master + 2 workers, reuseport) under synack answers" "$server" \
	"$URL/small.bin" "$LAB_TMP/small.out" "$LAB_TMP/server.err" "$NGINX_LOG"

# 1. The processes and the stack's listeners.
nginx_wait_two_workers "$NGINX_DIR" "$LAB_TMP/server.err" "$NGINX_LOG"
master=$NGINX_MASTER
w1=$NGINX_W1
w2=$NGINX_W2
if [[ ${LAB_KERNEL_ONLY:-0} != 1 ]]; then
	timeout -k 3 15 ip netns exec "$NS_A" "$LAB_TOOL" ss -l >"$LAB_TMP/ss.out" 2>&1 || true
	# One line per process and fd that holds a socket: the master holds both listeners
	# (the workers inherited them).
	listeners=$(grep -cE "^LISTEN +.* $ADDR_A:8080 .*pid=$master," "$LAB_TMP/ss.out" || true)
	if [[ $listeners == 2 ]]; then
		pass "synack ss -l: the master holds 2 listening sockets on $ADDR_A:8080, one per worker"
	else
		fail "synack ss -l: the master holds 2 listening sockets on $ADDR_A:8080" "$listeners found"
		show "$LAB_TMP/ss.out"
	fi
fi

# 2. ab.
rc=0
peer_exec timeout -k 3 150 ab -q -s 20 -n 5000 -c 50 "$URL/small.bin" >"$LAB_TMP/ab.out" 2>&1 || rc=$?
check_ab "ab -n 5000 -c 50 against nginx's 2 reuseport workers under synack" "$LAB_TMP/ab.out" \
	"$rc" 5000 4096 "$LAB_TMP/server.err" "$NGINX_LOG"

# 3. Who answers: 200 connections, each from a new source port.
cat >"$LAB_TMP/who.py" <<'PYEOF'
import collections, sys
import labpeer
addr, workers, n = sys.argv[1], set(int(w) for w in sys.argv[2].split(",")), int(sys.argv[3])
REQ = b"GET /small.bin HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"
count, bad = collections.Counter(), []
for i in range(n):
    s = labpeer.connect(addr, 8080)
    s.settimeout(20)
    port = s.getsockname()[1]
    try:
        s.sendall(REQ)
        buf = b""
        while b := s.recv(65536):
            buf += b
        head, body = buf.split(b"\r\n\r\n", 1)
        hdr = dict(l.split(b": ", 1) for l in head.split(b"\r\n")[1:])
        w = int(hdr[b"X-Worker"])
        if w not in workers or len(body) != 4096:
            bad.append(f"port {port}: worker {w}, {len(body)} bytes")
        count[w] += 1
    except (OSError, ValueError, KeyError) as e:
        bad.append(f"port {port}: {e!r}")
    finally:
        s.close()
split = ", ".join(f"worker {w}: {count[w]}" for w in sorted(workers))
name = f"{n} connections from new source ports are spread over both workers (X-Worker)"
if bad:
    print(f"FAIL {name}: {len(bad)} bad answers, {'; '.join(bad[:3])}")
elif min(count[w] for w in workers) < 20:
    print(f"FAIL {name}: {split} (want each >= 20)")
else:
    print(f"ok {name}: {split}")
PYEOF
rc=0
peer_exec timeout -k 3 120 "$LAB_PY" "$LAB_TMP/who.py" "$ADDR_A" "$w1,$w2" 200 \
	>"$LAB_TMP/who.out" 2>"$LAB_TMP/who.err" || rc=$?
report_checks "$LAB_TMP/who.out" "$rc" "who.py"

# 4. Logs.
check_running "nginx's master under synack still running" "$server" "$LAB_TMP/server.err"
check_not_broken "$LAB_TMP/server.err" "$NGINX_LOG"
check_nginx_log "$NGINX_LOG"
lab_finish
