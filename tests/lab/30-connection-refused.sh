#!/usr/bin/env bash
# curl under synack to a port nobody listens on at the kernel peer: the peer answers the SYN
# with RST, and curl must fail with "Connection refused" (ECONNREFUSED) within 2 s.
. "$(dirname "$0")/lib.sh"

lab_up
rc=0
start=$(now_ms)
LAB_TIMEOUT=10 synack_exec curl -sS -v --max-time 8 -o /dev/null "http://$ADDR_B:9/" \
	2>"$LAB_TMP/curl.err" || rc=$?
elapsed=$(($(now_ms) - start))
if ((rc == 0)); then
	fail "closed port refused" "curl succeeded"
elif ((rc == 124 || rc == 137)); then
	fail "closed port refused" "curl hung (killed after 10 s)"
elif ! grep -q "Connection refused" "$LAB_TMP/curl.err"; then
	fail "closed port refused" "curl exited $rc without 'Connection refused'"
	show "$LAB_TMP/curl.err"
elif ((elapsed > 2000)); then
	fail "closed port refused" "took ${elapsed} ms (limit 2000 ms)"
else
	pass "closed port refused (curl exit $rc, 'Connection refused' in ${elapsed} ms)"
fi
lab_finish
