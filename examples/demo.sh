#!/usr/bin/env bash
# The synack demo (README command 1): an unmodified curl downloads a file from a kernel web
# server, every segment carried by synack's own TCP/IP stack.
#
#   bash examples/demo.sh
#
# Installs what is missing and builds (tests/setup.sh), brings the lab up (examples/lab.sh),
# serves a random file with python3 -m http.server (HTTP/1.1) from the kernel peer in sk-b,
# runs curl under synack in sk-a, and prints both SHA-256 sums, MATCH, and the connection's
# state timeline from synack's trace. Exits non-zero if any of that is not as expected.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE=${SYNACK_DEMO_BYTES:-4194304}
NS_A=sk-a
NS_B=sk-b
LIB=$ROOT/build/shim/libsynack.so
TOOL=$ROOT/build/shim/synack
WORK=$(mktemp -d "${TMPDIR:-/tmp}/synack-demo.XXXXXX")
SERVER=""
LAB_WAS_UP=0

cleanup() {
	trap - EXIT INT TERM HUP
	if [[ -n $SERVER ]]; then
		kill -TERM "$SERVER" 2>/dev/null || true
		timeout 2 tail --pid="$SERVER" -f /dev/null 2>/dev/null || kill -KILL "$SERVER" 2>/dev/null || true
	fi
	# Leave the lab as we found it: down again unless it was up before the demo.
	((LAB_WAS_UP)) || SYNACK_LAB_QUIET=1 bash "$ROOT/examples/lab.sh" down >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

step() { printf '\n== %s\n' "$*"; }
die() {
	echo "demo: $*" >&2
	exit 1
}

step "Installing what is missing and building (tests/setup.sh)"
timeout 1800 bash tests/setup.sh || die "set-up failed (see above)"
echo "built $LIB"

step "Lab: $NS_A (synack, 10.77.0.1) <-> $NS_B (kernel, 10.77.0.2)"
unset SYNACK_LAB_PREFIX SYNACK_LAB_NS_A SYNACK_LAB_NS_B SYNACK_LAB_IFACE SYNACK_LAB_PEER_IFACE \
	SYNACK_LAB_ADDR SYNACK_LAB_PEER_ADDR
bash examples/lab.sh status >/dev/null 2>&1 && LAB_WAS_UP=1
# The peer ACKs at once, so our FIN's ACK and the peer's FIN travel apart and the timeline shows
# FIN_WAIT_2 (see examples/lab.sh).
SYNACK_LAB_PEER_QUICKACK=1 SYNACK_LAB_QUIET=1 timeout 60 bash examples/lab.sh up
bash examples/lab.sh status | sed 's/^/  /'

step "Kernel peer in $NS_B: python3 -m http.server (HTTP/1.1) serving a random file"
mkdir -p "$WORK/srv"
FILE=demo-$RANDOM$RANDOM.bin
head -c "$SIZE" /dev/urandom >"$WORK/srv/$FILE"
PORT=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
	p=$((20000 + RANDOM % 10000))
	if [[ -z $(ip netns exec "$NS_B" ss -Hltn "sport = :$p") ]]; then
		PORT=$p
		break
	fi
done
[[ -n $PORT ]] || die "no free port found in $NS_B"
ip netns exec "$NS_B" /usr/bin/python3 -m http.server -b 10.77.0.2 -d "$WORK/srv" -p HTTP/1.1 \
	"$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
for ((i = 0; i < 100; i++)); do
	[[ -n $(ip netns exec "$NS_B" ss -Hltn "sport = :$PORT") ]] && break
	kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log" >&2; die "the web server did not start"; }
	sleep 0.1
done
echo "serving http://10.77.0.2:$PORT/$FILE ($SIZE bytes)"

step "curl in $NS_A, under synack"
# A short MSL (TIME_WAIT lasts 2·MSL = 400 ms) and an exit linger longer than that, so the
# connection reaches CLOSED before curl exits and the whole timeline is in the trace.
export SYNACK_MSL_MS=200 SYNACK_LINGER_MS=2000
URL=http://10.77.0.2:$PORT/$FILE
if [[ -x $TOOL ]]; then
	cmd=(ip netns exec "$NS_A" "$TOOL" run --iface veth-sk --addr 10.77.0.1/24 --trace -- curl -sS
		-o "$WORK/out.bin" "$URL")
else
	# Before `synack run` existed: the same through the environment.
	cmd=(ip netns exec "$NS_A" env LD_PRELOAD="$LIB" SYNACK_IFACE=veth-sk SYNACK_ADDR=10.77.0.1/24
		SYNACK_TRACE=states curl -sS -o "$WORK/out.bin" "$URL")
fi
echo "\$ SYNACK_MSL_MS=200 SYNACK_LINGER_MS=2000 ${cmd[*]/#$WORK\//}"
rc=0
timeout -k 5 60 "${cmd[@]}" 2>"$WORK/curl.err" || rc=$?
grep -v '^synack: trace ' "$WORK/curl.err" >&2 || true
((rc == 0)) || die "curl under synack failed (exit $rc$( ((rc == 124)) && echo ': timed out'))"

step "SHA-256"
want=$(sha256sum "$WORK/srv/$FILE" | cut -d' ' -f1)
got=$(sha256sum "$WORK/out.bin" | cut -d' ' -f1)
echo "served     $want"
echo "downloaded $got"
if [[ $want == "$got" ]]; then
	echo "MATCH"
else
	echo "MISMATCH"
	die "the downloaded file differs from the served one"
fi

step "State timeline of curl's connection (SYNACK_TRACE=states)"
timeline=$(bash examples/trace-timeline.sh --port "$PORT" --detail <"$WORK/curl.err")
[[ -n $timeline ]] || die "synack printed no trace lines"
echo "$timeline"
expected="SYN_SENT -> ESTABLISHED (MSS 1460) -> FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> CLOSED"
first=$(head -n1 <<<"$timeline")
if [[ ${first#*  } != "$expected" ]]; then
	echo
	die "the timeline is not the expected one: $expected"
fi
