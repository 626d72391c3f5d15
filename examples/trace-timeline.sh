#!/usr/bin/env bash
# Turn synack's SYNACK_TRACE=states lines into one state timeline per connection.
#
#   examples/trace-timeline.sh [--port P] [--detail] < stderr-of-the-program
#
# Input lines look like
#   synack: trace 12.345 10.77.0.1:40000 > 10.77.0.2:80 SYN_SENT -> ESTABLISHED (rcv SYN+ACK) mss 1460
# (other lines are ignored). Output, one line per connection (4-tuple), in order of first
# appearance:
#   10.77.0.1:40000 > 10.77.0.2:80  SYN_SENT -> ESTABLISHED (MSS 1460) -> FIN_WAIT_1 -> ... -> CLOSED
# The initial CLOSED of an active open (CLOSED -> SYN_SENT on connect()) is left out: the
# timeline starts with the first state the connection is in. --port P keeps only connections
# with P as either port. --detail also prints every transition with its time and cause.
set -euo pipefail
port=""
detail=0
while (($#)); do
	case $1 in
	--port) port=$2; shift 2 ;;
	--detail) detail=1; shift ;;
	*) echo "usage: $0 [--port P] [--detail] < trace" >&2; exit 2 ;;
	esac
done

awk -v want_port="$port" -v detail="$detail" '
function portof(ep,   i) { i = split(ep, a, ":"); return a[i] }
$1 == "synack:" && $2 == "trace" && $5 == ">" && $8 == "->" {
	t = $3; key = $4 " > " $6; from = $7; to = $9
	if (want_port != "" && portof($4) != want_port && portof($6) != want_port) next
	cause = ""; mss = ""
	for (i = 10; i <= NF; i++) {
		if ($i == "mss" && i < NF) { mss = $(i + 1); i++; continue }
		cause = cause (cause == "" ? "" : " ") $i
	}
	if (!(key in tl)) {
		order[++n] = key
		tl[key] = (from == "CLOSED" ? "" : from)
	}
	step = to
	if (to == "ESTABLISHED" && mss != "") step = step " (MSS " mss ")"
	tl[key] = (tl[key] == "" ? step : tl[key] " -> " step)
	if (detail) det[key] = det[key] sprintf("    %10s ms  %-12s -> %-12s %s%s\n", t, from, to, cause, (mss != "" ? " mss " mss : ""))
}
END {
	for (i = 1; i <= n; i++) {
		k = order[i]
		print k "  " tl[k]
		if (detail) printf "%s", det[k]
	}
}'
