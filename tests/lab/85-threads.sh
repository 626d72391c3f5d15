#!/usr/bin/env bash
# Many application threads over one synack stack (examples/threads_stress.c):
#  1. client under synack: 8 threads start together (their first socket calls race the shim's
#     lazy start), 100 connections each to a kernel echo server, each a random payload of up
#     to 32 KiB written, half-closed, echoed back and compared: all 800 must verify;
#  2. the echo server under synack (a thread per accepted connection) with the same client on
#     the kernel side: all 800 must verify.
. "$(dirname "$0")/lib.sh"

lab_up
PROG=$LAB_BUILD/examples/threads_stress
if [[ ! -x $PROG ]]; then
	fail "threads_stress is built" "$PROG is missing"
	lab_finish
fi

wait_listen() { # NS PORT PID
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -n $(ip netns exec "$1" ss -Hltn "sport = :$2") ]] && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

check_run() { # NAME RC OUT ERR
	if (($2 == 0)) && grep -qx 'verified 800/800' "$3"; then
		pass "$1: verified 800/800"
	else
		fail "$1" "exit $2, $(cat "$3" 2>/dev/null || true)"
		show "$4"
	fi
}

spawn "$LAB_TMP/peer-server.log" ip netns exec "$NS_B" "$PROG" -l "$ADDR_B" 7400
if ! wait_listen "$NS_B" 7400 "$LAB_LAST_PID"; then
	fail "kernel echo server starts" "not listening"
	show "$LAB_TMP/peer-server.log"
	lab_finish
fi
rc=0
LAB_TIMEOUT=150 synack_exec "$PROG" -t 8 -n 100 -m 32768 -T 60 "$ADDR_B" 7400 \
	>"$LAB_TMP/client.out" 2>"$LAB_TMP/client.err" || rc=$?
check_run "8 threads x 100 connections under synack to a kernel echo server" "$rc" \
	"$LAB_TMP/client.out" "$LAB_TMP/client.err"

LAB_TIMEOUT=170 spawn "$LAB_TMP/server.err" synack_exec "$PROG" -l "$ADDR_A" 7401
server=$LAB_LAST_PID
# ss in the synack namespace sees only the placeholder: probe with one connection instead.
up=0
for ((i = 0; i < 100; i++)); do
	if peer_exec timeout 2 "$PROG" -t 1 -n 1 -T 1 "$ADDR_A" 7401 >/dev/null 2>&1; then
		up=1
		break
	fi
	kill -0 "$server" 2>/dev/null || break
	sleep 0.1
done
if ((up == 0)); then
	fail "echo server under synack answers" "no echo within 10 s"
	show "$LAB_TMP/server.err"
else
	rc=0
	timeout -k 3 150 ip netns exec "$NS_B" "$PROG" -t 8 -n 100 -m 32768 -T 60 "$ADDR_A" 7401 \
		>"$LAB_TMP/kclient.out" 2>"$LAB_TMP/kclient.err" || rc=$?
	check_run "8 kernel threads x 100 connections to an echo server under synack" "$rc" \
		"$LAB_TMP/kclient.out" "$LAB_TMP/kclient.err"
	if ! kill -0 "$server" 2>/dev/null; then
		fail "echo server under synack still running" "it exited"
		show "$LAB_TMP/server.err"
	fi
fi
lab_finish
