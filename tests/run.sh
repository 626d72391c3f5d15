#!/usr/bin/env bash
# The full test suite (README command 2; .ci/run runs exactly this).
#
#   bash tests/run.sh
#
# 1. tests/setup.sh: packages and the normal build in build/.
# 2. The Criterion unit suites (meson suite "unit") in an ASan+UBSan build, build-asan/.
# 3. The libFuzzer harnesses (tests/fuzz/run.sh, clang's build-fuzz/), about 60 s in all.
# 4. The lab integration tests, tests/lab/NN-*.sh then NNN-*.sh, each in its own pair of
#    namespaces, with the normal build/ (see below why not the sanitized one).
#
# Prints a PASS/FAIL line per test and, last, exactly "N passed, M failed" (unit suites as
# meson counts them plus every lab check). Exits non-zero on any failure. Everything is bounded
# in time; whatever a test started is killed and its lab torn down even when it fails or is
# interrupted.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
PASSED=0
FAILED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/synack-test.XXXXXX")
# Lab names of this run: sktest<pid>-NN-a/-b (lib.sh appends the test number).
export SYNACK_LAB_BASE=sktest$$
CHILD=""
CHILD_PREFIX=""

UNIT_TIMEOUT=900 # the whole unit run; meson also bounds each suite (tests/meson.build)
LAB_TIMEOUT=180  # one lab test script
FUZZ_SECONDS=60  # fuzzing time shared among the harnesses (docs/security.md: longer runs)
FUZZ_TIMEOUT=600 # the whole fuzz step, build included

fail() {
	echo "FAIL $1${2:+: $2}"
	FAILED=$((FAILED + 1))
}

lab_down() {
	[[ -n $1 ]] || return 0
	SYNACK_LAB_PREFIX=$1 SYNACK_LAB_QUIET=1 bash "$ROOT/examples/lab.sh" down >/dev/null 2>&1 || true
}

cleanup() {
	trap - EXIT INT TERM HUP
	if [[ -n $CHILD ]] && kill -0 "$CHILD" 2>/dev/null; then
		kill -TERM "$CHILD" 2>/dev/null
		timeout 10 tail --pid="$CHILD" -f /dev/null 2>/dev/null || kill -KILL "$CHILD" 2>/dev/null
	fi
	lab_down "$CHILD_PREFIX"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "test.sh: interrupted"; exit 130' INT TERM HUP

# Run "$@" in the background (so the traps can end it) and wait; sets RC.
run_child() {
	"$@" &
	CHILD=$!
	wait "$CHILD"
	RC=$?
	CHILD=""
}

summary() {
	echo "$PASSED passed, $FAILED failed"
	((FAILED == 0))
	exit
}

# Show a step's log (its PASS/FAIL lines count) and judge its exit status RC: killed by its
# time bound, failed without saying why, or ran no check.
#   tally NAME LOG TIMEOUT
tally() {
	local np nf
	np=$(grep -c '^PASS ' "$2")
	nf=$(grep -c '^FAIL ' "$2")
	cat "$2"
	PASSED=$((PASSED + np))
	FAILED=$((FAILED + nf))
	if ((RC == 124 || RC == 137)); then
		fail "$1" "timed out after $3 s"
	elif ((RC != 0 && nf == 0)); then
		fail "$1" "exit $RC without a FAIL line"
	elif ((RC == 0 && np == 0)); then
		fail "$1" "ran no check"
	fi
}

tail_log() {
	echo "---- last lines of $2 ----"
	tail -n "${3:-40}" "$1"
}

# ---- 1. set-up ----------------------------------------------------------------------------
run_child bash tests/setup.sh
if ((RC != 0)); then
	fail "setup (tests/setup.sh)" "exit $RC"
	summary
fi

# ---- 2. unit suites under ASan + UBSan ------------------------------------------------------
# halt_on_error: a UBSan finding fails the test instead of scrolling past.
export ASAN_OPTIONS=abort_on_error=1:halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
ASAN=build-asan
unit_ok=1
if [[ ! -f $ASAN/build.ninja ]]; then
	rm -rf "$ASAN"
	run_child meson setup "$ASAN" -Db_sanitize=address,undefined -Db_lundef=false >"$WORK/asan-setup.log" 2>&1
	if ((RC != 0)); then
		fail "unit: meson setup $ASAN" "exit $RC"
		tail_log "$WORK/asan-setup.log" "meson setup"
		unit_ok=0
	fi
fi
if ((unit_ok)); then
	run_child timeout -k 10 "$UNIT_TIMEOUT" meson compile -C "$ASAN" >"$WORK/asan-build.log" 2>&1
	if ((RC != 0)); then
		fail "unit: build $ASAN" "meson compile exit $RC"
		tail_log "$WORK/asan-build.log" "meson compile -C $ASAN"
		unit_ok=0
	fi
fi
if ((unit_ok)); then
	run_child timeout -k 10 "$UNIT_TIMEOUT" meson test -C "$ASAN" --suite unit --print-errorlogs \
		>"$WORK/unit.log" 2>&1
	unit_rc=$RC
	# One line per suite, e.g. " 3/12 tcp_handshake   OK   0.05s" (optionally "proj:suite / name").
	sed -nE '/^Summary of Failures/q; s@^ *[0-9]+/[0-9]+ +(.*[^ ]) +(OK|FAIL|SKIP|TIMEOUT|EXPECTEDFAIL|UNEXPECTEDPASS|ERROR) +[0-9.]+s.*$@\2 \1@p' \
		"$WORK/unit.log" | while read -r status name; do
		name=${name##*/ }
		case $status in
		OK | EXPECTEDFAIL) echo "PASS unit/$name" ;;
		*) echo "FAIL unit/$name: $status" ;;
		esac
	done
	# meson's summary block is the count of record.
	count() { sed -nE "s/^$1: +([0-9]+) *\$/\\1/p" "$WORK/unit.log" | tail -n1; }
	ok=$(count "Ok")
	xfail=$(count "Expected Fail")
	bad=$(count "Fail")
	xpass=$(count "Unexpected Pass")
	skipped=$(count "Skipped")
	timedout=$(count "Timeout")
	if [[ -z $ok ]]; then
		# No summary: meson itself failed (or was killed by the time bound).
		fail "unit: meson test" "exit $unit_rc, no summary"
		tail_log "$WORK/unit.log" "meson test" 60
	else
		# House rule: nothing is skipped. A skipped suite counts as a failure.
		PASSED=$((PASSED + ok + ${xfail:-0}))
		FAILED=$((FAILED + ${bad:-0} + ${xpass:-0} + ${skipped:-0} + ${timedout:-0}))
		if ((ok + ${xfail:-0} + ${bad:-0} + ${xpass:-0} + ${skipped:-0} + ${timedout:-0} == 0)); then
			fail "unit: meson test ran no suite"
		elif ((unit_rc != 0)); then
			tail_log "$WORK/unit.log" "meson test (failures above are counted)" 80
			((${bad:-0} + ${xpass:-0} + ${skipped:-0} + ${timedout:-0} > 0)) || fail "unit: meson test" "exit $unit_rc"
		fi
		((${skipped:-0} == 0)) || echo "note: $skipped unit suite(s) skipped; counted as failures"
	fi
