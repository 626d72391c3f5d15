#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang, apart from meson (the normal build is gcc's).
#
#   bash tests/fuzz/build.sh [fuzz|coverage] [OUTDIR]
#
# fuzz (default, into build-fuzz/): -fsanitize=fuzzer,address,undefined, every UBSan finding
# fatal. coverage (into build-fuzz-cov/): -fsanitize=fuzzer with clang source-based coverage
# (-fprofile-instr-generate -fcoverage-mapping), for tests/fuzz/coverage.sh.
# core/ is pure (docs/architecture.md), so each harness is its own .c file plus core's sources
# (and the two configuration parsers, shim/runtime/config.c and netdev/impair_parse.c, which need
# nothing else). Quiet unless something fails; prints the harness names built.
set -euo pipefail

cd "$(dirname "$0")/../.."
MODE=${1:-fuzz}
case $MODE in
fuzz)
	OUT=${2:-build-fuzz}
	FLAGS=(-O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
		-fno-omit-frame-pointer)
	;;
coverage)
	OUT=${2:-build-fuzz-cov}
	FLAGS=(-O1 -g -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping)
	;;
*)
	echo "usage: build.sh [fuzz|coverage] [OUTDIR]" >&2
	exit 2
	;;
esac
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "build.sh: $CC not found (apt-get install clang)" >&2; exit 1; }
CFLAGS=(-std=c11 -D_GNU_SOURCE -fno-strict-aliasing -Wall -Wextra -Werror -Wno-unused-parameter)

# core's sources as meson lists them (core/meson.build is the one list).
mapfile -t CORE < <(sed -n "/^core_sources = files(/,/^)/p" core/meson.build |
	grep -oE "'[a-z0-9_]+\.c'" | tr -d "'" | sed 's@^@core/@')
((${#CORE[@]} > 10)) || { echo "build.sh: could not read core/meson.build's sources" >&2; exit 1; }

mkdir -p "$OUT/obj"
LOG=$OUT/build.log
: >"$LOG"

# Objects shared by the harnesses, compiled once per mode.
compile() { # compile SRC -> prints the object's path
	local src=$1 obj=$OUT/obj/$(echo "$1" | tr / _).o
	if [[ ! -f $obj || $src -nt $obj || $0 -nt $obj || core/meson.build -nt $obj ]] ||
		[[ -n $(find core tests/fuzz shim netdev -name '*.h' -newer "$obj" -print -quit) ]]; then
		"$CC" "${CFLAGS[@]}" "${FLAGS[@]}" -c "$src" -o "$obj" >>"$LOG" 2>&1 ||
			{ echo "build.sh: compiling $src failed" >&2; tail -n 30 "$LOG" >&2; exit 1; }
	fi
	echo "$obj"
}

core_objs=()
for f in "${CORE[@]}"; do core_objs+=("$(compile "$f")"); done
world_obj=$(compile tests/fuzz/world.c)

link() { # link NAME OBJ...
	local name=$1
	shift
	"$CC" "${FLAGS[@]}" -o "$OUT/$name" "$@" >>"$LOG" 2>&1 ||
		{ echo "build.sh: linking $name failed" >&2; tail -n 30 "$LOG" >&2; exit 1; }
	echo "$name"
}

link fuzz_input "$(compile tests/fuzz/fuzz_input.c)" "$world_obj" "${core_objs[@]}"
link fuzz_icmp "$(compile tests/fuzz/fuzz_icmp.c)" "$world_obj" "${core_objs[@]}"
link fuzz_tcp_options "$(compile tests/fuzz/fuzz_tcp_options.c)" "${core_objs[@]}"
link fuzz_ipv4 "$(compile tests/fuzz/fuzz_ipv4.c)" "${core_objs[@]}"
link fuzz_arp "$(compile tests/fuzz/fuzz_arp.c)" "${core_objs[@]}"
link fuzz_config "$(compile tests/fuzz/fuzz_config.c)" "$(compile shim/runtime/config.c)" \
	"$(compile netdev/impair_parse.c)" "${core_objs[@]}"
link fuzz_impair "$(compile tests/fuzz/fuzz_impair.c)" "$(compile netdev/impair_parse.c)"
