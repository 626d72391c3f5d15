#!/usr/bin/env bash
# Debian's nginx under synack (master_process off, daemon off, sendfile on) on 10.77.0.1:8080,
# kernel clients in the peer namespace:
#  1. curl downloads a 10 MiB file, SHA-256 equal (nginx sends it with sendfile64, which the
#     shim turns into pread + send through synack);
#  2. ab -n 2000 -c 20 (HTTP/1.0, a new connection per request, the server closes first):
#     every request completes, none fails, every response has the full length;
#  3. ab -k -n 2000 -c 20 (keep-alive): the same over 20 long-lived connections.
# nginx's error log must hold no [alert]/[crit]/[emerg] line.
. "$(dirname "$0")/lib.sh"

lab_up
www=$LAB_TMP/www
mkdir -p "$www" "$LAB_TMP/nginx"
make_file "$www/small.bin" 4096
make_file "$www/10MiB.bin" 10485760
NGINX_LOG=$LAB_TMP/nginx/error.log
nginx_conf "$LAB_TMP/nginx" "$ADDR_A" "$www" 512

LAB_TIMEOUT=150 spawn "$LAB_TMP/server.err" synack_exec /usr/sbin/nginx -p "$LAB_TMP/nginx" \
	-e "$NGINX_LOG" -c "$LAB_TMP/nginx/nginx.conf"
server=$LAB_LAST_PID

synack_wait_http "nginx under synack answers" "$server" "http://$ADDR_A:8080/small.bin" \
	"$LAB_TMP/small.out" "$LAB_TMP/server.err" "$NGINX_LOG"
check_sha "nginx under synack answers, 4096 B" "$LAB_TMP/small.out" "$www/small.bin"
peer_fetch "nginx sendfile 10 MiB to kernel curl" "http://$ADDR_A:8080/10MiB.bin" \
	"$LAB_TMP/10MiB.out" "$www/10MiB.bin" "$NGINX_LOG"

rc=0
peer_exec timeout -k 3 90 ab -q -s 20 -n 2000 -c 20 "http://$ADDR_A:8080/small.bin" \
	>"$LAB_TMP/ab.out" 2>&1 || rc=$?
check_ab "ab -n 2000 -c 20 against nginx under synack" "$LAB_TMP/ab.out" "$rc" 2000 4096 \
	"$NGINX_LOG"

rc=0
peer_exec timeout -k 3 90 ab -q -k -s 20 -n 2000 -c 20 "http://$ADDR_A:8080/small.bin" \
	>"$LAB_TMP/abk.out" 2>&1 || rc=$?
check_ab "ab -k -n 2000 -c 20 (keep-alive) against nginx under synack" "$LAB_TMP/abk.out" \
	"$rc" 2000 4096 "$NGINX_LOG"

check_running "nginx under synack still running after the load" "$server" "$LAB_TMP/server.err"
check_nginx_log "$NGINX_LOG"
lab_finish
