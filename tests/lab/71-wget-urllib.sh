#!/usr/bin/env bash
# HTTP clients other than curl under synack against a kernel python3 http.server in the peer
# namespace, byte-exact (SHA-256):
#  1. wget downloads 10 MiB (HTTP/1.1 keep-alive server: the client closes first);
#  2. python3 urllib.request downloads 10 MiB (HTTP/1.0 server: the server closes first), read
#     through http.client's buffered socket file (recv_into).
. "$(dirname "$0")/lib.sh"

lab_up
srv=$LAB_TMP/srv
mkdir -p "$srv"
make_file "$srv/10MiB.bin" 10485760
peer_http_server "$srv" 8000 HTTP/1.1 || {
	fail "kernel http.server on the peer" "did not start"
	lab_finish
}
peer_http_server "$srv" 8001 HTTP/1.0 || {
	fail "kernel http.server on the peer" "did not start"
	lab_finish
}

rc=0
LAB_TIMEOUT=60 synack_exec wget -nv --tries=1 --timeout=30 -O "$LAB_TMP/wget.out" \
	"http://$ADDR_B:8000/10MiB.bin" >"$LAB_TMP/wget.err" 2>&1 || rc=$?
check_transfer "wget under synack downloads 10 MiB" "$rc" "$LAB_TMP/wget.out" "$srv/10MiB.bin" \
	"$LAB_TMP/wget.err"

rc=0
LAB_TIMEOUT=60 synack_exec "$LAB_PY" -c '
import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=30) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f)
' "http://$ADDR_B:8001/10MiB.bin" "$LAB_TMP/urllib.out" >"$LAB_TMP/urllib.err" 2>&1 || rc=$?
check_transfer "python3 urllib under synack downloads 10 MiB" "$rc" "$LAB_TMP/urllib.out" \
	"$srv/10MiB.bin" "$LAB_TMP/urllib.err"
lab_finish
