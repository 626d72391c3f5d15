#!/usr/bin/env bash
# SYNACK_PCAP: every frame synack sent and received is in the capture, complete up to the
# process's exit (the writer buffers; the exit path writes the rest out). curl under synack
# downloads 64 KiB; tcpdump reads the file back: our SYN, the peer's SYN+ACK, data from the
# peer, and our FIN are all there, and tcpdump finds the file well formed.
. "$(dirname "$0")/lib.sh"

lab_up
srv=$LAB_TMP/srv
mkdir -p "$srv"
make_file "$srv/64k.bin" 65536
peer_http_server "$srv" 8000 HTTP/1.1

cap=$LAB_TMP/cap.pcap
rc=0
SYNACK_PCAP=$cap LAB_TIMEOUT=30 synack_exec curl -sS --max-time 25 -o "$LAB_TMP/out" \
	"http://$ADDR_B:8000/64k.bin" 2>"$LAB_TMP/err" || rc=$?
if ((rc != 0)); then
	fail "capture" "curl exit status $rc"
	show "$LAB_TMP/err"
elif ! text=$(tcpdump -nn -r "$cap" tcp 2>"$LAB_TMP/tcpdump.err"); then
	fail "capture" "tcpdump cannot read the file"
	show "$LAB_TMP/tcpdump.err"
else
	us=${ADDR_A%/*}
	missing=()
	grep -q "IP $us\.[0-9]* > $ADDR_B\.8000: Flags \[S\]" <<<"$text" || missing+=("our SYN")
	grep -q "IP $ADDR_B\.8000 > $us\.[0-9]*: Flags \[S\.\]" <<<"$text" || missing+=("the SYN+ACK")
	grep -q "IP $ADDR_B\.8000 > $us\.[0-9]*: .*length [1-9]" <<<"$text" || missing+=("data")
	grep -q "IP $us\.[0-9]* > $ADDR_B\.8000: Flags \[F\.\]" <<<"$text" || missing+=("our FIN")
	if ((${#missing[@]})); then
		fail "capture" "missing from the pcap: ${missing[*]} ($(wc -l <<<"$text") TCP frames)"
	else
		pass "capture complete up to exit: SYN, SYN+ACK, data, FIN ($(wc -l <<<"$text") TCP frames)"
	fi
fi
lab_finish
