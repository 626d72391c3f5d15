#!/usr/bin/env bash
# ApacheBench as a synack client (70-nginx runs nginx under synack with a kernel ab):
# `ab -n 2000 -c 20` under synack against a kernel nginx in the peer namespace: every request
# complete, none failed, no non-2xx, every body its full 4096 bytes.
#
# Not here yet: nginx under synack with a kernel `ab -n 5000 -c 50`. It stalls after ~4400
# requests: every server-closed connection holds a full socket slot in TIME_WAIT for 60 s,
# the 4096-slot arena fills, and new SYNs are dropped without a word (with SYNACK_MSL_MS=1000
# all 5000 complete). That needs core to recycle TIME_WAIT slots (Linux drops TIME_WAIT on
# tw-bucket overflow); the case joins this file with that fix.
. "$(dirname "$0")/lib.sh"

lab_up
www=$LAB_TMP/www
mkdir -p "$www"
make_file "$www/small.bin" 4096

# nginx.conf for ADDR:PORT in DIR.
nginx_conf() {
	local dir=$1 addr=$2
	mkdir -p "$dir"
	cat >"$dir/nginx.conf" <<NGEOF
master_process off;
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events {
    worker_connections 1024;
}
http {
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    default_type application/octet-stream;
    server {
        listen $addr:8080;
        root $www;
    }
}
NGEOF
}

# ab's report: "Complete requests: N", "Failed requests: N", "Non-2xx responses: N" (only
# when some), "HTML transferred: BYTES".
check_ab() {
	local name=$1 out=$2 rc=$3 n=$4 log=$5 complete failed non2xx html
	complete=$(sed -nE 's/^Complete requests: +([0-9]+)$/\1/p' "$out")
	failed=$(sed -nE 's/^Failed requests: +([0-9]+)$/\1/p' "$out")
	non2xx=$(sed -nE 's/^Non-2xx responses: +([0-9]+)$/\1/p' "$out")
	html=$(sed -nE 's/^HTML transferred: +([0-9]+) bytes$/\1/p' "$out")
	if ((rc != 0)); then
		fail "$name" "ab exited $rc"
		show "$out"
		show "$log"
	elif [[ $complete != "$n" || $failed != 0 || -n $non2xx || $html != $((n * 4096)) ]]; then
		fail "$name" "complete=${complete:-?} failed=${failed:-?} non-2xx=${non2xx:-0} html=${html:-?} (want $n, 0, 0, $((n * 4096)))"
		show "$out"
		show "$log"
	else
		pass "$name: $complete complete, 0 failed, $html bytes ($(sed -nE 's/^Requests per second: +([0-9.]+).*/\1/p' "$out") req/s)"
	fi
}

# 1. ab under synack -> kernel nginx.
nginx_conf "$LAB_TMP/knginx" "$ADDR_B"
spawn "$LAB_TMP/knginx.err" ip netns exec "$NS_B" /usr/sbin/nginx -p "$LAB_TMP/knginx" \
	-e "$LAB_TMP/knginx/error.log" -c "$LAB_TMP/knginx/nginx.conf"
for ((i = 0; i < 100; i++)); do
	[[ -n $(ip netns exec "$NS_B" ss -Hltn "sport = :8080") ]] && break
	sleep 0.1
done
rc=0
LAB_TIMEOUT=120 synack_exec ab -q -s 20 -n 2000 -c 20 "http://$ADDR_B:8080/small.bin" \
	>"$LAB_TMP/ab1.out" 2>&1 || rc=$?
check_ab "ab -n 2000 -c 20 under synack against a kernel nginx" "$LAB_TMP/ab1.out" "$rc" 2000 \
	"$LAB_TMP/knginx/error.log"

lab_finish
