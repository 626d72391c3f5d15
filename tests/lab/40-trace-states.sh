#!/usr/bin/env bash
# SYNACK_TRACE=states shows the full timeline of curl's connection (an active open and an
# active close) against a kernel HTTP/1.1 server:
#   SYN_SENT -> ESTABLISHED (MSS 1460) -> FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> CLOSED
# With HTTP/1.1 the server keeps the connection open, so curl closes first. The peer ACKs at
# once (lab SYNACK_LAB_PEER_QUICKACK=1): a delayed ACK would ride on the peer's FIN and skip
# FIN_WAIT_2 (correct too, but not the timeline under test). MSL is 200 ms so TIME_WAIT (2·MSL)
# ends within the exit linger and CLOSED is traced before curl exits.
. "$(dirname "$0")/lib.sh"

export SYNACK_LAB_PEER_QUICKACK=1
lab_up
srv=$LAB_TMP/srv
mkdir -p "$srv"
make_file "$srv/f.bin" 200000
peer_http_server "$srv" 8000 HTTP/1.1

rc=0
SYNACK_TRACE=states SYNACK_MSL_MS=200 SYNACK_LINGER_MS=3000 LAB_TIMEOUT=20 \
	synack_exec curl -sS --max-time 15 -o "$LAB_TMP/f.out" "http://$ADDR_B:8000/f.bin" \
	2>"$LAB_TMP/curl.err" || rc=$?
timeline=$(bash "$LAB_ROOT/examples/trace-timeline.sh" --port 8000 <"$LAB_TMP/curl.err")
want="SYN_SENT -> ESTABLISHED (MSS 1460) -> FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> CLOSED"
if ((rc != 0)); then
	fail "client state timeline" "curl exited $rc"
	show "$LAB_TMP/curl.err"
elif [[ $(sha "$LAB_TMP/f.out") != "$(sha "$srv/f.bin")" ]]; then
	fail "client state timeline" "downloaded file differs"
elif [[ $(grep -c . <<<"$timeline") -ne 1 ]]; then
	fail "client state timeline" "expected exactly one traced connection to port 8000, got: ${timeline:-none}"
	show "$LAB_TMP/curl.err"
elif [[ ${timeline#*  } != "$want" ]]; then
	fail "client state timeline" "got '${timeline#*  }', want '$want'"
	show "$LAB_TMP/curl.err"
elif ! grep -Eq "^synack: trace [0-9]+\.[0-9]{3} $ADDR_A:[0-9]+ > $ADDR_B:8000 SYN_SENT -> ESTABLISHED \(.+\) mss 1460$" \
	"$LAB_TMP/curl.err"; then
	fail "client state timeline" "the ESTABLISHED line does not have the documented format"
	show "$LAB_TMP/curl.err"
else
	pass "client state timeline: $want"
fi
lab_finish
