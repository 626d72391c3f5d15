#!/usr/bin/env bash
# Start and exit: what synack adds to a short-lived program, kernel vs synack in one run.
#
#   bash bench/start.sh        # as root; about a minute with the defaults
#
# Builds the committed HEAD (release, BENCH_BUILD_DIR, like bench/run.sh, whose build and lab
# helpers it shares: bench/lib.sh), brings up two labs with examples/lab.sh (own prefixes, torn
# down on any exit):
#
#   kernel lab  PREFIX-k-a 10.77.0.1 (kernel TCP)   <-> PREFIX-k-b 10.77.0.2 (kernel TCP)
#   synack lab  PREFIX-s-a 10.77.0.1 (synack)       <-> PREFIX-s-b 10.77.0.2 (kernel TCP)
#
# serves a 10 KB file with `python3 -m http.server` in both b namespaces (port 8000 speaks
# HTTP/1.0, so the server closes first; port 8001 HTTP/1.1, so curl closes first and its side
# holds the TIME_WAIT: under synack the keeper takes it, shim/shared/keeper.h), and times, on
# side a, alternating kernel and synack BENCH_REPS times:
#
#   true       /bin/true                  vs  synack run -- /bin/true
#   curl-1.0   curl -s -o /dev/null URL   vs  synack run --strict -- curl ... (port 8000)
#   curl-1.1   the same against port 8001
#   curl-pre   curl-1.0, synack side under LD_PRELOAD=libsynack.so instead of `synack run` (the
#              program opens its own packet socket): what the wrapper itself costs
#
# Each run is timed inside its namespace, from just before the program starts to its exit
# (bash's $EPOCHREALTIME around the command: `ip netns exec` and the timer's own start are not in
# it), and must exit 0. Prints a Markdown table: median and min-max of each side in ms, the
# ratio synack/kernel of the medians and their difference. Nothing here is a test: the figures
# depend on the machine and on what else runs on it (docs/performance.md "Start and exit").
#
# Environment (all optional):
#   BENCH_REPS=10          runs of each program on each side
#   BENCH_BUILD_DIR=build-bench   release build directory (shared with bench/run.sh)
#   BENCH_SOURCE=head      head: the committed HEAD (or BENCH_COMMIT), from a snapshot;
#                          worktree: the working tree as it is
#   BENCH_COMMIT=HEAD      the commit to build (before/after comparisons: one BENCH_BUILD_DIR each)
#   BENCH_REUSE=0          1: keep BENCH_BUILD_DIR when its snapshot is already of that commit
#   BENCH_NICE=-20         niceness of every measured program, on both sides
#   BENCH_PREFIX=sks$$     lab prefix
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${BENCH_REPS:-10}
PREFIX=${BENCH_PREFIX:-sks$$}
ADDR_A=10.77.0.1
ADDR_B=10.77.0.2
IF_A=veth-sk
LAB_K=$PREFIX-k
LAB_S=$PREFIX-s

die() {
	echo "bench/start.sh: $*" >&2
	exit 1
}

# lab(), bench_build_settings(), bench_build(), bench_traps(), bench_stop()
. "$ROOT/bench/lib.sh"

[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces)"
bench_build_settings
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS='$REPS' is not a positive integer"
for c in ip meson ninja timeout awk curl python3; do
	command -v "$c" >/dev/null || die "'$c' not found (bash tests/setup.sh installs what is needed)"
done

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/synack-start.XXXXXX")
SERVERS=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	bench_stop "${SERVERS[@]}"
	lab "$LAB_K" down >/dev/null 2>&1 || true
	lab "$LAB_S" down >/dev/null 2>&1 || true
	rm -rf "$TMP"
	exit "$rc"
}
bench_traps cleanup

bench_build
TOOL=$BUILD/shim/synack
[[ -x $TOOL && -f $BUILD/shim/libsynack.so ]] || die "build produced no $TOOL or libsynack.so"

echo "== labs $LAB_K-a/b (kernel <-> kernel) and $LAB_S-a/b (synack <-> kernel)"
lab "$LAB_K" up || die "lab $LAB_K did not come up"
lab "$LAB_S" up || die "lab $LAB_S did not come up"
# The kernel lab's A side gets synack's address as a kernel address.
ip -n "$LAB_K-a" addr add "$ADDR_A/24" dev "$IF_A"

# The file, readable by the server whatever user it runs as.
mkdir -p "$TMP/www"
head -c 10240 /dev/urandom >"$TMP/www/10k"
chmod 711 "$TMP"
chmod 755 "$TMP/www"
chmod 644 "$TMP/www/10k"

# serve LAB PORT PROTOCOL: python3 -m http.server in LAB-b, bounded, until it answers.
serve() {
	local lab=$1 port=$2 proto=$3 i
	timeout -k 3 3600 ip netns exec "$lab-b" python3 -m http.server -b "$ADDR_B" -d "$TMP/www" \
		-p "$proto" "$port" >"$TMP/http-$lab-$port.log" 2>&1 &
	SERVERS+=("$!")
	for ((i = 0; i < 100; i++)); do
		timeout 3 ip netns exec "$lab-b" curl -sf --max-time 1 -o /dev/null \
			"http://$ADDR_B:$port/10k" && return 0
		sleep 0.1
	done
	die "the http.server on $lab-b port $port did not answer within 10 s: $(tail -n 3 "$TMP/http-$lab-$port.log")"
}
for lab in "$LAB_K" "$LAB_S"; do
	serve "$lab" 8000 HTTP/1.0
	serve "$lab" 8001 HTTP/1.1
