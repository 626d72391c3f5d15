#!/usr/bin/env bash
# Where the time goes: the same tcp_bench client on the kernel and under synack, counted with
# perf (software events and syscall tracepoints: no hardware counters are needed) and sampled
# with perf record for the synack cases.
#
#   bash bench/profile.sh
#
# Same labs as bench/run.sh (kernel<->kernel and synack<->kernel, cubic, MTU 1500, nice -20);
# the client is the program measured (side a), the server is the kernel on side b. Prints a
# Markdown report and writes it to bench/results/<UTC date and time>-profile.md.
# Figures under perf are slower than bench/run.sh's: use them for ratios (syscalls per MiB,
# CPU time per MiB or per transaction, where the samples fall), not as throughput.
#
# Environment: BENCH_BUILD_DIR (default build-bench), BENCH_SECONDS (default 2),
# BENCH_PREFIX (default skp$$), BENCH_OUT.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SECS=${BENCH_SECONDS:-2}
BUILD=${BENCH_BUILD_DIR:-build-bench}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
PREFIX=${BENCH_PREFIX:-skp$$}
STAMP=$(date -u +%Y-%m-%dT%H%MZ)
OUT=${BENCH_OUT:-$ROOT/bench/results/$STAMP-profile.md}
BIN=$BUILD/bench/tcp_bench
LIB=$BUILD/shim/libsynack.so
LAB_K=$PREFIX-k
LAB_S=$PREFIX-s
IF_A=veth-sk
IF_B=veth-peer
MTU=1500

