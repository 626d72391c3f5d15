#!/usr/bin/env bash
# Run to completion (docs/architecture.md "Threads"): a thread blocked in recv() waits on the
# packet socket itself and processes the reply it is waiting for, instead of sleeping until the
# runtime thread has processed it and woken it.
#  1. a 1-byte ping-pong (bench/tcp_bench rr, a synack client against a kernel server): the
#     frames were read by the application thread (SYNACK_STATS: rt_frames_by_app > 0, and more
#     of them than the runtime thread read);
#  2. SYNACK_RUN_TO_COMPLETION=0: the same exchange, every frame read by the runtime thread;
#  3. an idle synack program blocked in recv() uses under 1 % of a CPU over 5 s: the runtime
#     thread, parked while the reader polls, looks less and less often (RT_PARK_CHECK_MAX);
#  4. busy polling (SYNACK_BUSY_POLL_US): the ping-pong completes with it, and an idle reader
#     with a 1 s spin shows it in its CPU time (at least 0.2 s of CPU over its first 3 s, even on
#     a loaded machine), then sleeps.
. "$(dirname "$0")/lib.sh"

BENCH=$LAB_BUILD/bench/tcp_bench
lab_up
if [[ ! -x $BENCH ]]; then
	fail "set-up" "$BENCH is not built"
	lab_finish
fi
spawn "$LAB_TMP/server.err" ip netns exec "$NS_B" "$BENCH" server -b "$ADDR_B" -p 5400 -T 60
peer_wait_listen 5400

counter() { sed -n "s/^$2 //p" "$1"; }

