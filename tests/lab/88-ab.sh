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

lab_finish
