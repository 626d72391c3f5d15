#!/usr/bin/env bash
# ApacheBench against nginx, both ways round; each time every request complete, none failed,
# no non-2xx, every body its full 4096 bytes:
#  1. `ab -n 2000 -c 20` under synack against a kernel nginx in the peer namespace;
#  2. nginx under synack against a kernel `ab -n 5000 -c 50`: HTTP/1.0, nginx closes every
#     connection first, so each leaves a TIME_WAIT for 2·MSL (60 s) — 5000 of them. They take
#     no socket slot (core/tcp_timewait.c); the TIME_WAIT table is set to 1000 entries here
#     (SYNACK_MAX_TIME_WAIT), so once it is full each new TIME_WAIT ends the oldest early (as
#     Linux past tcp_max_tw_buckets), and synack warns about it. (Before TIME_WAITs had a table
#     of their own they filled the 4096-slot socket table; before that was handled, SYNs were
#     dropped silently after ~4400 requests and ab stalled.)
. "$(dirname "$0")/lib.sh"

# For every synack program of the test: the stack is one per interface, and the first program
# creates it (a keeper left by step 1 may still hold it when nginx starts).
export SYNACK_MAX_TIME_WAIT=1000
lab_up
www=$LAB_TMP/www
mkdir -p "$www"
make_file "$www/small.bin" 4096

# 1. ab under synack -> kernel nginx.
nginx_conf "$LAB_TMP/knginx" "$ADDR_B" "$www"
spawn "$LAB_TMP/knginx.err" ip netns exec "$NS_B" /usr/sbin/nginx -p "$LAB_TMP/knginx" \
	-e "$LAB_TMP/knginx/error.log" -c "$LAB_TMP/knginx/nginx.conf"
peer_wait_listen 8080
rc=0
LAB_TIMEOUT=120 synack_exec ab -q -s 20 -n 2000 -c 20 "http://$ADDR_B:8080/small.bin" \
	>"$LAB_TMP/ab1.out" 2>&1 || rc=$?
check_ab "ab -n 2000 -c 20 under synack against a kernel nginx" "$LAB_TMP/ab1.out" "$rc" 2000 \
	4096 "$LAB_TMP/knginx/error.log"

# 2. kernel ab -> nginx under synack, more server-closed connections than socket slots. nginx
# redirects its stderr (synack's warnings) to its error log once started.
NGINX_LOG=$LAB_TMP/snginx/error.log
nginx_conf "$LAB_TMP/snginx" "$ADDR_A" "$www"
LAB_TIMEOUT=180 spawn "$LAB_TMP/snginx.err" synack_exec /usr/sbin/nginx -p "$LAB_TMP/snginx" \
	-e "$NGINX_LOG" -c "$LAB_TMP/snginx/nginx.conf"
server=$LAB_LAST_PID
synack_wait_http "nginx under synack answers" "$server" "http://$ADDR_A:8080/small.bin" \
	"$LAB_TMP/small.out" "$LAB_TMP/snginx.err" "$NGINX_LOG"
rc=0
peer_exec timeout -k 3 150 ab -q -s 20 -n 5000 -c 50 "http://$ADDR_A:8080/small.bin" \
	>"$LAB_TMP/ab2.out" 2>&1 || rc=$?
check_ab "ab -n 5000 -c 50 against nginx under synack (5000 TIME_WAITs, a table of 1000)" \
	"$LAB_TMP/ab2.out" "$rc" 5000 4096 "$LAB_TMP/snginx.err" "$NGINX_LOG"
warning=$(cat "$LAB_TMP/snginx.err" "$NGINX_LOG" | grep -m1 'TIME_WAIT table full' || true)
if [[ -n $warning ]]; then
	pass "the full TIME_WAIT table ended the oldest early and said so: ${warning#*synack: }"
else
	fail "the full TIME_WAIT table ended the oldest early and said so" "no 'TIME_WAIT table full' warning"
	show "$LAB_TMP/snginx.err"
	show "$NGINX_LOG"
fi
check_running "nginx under synack still running after the load" "$server" "$LAB_TMP/snginx.err"

lab_finish
