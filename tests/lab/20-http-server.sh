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
	fail "http.server under synack answers" "no answer within 15 s (server $(kill -0 "$server" 2>/dev/null && echo running || echo exited))"
	show "$LAB_TMP/probe.err"
	show "$LAB_TMP/server.err"
	lab_finish
fi
if [[ $(sha "$LAB_TMP/small.out") == "$(sha "$srv/small.bin")" ]]; then
	pass "http.server under synack answers, 1000 B SHA-256 equal"
else
	fail "http.server under synack answers" "1000 B file differs"
fi

rc=0
peer_exec timeout -k 3 60 curl -sS --max-time 55 -o "$LAB_TMP/10MiB.out" \
	"http://$ADDR_A:8080/10MiB.bin" 2>"$LAB_TMP/curl.err" || rc=$?
if ((rc != 0)); then
	fail "serve 10MiB to kernel curl" "curl exited $rc"
	show "$LAB_TMP/curl.err"
	show "$LAB_TMP/server.err"
elif [[ $(sha "$LAB_TMP/10MiB.out") != "$(sha "$srv/10MiB.bin")" ]]; then
	fail "serve 10MiB to kernel curl" "SHA-256 differs ($(stat -c %s "$LAB_TMP/10MiB.out") bytes)"
else
	pass "serve 10MiB to kernel curl, SHA-256 equal"
fi
if ! kill -0 "$server" 2>/dev/null; then
	fail "http.server under synack still running after the transfers" "it exited"
	show "$LAB_TMP/server.err"
fi
lab_finish
