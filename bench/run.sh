#!/usr/bin/env bash
# Kernel vs synack, measured in one run: bench/tcp_bench over two identical veth labs.
#
#   bash bench/run.sh
#
# Builds a release copy (BENCH_BUILD_DIR, default build-bench), brings up two labs with
# examples/lab.sh (own prefixes, torn down on any exit):
#
#   kernel lab  PREFIX-k-a 10.77.0.1 (kernel TCP)   <-> PREFIX-k-b 10.77.0.2 (kernel TCP)
#   synack lab  PREFIX-s-a 10.77.0.1 (synack)       <-> PREFIX-s-b 10.77.0.2 (kernel TCP)
#
# and, for every benchmark, runs the same tcp_bench pair in both labs, interleaved (kernel,
# synack, kernel, synack...) so that whatever else the machine does falls on both alike. The
# program on the A side is the one that changes: on the kernel lab it runs on the kernel's TCP,
# on the synack lab under LD_PRELOAD=libsynack.so; the B side is the kernel in both. Pinned in
# every namespace: congestion control cubic (route "congctl lock cubic"), MTU 1500, the same write
# and message sizes, the same port scheme. Each figure is the median of BENCH_REPS repetitions.
#
# Prints a Markdown table (benchmark, kernel, synack, synack/kernel) and writes it, with the
# machine, settings and every individual run, to bench/results/<UTC date and time>.md, and
# plots the ratios next to it (<same name>.png, gnuplot; gnuplot-nox is installed if missing).
# Stream and rr rows come with the CPU time of the side under test (per MiB, per transaction);
# idle-c/idle-s measure the memory of BENCH_IDLE_CONNS idle connections (docs/performance.md).
# rr-bp-c/rr-bp-s: rr with SO_BUSY_POLL 50 us set by tcp_bench on side a's sockets (tcp_bench -B).
# nginx1-s and nginx2w-s: Debian's nginx on side a, one process, or a master and 2 worker
# processes, `ab -k -n BENCH_NGINX_REQUESTS -c 50` from side b, requests/s (a run with a failed
# request fails). redis-s: redis-server on side a, `redis-benchmark -n BENCH_REDIS_REQUESTS -c 50
# -t get,set` from side b, requests/s of each.
#
# Environment (all optional):
#   BENCH_REPS=7          repetitions per benchmark and side (median reported)
#   BENCH_SECONDS=2       duration of each stream and rr run
#   BENCH_CRR_COUNT=3000  at most this many connections per crr run (which also stops after
#                         BENCH_SECONDS): a synack server keeps its TIME_WAITs in its 4096-socket
#                         arena for 2*MSL = 60 s, stay well below that
#   BENCH_IDLE_CONNS=2000 connections held open by idle-c and idle-s (SYNACK_MAX_SOCKETS is
#                         raised for those runs when the default 4096 slots would not hold them)
#   BENCH_NGINX_REQUESTS=20000  requests of each nginx1-s and nginx2w-s run (ab -k, 50 at once)
#   BENCH_REDIS_REQUESTS=100000 requests of each command (GET, SET) of a redis-s run (50 at once)
#   BENCH_BUILD_DIR=build-bench   release build directory (relative to the repository)
#   BENCH_SOURCE=head     build the committed HEAD (snapshot in BENCH_BUILD_DIR.src, rebuilt from
#                         scratch each run), or "worktree": the working tree as it is
#   BENCH_COMMIT=HEAD     with BENCH_SOURCE=head: the commit to snapshot and build instead of HEAD
#                         (before/after comparisons: one BENCH_BUILD_DIR per commit). A commit
#                         older than bench/tcp_bench gets HEAD's tcp_bench.c, compiled alone (it
#                         is plain sockets, the same program on the kernel and under synack)
#   BENCH_REUSE=0         1: keep BENCH_BUILD_DIR when its snapshot is already of that commit
#                         (alternating runs of two builds without rebuilding each time)
#   BENCH_PREFIX=skb$$    lab prefix
#   BENCH_OUT=bench/results/<date>.md
#   BENCH_ONLY=REGEX      run only the benchmarks whose id matches (e.g. 'rr|crr')
#   BENCH_NICE=-20        niceness of every benchmark process (both sides, both labs): other work
#                         on the machine (builds, tests) then disturbs the runs much less
#   BENCH_PIN=0           1: pin side a to CPU 0 and side b to CPU 1 (taskset), like two hosts.
#                         Off by default: on a 2-CPU machine shared with other work, a pinned
#                         program cannot flee a busy CPU and every wake-up crosses CPUs; the
#                         kernel's rr p99 went from ~30 us to ~4 ms that way (docs/performance.md)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${BENCH_REPS:-7}
SECS=${BENCH_SECONDS:-2}
CRR_COUNT=${BENCH_CRR_COUNT:-3000}
IDLE_CONNS=${BENCH_IDLE_CONNS:-2000}
NGINX_REQUESTS=${BENCH_NGINX_REQUESTS:-20000}
REDIS_REQUESTS=${BENCH_REDIS_REQUESTS:-100000}
PREFIX=${BENCH_PREFIX:-skb$$}
STAMP=$(date -u +%Y-%m-%dT%H%MZ)
OUT=${BENCH_OUT:-$ROOT/bench/results/$STAMP.md}
ONLY=${BENCH_ONLY:-.}
PIN=${BENCH_PIN:-0}
MTU=1500
ADDR_A=10.77.0.1
ADDR_B=10.77.0.2
IF_A=veth-sk
IF_B=veth-peer
LAB_K=$PREFIX-k
LAB_S=$PREFIX-s

die() {
	echo "bench/run.sh: $*" >&2
	exit 1
}

# lab(), bench_build_settings(), bench_build(), bench_traps(), bench_stop()
. "$ROOT/bench/lib.sh"
bench_build_settings
BIN=$BUILD/bench/tcp_bench
LIB=$BUILD/shim/libsynack.so

