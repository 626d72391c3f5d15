#!/usr/bin/env bash
# python3 http.server runs under synack in the synack namespace (bound to 10.77.0.1) and
# serves 10 MiB to a kernel curl in the peer namespace; the file arrives byte-exact (SHA-256).
# This is the passive side: listen, accept4, a threaded server, poll, send.
. "$(dirname "$0")/lib.sh"

lab_up
srv=$LAB_TMP/srv
mkdir -p "$srv"
make_file "$srv/small.bin" 1000
make_file "$srv/10MiB.bin" 10485760

LAB_TIMEOUT=120 spawn "$LAB_TMP/server.err" synack_exec "$LAB_PY" -m http.server -b "$ADDR_A" \
	-d "$srv" 8080
server=$LAB_LAST_PID

# Up when a kernel client gets the small file through it (at most 15 s).
synack_wait_http "http.server under synack answers" "$server" "http://$ADDR_A:8080/small.bin" \
	"$LAB_TMP/small.out" "$LAB_TMP/server.err"
check_sha "http.server under synack answers, 1000 B" "$LAB_TMP/small.out" "$srv/small.bin"
peer_fetch "serve 10MiB to kernel curl" "http://$ADDR_A:8080/10MiB.bin" "$LAB_TMP/10MiB.out" \
	"$srv/10MiB.bin" "$LAB_TMP/server.err"
check_running "http.server under synack still running after the transfers" "$server" "$LAB_TMP/server.err"
lab_finish
