#!/usr/bin/env bash
# iperf3, both ways, a few seconds each (its control connection and its data connection, select()
# and non-blocking sockets, TCP_NODELAY/TCP_MAXSEG and friends):
#  1. iperf3 -c under synack against a kernel iperf3 -s in the peer namespace;
#  2. iperf3 -s under synack (10.77.0.1) with a kernel iperf3 -c;
# in both, the client finishes (exit 0) and its report has both ends' totals: a rate, and the
# receiver counted at least 95 % of what the sender wrote.
. "$(dirname "$0")/lib.sh"

lab_up
DURATION=3

# The client's text report (-f m) FILE -> "sent_MiB received_MiB rate_Mbit/s" from its summary
# lines ("... 0.00-3.00 sec  5.91 GBytes  16924 Mbits/sec ... sender|receiver"), or nothing.
# (Text, not -J: with -J, iperf3 -c under synack records its TCP_INFO getsockopt failure as
# the run's "error"; see docs/compatibility.md.)
iperf_totals() {
	"$LAB_PY" -c '
import re, sys
sums = {}
for line in open(sys.argv[1]):
    m = re.search(r"sec\s+([0-9.]+) ([KMG])Bytes\s+([0-9.]+) Mbits/sec.*\b(sender|receiver)\s*$", line)
    if m:
        mb = float(m.group(1)) * {"K": 1 / 1024, "M": 1, "G": 1024}[m.group(2)]
        sums[m.group(4)] = ("%.1f" % mb, m.group(3))
if set(sums) != {"sender", "receiver"}:
    sys.exit("no sender/receiver summary lines")
print(sums["sender"][0], sums["receiver"][0], sums["receiver"][1])
' "$1"
}

check_iperf() {
	local name=$1 rc=$2 out=$3 err=$4 totals sent recv mbps
	if ((rc != 0)); then
		fail "$name" "iperf3 -c exited $rc"
		show "$out"
		show "$err"
		return
	fi
	if ! totals=$(iperf_totals "$out" 2>"$LAB_TMP/parse.err"); then
		fail "$name" "no valid report"
		show "$LAB_TMP/parse.err"
		show "$out"
		return
	fi
	read -r sent recv mbps <<<"$totals"
	# The receiver stops counting when the test ends, with the last bytes perhaps still in
	# flight (also between two kernels): at least 95 % of what was sent, never more.
	if ! awk -v s="$sent" -v r="$recv" 'BEGIN { exit !(s > 0 && r <= s && r >= 0.95 * s) }'; then
		fail "$name" "sent $sent MiB, received $recv MiB"
		show "$out"
	else
		pass "$name: $sent MiB sent, $recv MiB received in ${DURATION} s ($mbps Mbit/s)"
	fi
}

# Wait until something listens on PORT in namespace NS (at most 10 s).
wait_listen() {
	local ns=$1 port=$2 pid=$3 i
	for ((i = 0; i < 100; i++)); do
		[[ -n $(ip netns exec "$ns" ss -Hltn "sport = :$port") ]] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# ---- 1. client under synack ----
spawn "$LAB_TMP/peer-iperf.log" ip netns exec "$NS_B" iperf3 -s -1 -B "$ADDR_B" -p 5201
peer=$LAB_LAST_PID
if ! wait_listen "$NS_B" 5201 "$peer"; then
	fail "kernel iperf3 -s on the peer" "not listening within 10 s"
	show "$LAB_TMP/peer-iperf.log"
else
	rc=0
	LAB_TIMEOUT=40 synack_exec iperf3 -c "$ADDR_B" -p 5201 -t "$DURATION" -f m \
		>"$LAB_TMP/c.out" 2>"$LAB_TMP/c.err" || rc=$?
	check_iperf "iperf3 -c under synack against a kernel iperf3 -s" "$rc" "$LAB_TMP/c.out" "$LAB_TMP/c.err"
fi

# ---- 2. server under synack ----
# synack owns 10.77.0.1 but the kernel does not: `ss` in its namespace cannot see the listener,
# so wait until a kernel client can connect instead (iperf3 -s accepts a test per connection;
# the probe is a plain TCP connect that it rejects and forgets).
LAB_TIMEOUT=60 spawn "$LAB_TMP/iperf-s.log" synack_exec iperf3 -s -B "$ADDR_A" -p 5202
server=$LAB_LAST_PID
up=0
for ((i = 0; i < 30; i++)); do
	if peer_exec timeout 2 bash -c "exec 3<>/dev/tcp/$ADDR_A/5202" 2>/dev/null; then
		up=1
		break
	fi
	kill -0 "$server" 2>/dev/null || break
	sleep 0.5
done
if ((up == 0)); then
	fail "iperf3 -s under synack listens" "no connection within 15 s"
	show "$LAB_TMP/iperf-s.log"
	lab_finish
fi
rc=0
peer_exec timeout -k 3 40 iperf3 -c "$ADDR_A" -p 5202 -t "$DURATION" -f m \
	>"$LAB_TMP/s.out" 2>"$LAB_TMP/s.err" || rc=$?
check_iperf "kernel iperf3 -c against iperf3 -s under synack" "$rc" "$LAB_TMP/s.out" "$LAB_TMP/s.err"
if ! kill -0 "$server" 2>/dev/null; then
	fail "iperf3 -s under synack still running after the test" "it exited"
	show "$LAB_TMP/iperf-s.log"
fi
lab_finish