[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces)"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS='$REPS' is not a positive integer"
[[ $CRR_COUNT =~ ^[1-9][0-9]*$ ]] || die "BENCH_CRR_COUNT='$CRR_COUNT' is not a positive integer"
[[ $IDLE_CONNS =~ ^[1-9][0-9]*$ && $IDLE_CONNS -ge 10 ]] ||
	die "BENCH_IDLE_CONNS='$IDLE_CONNS' is not an integer of at least 10"
[[ $NGINX_REQUESTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_NGINX_REQUESTS='$NGINX_REQUESTS' is not a positive integer"
[[ $REDIS_REQUESTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REDIS_REQUESTS='$REDIS_REQUESTS' is not a positive integer"
[[ $SECS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BENCH_SECONDS='$SECS' is not a number of seconds"
[[ $PIN == 0 || $PIN == 1 ]] || die "BENCH_PIN='$PIN' is not 0 or 1"
if [[ $PIN == 1 && $(nproc) -lt 2 ]]; then
	echo "bench/run.sh: one CPU only: not pinning" >&2
	PIN=0
fi
for c in ip meson ninja timeout awk ss taskset curl ab /usr/sbin/nginx redis-server redis-cli redis-benchmark; do
	command -v "$c" >/dev/null || die "'$c' not found (bash tests/setup.sh installs what is needed)"
done

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/synack-bench.XXXXXX")
PIDS=()

# track PID: a background program for cleanup to stop. Most are started inside $(...) (one_run,
# idle_run), a subshell whose PIDS the main shell never sees, hence the file as well.
track() {
	PIDS+=("$1")
	echo "$1" >>"$TMP/pids"
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM HUP
	# Only pids that are still one of our timeout-bounded tcp_bench commands (a pid of a program
	# that ended may have been reused by now).
	if [[ -f $TMP/pids ]]; then
		while read -r pid; do
			[[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$BIN" &&
				PIDS+=("$pid")
		done <"$TMP/pids"
	fi
	bench_stop "${PIDS[@]}"
	lab "$LAB_K" down >/dev/null 2>&1 || true
	lab "$LAB_S" down >/dev/null 2>&1 || true
	rm -rf "$TMP"
	exit "$rc"
}
bench_traps cleanup

# The plot: gnuplot, installed the way tests/setup.sh installs packages (once, only when
# missing). Without it the run goes on and the report says that there is no plot.
PLOT_NOTE=""
if ! command -v gnuplot >/dev/null; then
	echo "== installing gnuplot-nox (for the plot)"
	if ! { DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q --no-install-recommends \
			gnuplot-nox; } >"$TMP/apt.log" 2>&1; then
		tail -n 5 "$TMP/apt.log" >&2
		PLOT_NOTE="no plot: gnuplot-nox could not be installed"
		echo "bench/run.sh: $PLOT_NOTE; measuring anyway" >&2
	fi
fi

# --- build -------------------------------------------------------------------------------
bench_build
# A commit from before bench/tcp_bench, or with an older one that lacks what these benchmarks
# use (idle, -P, cpu_us, -B, p999_us): HEAD's tcp_bench.c, compiled alone, is the program.
BENCH_NOTE=""
BIN_USAGE=""
if [[ -x $BIN ]]; then
	BIN_USAGE=$("$BIN" 2>&1 || true)
fi
if [[ -f $LIB && ($BIN_USAGE != *'stream|rr|crr|idle'* || $BIN_USAGE != *'-B USEC'*) ]]; then
	BIN=$BUILD/tcp_bench-head
	git show HEAD:bench/tcp_bench.c >"$BUILD/tcp_bench-head.c" || die "no bench/tcp_bench.c at HEAD"
	timeout 120 cc -std=c11 -O2 -D_GNU_SOURCE -pthread -o "$BIN" "$BUILD/tcp_bench-head.c" >"$TMP/build.log" 2>&1 ||
		{ tail -n 30 "$TMP/build.log" >&2; die "tcp_bench (HEAD's source) failed to build"; }
	BENCH_NOTE=" (that commit has no bench/tcp_bench, or an older one: HEAD's $(git rev-parse --short HEAD) tcp_bench.c, compiled alone)"
	echo "   $COMMIT has no tcp_bench or an older one: using HEAD's tcp_bench.c"
fi
[[ -x $BIN && -f $LIB ]] || die "build produced no $BIN or $LIB"

# --- labs --------------------------------------------------------------------------------
echo "== labs $LAB_K-a/b (kernel <-> kernel) and $LAB_S-a/b (synack <-> kernel)"
lab "$LAB_K" up || die "lab $LAB_K did not come up"
lab "$LAB_S" up || die "lab $LAB_S did not come up"
# The kernel lab's A side gets synack's address as a kernel address, and the same cubic pin the
# peer has (lab.sh pins it on B only: the synack side has no kernel TCP).
ip -n "$LAB_K-a" addr add "$ADDR_A/24" dev "$IF_A"
ip -n "$LAB_K-a" route replace 10.77.0.0/24 dev "$IF_A" proto kernel scope link src "$ADDR_A" \
	congctl lock cubic
for ns in "$LAB_K-a:$IF_A" "$LAB_K-b:$IF_B" "$LAB_S-a:$IF_A" "$LAB_S-b:$IF_B"; do
	ip -n "${ns%%:*}" link set dev "${ns#*:}" mtu "$MTU"
done
for ns in "$LAB_K-a" "$LAB_K-b" "$LAB_S-b"; do
	ip -n "$ns" route show 10.77.0.0/24 | grep -q 'congctl lock cubic' ||
		die "route in $ns is not pinned to cubic"
done

SYNACK_ENV=(env LD_PRELOAD="$LIB" SYNACK_IFACE="$IF_A" SYNACK_ADDR="$ADDR_A/24" SYNACK_MTU="$MTU"
	SYNACK_STRICT=1)
# idle runs: enough socket slots for the idle connections, the listener and a margin
# (docs/configuration.md; the default is 4096).
IDLE_ENV=()
if ((IDLE_CONNS + 64 > 4096)); then
	IDLE_ENV=(SYNACK_MAX_SOCKETS=$((IDLE_CONNS + 64)))
fi
SYNACK_EXTRA=() # added to SYNACK_ENV by cmd_in (idle_run sets it to IDLE_ENV)

# cmd_in LAB SIDE TIMEOUT: sets CMD to the command prefix that runs a program on SIDE a (the side
# under test: kernel on the kernel lab, synack on the synack lab) or b (always the kernel) of
# LAB, bounded by timeout, at niceness NICE, pinned when PIN=1 (every thread of the program,
# synack's runtime thread included, inherits the CPU set). Run as "${CMD[@]}" PROGRAM ARGS so
# that a background job's $! is timeout's own pid: a TERM to it reaches the program. (A
# function run with & would leave $! to a subshell, and killing that orphans the program: a
# synack server left running on the interface answers the next server's SYNs with RSTs.)
cmd_in() {
	local lab=$1 side=$2 t=$3
	CMD=(timeout -k 3 "$t" ip netns exec "$lab-$side" nice -n "$NICE")
	if [[ $PIN == 1 ]]; then
		CMD+=(taskset -c 0)
		[[ $side == a ]] || CMD[-1]=1
	fi
	if [[ $side == a && $lab == "$LAB_S" ]]; then
		CMD+=("${SYNACK_ENV[@]}" "${SYNACK_EXTRA[@]}")
	fi
}

# Every run gets a port of its own (no TIME_WAIT of an earlier run on the same 4-tuples).
PORT=6000
# roles ROLE: sets SRV_SIDE, CLI_SIDE and DST. ROLE client: the client runs on side a (synack
# client vs kernel server); ROLE server: the server runs on side a (kernel client vs synack server).
roles() {
	if [[ $1 == client ]]; then
		SRV_SIDE=b CLI_SIDE=a DST=$ADDR_B
	else
		SRV_SIDE=a CLI_SIDE=b DST=$ADDR_A
	fi
}

# start_server LAB CONNS SERVER_ARGS...: a tcp_bench server on $SRV_SIDE of LAB, port $PORT,
# serving CONNS connections (0: until stopped). Sets SPID (timeout's pid, the one to signal and
# wait for), SERVER_PID (tcp_bench's own, from its "listening" line) and SLOG (its output).
start_server() {
	local lab=$1 conns=$2 i climit=()
	shift 2
	SLOG=$TMP/server-$PORT.log
	[[ $conns == 0 ]] || climit=(-c "$conns")
	cmd_in "$lab" "$SRV_SIDE" 60
	"${CMD[@]}" "$BIN" server -p "$PORT" "${climit[@]}" -T 55 "$@" >"$SLOG" 2>&1 &
	SPID=$!
	track "$SPID"
	for ((i = 0; i < 100; i++)); do
		grep -q listening "$SLOG" 2>/dev/null && break
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.05
	done
	grep -q listening "$SLOG" || { cat "$SLOG" >&2; die "server ($lab, side $SRV_SIDE) did not start"; }
	SERVER_PID=$(sed -n 's/.*listening.*(pid \([0-9]*\)).*/\1/p' "$SLOG")
}

# stop_server CONNS: waits for the server to end (CONNS 0: stops it first), at most 10 s.
stop_server() {
	[[ $1 != 0 ]] || kill -TERM "$SPID" 2>/dev/null || true
	timeout 10 tail --pid="$SPID" -f /dev/null 2>/dev/null || kill -KILL "$SPID" 2>/dev/null || true
	wait "$SPID" 2>/dev/null || true
}

# one_run LAB ROLE CONNS SERVER_ARGS CLIENT_ARGS... on port $PORT -> prints the client's
# "result ..." line, and srv_cpu_us= the server's CPU time for its connection when it served
# exactly one. CONNS: connections the server serves before it exits; 0: it is stopped once the
# client is done. SERVER_ARGS: one word (e.g. "-P 4"; "" for none).
one_run() {
	local lab=$1 role=$2 conns=$3 line srv_cpu srv_args
	read -ra srv_args <<<"$4"
	shift 4
	roles "$role"
	start_server "$lab" "$conns" "${srv_args[@]}"
	cmd_in "$lab" "$CLI_SIDE" 50
	if ! line=$("${CMD[@]}" "$BIN" client -H "$DST" -p "$PORT" -T 45 "$@" 2>"$TMP/client.err"); then
		kill -TERM "$SPID" 2>/dev/null || true
		wait "$SPID" 2>/dev/null || true
		echo "client failed ($lab, role $role, port $PORT: $*): $(tr '\n' ' ' <"$TMP/client.err")" >&2
		return 1
	fi
	stop_server "$conns"
	srv_cpu=$(awk '/^served / { n++; for (i = 2; i <= NF; i++) if ($i ~ /^cpu_us=/) c = substr($i, 8) }
		END { if (n == 1) printf " srv_cpu_us=%s", c }' "$SLOG")
	echo "$(grep '^result ' <<<"$line")$srv_cpu"
}

# Memory of idle connections. The slab caches are machine-wide, so each side's share is taken in
# a phase in which only that side allocates: the client's bind phase (its sockets), and the
# connect phase (the server's accepted sockets; a connect of a bound socket allocates nothing
# that lasts on the client: kernel or synack). Only the caches that grew by half an object to
# three objects per connection count: a connection makes one or two objects in each of its caches
# (a synack client: two sockets, two inodes...); other work on the machine mostly makes fewer, and
# a burst of more (seen: +12642 in a cache of rtable and skbuff extensions) is listed as skipped.
# (Slab merging gives caches other names than their users, see /sys/kernel/slab: here the bind
# buckets count as eventpoll_epi and AF_UNIX sockets as signal_cache.)
# One correction: something that walks /proc/PID/fd of every process (on this machine within a
# second; not run.sh) gives each open descriptor a procfs inode with a dentry and an LSM inode
# blob. That is the walker's memory, reclaimable, not the socket's: the procfs inodes are left
# out, and as many dentries and LSM inode blobs.

# slab_snap FILE: cache name, active objects, object size.
slab_snap() { awk 'NR > 2 { print $1, $2, $4 }' /proc/slabinfo >"$1"; }

# slab_delta BEFORE AFTER -> "BYTES CACHE:+OBJECTS,...[,procfs:-OBJECTS][,skipped:CACHE:+OBJECTS...]"
slab_delta() {
	awk -v min=$((IDLE_CONNS / 2)) -v max=$((IDLE_CONNS * 3)) 'NR == FNR { n[$1] = $2; next }
		{ d[$1] = $2 - n[$1]; sz[$1] = $3 }
		END {
			p = d["proc_inode_cache"] > 0 ? d["proc_inode_cache"] : 0
			d["proc_inode_cache"] = 0
			d["dentry"] -= p
			if ("lsm_inode_cache" in sz)
				d["lsm_inode_cache"] -= p
			for (c in sz)
				if (d[c] > max) sk = sk ",skipped:" c ":+" d[c]
				else if (d[c] >= min) { b += d[c] * sz[c]; l = l sep c ":+" d[c]; sep = "," }
			printf "%d %s%s%s\n", b, (l == "" ? "none" : l), (p >= min ? ",procfs:-" p : ""), sk
		}' "$1" "$2"
}

# mem_of PID -> "VmRSS_kB VmPTE_kB"
mem_of() { awk '/^VmRSS:/ { r = $2 } /^VmPTE:/ { p = $2 } END { print r + 0, p + 0 }' "/proc/$1/status"; }

# idle_run LAB ROLE -> a "result mode=idle ..." line with the memory per connection of side a.
# The client announces each phase (start, bound, holding) and waits for SIGUSR1; the slab
# caches and side a's process are read in between.
idle_run() {
	local lab=$1 role=$2 out=$TMP/idle-$PORT.out cpid pid apid phase i rc=0 line
	local own_b own_c peer_b peer_c rss0 pte0 rss1 pte1
	roles "$role"
	SYNACK_EXTRA=("${IDLE_ENV[@]}")
	start_server "$lab" 0
	cmd_in "$lab" "$CLI_SIDE" 50
	"${CMD[@]}" "$BIN" client -H "$DST" -p "$PORT" -T 45 -m idle -n "$IDLE_CONNS" -W \
		>"$out" 2>"$TMP/client.err" &
	cpid=$!
	track "$cpid"
	SYNACK_EXTRA=()
	for phase in start bound holding; do
		for ((i = 0; i < 800; i++)); do
			grep -q "^idle phase=$phase " "$out" 2>/dev/null && break
			kill -0 "$cpid" 2>/dev/null || break
			sleep 0.05
		done
		line=$(grep "^idle phase=$phase " "$out") || { rc=1; break; }
		pid=${line##* pid=}
		pid=${pid%% *}
		apid=$pid
		[[ $role == client ]] || apid=$SERVER_PID
		slab_snap "$TMP/slab.$phase"
		mem_of "$apid" >"$TMP/mem.$phase" 2>/dev/null || { rc=1; break; }
		kill -USR1 "$pid"
	done
	wait "$cpid" || rc=1
	stop_server 0
	if ((rc)) || ! line=$(grep '^result ' "$out"); then
		echo "idle client failed ($lab, role $role, port $PORT, phase $phase): $(cat "$out" "$TMP/client.err" | tr '\n' ' ')" >&2
		return 1
	fi
	# The bind phase is the client's, the connect phase the server's.
	read -r own_b own_c < <(slab_delta "$TMP/slab.start" "$TMP/slab.bound")
	read -r peer_b peer_c < <(slab_delta "$TMP/slab.bound" "$TMP/slab.holding")
	if [[ $role == server ]]; then
		read -r own_b own_c peer_b peer_c <<<"$peer_b $peer_c $own_b $own_c"
	fi
	read -r rss0 pte0 <"$TMP/mem.start"
	read -r rss1 pte1 <"$TMP/mem.holding"
	awk -v n="$IDLE_CONNS" -v r0="$rss0" -v r1="$rss1" -v p0="$pte0" -v p1="$pte1" \
		-v os="$own_b" -v oc="$own_c" -v ps="$peer_b" -v pc="$peer_c" -v l="$line" 'BEGIN {
		rss = (r1 - r0) * 1024 / n; pte = (p1 - p0) * 1024 / n
		printf "%s rss0_kb=%d rss_b=%.0f pte_b=%.0f proc_b=%.0f slab_b=%.0f total_b=%.0f", l, r0, rss, pte,
			rss + pte, os / n, rss + pte + os / n
		printf " peer_slab_b=%.0f caches=%s peer_caches=%s\n", ps / n, oc, pc }'
}

# The nginx configuration of the lab tests (nginx_conf, NGINX_WORKERS).
. "$ROOT/tests/lab/nginx-conf.sh"

# app_up PID PROBE...: wait (at most 15 s) until the command PROBE... succeeds (a server, started
# by "${CMD[@]}" in the background with pid PID, answers); 1 if it never does or PID ends first.
app_up() {
	local pid=$1 i
	shift
	for ((i = 0; i < 30; i++)); do
		"$@" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# app_stop PID: TERM to timeout (PID), which passes it on to the server; KILL after 10 s.
app_stop() {
	kill -TERM "$1" 2>/dev/null || true
	timeout 10 tail --pid="$1" -f /dev/null 2>/dev/null || kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# nginx_run LAB WORKERS -> a "result mode=nginx rps=..." line: nginx on side a of LAB (port
# $PORT), `ab -k -c 50` from side b for a 4096-byte file. WORKERS 1: one process
# (master_process off); N > 1: a master and N worker processes, which run as nobody (nginx's
# default): the files are readable by everyone.
nginx_run() {
	local lab=$1 workers=$2 dir=$TMP/nginx-$PORT pid rc out rps complete failed nw=""
	out=$dir/ab.out
	mkdir -p "$TMP/www"
	[[ -f $TMP/www/small.bin ]] || head -c 4096 /dev/urandom >"$TMP/www/small.bin"
	chmod 711 "$TMP"
	chmod 755 "$TMP/www"
	chmod 644 "$TMP/www/small.bin"
	# nginx_conf: NGINX_WORKERS empty, one process.
	((workers == 1)) || nw=$workers
	NGINX_WORKERS=$nw nginx_conf "$dir" "$ADDR_A" "$TMP/www" 1024 "$ADDR_A:$PORT"
	cmd_in "$lab" a 120
	"${CMD[@]}" /usr/sbin/nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stderr" 2>&1 &
	pid=$!
	track "$pid"
	rc=0
	app_up "$pid" timeout 3 ip netns exec "$lab-b" curl -sf --max-time 0.4 -o /dev/null \
		"http://$ADDR_A:$PORT/small.bin" || rc=1
	if ((rc == 0)); then
		cmd_in "$lab" b 100
		"${CMD[@]}" ab -q -k -s 20 -n "$NGINX_REQUESTS" -c 50 "http://$ADDR_A:$PORT/small.bin" >"$out" 2>&1 || rc=$?
	else
		echo "nginx did not answer within 15 s" >"$out"
	fi
	app_stop "$pid" # the master stops its workers
	rps=$(sed -nE 's/^Requests per second: +([0-9.]+).*/\1/p' "$out")
	complete=$(sed -nE 's/^Complete requests: +([0-9]+)$/\1/p' "$out")
	failed=$(sed -nE 's/^Failed requests: +([0-9]+)$/\1/p' "$out")
	if ((rc != 0)) || [[ -z $rps || $complete != "$NGINX_REQUESTS" || $failed != 0 ]] ||
		grep -q '^Non-2xx' "$out"; then
		echo "nginx run failed ($lab, port $PORT): exit $rc, complete=${complete:-?} failed=${failed:-?}; $(tail -n 1 "$out" | tr '\n' ' ')$(grep -m 3 -E 'alert|emerg|crit|synack' "$dir/error.log" 2>/dev/null | tr '\n' ' ')" >&2
		return 1
	fi
	echo "result mode=nginx rps=$rps requests=$complete"
}

# redis_pong LAB: whether the redis-server on side a of LAB (port $PORT) answers PING.
redis_pong() { [[ $(timeout 3 ip netns exec "$1-b" redis-cli -h "$ADDR_A" -p "$PORT" ping 2>/dev/null) == PONG ]]; }

# redis_run LAB -> a "result mode=redis get_rps=... set_rps=..." line: redis-server (no
# persistence) on side a of LAB (port $PORT), `redis-benchmark -n $REDIS_REQUESTS -c 50 -t get,set`
# from side b. A run fails unless both commands report a rate and the server counted at least
# every request of both.
redis_run() {
	local lab=$1 dir=$TMP/redis-$PORT pid rc out get_rps set_rps processed
	out=$dir/bench.csv
	mkdir -p "$dir"
	cmd_in "$lab" a 120
	"${CMD[@]}" redis-server --bind "$ADDR_A" --port "$PORT" --save '' --appendonly no \
		--protected-mode no --daemonize no --logfile '' --dir "$dir" >"$dir/stderr" 2>&1 &
	pid=$!
	track "$pid"
	rc=0
	app_up "$pid" redis_pong "$lab" || rc=1
	if ((rc == 0)); then
		cmd_in "$lab" b 100
		"${CMD[@]}" redis-benchmark -h "$ADDR_A" -p "$PORT" -n "$REDIS_REQUESTS" -c 50 -t get,set --csv \
			>"$out" 2>"$dir/bench.err" || rc=$?
		processed=$(timeout 5 ip netns exec "$lab-b" redis-cli -h "$ADDR_A" -p "$PORT" INFO stats 2>/dev/null |
			sed -nE 's/^total_commands_processed:([0-9]+)\r?$/\1/p')
	else
		echo "redis-server did not answer PING within 15 s" >"$dir/bench.err"
	fi
	app_stop "$pid"
	get_rps=$(sed -nE 's/^"GET","([0-9.]+)".*/\1/p' "$out" 2>/dev/null)
	set_rps=$(sed -nE 's/^"SET","([0-9.]+)".*/\1/p' "$out" 2>/dev/null)
	if ((rc != 0)) || [[ -z $get_rps || -z $set_rps ]] || ((${processed:-0} < 2 * REDIS_REQUESTS)); then
		echo "redis run failed ($lab, port $PORT): exit $rc, GET ${get_rps:-?} SET ${set_rps:-?} requests/s, ${processed:-?} commands processed (want >= $((2 * REDIS_REQUESTS))); $(tail -n 2 "$dir/bench.err" 2>/dev/null | tr '\n' ' ')$(tail -n 3 "$dir/stderr" | tr '\n' ' ')" >&2
		return 1
	fi
	echo "result mode=redis get_rps=$get_rps set_rps=$set_rps requests=$REDIS_REQUESTS processed=$processed"
}

field() { # field LINE KEY
	local kv
	for kv in $1; do
		[[ $kv == "$2="* ]] && { echo "${kv#*=}"; return; }
	done
	die "no $2 in '$1'"
}

median() { # numbers on stdin -> median
	sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}

# The cubic pin, checked on live connections: a short kernel<->kernel and synack<->kernel stream
# while ss reports the congestion control of every kernel socket in the lab.
echo "== checking congestion control on live connections"
check_cc() {
	local lab=$1 ns bg i
	PORT=$((PORT + 1))
	one_run "$lab" client 1 "" -m stream -d 3 >/dev/null &
	bg=$!
	for ns in "$lab-b" $([[ $lab == "$LAB_K" ]] && echo "$lab-a"); do
		# Poll until the connection shows (the server may be slow to start on a busy machine).
		for ((i = 0; i < 50; i++)); do
			timeout 5 ip netns exec "$ns" ss -Htin state established \
				"( sport = :$PORT or dport = :$PORT )" >"$TMP/ss.txt" 2>&1 || true
			grep -q 'mss:' "$TMP/ss.txt" && break
			sleep 0.05
		done
		# The routes are checked above (fatal); this look at a live connection only reports.
		if grep -q cubic "$TMP/ss.txt"; then
			CC_SEEN+=("$ns: $(grep -o 'cubic' "$TMP/ss.txt" | head -1), $(grep -o 'mss:[0-9]*' "$TMP/ss.txt" | head -1)")
		else
			CC_SEEN+=("$ns: not seen on a live connection ($(head -c 200 "$TMP/ss.txt" | tr '\n' ' '))")
		fi
		echo "   ${CC_SEEN[-1]}"
	done
	wait "$bg" || echo "   (the check's stream run in $lab failed; see above)"
}
CC_SEEN=()
check_cc "$LAB_K"
check_cc "$LAB_S"

# --- benchmarks --------------------------------------------------------------------------
# id | label | role | server conns | client args | server args ("idle": idle_run instead)
BENCHES=(
	"stream-up-c|stream, synack client sends, 64 KiB writes|client|1|-m stream -r up -s 64K -d $SECS"
	"stream-down-c|stream, synack client receives, 64 KiB reads|client|1|-m stream -r down -s 64K -d $SECS"
	"stream-up-s|stream, synack server receives, 64 KiB reads|server|1|-m stream -r up -s 64K -d $SECS"
	"stream-down-s|stream, synack server sends, 64 KiB writes|server|1|-m stream -r down -s 64K -d $SECS"
	"stream-up-1k-c|stream, synack client sends, 1 KiB writes|client|1|-m stream -r up -s 1K -d $SECS"
	"stream4-up-c|stream x4 at once, synack client sends, 64 KiB writes|client|4|-m stream -r up -s 64K -d $SECS -P 4|-P 4"
	"stream4-down-c|stream x4 at once, synack client receives, 64 KiB reads|client|4|-m stream -r down -s 64K -d $SECS -P 4|-P 4"
	"idle-c|idle, $IDLE_CONNS connections held by a synack client|client|0|idle"
	"idle-s|idle, $IDLE_CONNS connections held by a synack server|server|0|idle"
	"rr-c|rr 1 B, synack client|client|1|-m rr -s 1 -d $SECS"
	"rr-s|rr 1 B, synack server|server|1|-m rr -s 1 -d $SECS"
	"rr-bp-c|rr 1 B, SO_BUSY_POLL 50 µs on side a, synack client|client|1|-m rr -s 1 -d $SECS -B 50"
	"rr-bp-s|rr 1 B, SO_BUSY_POLL 50 µs on side a, synack server|server|1|-m rr -s 1 -d $SECS|-B 50"
	"crr-c|crr 1 B, synack client|client|0|-m crr -s 1 -d $SECS -n $CRR_COUNT"
	"crr-s|crr 1 B, synack server|server|0|-m crr -s 1 -d $SECS -n $CRR_COUNT"
	"nginx1-s|server: nginx, one process, ab -k -n $NGINX_REQUESTS -c 50 from the kernel|server|0|nginx 1"
	"nginx2w-s|pre-forked server: nginx, master + 2 workers, ab -k -n $NGINX_REQUESTS -c 50 from the kernel|server|0|nginx 2"
	"redis-s|server: redis-server, redis-benchmark -n $REDIS_REQUESTS -c 50 -t get,set from the kernel|server|0|redis"
)

RAW=$TMP/raw.txt
FAILS=$TMP/fails.txt
: >"$RAW"
: >"$FAILS"
ROWS=()
SPREAD=()
PLOT=()
IDLE_ROWS=()
IDLE_NOTES=()
# medians ID KEY: K and S, the medians of KEY over the kernel and the synack runs of ID, and KR
# and SR, "min max" of each.
medians() {
	local side
	for side in kernel synack; do
		grep "^$1 $side " "$RAW" | while read -r l; do field "$l" "$2"; done |
			sort -g >"$TMP/vals.$side"
	done
	K=$(median <"$TMP/vals.kernel")
	S=$(median <"$TMP/vals.synack")
	KR="$(head -1 "$TMP/vals.kernel") $(tail -1 "$TMP/vals.kernel")"
	SR="$(head -1 "$TMP/vals.synack") $(tail -1 "$TMP/vals.synack")"
}

# row ID LABEL PRINTF-FORMAT KEY BETTER PLOT-LABEL: the medians of KEY (main table), the min – max
# of each (spread table), and for the plot synack's figure relative to the kernel's, turned so
# that above 1 is better for synack (BETTER: higher or lower; no PLOT-LABEL: not plotted).
row() {
	local label=$2 f=$3 better=$5 short=${6:-}
	medians "$1" "$4"
	ROWS+=("$(awk -v l="$label" -v f="$f" -v k="$K" -v s="$S" 'BEGIN {
		printf "| %s | " f " | " f " | %s |", l, k, s, (k > 0 ? sprintf("%.2f", s / k) : "n/a") }')")
	SPREAD+=("$(awk -v l="$label" -v f="$f" -v k="$KR" -v s="$SR" 'BEGIN {
		split(k, a, " "); split(s, b, " ")
		printf "| %s | " f " – " f " | " f " – " f " |", l, a[1], a[2], b[1], b[2] }')")
	[[ -n $short ]] || return 0
	PLOT+=("$(awk -v l="$short" -v k="$K" -v s="$S" -v b="$better" 'BEGIN {
		if (k > 0 && s > 0) {
			if (b == "higher") printf "%s\t%.4f\t%.2f", l, s / k, s / k
			else printf "%s\t%.4f\t%.2f = 1/%.1f", l, k / s, k / s, s / k } }')")
}

# with_cpu ROLE LINE: LINE and the CPU time of side a (the client's for ROLE client, the
# server's for ROLE server) per MiB moved (stream) or per transaction (rr).
with_cpu() {
	local key=cpu_us cpu
	[[ $1 == client ]] || key=srv_cpu_us
	case $2 in
	*mode=stream* | *mode=rr*)
		[[ " $2 " == *" $key="* ]] || { echo "$2"; return; }
		cpu=$(field "$2" "$key")
		awk -v l="$2" -v c="$cpu" 'BEGIN {
			n = split(l, kv, " ")
			for (i = 1; i <= n; i++) { split(kv[i], p, "="); v[p[1]] = p[2] }
			if (v["mode"] == "stream") printf "%s cpu_us_per_mib=%.1f\n", l, c * 1048576 / v["bytes"]
			else printf "%s cpu_us_per_tx=%.2f\n", l, c / v["count"] }'
		;;
	*) echo "$2" ;;
	esac
}

for b in "${BENCHES[@]}"; do
	IFS='|' read -r id label role conns args srv_args <<<"$b"
	[[ $id =~ $ONLY ]] || continue
	echo "== $id: $label ($REPS x kernel, $REPS x synack, interleaved)"
	for ((r = 1; r <= REPS; r++)); do
		for side in kernel synack; do
			lab_name=$LAB_K
			[[ $side == synack ]] && lab_name=$LAB_S
			# A failed run is reported and retried once on a fresh port; a second failure ends the
			# whole run (the report lists every failure), except for the programs' rows (nginx*,
			# redis-s), which then have no figure and the report says why (the other rows stand).
			read -ra argv <<<"$args"
			run=(one_run "$lab_name" "$role" "$conns" "$srv_args" "${argv[@]}")
			[[ $args != idle ]] || run=(idle_run "$lab_name" "$role")
			[[ $args != nginx* ]] || run=(nginx_run "$lab_name" "${args#nginx }")
			[[ $args != redis ]] || run=(redis_run "$lab_name")
			PORT=$((PORT + 1))
			if ! line=$("${run[@]}" 2>"$TMP/fail.txt"); then
				cat "$TMP/fail.txt" >&2
				echo "$id $side $r: $(cat "$TMP/fail.txt")" >>"$FAILS"
				PORT=$((PORT + 1))
				if ! line=$("${run[@]}"); then
					[[ $args == nginx* || $args == redis ]] || die "$id: $side run $r failed twice"
					echo "$id: no figure: the $side run $r failed twice" | tee -a "$FAILS" >&2
					continue 3
				fi
			fi
			line=$(with_cpu "$role" "$line")
			echo "$id $side $r $line" >>"$RAW"
			echo "   $side #$r: ${line#result }"
		done
	done
	case $id in
	stream*)
		row "$id" "$label (Gbit/s)" %.2f gbit_s higher "$id Gbit/s"
		row "$id" "$label: CPU µs per MiB, synack's or the kernel's side (lower is better)" %.0f \
			cpu_us_per_mib lower "$id CPU/MiB"
		;;
	idle*)
		row "$id" "$label: bytes per connection (lower is better)" %.0f total_b lower "$id bytes/conn"
		row "$id" "$label: of which process memory, RSS + page tables" %.0f proc_b lower
		row "$id" "$label: of which kernel slab" %.0f slab_b lower
		for k in "rss0_kb|process RSS before the first connection (KiB)|%.0f" \
			"rss_b|process RSS per connection (bytes)|%.0f" "pte_b|page tables per connection (bytes)|%.0f" \
			"slab_b|kernel slab per connection, this side (bytes)|%.0f" \
			"peer_slab_b|kernel slab per connection, the kernel peer (bytes; the same program in both labs)|%.0f"; do
			IFS='|' read -r key what f <<<"$k"
			medians "$id" "$key"
			IDLE_ROWS+=("$(awk -v l="$id: $what" -v f="$f" -v k="$K" -v s="$S" -v kr="$KR" -v sr="$SR" 'BEGIN {
				split(kr, a, " "); split(sr, b, " ")
				printf "| %s | " f " (" f " – " f ") | " f " (" f " – " f ") |", l, k, a[1], a[2], s, b[1], b[2] }')")
		done
		for side in kernel synack; do
			IDLE_NOTES+=("* $id, last $side run: $(grep "^$id $side " "$RAW" | tail -1 |
				sed 's/.* caches=\([^ ]*\) peer_caches=\([^ ]*\).*/this side \1; the peer \2/' | tr ',' ' ')")
		done
		;;
	rr*)
		row "$id" "$label: transactions/s" %.0f tps higher "$id tps"
		row "$id" "$label: p50 latency (µs, lower is better)" %.1f p50_us lower "$id p50"
		row "$id" "$label: p99 latency (µs, lower is better)" %.1f p99_us lower
		row "$id" "$label: p99.9 latency (µs, lower is better)" %.1f p999_us lower
		row "$id" "$label: CPU µs per transaction, synack's or the kernel's side (lower is better)" \
			%.1f cpu_us_per_tx lower "$id CPU/tx"
		;;
	crr*)
		row "$id" "$label: connections/s" %.0f cps higher "$id cps"
		row "$id" "$label: p50 latency (µs, lower is better)" %.1f p50_us lower "$id p50"
		;;
	nginx*)
		row "$id" "$label: requests/s" %.0f rps higher "$id req/s"
		;;
	redis*)
		row "$id" "$label: GET requests/s" %.0f get_rps higher "$id GET req/s"
		row "$id" "$label: SET requests/s" %.0f set_rps higher "$id SET req/s"
		;;
	esac
done

# --- plot --------------------------------------------------------------------------------
# Horizontal bars on a log scale from 1 to synack's figure relative to the kernel's, turned so
# that right of 1 is better for synack whatever the unit (throughput synack/kernel; latency,
# CPU and memory kernel/synack).
PNG=${OUT%.md}.png
mkdir -p "$(dirname "$OUT")"
printf '%s\n' "${PLOT[@]}" | grep . >"$TMP/plot.dat" || true
if [[ -z $PLOT_NOTE && ! -s $TMP/plot.dat ]]; then
	PLOT_NOTE="no plot: no row with figures on both stacks"
elif [[ -z $PLOT_NOTE ]] && ! command -v gnuplot >/dev/null; then
	PLOT_NOTE="no plot: gnuplot not found"
fi
if [[ -z $PLOT_NOTE ]]; then
	read -r XMIN XMAX < <(awk -F'\t' 'NR == 1 { lo = hi = $2 } { if ($2 < lo) lo = $2; if ($2 > hi) hi = $2 }
		END { lo = lo / 2.5; hi = hi * 2.5; print (lo < 0.4 ? lo : 0.4), (hi > 2.5 ? hi : 2.5) }' "$TMP/plot.dat")
	NPLOT=$(wc -l <"$TMP/plot.dat")
	cat >"$TMP/plot.gp" <<-EOF
		set terminal pngcairo size 1100,$((150 + 26 * NPLOT)) font "DejaVu Sans,10"
		set output "$PNG"
		set datafile separator "\t"
		set title "synack relative to the kernel, $STAMP (synack $COMMIT, median of $REPS runs each)" font ",12"
		set xlabel "right of 1: synack better, left: worse. Throughput: synack/kernel; latency, CPU, memory: kernel/synack (1/x: the table's ratio)"
		set logscale x
		set xrange [$XMIN:$XMAX]
		set yrange [$NPLOT - 0.4:-0.6]
		set ytics scale 0
		set grid xtics
		set xtics (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50)
		set format x "%g"
		unset key
		set style fill solid 0.85 noborder
		set arrow from 1, graph 0 to 1, graph 1 nohead lw 2 lc rgb "black"
		plot "$TMP/plot.dat" using (1):0:(\$2 < 1 ? \$2 : 1):(\$2 < 1 ? 1 : \$2):(\$0 - 0.35):(\$0 + 0.35):(\$2 < 1 ? 0xd6604d : 0x4393c3):ytic(1) \\
			with boxxyerror lc rgb variable, \\
		     "" using (\$2 < 1 ? 0/0 : \$2 * 1.06):0:3 with labels font ",9" left, \\
		     "" using (\$2 < 1 ? \$2 / 1.06 : 0/0):0:3 with labels font ",9" right
	EOF
	if ! timeout 60 gnuplot "$TMP/plot.gp" >"$TMP/plot.log" 2>&1; then
		tail -n 5 "$TMP/plot.log" >&2
		PLOT_NOTE="no plot: gnuplot failed ($(tail -n 1 "$TMP/plot.log"))"
		rm -f "$PNG"
	fi
fi

# --- report ------------------------------------------------------------------------------
{
	echo "# synack vs kernel — $STAMP"
	echo
	echo "Produced by \`bash bench/run.sh\` (see docs/performance.md). Median of $REPS runs per cell,"
	echo "kernel and synack runs interleaved in the same run. Ratio = synack / kernel (above 1 is"
	echo "better for throughput rows, worse for latency, CPU and memory rows)."
	echo
	echo "| benchmark | kernel | synack | synack/kernel |"
	echo "| --- | ---: | ---: | ---: |"
	printf '%s\n' "${ROWS[@]}"
	echo
	if [[ -z $PLOT_NOTE ]]; then
		echo "![synack relative to the kernel]($(basename "$PNG"))"
	else
		echo "($PLOT_NOTE)"
	fi
	echo
	if ((${#IDLE_ROWS[@]})); then
		echo "## Idle connections: where the bytes are"
		echo
		echo "Median (slowest – fastest run). Process: VmRSS and VmPTE of side a's process, from its"
		echo "start (synack's stack running, no connection yet) to all $IDLE_CONNS connections established."
		echo "Kernel slab: the caches that"
		echo "grew by $((IDLE_CONNS / 2)) to $((IDLE_CONNS * 3)) objects, in the phase in which only that side allocates"
		echo "(docs/performance.md). The peer's figure is the same kernel program in both labs: the"
		echo "difference between its two columns is the noise of the method."
		echo
		echo "| figure | kernel | synack |"
		echo "| --- | ---: | ---: |"
		printf '%s\n' "${IDLE_ROWS[@]}"
		echo
		echo "Slab caches counted (objects added; procfs: the correction for a /proc walker, see run.sh):"
		echo
		printf '%s\n' "${IDLE_NOTES[@]}"
		# slabinfo shows a merged cache under one of its members' names.
		for c in $(printf '%s\n' "${IDLE_NOTES[@]}" | grep -o '[A-Za-z0-9_-]*:+' | tr -d ':+' | sort -u); do
			[[ -L /sys/kernel/slab/$c ]] || continue
			t=$(readlink "/sys/kernel/slab/$c")
			echo "* $c is the merged cache $t: $(find /sys/kernel/slab -maxdepth 1 -lname "$t" -printf '%f\n' | sort | paste -sd ' ')"
		done
		echo
	fi
	echo "## Spread: slowest – fastest run of each cell"
	echo
	echo "| benchmark | kernel | synack |"
	echo "| --- | ---: | ---: |"
	printf '%s\n' "${SPREAD[@]}"
	echo
	echo "## Machine and settings"
	echo
	echo "* synack at commit $COMMIT, release build$BENCH_NOTE"
	echo "* $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)"
	echo "* load average (1, 5, 15 min) at the start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shows here)"
	echo "* two veth labs, MTU $MTU on every end, congestion control cubic on every kernel route (host default: $(sysctl -n net.ipv4.tcp_congestion_control))"
	echo "* congestion control seen on live connections (ss -ti): $(IFS=';'; echo "${CC_SEEN[*]}")"
	echo "* veth offloads (default, identical in both labs): $(ip netns exec "$LAB_K-a" ethtool -k "$IF_A" 2>/dev/null | grep -E '^(tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload|tx-checksumming):' | tr -s ' \n' ' ' || echo 'ethtool not installed')"
	echo "* stream and rr: $SECS s per run; crr: $CRR_COUNT connections or $SECS s per run, whichever comes first; idle: $IDLE_CONNS connections${IDLE_ENV[*]:+ (${IDLE_ENV[*]})}"
	echo "* CPU: user + system time of side a's process, every thread (getrusage in tcp_bench); softirq work the kernel runs in the peer's context is not in it (docs/performance.md)"
	echo "* every benchmark process at niceness $NICE"
	if [[ $PIN == 1 ]]; then
		echo "* pinned: side a (the kernel or synack program under test) on CPU 0, side b (the kernel peer) on CPU 1"
	else
		echo "* not pinned (BENCH_PIN=0): the scheduler placed the programs"
	fi
	echo
	echo "## Failed runs (each retried once on a fresh port)"
	echo
	if [[ -s $FAILS ]]; then
		echo '```'
		cat "$FAILS"
		echo '```'
	else
		echo "none"
	fi
	echo
	echo "## Every run"
	echo
	echo '```'
	cat "$RAW"
	echo '```'
} >"$OUT"
echo
sed -n '/^| benchmark/,/^$/p' "$OUT"
echo "written to ${OUT#"$ROOT"/}"
[[ -n $PLOT_NOTE ]] && echo "$PLOT_NOTE" || echo "plot: ${PNG#"$ROOT"/}"
