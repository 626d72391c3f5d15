#!/usr/bin/env bash
# Issue 5 in the lab: 50 MiB each way through a link that loses 3% of the TCP segments in each
# direction at random. nftables in the peer namespace drops `numgen random mod 100 < 3` of what
# the peer receives and of what it sends; gso_max_segs 1 on both veth ends first, so one drop
# is one wire segment (not a 64 KiB GSO super-frame).
#   (a) curl under synack downloads 50 MiB from a kernel python3 http.server;
#   (b) a kernel curl downloads 50 MiB from python3 http.server under synack.
# SHA-256 equal both times, each bounded by 120 s; the drop counters must show real loss.
. "$(dirname "$0")/lib.sh"

SIZE=$((50 * 1024 * 1024))
BOUND=120

lab_up
ip -n "$NS_A" link set "$IF_A" gso_max_segs 1
peer_exec ip link set veth-peer gso_max_segs 1
peer_lossy 3
drops() { peer_lossy_drops; }

srv=$LAB_TMP/srv
mkdir -p "$srv"
make_file "$srv/50MiB.bin" "$SIZE"
want=$(sha "$srv/50MiB.bin")

# Check one download: name, rc, output file, seconds taken, drops before.
check() {
	local name=$1 rc=$2 out=$3 secs=$4 before=$5 err=$6 after
	after=$(drops)
	if ((rc != 0)); then
		fail "$name" "exit status $rc after ${secs}s (124: the ${BOUND}s bound); drops in/out $before -> $after; $(stat -c %s "$out" 2>/dev/null || echo 0) of $SIZE bytes"
		show "$err"
	elif [[ $(sha "$out") != "$want" ]]; then
		fail "$name" "SHA-256 differs ($(stat -c %s "$out") of $SIZE bytes)"
	elif [[ $before == "$after" ]]; then
		fail "$name" "bytes match but nftables dropped nothing (counters $after)"
	else
		pass "$name in ${secs}s, SHA-256 equal (drops in/out $before -> $after)"
	fi
}

# (a) synack client, kernel server.
peer_http_server "$srv" 8000 HTTP/1.0
before=$(drops)
t0=$(now_ms)
rc=0
SYNACK_TRACE=states LAB_TIMEOUT=$BOUND synack_exec curl -sS --max-time $((BOUND - 5)) \
	-o "$LAB_TMP/a.out" "http://$ADDR_B:8000/50MiB.bin" 2>"$LAB_TMP/a.err" || rc=$?
secs=$((($(now_ms) - t0) / 1000))
check "curl under synack downloads 50 MiB at 3% loss each way" "$rc" "$LAB_TMP/a.out" "$secs" \
	"$before" "$LAB_TMP/a.err"
if [[ $rc == 0 && ${LAB_KERNEL_ONLY:-0} != 1 ]] && ! grep -q "^synack: trace .* -> ESTABLISHED " "$LAB_TMP/a.err"; then
	fail "curl under synack was offloaded" "synack reported no ESTABLISHED connection"
fi
rm -f "$LAB_TMP/a.out"

# (b) kernel client, synack server.
LAB_TIMEOUT=$((2 * BOUND + 30)) spawn "$LAB_TMP/server.err" synack_exec "$LAB_PY" -m http.server \
	-b "$ADDR_A" -d "$srv" 8080
server=$LAB_LAST_PID
up=0
for ((i = 0; i < 30; i++)); do
	if peer_exec timeout 3 curl -sS --max-time 2 -o /dev/null "http://$ADDR_A:8080/" 2>/dev/null; then
		up=1
		break
	fi
	kill -0 "$server" 2>/dev/null || break
	sleep 0.5
done
if ((up == 0)); then
	fail "http.server under synack answers" "no answer within 15 s"
	show "$LAB_TMP/server.err"
	lab_finish
fi
before=$(drops)
t0=$(now_ms)
rc=0
peer_exec timeout -k 3 "$BOUND" curl -sS --max-time $((BOUND - 5)) -o "$LAB_TMP/b.out" \
	"http://$ADDR_A:8080/50MiB.bin" 2>"$LAB_TMP/b.err" || rc=$?
secs=$((($(now_ms) - t0) / 1000))
check "kernel curl downloads 50 MiB from http.server under synack at 3% loss each way" "$rc" \
	"$LAB_TMP/b.out" "$secs" "$before" "$LAB_TMP/b.err"
((rc == 0)) || show "$LAB_TMP/server.err"
lab_finish
