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
#     with a 1 s spin stays runnable in recv() for most of that second (on a CPU or waiting for
#     one: the same on a loaded machine), then sleeps;
#  5. the same per socket, SO_BUSY_POLL set by the program (docs/configuration.md): the
#     ping-pong with tcp_bench -B 50 (set on the client's socket before connect); an idle
#     reader that sets 1 s on its connected socket spins as 4.'s does; and so does a server
#     whose listener got 1 s before listen(), in recv() on the connection it accepted (which
#     inherits it, as from a Linux listener).
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

# rr NAME STATS [ENV...]: a 1 s ping-pong under synack (tcp_bench client, with the options in
# RR_ARGS too); PASS/FAIL on the exchange itself.
rr() {
	local name=$1 stats=$2 rc=0 extra
	shift 2
	read -ra extra <<<"${RR_ARGS:-}"
	(
		(($# == 0)) || export "$@"
		SYNACK_STATS=$stats LAB_TIMEOUT=30 synack_exec "$BENCH" client -m rr -H "$ADDR_B" \
			-p 5400 -d 1 -T 20 "${extra[@]}" >"$stats.out" 2>&1
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

# WAITING: the Python statement the programs below run just before their recv(): it prints
# "waiting" and the time the thread has so far been on a CPU and waiting for one (ns, from
# /proc/thread-self/schedstat, CONFIG_SCHED_INFO).
WAITING="print('waiting', *open('/proc/thread-self/schedstat').read().split()[:2], flush=True)"

# idle_program PORT CODE PATTERN [VAR=VALUE...]: python3 -c CODE under synack (with the
# settings given) in the background, its output in idle.PORT.out and .err. Sets IDLE_PID to the
# python3 process whose command line matches the extended regex PATTERN, waiting at most 10 s (""
# if none). Its command line starts with python3's path only once ip netns exec and env have
# exec'd it: before, the same process, and timeout (which forks it), match PATTERN too.
idle_program() {
	local port=$1 code=$2 pattern=$3 i
	shift 3
	(
		(($# == 0)) || export "$@"
		SYNACK_VIA_PRELOAD=1 LAB_TIMEOUT=40 synack_exec "$LAB_PY" -c "$code" \
			>"$LAB_TMP/idle.$port.out" 2>"$LAB_TMP/idle.$port.err"
	) &
	LAB_PIDS+=("$!")
	IDLE_PID=""
	for ((i = 0; i < 100; i++)); do
		IDLE_PID=$(pgrep -n -f "^$LAB_PY -c .*$pattern" || true)
		[[ -n $IDLE_PID ]] && break
		sleep 0.1
	done
}

# idle_reader PORT SETUP [VAR=VALUE...]: a kernel nc -l on PORT accepts and sends nothing; a
# python3 client under synack (with the settings given) connects, runs the Python statement
# SETUP on its socket s, says so ($WAITING) and blocks in recv(). Sets IDLE_PID ("" if it did
# not start).
idle_reader() {
	local port=$1 setup=$2
	shift 2
	spawn "$LAB_TMP/idle-peer.$port.err" bash -c \
		"exec ip netns exec '$NS_B' timeout 40 nc -l '$ADDR_B' $port </dev/null >/dev/null"
	peer_wait_listen "$port"
	idle_program "$port" \
		"import socket; s = socket.create_connection(('$ADDR_B', $port)); $setup; $WAITING; s.recv(1)" \
		"create_connection\\(\\('$ADDR_B', $port\\)\\)" "$@"
}

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
idle_reader 5401 pass
if [[ -z $IDLE_PID ]]; then
	fail "an idle reader uses under 1 % of a CPU" "the synack reader did not start"
	show "$LAB_TMP/idle.5401.err"
elif ! wait_line "$LAB_TMP/idle.5401.out" '^waiting ' "$IDLE_PID"; then
	fail "an idle reader uses under 1 % of a CPU" "the synack reader never reached recv()"
	show "$LAB_TMP/idle.5401.err"
elif ! wait_settled "$IDLE_PID"; then
	fail "an idle reader uses under 1 % of a CPU" "the synack reader never settled in recv()"
	show "$LAB_TMP/idle.5401.err"
else
	t0=$(ticks "$IDLE_PID")
	sleep 5
	n=$(($(ticks "$IDLE_PID") - t0)) # 5 s is 500 ticks, 1 % is 5
	if ((n < 5)); then
		pass "an idle reader uses under 1 % of a CPU ($n ticks of 500 in 5 s)"
	else
		fail "an idle reader uses under 1 % of a CPU" "$n ticks of 500 in 5 s"
	fi
fi

# spins NAME PORT: PASS when the program IDLE_PID, from just before its recv() (its "waiting"
# line) until it settled there, kept the thread runnable (on a CPU, or waiting for one) for at
# least half of the 1 s spin. The spin is at the start of the wait; sleeping, the thread would
# be runnable a few milliseconds. Runnable time is wall time, so a loaded machine, which leaves
# the spinner less CPU, does not shorten it.
spins() {
	local name=$1 port=$2 run wait now_run now_wait ms
	if [[ -z $IDLE_PID ]]; then
		fail "$name" "the synack program did not start"
	elif ! wait_line "$LAB_TMP/idle.$port.out" '^waiting ' "$IDLE_PID"; then
		fail "$name" "the synack program never reached recv()"
	elif ! wait_settled "$IDLE_PID"; then
		fail "$name" "the synack program never settled in recv()"
	else
		read -r _ run wait <"$LAB_TMP/idle.$port.out"
		read -r now_run now_wait _ <"/proc/$IDLE_PID/schedstat"
		ms=$(((now_run + now_wait - run - wait) / 1000000))
		if ((ms >= 500)); then
			pass "$name: runnable in recv() for $ms ms (on a CPU $(((now_run - run) / 1000000)) ms)"
			return 0
		fi
		fail "$name" "runnable in recv() for $ms ms only"
	fi
	show "$LAB_TMP/idle.$port.err"
}

# 4. Busy polling.
rr "SYNACK_BUSY_POLL_US=50: ping-pong" "$LAB_TMP/busy" SYNACK_BUSY_POLL_US=50
idle_reader 5402 pass SYNACK_BUSY_POLL_US=1000000
spins "a busy-polling reader spins (SYNACK_BUSY_POLL_US=1000000)" 5402

# 5. SO_BUSY_POLL (46 in asm-generic/socket.h; Python's socket module has no name for it).
RR_ARGS="-B 50" rr "SO_BUSY_POLL 50 set by tcp_bench -B 50 before connect: ping-pong" "$LAB_TMP/bp"
idle_reader 5403 "s.setsockopt(socket.SOL_SOCKET, 46, 1000000)"
spins "a reader that set SO_BUSY_POLL 1000000 on its connected socket spins" 5403

# A server: its listener gets the option before it is offloaded (the placeholder keeps it). It
# select()s (which does not spin: only SYNACK_BUSY_POLL_US makes poll and select spin) until the
# kernel client's connection is queued, so that accept() does not wait, then waits in recv() on
# the accepted connection, which took the listener's value.
idle_program 5404 \
	"import select, socket; l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, 46, 1000000); l.bind(('$ADDR_A', 5404)); l.listen(1); select.select([l], [], []); c = l.accept()[0]; $WAITING; c.recv(1)" \
	"l.bind\\(\\('$ADDR_A', 5404\\)\\)"
# The kernel client tries until the server listens (at most 10 s), then holds the connection.
spawn "$LAB_TMP/idle-peer.5404.err" ip netns exec "$NS_B" timeout 40 "$LAB_PY" -c "
import socket, time
for i in range(100):
    try:
        s = socket.create_connection(('$ADDR_A', 5404))
        break
    except OSError:
        time.sleep(0.1)
time.sleep(40)"
spins "a server whose listener has SO_BUSY_POLL 1000000 spins in recv() on the accepted connection" 5404

lab_finish
