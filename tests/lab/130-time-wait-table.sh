#!/usr/bin/env bash
# The TIME_WAIT table (core/tcp_timewait.c): 50,000 connections in a row to a synack server that
# closes each first (bench/tcp_bench's crr server: accept, read the request, answer one byte,
# close), from a kernel client in the peer namespace, so that the server keeps one TIME_WAIT per
# connection. The socket table has its default 4096 slots, the TIME_WAIT table 8192 entries
# (SYNACK_MAX_TIME_WAIT).
#  1. every connection completes (the client's crr result counts 10,000, then 40,000, then 1):
#     none is refused or reset because TIME_WAITs hold what a new connection needs;
#  2. the TIME_WAITs were not in the socket table: the server's counters at exit (SYNACK_STATS)
#     show the TIME_WAIT table full (tcp_time_wait_peak = 8192, twice the socket table), the
#     oldest ended early once it was (tcp_tw_recycled > 0), and no SYN needed a SYN cookie;
#     `synack ss state time-wait` lists more of them than the socket table has slots;
#  3. memory stays bounded: the server's resident memory grew by less than 16 MiB over the last
#     40,000 connections (a TIME_WAIT in a socket slot would be ~1.2 KiB each, plus its share of
#     the table; the table's 8192 entries are ~0.6 MiB). Nothing here depends on time: if the
#     machine is so slow that 2·MSL passes during the run, TIME_WAITs end by themselves and the
#     table is still bounded (the peak check allows for that: see below).
. "$(dirname "$0")/lib.sh"

BENCH=$LAB_BUILD/bench/tcp_bench
PORT=5600
CAP=8192
lab_up
if [[ ! -x $BENCH ]]; then
	fail "set-up" "$BENCH is not built"
	lab_finish
fi

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true; }

# The program itself (not `timeout` nor `ip netns exec`) whose memory is measured.
server_pid() {
	local p
	for p in $(pgrep -f "tcp_bench server -b $ADDR_A -p $PORT"); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == tcp_bench ]] && { echo "$p"; return; }
	done
}

# An MSL long enough that no TIME_WAIT ends by itself in an ordinary run: the table's bound is
# what is tested. (A run slower than 2·MSL still passes checks 1 and 3.)
SYNACK_MSL_MS=120000 SYNACK_LINGER_MS=0 SYNACK_MAX_TIME_WAIT=$CAP SYNACK_STATS=$LAB_TMP/stats \
	LAB_TIMEOUT=600 spawn "$LAB_TMP/server.err" synack_exec "$BENCH" server -b "$ADDR_A" -p "$PORT" \
	-c 50001 -T 590
server=$LAB_LAST_PID
listening() {
	kill -0 "$server" 2>/dev/null &&
		timeout -k 2 5 ip netns exec "$NS_A" "$LAB_TOOL" ss -l 2>/dev/null | grep -q ":$PORT "
}
if ! wait_for 20 listening; then
	fail "the synack server listens" "not listening on $PORT"
	show "$LAB_TMP/server.err"
	lab_finish
fi

# crr NAME COUNT: COUNT connections in a row from the kernel side.
crr() {
	local rc=0
	timeout -k 3 300 ip netns exec "$NS_B" "$BENCH" client -m crr -s 1 -H "$ADDR_A" -p "$PORT" \
		-n "$2" -d 290 -T 295 >"$LAB_TMP/$1.out" 2>&1 || rc=$?
	if ((rc == 0)) && grep -q "^result mode=crr .*count=$2 " "$LAB_TMP/$1.out"; then
		(($2 == 1)) || pass "$2 connections in a row, each answered and closed by the server"
		return 0
	fi
	fail "$2 connections in a row, each answered and closed by the server" "client exit $rc"
	show "$LAB_TMP/$1.out"
	show "$LAB_TMP/server.err"
	return 1
}

crr first 10000 || lab_finish
pid=$(server_pid)
rss1=$(rss_kb "$pid")
# `synack ss` lists them (the TIME_WAIT table belongs to no process; the server answers).
listed=$(timeout -k 2 20 ip netns exec "$NS_A" "$LAB_TOOL" ss state time-wait 2>&1 | grep -c "^TIME-WAIT .*$ADDR_A:$PORT " || true)
if ((listed > 4096)); then
	pass "synack ss state time-wait lists $listed TIME_WAIT connections (more than the 4096 socket slots)"
else
	fail "synack ss lists the TIME_WAIT table" "$listed lines"
fi
crr rest 40000 || lab_finish
rss2=$(rss_kb "$pid")

# One more connection: the server exits after it, writing its counters.
crr last 1 || true

# 3. Memory, sampled while the server still ran.
if [[ -n $rss1 && -n $rss2 ]] && ((rss2 - rss1 < 16384)); then
	pass "resident memory over the last 40,000 connections: ${rss1} -> ${rss2} KiB"
else
	fail "resident memory bounded over the last 40,000 connections" "'$rss1' -> '$rss2' KiB"
fi

# 2. The counters, written at exit.
for ((i = 0; i < 100; i++)); do
	[[ -s $LAB_TMP/stats ]] && break
	sleep 0.1
done
counter() { sed -n "s/^$1 //p" "$LAB_TMP/stats"; }
peak=$(counter tcp_time_wait_peak)
recycled=$(counter tcp_tw_recycled)
cookies=$(counter tcp_syncookies_sent)
if [[ $peak == "$CAP" ]] && ((recycled > 0)) && [[ $cookies == 0 ]]; then
	pass "TIME_WAIT table full at $peak entries (the socket table has 4096 slots), $recycled ended early, no SYN cookie"
else
	fail "TIME_WAITs kept in their own table, bounded" \
		"tcp_time_wait_peak '$peak' (want $CAP), tcp_tw_recycled '$recycled', tcp_syncookies_sent '$cookies'"
	show "$LAB_TMP/stats"
fi
if grep -q "socket table full\|stack broken" "$LAB_TMP/server.err"; then
	fail "the server's log is clean" "$(grep -m1 'socket table full\|stack broken' "$LAB_TMP/server.err")"
else
	pass "the server's log is clean"
fi
lab_finish
