#!/usr/bin/env bash
# Differential readiness conformance (design brief §9.4): examples/readiness_conformance runs
# one fixed script of poll/ppoll/select/pselect/epoll observations on TCP sockets against a
# kernel peer it drives step by step over two fifos (among them a thread blocked in epoll_wait
# and another in recv on the same socket: run to completion, docs/architecture.md "Threads",
# must wake both as Linux does), twice:
#   1. the reference: in a second lab of its own whose synack-side namespace has the kernel
#      address 10.77.0.1, WITHOUT synack (Linux's own TCP answers);
#   2. under synack (strict) in this test's normal lab.
# Every line (return values, errno names, revents and epoll masks, SO_ERROR) must be equal;
# the diff is printed otherwise. The kernel run is the only source of expected answers.
. "$(dirname "$0")/lib.sh"

PROG=$LAB_BUILD/examples/readiness_conformance
REF_PREFIX=${SYNACK_LAB_PREFIX}k

# The reference lab goes too, whatever happens (lib.sh's own cleanup then runs).
ref_down() { SYNACK_LAB_PREFIX=$REF_PREFIX SYNACK_LAB_QUIET=1 bash "$LAB_ROOT/examples/lab.sh" down >/dev/null 2>&1 || true; }
trap 'rc77=$?; set +e; ref_down; (exit "$rc77"); lab_cleanup' EXIT

lab_up
if [[ ! -x $PROG ]]; then
	fail "build" "$PROG is missing: build first"
	lab_finish
fi
SYNACK_LAB_PREFIX=$REF_PREFIX bash "$LAB_ROOT/examples/lab.sh" up
ip -n "$REF_PREFIX-a" addr add "$ADDR_A/24" dev "$IF_A"

# conformance_run NAME PEER_NS RUNNER...: the peer in PEER_NS, the script through RUNNER
# (kernel_exec or synack_exec). Output in $LAB_TMP/NAME.out; returns the script's exit status.
conformance_run() {
	local name=$1 peer_ns=$2 rc=0
	shift 2
	local cmd=$LAB_TMP/$name.cmd ack=$LAB_TMP/$name.ack
	mkfifo "$cmd" "$ack"
	spawn "$LAB_TMP/$name.peer.log" timeout -k 3 90 ip netns exec "$peer_ns" "$PROG" peer "$cmd" "$ack" "$ADDR_B"
	LAB_TIMEOUT=90 "$@" "$PROG" run "$cmd" "$ack" "$ADDR_A" "$ADDR_B" >"$LAB_TMP/$name.out" \
		2>"$LAB_TMP/$name.err" || rc=$?
	# A script that died early leaves the peer blocked on its fifo: end it.
	kill -TERM "$LAB_LAST_PID" 2>/dev/null || true
	return "$rc"
}

kernel_exec() { timeout -k 3 "${LAB_TIMEOUT:-30}" ip netns exec "$REF_PREFIX-a" "$@"; }

rc=0
conformance_run kernel "$REF_PREFIX-b" kernel_exec || rc=$?
if ((rc != 0)) || ! grep -q '^-- end$' "$LAB_TMP/kernel.out"; then
	fail "kernel reference run" "exit status $rc (124: timed out)"
	show "$LAB_TMP/kernel.err"
	show "$LAB_TMP/kernel.peer.log"
	tail -n 5 "$LAB_TMP/kernel.out" | sed 's/^/  | /'
	lab_finish
fi
pass "kernel reference run: $(wc -l <"$LAB_TMP/kernel.out") observations"

rc=0
conformance_run synack "$NS_B" synack_exec || rc=$?
if ((rc != 0)) || ! grep -q '^-- end$' "$LAB_TMP/synack.out"; then
	fail "run under synack" "exit status $rc (124: timed out)"
	show "$LAB_TMP/synack.err"
	show "$LAB_TMP/synack.peer.log"
fi
# Differences found by this test whose cause lies outside the readiness code (core/ and the
# connect path of shim/socket/sockio.c), reported to their owners: the exact diff lines (- kernel,
# + synack), in diff order, each group headed by a "# Kn" line saying why. The test still
# fails on any other difference, and also when one of these disappears (then delete it here:
# it was fixed). None now: the output must equal the kernel's.
cat >"$LAB_TMP/known" <<'EOF'
EOF
diff -u "$LAB_TMP/kernel.out" "$LAB_TMP/synack.out" >"$LAB_TMP/diff" || true
diff -U0 "$LAB_TMP/kernel.out" "$LAB_TMP/synack.out" | grep -v '^@@\|^---\|^+++' >"$LAB_TMP/diff-lines" || true
grep -v '^#' "$LAB_TMP/known" >"$LAB_TMP/known-lines" || true
nknown=$(grep -c '^# K' "$LAB_TMP/known" || true)
if [[ ! -s $LAB_TMP/diff ]]; then
	if [[ -s $LAB_TMP/known-lines ]]; then
		fail "known differences" "none left: delete them from this script (they were fixed)"
	else
		pass "every observation under synack equals the kernel's"
	fi
elif cmp -s "$LAB_TMP/diff-lines" "$LAB_TMP/known-lines"; then
	pass "every observation under synack equals the kernel's but for the $nknown known differences"
	grep '^# K' "$LAB_TMP/known" | sed 's/^# /# known: /'
else
	fail "observations differ from the kernel's" \
		"$(grep -c '^[-+][^-+]' "$LAB_TMP/diff") lines (- kernel, + synack; $(grep -c . "$LAB_TMP/known-lines") of them may be known, see the script)"
	sed 's/^/  | /' "$LAB_TMP/diff"
fi
lab_finish
