#!/usr/bin/env bash
# Run every libFuzzer harness for a bounded time (tests/run.sh runs this; docs/security.md).
#
#   bash tests/fuzz/run.sh [SECONDS]        (default 60, shared among the harnesses)
#
# Builds build-fuzz/ (tests/fuzz/build.sh), then runs each harness from its seeds in
# tests/fuzz/corpus/<harness>/ (never written) for its share of SECONDS: fuzz_input 4 parts,
# fuzz_icmp 2, each of the others 1. Prints "PASS fuzz/<harness>: ..." or "FAIL fuzz/<harness>:
# why" per harness. A crash, a leak, a timeout (one input over 10 s), a memory blow-up or any
# ASan/UBSan report fails it; the input that did it is kept in build-fuzz/crashes/ and the line
# to reproduce it is printed. Exits non-zero on any failure.
#
# FUZZ_CORPUS_OUT=DIR keeps the corpus each harness grows in DIR/<harness>/ (and starts from it
# too, besides the seeds): what a long run should set. Without it the grown corpus is thrown
# away.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
TOTAL=${1:-60}
OUT=build-fuzz
WORK=$(mktemp -d "${TMPDIR:-/tmp}/synack-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failed=0

fail() {
	echo "FAIL fuzz/$1: $2"
	failed=1
}

if ! bash tests/fuzz/build.sh fuzz "$OUT" >"$WORK/build.out" 2>&1; then
	fail build "tests/fuzz/build.sh failed"
	tail -n 30 "$WORK/build.out"
	exit 1
fi
mapfile -t HARNESSES <"$WORK/build.out"

weight() {
	case $1 in
	fuzz_input) echo 4 ;;
	fuzz_icmp) echo 2 ;;
	*) echo 1 ;;
	esac
}
parts=0
for h in "${HARNESSES[@]}"; do parts=$((parts + $(weight "$h"))); done

# Each finding stops the harness (UBSan included: the build makes every check fatal).
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
mkdir -p "$OUT/crashes"
for h in "${HARNESSES[@]}"; do
	secs=$((TOTAL * $(weight "$h") / parts))
	((secs >= 1)) || secs=1
	seeds=tests/fuzz/corpus/$h
	grown=${FUZZ_CORPUS_OUT:+$FUZZ_CORPUS_OUT/$h}
	grown=${grown:-$WORK/corpus-$h}
	mkdir -p "$grown"
	log=$WORK/$h.log
	# libFuzzer writes new inputs into the first directory only.
	timeout -k 10 $((secs + 60)) "$OUT/$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=4096 -print_final_stats=1 -artifact_prefix="$WORK/$h-" "$grown" "$seeds" \
		>"$log" 2>&1
	rc=$?
	runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1)
	artifact=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -n1)
	if ((rc == 0)) && ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
		echo "PASS fuzz/$h: ${runs:-?} inputs in ${secs} s, ${cov:-cov: ?} (from $(find "$seeds" -type f | wc -l) seeds)"
		continue
	fi
	why=$(grep -m1 -oE '(ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): .*|runtime error: .*|fuzz[_a-z ]*: .*)' "$log" || true)
	((rc == 124 || rc == 137)) && why="hung: killed after $((secs + 60)) s"
	if [[ -n $artifact && -f $artifact ]]; then
		cp "$artifact" "$OUT/crashes/"
		why+=" — reproduce: $OUT/$h $OUT/crashes/$(basename "$artifact")"
	fi
	fail "$h" "${why:-exit $rc}"
	echo "---- last lines of $h's log ----"
	grep -vE '^#[0-9]+' "$log" | tail -n 40
done
((failed == 0))