die() {
	echo "bench/profile.sh: $*" >&2
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root"
[[ $SECS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BENCH_SECONDS='$SECS' is not a number of seconds"
command -v perf >/dev/null || die "perf not found (apt-get install linux-perf)"
perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1 ||
	die "perf cannot read syscall tracepoints here (perf_event_paranoid, tracefs?)"
[[ -x $BIN && -f $LIB ]] || die "build first: BENCH_BUILD_DIR=${BUILD#"$ROOT"/} bash bench/run.sh (or meson compile)"

# What the build holds: run.sh leaves the commit of its HEAD snapshot beside it.
if [[ -f $BUILD.src/.bench-commit ]]; then
	BUILT="at commit $(cat "$BUILD.src/.bench-commit") (run.sh's HEAD snapshot)"
else
	BUILT="from the working tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown) (+ edits)"
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/synack-profile.XXXXXX")
# lab(), bench_traps()
. "$ROOT/bench/lib.sh"
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	lab "$LAB_K" down >/dev/null 2>&1 || true
	lab "$LAB_S" down >/dev/null 2>&1 || true
	rm -rf "$TMP"
	exit "$rc"
}
bench_traps cleanup

lab "$LAB_K" up || die "lab $LAB_K did not come up"
lab "$LAB_S" up || die "lab $LAB_S did not come up"
ip -n "$LAB_K-a" addr add 10.77.0.1/24 dev "$IF_A"
ip -n "$LAB_K-a" route replace 10.77.0.0/24 dev "$IF_A" proto kernel scope link src 10.77.0.1 \
	congctl lock cubic
for ns in "$LAB_K-a:$IF_A" "$LAB_K-b:$IF_B" "$LAB_S-a:$IF_A" "$LAB_S-b:$IF_B"; do
	ip -n "${ns%%:*}" link set dev "${ns#*:}" mtu "$MTU"
done

EVENTS=task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_sendto
EVENTS+=,syscalls:sys_enter_recvfrom,syscalls:sys_enter_recvmmsg,syscalls:sys_enter_ppoll
EVENTS+=,syscalls:sys_enter_write,syscalls:sys_enter_read,syscalls:sys_enter_epoll_wait
EVENTS+=,syscalls:sys_enter_futex,syscalls:sys_enter_sendmmsg

PORT=7000
# measure LAB TAG PERF-ARGS -- CLIENT-ARGS: one client run under perf (stat or record) against a
# kernel server on side b. Leaves the client's result line in $TMP/TAG.result.
measure() {
	local lab=$1 tag=$2 perf_args=() pre=() spid i
	shift 2
	while [[ $1 != -- ]]; do
		perf_args+=("$1")
		shift
	done
	shift
	PORT=$((PORT + 1))
	timeout -k 3 60 ip netns exec "$lab-b" nice -n -20 "$BIN" server -p "$PORT" -c 1 -T 55 \
		>"$TMP/$tag.server" 2>&1 &
	spid=$!
	for ((i = 0; i < 100; i++)); do
		grep -q listening "$TMP/$tag.server" && break
		sleep 0.05
	done
	[[ $lab == "$LAB_S" ]] && pre=(env LD_PRELOAD="$LIB" SYNACK_IFACE="$IF_A" SYNACK_ADDR=10.77.0.1/24
		SYNACK_MTU="$MTU" SYNACK_STRICT=1)
	timeout -k 3 60 ip netns exec "$lab-a" nice -n -20 perf "${perf_args[@]}" -- "${pre[@]}" "$BIN" \
		client -H 10.77.0.2 -p "$PORT" -T 50 "$@" >"$TMP/$tag.result" 2>"$TMP/$tag.err" ||
		{ cat "$TMP/$tag.err" >&2; die "$tag: client failed"; }
	timeout 10 tail --pid="$spid" -f /dev/null 2>/dev/null || kill -KILL "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
}

ev() { # ev TAG EVENT -> count
	awk -F, -v e="$2" '$3 == e { print $1 + 0 }' "$TMP/$1.stat"
}

kv() { # kv TAG KEY -> value from the result line
	tr ' ' '\n' <"$TMP/$1.result" | awk -F= -v k="$2" '$1 == k { print $2 }'
}

CASES=(
	"stream-up|stream, client sends 64 KiB writes|MiB|-m stream -r up -s 64K -d $SECS"
	"stream-down|stream, client receives 64 KiB reads|MiB|-m stream -r down -s 64K -d $SECS"
	"rr|rr 1 B|transaction|-m rr -s 1 -d $SECS"
)
ROWS=()
for c in "${CASES[@]}"; do
	IFS='|' read -r id label unit args <<<"$c"
	for side in kernel synack; do
		lab_name=$LAB_K
		[[ $side == synack ]] && lab_name=$LAB_S
		tag=$id-$side
		echo "== $tag (perf stat)"
		# shellcheck disable=SC2086
		measure "$lab_name" "$tag" stat -x, -o "$TMP/$tag.stat" -e "$EVENTS" -- $args
		echo "   $(cat "$TMP/$tag.result")"
		if [[ $unit == MiB ]]; then
			per=$(awk -v b="$(kv "$tag" bytes)" 'BEGIN { print b / 1048576 }')
		else
			per=$(kv "$tag" count)
		fi
		ROWS+=("$(awk -v l="$label" -v s="$side" -v u="$unit" -v per="$per" \
			-v cpu="$(ev "$tag" task-clock)" -v cs="$(ev "$tag" context-switches)" \
			-v sc="$(ev "$tag" raw_syscalls:sys_enter)" -v st="$(ev "$tag" syscalls:sys_enter_sendto)" \
			-v sm="$(ev "$tag" syscalls:sys_enter_sendmmsg)" \
			-v rf="$(ev "$tag" syscalls:sys_enter_recvfrom)" -v rm="$(ev "$tag" syscalls:sys_enter_recvmmsg)" \
			-v pp="$(ev "$tag" syscalls:sys_enter_ppoll)" -v wr="$(ev "$tag" syscalls:sys_enter_write)" \
			-v rd="$(ev "$tag" syscalls:sys_enter_read)" -v ew="$(ev "$tag" syscalls:sys_enter_epoll_wait)" \
			-v fx="$(ev "$tag" syscalls:sys_enter_futex)" 'BEGIN {
			printf "| %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |",
				l, s, cpu * 1000 / per, sc / per, st / per, sm / per, rf / per, rm / per, pp / per,
				(wr + rd) / per, ew / per, fx / per, cs / per }')")
	done
	ROWS+=("| | | per $unit ↑ | | | | | | | | | | |")
done

# Where synack's CPU time goes (all threads, user and kernel), sender and receiver.
PROFILES=()
for c in "stream-up|-m stream -r up -s 64K -d $SECS" "stream-down|-m stream -r down -s 64K -d $SECS"; do
	id=${c%%|*}
	args=${c#*|}
	tag=$id-record
	echo "== $id under synack (perf record)"
	# shellcheck disable=SC2086
	measure "$LAB_S" "$tag" record -e cpu-clock -F 1999 -g -o "$TMP/$tag.data" -- $args
	perf report -i "$TMP/$tag.data" --stdio --no-children --sort dso,sym 2>/dev/null |
		grep -E '^ +[0-9]+\.[0-9]+%' | head -20 >"$TMP/$tag.top" || true
	[[ -s $TMP/$tag.top ]] || echo "(perf report gave no samples: $(perf report -i "$TMP/$tag.data" --stdio 2>&1 | grep -v '^#' | grep -m1 .))" >"$TMP/$tag.top"
	PROFILES+=("$id")
done

{
	echo "# Where the time goes — $STAMP"
	echo
	echo "Produced by \`bash bench/profile.sh\` (see docs/performance.md): tcp_bench client on"
	echo "the kernel and under synack against a kernel server, $SECS s each, under perf. The client"
	echo "process with all its threads (synack's runtime thread included) is counted. Under synack"
	echo "the application's send()/recv() never reach the kernel, so sendmmsg is a batch of"
	echo "AF_PACKET frames (sendto one frame, before batching), recvmmsg a batch of received"
	echo "frames, ppoll a blocking wait, write/read an eventfd wake-up, epoll_wait the runtime"
	echo "thread's libev loop. On the kernel sendto/recvfrom are the"
	echo "application's own calls."
	echo
	echo "| benchmark | stack | CPU µs | syscalls | sendto | sendmmsg | recvfrom | recvmmsg | ppoll | read+write | epoll_wait | futex | ctx switches |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	printf '%s\n' "${ROWS[@]}"
	echo
	echo "Result lines under perf stat:"
	echo
	echo '```'
	for c in "${CASES[@]}"; do
		for side in kernel synack; do
			echo "${c%%|*} $side: $(cat "$TMP/${c%%|*}-$side.result")"
		done
	done
	echo '```'
	for id in "${PROFILES[@]}"; do
		echo
		echo "## synack, $id: top of \`perf report --no-children --sort dso,sym\` (cpu-clock samples)"
		echo
		echo "($(cat "$TMP/$id-record.result"))"
		echo
		echo '```'
		cat "$TMP/$id-record.top"
		echo '```'
	done
	echo
	echo "Machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg); synack $BUILT."
} >"$OUT"
echo
cat "$OUT"
echo "written to ${OUT#"$ROOT"/}"