fi

# ---- 3. fuzzing ----------------------------------------------------------------------------
# One PASS/FAIL line per harness; a crash, leak, hang or sanitizer report is a FAIL (the input is
# kept in build-fuzz/crashes/).
fuzz_start=$SECONDS
run_child timeout -k 10 "$FUZZ_TIMEOUT" bash tests/fuzz/run.sh "$FUZZ_SECONDS" >"$WORK/fuzz.log" 2>&1
tally fuzz "$WORK/fuzz.log" "$FUZZ_TIMEOUT"
echo "# fuzz: $((SECONDS - fuzz_start)) s"

# ---- 4. lab integration tests ---------------------------------------------------------------
# They run with the normal build/, not build-asan/: the programs under test are Debian's own
# curl and python3, which are not built with ASan. An ASan-instrumented preload library only
# works when the ASan runtime is the first library of the process (it must be preloaded too,
# LD_PRELOAD=libasan.so:libsynack.so); it then replaces malloc in curl and python3 and reports
# their own leaks and allocator quirks as failures, adds its own interceptors for the very
# calls synack interposes, and slows the 10 MiB transfers several-fold. The sanitizers guard
# synack's code in the unit suites, which run it in full (core, netdev, shim's pure parts).
# Two-digit names first, then three-digit ones (100 and up): each glob sorts itself, so the
# numbers run in order. A glob that matches nothing is skipped.
for t in tests/lab/[0-9][0-9]-*.sh tests/lab/[0-9][0-9][0-9]-*.sh; do
	[[ -e $t ]] || continue
	name=$(basename "$t" .sh)
	CHILD_PREFIX=$SYNACK_LAB_BASE-${name%%-*}
	start=$SECONDS
	run_child timeout -k 10 "$LAB_TIMEOUT" bash "$t" >"$WORK/$name.log" 2>&1
	lab_down "$CHILD_PREFIX" # safety net: lib.sh tears down, unless it was SIGKILLed
	CHILD_PREFIX=""
	tally "$name" "$WORK/$name.log" "$LAB_TIMEOUT"
	echo "# $name: $((SECONDS - start)) s"
done

summary
