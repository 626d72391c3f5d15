#!/usr/bin/env bash
# Socket calls from awkward places (examples/odd_callers.c), under synack (strict) against a
# kernel echo server in the peer namespace: a shared library's constructor before main
# (examples/libearly.so), a SIGALRM handler without SA_RESTART sending while main is blocked
# in recv() (EINTR, as on Linux) and with SA_RESTART (recv restarted, completes), thousands of
# signals hitting a thread inside synack send/recv calls whose handler sends on another synack
# socket (no crash, no deadlock, every byte checked), handlers read back as the program installed
# them (sigaction, signal, SA_RESETHAND, siginfo), and an atexit() handler. Each case is
# one line of the program's report; the trace must show synack's own connections. Last, the
# guard costs no syscall per call (strace -c: no rt_sigprocmask per send/recv).
. "$(dirname "$0")/lib.sh"

lab_up
PROG=$LAB_BUILD/examples/odd_callers
if [[ ! -x $PROG ]]; then
	fail "odd_callers is built" "$PROG is missing"
	lab_finish
fi

cat >"$LAB_TMP/echo.py" <<'PYEOF'
import sys
import labpeer

def echo(c):
    with c:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)

labpeer.serve_threads(sys.argv[1], int(sys.argv[2]), echo)
PYEOF
spawn "$LAB_TMP/peer-echo.log" ip netns exec "$NS_B" "$LAB_PY" "$LAB_TMP/echo.py" "$ADDR_B" 7500
peer_wait_listen 7500

rc=0
ODD_PEER=$ADDR_B ODD_PORT=7500 SYNACK_TRACE=states LAB_TIMEOUT=90 synack_exec "$PROG" "$ADDR_B" 7500 \
	>"$LAB_TMP/odd.out" 2>"$LAB_TMP/odd.err" || rc=$?
report_checks "$LAB_TMP/odd.out" "$rc" "odd_callers"
for c in constructor sigalrm-eintr sigalrm-restart signal-in-call handlers atexit; do
	grep -qE "^(ok|FAIL) $c\b" "$LAB_TMP/odd.out" || fail "$c" "no report line (exit $rc)"
done
if ((rc != 0)); then
	show "$LAB_TMP/odd.err"
elif [[ ${LAB_KERNEL_ONLY:-0} != 1 ]]; then
	# 1 constructor + 2 SIGALRM + 2 signal-in-call + 1 atexit connections.
	n=$(grep -c "^synack: trace .* -> ESTABLISHED " "$LAB_TMP/odd.err" || true)
	if ((n >= 6)); then
		pass "the connections were synack's ($n ESTABLISHED in the trace)"
	else
		fail "the connections were synack's" "$n ESTABLISHED transitions in the trace, want >= 6"
		show "$LAB_TMP/odd.err"
	fi
fi

# The guard costs no syscall: 2000 send/recv pairs on a synack socket by a program with a
# handler installed (SIGUSR1) make no rt_sigprocmask call per call (strace counts the main
# thread's, without -f: a keeper process would keep strace waiting for it; the
# program's own start makes a few). A guard that blocked signals around each entry into
# synack made several per call.
cat >"$LAB_TMP/guard.py" <<'PYEOF'
import signal, socket, sys
signal.signal(signal.SIGUSR1, lambda *a: None)
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
for _ in range(2000):
    s.sendall(b"x")
    assert s.recv(1) == b"x"
s.close()
print("done", flush=True)
PYEOF
rc=0
LAB_TIMEOUT=60 synack_exec strace -qq -c -e trace=rt_sigprocmask -o "$LAB_TMP/guard.strace" \
	"$LAB_PY" "$LAB_TMP/guard.py" "$ADDR_B" 7500 >"$LAB_TMP/guard.out" 2>&1 || rc=$?
calls=$(awk '$NF == "rt_sigprocmask" { print $(NF - 1) }' "$LAB_TMP/guard.strace" 2>/dev/null)
calls=${calls:-0}
if ((rc == 0)) && grep -qx done "$LAB_TMP/guard.out" && ((calls < 200)); then
	pass "the signal guard makes no syscall: 2000 send/recv pairs with a handler installed, $calls rt_sigprocmask in all"
else
	fail "the signal guard makes no syscall per call" "exit $rc, $calls rt_sigprocmask for 2000 send/recv pairs"
	show "$LAB_TMP/guard.out"
	show "$LAB_TMP/guard.strace"
fi
lab_finish
