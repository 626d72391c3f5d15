# Shared harness of the lab integration tests (tests/lab/NN-name.sh). Source it first:
#
#   . "$(dirname "$0")/lib.sh"
#   lab_up
#   ... run programs with synack_exec / peer_exec, report with pass / fail ...
#   lab_finish
#
# Every test gets its own lab (namespaces ${SYNACK_LAB_BASE:-sklab$$}-NN-a/-b), so tests never
# disturb each other nor a lab someone is using by hand. Everything the test starts is recorded
# and killed, the lab torn down and the scratch directory removed on any exit (success, failure,
# timeout's SIGTERM, ^C). Each step has its own time bound; scripts/test.sh bounds the whole.
#
# Result lines, counted by scripts/test.sh:  "PASS <test>: <case>" / "FAIL <test>: <case>: why".
#
# LAB_KERNEL_ONLY=1 (by hand only, to check the harness itself): veth-sk gets the kernel
# address 10.77.0.1/24 and synack_exec runs programs WITHOUT synack, so the data-transfer tests
# exercise the harness against kernel TCP on both sides. Tests that check synack's own output
# (trace, configuration errors) fail in that mode, as they must. scripts/test.sh never sets it.
set -euo pipefail

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_BUILD=${SYNACK_BUILD_DIR:-$LAB_ROOT/build}
[[ $LAB_BUILD == /* ]] || LAB_BUILD=$LAB_ROOT/$LAB_BUILD
LAB_LIB=$LAB_BUILD/shim/libsynack.so
LAB_TOOL=$LAB_BUILD/shim/synack
LAB_TEST=$(basename "$0" .sh)
LAB_PY=/usr/bin/python3

export SYNACK_LAB_PREFIX=${SYNACK_LAB_BASE:-sklab$$}-${LAB_TEST%%-*}
export SYNACK_LAB_QUIET=1
unset SYNACK_LAB_NS_A SYNACK_LAB_NS_B SYNACK_LAB_IFACE SYNACK_LAB_PEER_IFACE SYNACK_LAB_ADDR \
	SYNACK_LAB_PEER_ADDR
NS_A=$SYNACK_LAB_PREFIX-a
NS_B=$SYNACK_LAB_PREFIX-b
IF_A=veth-sk
ADDR_A=10.77.0.1
ADDR_B=10.77.0.2
# Nothing from the caller's environment leaks into the programs under test.
unset LD_PRELOAD SYNACK_IFACE SYNACK_ADDR SYNACK_GATEWAY SYNACK_MTU SYNACK_MSL_MS \
	SYNACK_FIN_TIMEOUT_MS SYNACK_SYN_RETRIES SYNACK_LINGER_MS SYNACK_LOG SYNACK_TRACE SYNACK_PCAP \
	SYNACK_IMPAIR SYNACK_STRICT SYNACK_PACKET_FD

LAB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/synack-$LAB_TEST.XXXXXX")
LAB_PIDS=()
LAB_PASSED=0
LAB_FAILED=0

lab_cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM HUP
	for pid in "${LAB_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${LAB_PIDS[@]}"; do
		timeout 2 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	done
	# lab.sh down also kills anything still running inside the two namespaces.
	bash "$LAB_ROOT/scripts/lab.sh" down >/dev/null 2>&1 || true
	rm -rf "$LAB_TMP"
	exit "$rc"
}
trap lab_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

pass() {
	echo "PASS $LAB_TEST: $1"
	LAB_PASSED=$((LAB_PASSED + 1))
}

fail() {
	echo "FAIL $LAB_TEST: $1: $2"
	LAB_FAILED=$((LAB_FAILED + 1))
}

# Show a file's content indented (diagnostics after a failure), at most 30 lines.
show() {
	local f=$1
	[[ -s $f ]] || return 0
	echo "  --- ${f##*/} ---"
	head -n 30 "$f" | sed 's/^/  | /'
}

lab_finish() {
	if ((LAB_PASSED + LAB_FAILED == 0)); then
		echo "FAIL $LAB_TEST: ran no check"
		exit 1
	fi
	((LAB_FAILED == 0))
}

lab_up() {
	bash "$LAB_ROOT/scripts/lab.sh" up
	if [[ ${LAB_KERNEL_ONLY:-0} == 1 ]]; then
		ip -n "$NS_A" addr add "$ADDR_A/24" dev "$IF_A"
		echo "# LAB_KERNEL_ONLY=1: $NS_A/$IF_A has kernel address $ADDR_A; programs run WITHOUT synack"
	elif [[ ! -f $LAB_LIB ]]; then
		echo "# $LAB_LIB is missing: build first (bash scripts/setup.sh)"
	fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A random file of N bytes.
make_file() { head -c "$2" /dev/urandom >"$1"; }

# Run a command in the kernel peer's namespace.
peer_exec() { ip netns exec "$NS_B" "$@"; }

# Run a command in the synack namespace under synack, in strict mode (no silent fallback to
# the kernel). Extra SYNACK_* settings are taken from the environment of the call, e.g.
#   SYNACK_TRACE=states synack_exec curl ...
# Bounded by LAB_TIMEOUT seconds (default 30; then SIGTERM, SIGKILL 3 s later): exit 124 then.
# It goes through `synack run` (which opens the packet socket and checks that the preload took
# effect), or, when SYNACK_VIA_PRELOAD=1 or the tool is not built, plain LD_PRELOAD.
synack_exec() {
	local env=(SYNACK_STRICT=1)
	local v t=${LAB_TIMEOUT:-30}
	for v in SYNACK_MSL_MS SYNACK_LINGER_MS SYNACK_TRACE SYNACK_LOG SYNACK_PCAP SYNACK_FIN_TIMEOUT_MS \
		SYNACK_SYN_RETRIES; do
		[[ -z ${!v:-} ]] || env+=("$v=${!v}")
	done
	if [[ ${LAB_KERNEL_ONLY:-0} == 1 ]]; then
		timeout -k 3 "$t" ip netns exec "$NS_A" "$@"
	elif [[ ${SYNACK_VIA_PRELOAD:-0} != 1 && -x $LAB_TOOL ]]; then
		timeout -k 3 "$t" ip netns exec "$NS_A" env "${env[@]}" "$LAB_TOOL" run --iface "$IF_A" --addr "$ADDR_A/24" \
			--strict -- "$@"
	else
		timeout -k 3 "$t" ip netns exec "$NS_A" env "${env[@]}" LD_PRELOAD="$LAB_LIB" SYNACK_IFACE="$IF_A" \
			SYNACK_ADDR="$ADDR_A/24" "$@"
	fi
}

# Start a background process, remember it for cleanup; its pid is in LAB_LAST_PID.
# `ip netns exec` execs the program, so the pid is the program's own.
spawn() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
}

# Serve DIR with Debian's python3 http.server on the kernel peer (10.77.0.2:PORT) and wait
# (at most 10 s) until it listens. PROTO: HTTP/1.0 (the default: the server closes first) or
# HTTP/1.1 (the client closes first).
peer_http_server() {
	local dir=$1 port=$2 proto=${3:-HTTP/1.0} i
	spawn "$LAB_TMP/peer-http-$port.log" ip netns exec "$NS_B" "$LAB_PY" -m http.server \
		-b "$ADDR_B" -d "$dir" -p "$proto" "$port"
	for ((i = 0; i < 100; i++)); do
		if [[ -n $(ip netns exec "$NS_B" ss -Hltn "sport = :$port") ]]; then
			return 0
		fi
		kill -0 "$LAB_LAST_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# the peer's http.server on port $port did not start:"
	show "$LAB_TMP/peer-http-$port.log"
	return 1
}
