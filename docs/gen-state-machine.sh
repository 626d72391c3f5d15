#!/bin/sh
# Regenerate docs/state-machine.dot and .svg from the code's transition table.
#   sh docs/gen-state-machine.sh [--check] [path/to/fsm_dot]
# --check: fail (exit 1) if the committed .dot differs from what the code
# generates, i.e. the diagram has drifted from core/tcp_fsm.c.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
gen=${1:-$here/../build/docs/fsm_dot}
[ -x "$gen" ] || { echo "gen-state-machine: $gen not built (meson compile -C build)" >&2; exit 2; }
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
"$gen" > "$tmp"
if [ $check = 1 ]; then
	if ! cmp -s "$tmp" "$here/state-machine.dot"; then
		echo "docs/state-machine.dot is out of date with core/tcp_fsm.c:" >&2
		diff -u "$here/state-machine.dot" "$tmp" >&2 || true
		echo "regenerate with: sh docs/gen-state-machine.sh" >&2
		exit 1
	fi
	echo "state-machine.dot matches core/tcp_fsm.c"
	exit 0
fi
cat "$tmp" > "$here/state-machine.dot"
dot -Tsvg "$here/state-machine.dot" > "$here/state-machine.svg"
echo "wrote docs/state-machine.dot and docs/state-machine.svg"
