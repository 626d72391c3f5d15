#!/usr/bin/env bash
# Independent programs under synack on the same interface and address (10.77.0.1), each started
# on its own, all serving at once:
#  - a python3 echo server on port 8001 (a thread per connection);
#  - nginx (one process) on port 8080;
#  - curl, a synack client, downloading 10 MiB from a kernel http.server on the peer.
# While all three run, at the same time from the peer: 5 kernel echo clients (1 MiB each, back
# byte-exact, orderly EOF) and 3 kernel curls fetching 10 MiB from nginx (SHA-256 equal), and the
# synack curl's 10 MiB (SHA-256 equal). tcpdump on the peer from the moment both servers answer
# to the end: no RST in either direction (no program's stack resets another's connections), and
# a FIN from 10.77.0.1 on each of the 9 connections. Both servers still run afterwards. The
# synack curl sets SYNACK_MAX_SOCKETS and SYNACK_SYN_RETRIES, which belong to the stack the echo
# server made: one warning line each says they do not apply.
# By hand, LAB_KERNEL_ONLY=1 runs the three programs on the kernel: every check passes there.
. "$(dirname "$0")/lib.sh"

SIZE=$((10 * 1024 * 1024))
lab_up
www=$LAB_TMP/www
mkdir -p "$www" "$LAB_TMP/peerwww"
make_file "$www/small.bin" 4096
make_file "$www/10MiB.bin" "$SIZE"
make_file "$LAB_TMP/peerwww/10MiB.bin" "$SIZE"
peer_http_server "$LAB_TMP/peerwww" 7780

cat >"$LAB_TMP/echo.py" <<'PYEOF'
import sys, threading
import labpeer
def echo(c):
    while b := c.recv(65536):
        c.sendall(b)
    c.close()
ls = labpeer.listener(sys.argv[1], 8001, 16)
print("listening", flush=True)
while True:
    c, _ = ls.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
PYEOF
LAB_TIMEOUT=150 spawn "$LAB_TMP/echo.log" synack_exec "$LAB_PY" -u "$LAB_TMP/echo.py" "$ADDR_A"
echo_server=$LAB_LAST_PID
wait_started "the python3 echo server under synack" "$LAB_TMP/echo.log" '^listening' "$echo_server"
NGINX_LOG=$LAB_TMP/nginx/error.log
nginx_conf "$LAB_TMP/nginx" "$ADDR_A" "$www"
LAB_TIMEOUT=150 spawn "$LAB_TMP/nginx.err" synack_exec /usr/sbin/nginx -p "$LAB_TMP/nginx" -e "$NGINX_LOG" \
	-c "$LAB_TMP/nginx/nginx.conf"
nginx=$LAB_LAST_PID
synack_wait_http "nginx under synack answers beside the echo server" "$nginx" "http://$ADDR_A:8080/small.bin" \
	"$LAB_TMP/small.out" "$LAB_TMP/nginx.err" "$NGINX_LOG"

# Everything at once.
peer_capture wire "tcp and ($PCAP_CTL)"
peer_exec timeout -k 3 120 "$LAB_PY" "$LAB_TMP/labpeer.py" echo-clients "$ADDR_A" 8001 1048576 5 parallel \
	>"$LAB_TMP/echo.out" 2>"$LAB_TMP/echo.err" &
echo_clients=$!
curls=()
for i in 1 2 3; do
	peer_exec timeout -k 3 120 curl -sS --max-time 110 -o "$LAB_TMP/nginx$i.out" "http://$ADDR_A:8080/10MiB.bin" \
		2>"$LAB_TMP/curl$i.err" &
	curls+=($!)
done
# The stack is the first program's, and so are its settings: the curl's own SYNACK_MAX_SOCKETS
# and SYNACK_SYN_RETRIES do not apply, which it is told, once each, on stderr.
SYNACK_MAX_SOCKETS=64 SYNACK_SYN_RETRIES=2 LAB_TIMEOUT=120 synack_exec curl -sS --max-time 110 \
	-o "$LAB_TMP/client.out" "http://$ADDR_B:7780/10MiB.bin" 2>"$LAB_TMP/client.err" &
client=$!

rc=0
wait "$client" || rc=$?
check_transfer "curl under synack downloads 10 MiB from the peer meanwhile" "$rc" "$LAB_TMP/client.out" \
	"$LAB_TMP/peerwww/10MiB.bin" "$LAB_TMP/client.err"
if [[ ${LAB_KERNEL_ONLY:-0} == 1 ]]; then
	:
elif (($(grep -c "SYNACK_MAX_SOCKETS=64 does not apply: the stack was made with" "$LAB_TMP/client.err") == 1 &&
	$(grep -c "SYNACK_SYN_RETRIES=2 does not apply: the stack was made with 6 " "$LAB_TMP/client.err") == 1)); then
	pass "the curl is told, once each, that its SYNACK_MAX_SOCKETS and SYNACK_SYN_RETRIES do not apply to the stack the echo server made"
else
	fail "the curl is told that its own stack settings do not apply" "no such line, or more than one each"
	show "$LAB_TMP/client.err"
fi
for i in 1 2 3; do
	rc=0
	wait "${curls[i - 1]}" || rc=$?
	check_transfer "kernel curl $i fetches 10 MiB from nginx under synack meanwhile" "$rc" \
		"$LAB_TMP/nginx$i.out" "$www/10MiB.bin" "$LAB_TMP/curl$i.err" "$NGINX_LOG"
done
rc=0
wait "$echo_clients" || rc=$?
report_checks "$LAB_TMP/echo.out" "$rc" "5 parallel echo clients on port 8001" "the echo server under synack: "

wait_for 15 pcap_has "$LAB_TMP/wire.pcap" "src host $ADDR_A and $PCAP_FIN" 9 || true
peer_capture_stop
check_no_rst "no program's stack resets another's connections: no RST, our FIN on each of the 9 connections" \
	"$LAB_TMP/wire.pcap" 9
check_running "the echo server under synack still running" "$echo_server" "$LAB_TMP/echo.log"
check_running "nginx under synack still running" "$nginx" "$LAB_TMP/nginx.err"
lab_finish