done

# The command of benchmark ID on side kernel or synack (words, no quoting needed).
SYNACK_RUN=("$TOOL" run --iface "$IF_A" --addr "$ADDR_A/24")
SYNACK_PRELOAD=(LD_PRELOAD="$BUILD/shim/libsynack.so" SYNACK_IFACE="$IF_A"
	SYNACK_ADDR="$ADDR_A/24" SYNACK_STRICT=1)
command_of() { # command_of ID kernel|synack
	local id=$1 side=$2 url
	case $id in
	true) CMD=(/bin/true) ;;
	curl-1.0 | curl-pre) url=http://$ADDR_B:8000/10k ;;
	curl-1.1) url=http://$ADDR_B:8001/10k ;;
	*) die "no benchmark $id" ;;
	esac
	[[ $id == true ]] || CMD=(curl -s -o /dev/null --max-time 10 "$url")
	[[ $side == synack ]] || return 0
	case $id in
	true) CMD=("${SYNACK_RUN[@]}" -- "${CMD[@]}") ;;
	curl-pre) CMD=("${SYNACK_PRELOAD[@]}" "${CMD[@]}") ;;
	*) CMD=("${SYNACK_RUN[@]}" --strict -- "${CMD[@]}") ;;
	esac
}

# timed NS [NAME=VALUE...] CMD...: one run inside namespace NS, with those variables in its
# environment (set before the clock starts: no `env` exec is timed); prints its wall time in
# microseconds. Its stderr is shown only when it fails.
timed() {
	local ns=$1
	shift
	# shellcheck disable=SC2016 # the script is the inner bash's, expanded there
	timeout -k 3 30 ip netns exec "$ns" nice -n "$NICE" bash -c '
		err=$1
		shift
		while [[ $1 == [A-Z_]*=* ]]; do
			export "$1"
			shift
		done
		s=$EPOCHREALTIME
		"$@" >/dev/null 2>"$err" || { rc=$?; cat "$err" >&2; exit "$rc"; }
		e=$EPOCHREALTIME
		echo $(( ${e/[.,]/} - ${s/[.,]/} ))' timed "$TMP/last.err" "$@"
}

# One check run of each curl, outside the timing: the whole file, and through synack.
for side in kernel synack; do
	for port in 8000 8001; do
		if [[ $side == kernel ]]; then
			ns=$LAB_K-a pre=()
		else
			ns=$LAB_S-a pre=("${SYNACK_RUN[@]}" --strict --)
		fi
		got=$(timeout -k 3 30 ip netns exec "$ns" "${pre[@]}" curl -sS --max-time 10 -o /dev/null \
			-w '%{http_code} %{size_download}' "http://$ADDR_B:$port/10k") ||
			die "$side: curl to port $port failed"
		[[ $got == "200 10240" ]] || die "$side: curl to port $port got '$got', want '200 10240'"
	done
done

IDS=(true curl-1.0 curl-1.1 curl-pre)
echo "== $REPS runs of each, kernel and synack alternating (load average at start: $LOAD_START)"
for ((r = 1; r <= REPS; r++)); do
	for id in "${IDS[@]}"; do
		for side in kernel synack; do
			ns=$LAB_K-a
			[[ $side == kernel ]] || ns=$LAB_S-a
			command_of "$id" "$side"
			us=$(timed "$ns" "${CMD[@]}") || die "$id on $side: run $r failed"
			echo "$us" >>"$TMP/$id.$side"
		done
	done
	printf '.'
done
echo

# stats FILE: "median min max" in ms
stats() {
	sort -g "$1" | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.2f %.2f %.2f\n", m / 1000, v[1] / 1000, v[NR] / 1000 }'
}

declare -A WHAT=(
	[true]="/bin/true (synack run)"
	[curl-1.0]="curl 10 KB, HTTP/1.0: the server closes first"
	[curl-1.1]="curl 10 KB, HTTP/1.1: curl closes first (TIME_WAIT)"
	[curl-pre]="curl 10 KB, HTTP/1.0, LD_PRELOAD instead of synack run"
)
echo
echo "Build $COMMIT, $REPS runs each, load average $LOAD_START -> $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| program | kernel ms, median (min-max) | synack ms, median (min-max) | synack/kernel | difference ms |"
echo "| --- | ---: | ---: | ---: | ---: |"
for id in "${IDS[@]}"; do
	read -r km kmin kmax < <(stats "$TMP/$id.kernel")
	read -r sm smin smax < <(stats "$TMP/$id.synack")
	awk -v w="${WHAT[$id]}" -v km="$km" -v kmin="$kmin" -v kmax="$kmax" -v sm="$sm" \
		-v smin="$smin" -v smax="$smax" 'BEGIN {
		printf "| %s | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %.2f | %+.2f |\n",
			w, km, kmin, kmax, sm, smin, smax, (km > 0 ? sm / km : 0), sm - km }'
done
