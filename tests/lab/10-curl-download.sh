#!/usr/bin/env bash
# curl under synack downloads 0 B, 1 B, 64 KiB and 10 MiB from a kernel python3 http.server
# in the peer namespace; every file arrives byte-exact (SHA-256), and the trace shows the
# connection was synack's (an ESTABLISHED transition reported by synack itself).
. "$(dirname "$0")/lib.sh"

lab_up
srv=$LAB_TMP/srv
mkdir -p "$srv"
declare -A sizes=([0B]=0 [1B]=1 [64KiB]=65536 [10MiB]=10485760)
for name in 0B 1B 64KiB 10MiB; do
	make_file "$srv/$name.bin" "${sizes[$name]}"
done
peer_http_server "$srv" 8000 HTTP/1.0

for name in 0B 1B 64KiB 10MiB; do
	out=$LAB_TMP/$name.out
	err=$LAB_TMP/$name.err
	rc=0
	SYNACK_TRACE=states LAB_TIMEOUT=30 synack_exec curl -sS --max-time 25 -o "$out" \
		"http://$ADDR_B:8000/$name.bin" 2>"$err" || rc=$?
	if ((rc != 0)); then
		fail "download $name" "exit status $rc (124: timed out)"
		show "$err"
	elif [[ ! -f $out ]]; then
		fail "download $name" "no output file"
	elif [[ $(sha "$out") != "$(sha "$srv/$name.bin")" ]]; then
		fail "download $name" "SHA-256 differs ($(stat -c %s "$out") of ${sizes[$name]} bytes)"
	elif [[ ${LAB_KERNEL_ONLY:-0} != 1 ]] && ! grep -q "^synack: trace .* -> ESTABLISHED " "$err"; then
		fail "download $name" "bytes match but synack reported no ESTABLISHED connection"
		show "$err"
	else
		pass "download $name, SHA-256 equal"
	fi
done
lab_finish