# rr NAME STATS [ENV...]: a 1 s ping-pong under synack; PASS/FAIL on the exchange itself.
rr() {
	local name=$1 stats=$2 rc=0
	shift 2
	(
		(($# == 0)) || export "$@"
		SYNACK_STATS=$stats LAB_TIMEOUT=30 synack_exec "$BENCH" client -m rr -H "$ADDR_B" \
			-p 5400 -d 1 -T 20 >"$stats.out" 2>&1
	) || rc=$?
	if ((rc != 0)) || ! grep -q "^result mode=rr" "$stats.out"; then
		fail "$name" "tcp_bench exit $rc"
		show "$stats.out"
		return 1
	fi
	pass "$name: $(grep -oE 'count=[0-9]+|p50_us=[0-9.]+' "$stats.out" | tr '\n' ' ')"
}

if rr "1-byte ping-pong under synack" "$LAB_TMP/rtc"; then
	app=$(counter "$LAB_TMP/rtc" rt_frames_by_app)
	run=$(counter "$LAB_TMP/rtc" rt_frames_by_runtime)
	if [[ -n $app && -n $run ]] && ((app > 0 && app > run)); then
		pass "the replies were read by the application thread ($app frames; runtime thread $run)"
	else
		fail "the replies were read by the application thread" "by_app '$app', by_runtime '$run'"
		show "$LAB_TMP/rtc"
	fi
fi

if rr "SYNACK_RUN_TO_COMPLETION=0: ping-pong" "$LAB_TMP/nortc" SYNACK_RUN_TO_COMPLETION=0; then
	app=$(counter "$LAB_TMP/nortc" rt_frames_by_app)
	run=$(counter "$LAB_TMP/nortc" rt_frames_by_runtime)
	if [[ $app == 0 ]] && ((run > 0)); then
		pass "SYNACK_RUN_TO_COMPLETION=0: every frame read by the runtime thread ($run)"
	else
		fail "SYNACK_RUN_TO_COMPLETION=0: every frame read by the runtime thread" "by_app '$app', by_runtime '$run'"
	fi
fi

# idle_reader PORT VAR=VALUE...: a kernel nc -l on PORT accepts and sends nothing; a python3
# client under synack (with the settings given) connects and blocks in recv(). Sets IDLE_PID (""
# if it did not start). Both live up to a minute, so that a loaded machine's slow start-up
# (seconds) cannot end them before they settled and were measured; idle_done ends them.
idle_reader() {
	local port=$1 i
	shift
	spawn "$LAB_TMP/idle-peer.$port.err" bash -c \
		"exec ip netns exec '$NS_B' timeout 70 nc -l '$ADDR_B' $port </dev/null >/dev/null"
	peer_wait_listen "$port"
	(
		(($# == 0)) || export "$@"
		SYNACK_VIA_PRELOAD=1 LAB_TIMEOUT=60 synack_exec "$LAB_PY" -c \
			"import socket; socket.create_connection(('$ADDR_B', $port)).recv(1)" \
			>/dev/null 2>"$LAB_TMP/idle.$port.err"
	) &
	LAB_PIDS+=("$!")
	# timeout, ip netns exec and env each exec the next: the process is python3 itself.
	IDLE_PID=""
	for ((i = 0; i < 100; i++)); do
		IDLE_PID=$(pgrep -n -f "create_connection\\(\\('$ADDR_B', $port\\)\\)" || true)
		[[ -n $IDLE_PID ]] && break
		sleep 0.1
	done
}

idle_done() { [[ -z $IDLE_PID ]] || kill -TERM "$IDLE_PID" 2>/dev/null || true; }

# Wait (at most 20 s) until PID's main thread sleeps in ppoll (x86-64 syscall 271) and the
# process uses at most 2 ticks in half a second (its runtime thread's periodic checks cost a
# little; a spin costs 50): connected, blocked in recv() (shim/runtime/runtime.c rt_wait), any
# spin over. Under load the program may take seconds to start: no measurement begins before.
wait_settled() {
	local i a b
	for ((i = 0; i < 40; i++)); do
		a=$(ticks "$1")
		sleep 0.5
		b=$(ticks "$1")
		((b - a <= 2)) && [[ $(awk '{print $1}' "/proc/$1/syscall" 2>/dev/null) == 271 ]] && return 0
	done
	return 1
}

# CPU clock ticks (USER_HZ, 100 a second) process PID used so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# 3. Idle in recv().
idle_reader 5401
if [[ -z $IDLE_PID ]]; then
	fail "an idle reader uses under 1 % of a CPU" "the synack reader did not start"
	show "$LAB_TMP/idle.5401.err"
elif ! wait_settled "$IDLE_PID"; then
	fail "an idle reader uses under 1 % of a CPU" "the synack reader never settled in recv()"
	show "$LAB_TMP/idle.5401.err"
else
	t0=$(ticks "$IDLE_PID")
	sleep 5
	IDLE_TOTAL=$(ticks "$IDLE_PID")
	n=$((IDLE_TOTAL - t0)) # 5 s is 500 ticks, 1 % is 5
	if ((n < 5)); then
		pass "an idle reader uses under 1 % of a CPU ($n ticks of 500 in 5 s)"
	else
		fail "an idle reader uses under 1 % of a CPU" "$n ticks of 500 in 5 s"
	fi
fi
idle_done

# 4. Busy polling.
rr "SYNACK_BUSY_POLL_US=50: ping-pong" "$LAB_TMP/busy" SYNACK_BUSY_POLL_US=50
idle_reader 5402 SYNACK_BUSY_POLL_US=1000000
if [[ -z $IDLE_PID ]]; then
	fail "a busy-polling reader spins" "the synack reader did not start"
	show "$LAB_TMP/idle.5402.err"
elif ! wait_settled "$IDLE_PID"; then
	fail "a busy-polling reader spins" "the synack reader never settled in recv()"
	show "$LAB_TMP/idle.5402.err"
else
	# It spins at the start of each wait (SYNACK_BUSY_POLL_US, here 1 s), then sleeps: its
	# whole CPU time against the idle reader's, which started and waited the same way.
	n=$(($(ticks "$IDLE_PID") - ${IDLE_TOTAL:-0}))
	if ((n >= 20)); then
		pass "a busy-polling reader spins: $n ticks of CPU more than the idle reader with SYNACK_BUSY_POLL_US=1000000"
	else
		fail "a busy-polling reader spins" "only $n ticks of CPU more than the idle reader"
	fi
fi
idle_done

lab_finish
