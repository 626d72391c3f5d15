#!/usr/bin/env bash
# What the fuzzers reach: line coverage per core/ file of every harness run over a corpus.
#
#   bash tests/fuzz/coverage.sh [CORPUS_ROOT...]
#
# Builds the harnesses with clang source-based coverage (tests/fuzz/build.sh coverage, into
# build-fuzz-cov/), runs each over CORPUS_ROOT/<harness>/ of every root given (default
# tests/fuzz/corpus, the seeds kept in the repository; add a longer run's FUZZ_CORPUS_OUT to
# count what it grew) without fuzzing (-runs=0), merges the profiles with llvm-profdata and prints llvm-cov's per-file report of
# core/ (and of the two configuration parsers). docs/security.md quotes its figures.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOTS=("$@")
((${#ROOTS[@]})) || ROOTS=(tests/fuzz/corpus)
OUT=build-fuzz-cov
PROFDATA=$(command -v llvm-profdata-14 || command -v llvm-profdata || true)
COV=$(command -v llvm-cov-14 || command -v llvm-cov || true)
[[ -n $PROFDATA && -n $COV ]] || { echo "coverage.sh: llvm-profdata / llvm-cov missing (apt-get install llvm-14)" >&2; exit 1; }

mapfile -t HARNESSES < <(bash tests/fuzz/build.sh coverage "$OUT")
rm -rf "$OUT/profiles"
mkdir -p "$OUT/profiles"
objects=()
for h in "${HARNESSES[@]}"; do
	dirs=()
	for r in "${ROOTS[@]}"; do [[ -d $r/$h ]] && dirs+=("$r/$h"); done
	((${#dirs[@]})) || { echo "coverage.sh: no corpus for $h in ${ROOTS[*]}" >&2; continue; }
	LLVM_PROFILE_FILE=$OUT/profiles/$h.profraw "$OUT/$h" -runs=0 "${dirs[@]}" >"$OUT/profiles/$h.log" 2>&1 ||
		{ echo "coverage.sh: $h failed on its corpus:" >&2; tail -n 20 "$OUT/profiles/$h.log" >&2; exit 1; }
	objects+=(-object "$OUT/$h")
done
"$PROFDATA" merge -sparse "$OUT"/profiles/*.profraw -o "$OUT/profiles/all.profdata"
# The first binary is the positional one; the others follow as -object.
"$COV" report "${objects[1]}" "${objects[@]:2}" -instr-profile="$OUT/profiles/all.profdata" \
	-ignore-filename-regex='tests/fuzz/' core/*.c shim/runtime/config.c netdev/impair_parse.c
