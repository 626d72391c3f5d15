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
cat >"$LAB_TMP/nginx/nginx.conf" <<EOF
master_process off;
daemon off;
worker_processes 1;
pid $LAB_TMP/nginx/nginx.pid;
error_log $NGINX_LOG info;
events {
    worker_connections 512;
}
http {
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    client_body_temp_path $LAB_TMP/nginx/body;
    proxy_temp_path $LAB_TMP/nginx/proxy;
    fastcgi_temp_path $LAB_TMP/nginx/fastcgi;
    uwsgi_temp_path $LAB_TMP/nginx/uwsgi;
    scgi_temp_path $LAB_TMP/nginx/scgi;
    default_type application/octet-stream;
    server {
        listen $ADDR_A:8080;
        root $www;
    }
}
EOF

LAB_TIMEOUT=150 spawn "$LAB_TMP/server.err" synack_exec /usr/sbin/nginx -p "$LAB_TMP/nginx" \
	-e "$NGINX_LOG" -c "$LAB_TMP/nginx/nginx.conf"
server=$LAB_LAST_PID

up=0
for ((i = 0; i < 30; i++)); do
	if peer_exec timeout 2 curl -sS --max-time 1 -o "$LAB_TMP/small.out" \
		"http://$ADDR_A:8080/small.bin" 2>"$LAB_TMP/probe.err"; then
		up=1
		break
	fi
	kill -0 "$server" 2>/dev/null || break
	sleep 0.5
done
if ((up == 0)); then
	fail "nginx under synack answers" "no answer within 15 s (nginx $(kill -0 "$server" 2>/dev/null && echo running || echo exited))"
	show "$LAB_TMP/probe.err"
	show "$LAB_TMP/server.err"
	show "$NGINX_LOG"
	lab_finish
fi
if [[ $(sha "$LAB_TMP/small.out") == "$(sha "$www/small.bin")" ]]; then
	pass "nginx under synack answers, 4096 B SHA-256 equal"
else
	fail "nginx under synack answers" "4096 B file differs"
fi

rc=0
peer_exec timeout -k 3 60 curl -sS --max-time 55 -o "$LAB_TMP/10MiB.out" \
	"http://$ADDR_A:8080/10MiB.bin" 2>"$LAB_TMP/curl.err" || rc=$?
if ((rc != 0)); then
	fail "nginx sendfile 10 MiB to kernel curl" "curl exited $rc"
	show "$LAB_TMP/curl.err"
	show "$NGINX_LOG"
elif [[ $(sha "$LAB_TMP/10MiB.out") != "$(sha "$www/10MiB.bin")" ]]; then
	fail "nginx sendfile 10 MiB to kernel curl" "SHA-256 differs ($(stat -c %s "$LAB_TMP/10MiB.out") bytes)"
else
	pass "nginx sendfile 10 MiB to kernel curl, SHA-256 equal"
fi

# ab's report: "Complete requests: N", "Failed requests: N", "Non-2xx responses: N" (only
# when some), "HTML transferred: BYTES".
check_ab() {
	local name=$1 out=$2 rc=$3 n=$4 complete failed non2xx html
	complete=$(sed -nE 's/^Complete requests: +([0-9]+)$/\1/p' "$out")
	failed=$(sed -nE 's/^Failed requests: +([0-9]+)$/\1/p' "$out")
	non2xx=$(sed -nE 's/^Non-2xx responses: +([0-9]+)$/\1/p' "$out")
	html=$(sed -nE 's/^HTML transferred: +([0-9]+) bytes$/\1/p' "$out")
	if ((rc != 0)); then
		fail "$name" "ab exited $rc"
		show "$out"
		show "$NGINX_LOG"
	elif [[ $complete != "$n" || $failed != 0 || -n $non2xx || $html != $((n * 4096)) ]]; then
		fail "$name" "complete=${complete:-?} failed=${failed:-?} non-2xx=${non2xx:-0} html=${html:-?} (want $n, 0, 0, $((n * 4096)))"
		show "$out"
		show "$NGINX_LOG"
	else
		pass "$name: $complete complete, 0 failed, $html bytes ($(sed -nE 's/^Requests per second: +([0-9.]+).*/\1/p' "$out") req/s)"
	fi
}

rc=0
peer_exec timeout -k 3 90 ab -q -s 20 -n 2000 -c 20 "http://$ADDR_A:8080/small.bin" \
	>"$LAB_TMP/ab.out" 2>&1 || rc=$?
check_ab "ab -n 2000 -c 20 against nginx under synack" "$LAB_TMP/ab.out" "$rc" 2000

rc=0
peer_exec timeout -k 3 90 ab -q -k -s 20 -n 2000 -c 20 "http://$ADDR_A:8080/small.bin" \
	>"$LAB_TMP/abk.out" 2>&1 || rc=$?
check_ab "ab -k -n 2000 -c 20 (keep-alive) against nginx under synack" "$LAB_TMP/abk.out" "$rc" 2000

if ! kill -0 "$server" 2>/dev/null; then
	fail "nginx under synack still running after the load" "it exited"
	show "$LAB_TMP/server.err"
fi
if grep -E '\[(alert|crit|emerg)\]' "$NGINX_LOG" >"$LAB_TMP/alerts"; then
	fail "nginx error log clean" "$(wc -l <"$LAB_TMP/alerts") alert/crit/emerg lines"
	show "$LAB_TMP/alerts"
else
	pass "nginx error log has no alert/crit/emerg line"
fi
lab_finish
