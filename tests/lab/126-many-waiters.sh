#!/usr/bin/env bash
# Run to completion with many threads asleep at once (docs/architecture.md "Threads"):
# examples/many_waiters under synack, 8 threads each blocked in recv() on its own connection to
# a kernel peer (the same program, its peer mode, without synack). Before each of 5 rounds
# every thread sleeps in recv() (the program checks each thread's /proc syscall file) and only
# then does the peer send each connection a payload naming the connection and the round, one
# connection after the other in an order never the threads' own. Checks:
#  1. each thread got exactly its own connection's bytes in every round, then end of stream,
#     and none was left asleep (a thread's recv() gives up after 20 s: FAIL, not a hang);
#  2. the peer served every round;
#  3. SYNACK_STATS: frames were read by application threads (rt_frames_by_app > 0): the waiting
#     threads polled the packet socket themselves, one of them at a time, and woke the others.
. "$(dirname "$0")/lib.sh"

PROG=$LAB_BUILD/examples/many_waiters
THREADS=8
ROUNDS=5
PORT=7600

lab_up
if [[ ! -x $PROG ]]; then
	fail "set-up" "$PROG is not built"
	lab_finish
fi
spawn "$LAB_TMP/peer.log" timeout -k 3 100 ip netns exec "$NS_B" "$PROG" peer "$ADDR_B" "$PORT" \
	"$THREADS" "$ROUNDS"
peer_wait_listen "$PORT"

rc=0
SYNACK_STATS=$LAB_TMP/stats LAB_TIMEOUT=90 synack_exec "$PROG" run "$ADDR_B" "$PORT" "$THREADS" \
	"$ROUNDS" >"$LAB_TMP/run.out" 2>"$LAB_TMP/run.err" || rc=$?
report_checks "$LAB_TMP/run.out" "$rc" "many_waiters run" "$THREADS threads in recv(): "
nok=$(grep -c '^ok ' "$LAB_TMP/run.out" || true)
if ((rc == 0 && nok != THREADS)); then
	fail "every thread reported" "$nok of $THREADS"
fi

if wait_for 10 grep -q '^served' "$LAB_TMP/peer.log"; then
	pass "the peer served $ROUNDS rounds, in the orders: $(sed -n 's/^round [0-9]*: sent to //p' \
		"$LAB_TMP/peer.log" | paste -sd/)"
else
	fail "the peer served every round" "it did not say so"
	show "$LAB_TMP/peer.log"
fi

app=$(stat_of "$LAB_TMP/stats" rt_frames_by_app || true) # no file: the run died
run=$(stat_of "$LAB_TMP/stats" rt_frames_by_runtime || true)
if [[ -n $app ]] && ((app > 0)); then
	pass "frames were read by the waiting application threads ($app; runtime thread $run)"
else
	fail "frames were read by the waiting application threads" \
		"rt_frames_by_app '${app}', rt_frames_by_runtime '${run}'"
	show "$LAB_TMP/stats"
	show "$LAB_TMP/run.err"
fi
lab_finish
