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
# timeout's SIGTERM, ^C). Each step has its own time bound; tests/run.sh bounds the whole.
#
# Result lines, counted by tests/run.sh:  "PASS <test>: <case>" / "FAIL <test>: <case>: why".
#
# LAB_KERNEL_ONLY=1 (by hand only, to check the harness itself): veth-sk gets the kernel
# address 10.77.0.1/24 and synack_exec runs programs WITHOUT synack, so the data-transfer tests
# exercise the harness against kernel TCP on both sides. Tests that check synack's own output
# (trace, configuration errors) fail in that mode, as they must. tests/run.sh never sets it.
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
	SYNACK_IMPAIR SYNACK_STRICT SYNACK_PACKET_FD SYNACK_BPF SYNACK_STATS SYNACK_SYN_BACKLOG \
	SYNACK_SYNCOOKIES SYNACK_MEM_MAX

LAB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/synack-$LAB_TEST.XXXXXX")
# The tests' Python programs, written into LAB_TMP, import their shared pieces from there.
cp "$LAB_ROOT/tests/lab/labpeer.py" "$LAB_TMP/"
LAB_PIDS=()
LAB_PASSED=0
LAB_FAILED=0

LAB_ON_EXIT=()

# Run the shell command CMD first thing at cleanup (before the recorded processes are killed),
# e.g. a server's own orderly stop. Bounded by the caller (e.g. timeout 20 ...).
#   lab_on_exit CMD
lab_on_exit() { LAB_ON_EXIT+=("$1"); }

lab_cleanup() {
	local rc=$? pid cmd
	trap - EXIT INT TERM HUP
	for cmd in "${LAB_ON_EXIT[@]}"; do
		eval "$cmd" >/dev/null 2>&1 || true
	done
	for pid in "${LAB_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${LAB_PIDS[@]}"; do
		timeout 2 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	done
	# lab.sh down also kills anything still running inside the two namespaces.
	bash "$LAB_ROOT/examples/lab.sh" down >/dev/null 2>&1 || true
	if [[ -n ${LAB_REF_UP:-} ]]; then
		SYNACK_LAB_PREFIX=$REF_PREFIX bash "$LAB_ROOT/examples/lab.sh" down >/dev/null 2>&1 || true
	fi
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

# The reference lab of the differential tests (92, 93): namespaces REF_NS_A / REF_NS_B, where
# REF_NS_A's veth-sk has the kernel address 10.77.0.1 and no synack runs. ref_lab_up brings it
# up (it goes down with the test's own lab); ref_exec runs a command in REF_NS_A, bounded by
# LAB_TIMEOUT like synack_exec.
REF_PREFIX=${SYNACK_LAB_PREFIX}k
REF_NS_A=$REF_PREFIX-a
REF_NS_B=$REF_PREFIX-b
ref_lab_up() {
	LAB_REF_UP=1
	SYNACK_LAB_PREFIX=$REF_PREFIX bash "$LAB_ROOT/examples/lab.sh" up
	ip -n "$REF_NS_A" addr add "$ADDR_A/24" dev "$IF_A"
}
ref_exec() { timeout -k 3 "${LAB_TIMEOUT:-30}" ip netns exec "$REF_NS_A" "$@"; }

# The differential runs of 95 and 97 (one script on the kernel in the reference lab, then under
# synack): the test defines `run NAME PEER_NS RUNNER...`, which starts its peer program in
# PEER_NS, runs its script through RUNNER (ref_exec, synack_exec) into $LAB_TMP/NAME.out (last
# line "-- end") and NAME.err, with the peer's output in NAME.peer.log, and returns the script's
# exit status.
#   diff_ran NAME WHAT PEER_NS RUNNER...: 0 when run NAME ended well, else FAIL WHAT and show why.
diff_ran() {
	local rc=0
	run "$1" "${@:3}" || rc=$?
	((rc == 0)) && grep -q '^-- end$' "$LAB_TMP/$1.out" && return 0
	fail "$2" "exit status $rc"
	show "$LAB_TMP/$1.err"
	show "$LAB_TMP/$1.peer.log"
	tail -n 5 "$LAB_TMP/$1.out" | sed 's/^/  | /'
	return 1
}

# diff_same WHAT: PASS when $LAB_TMP/kernel.out and synack.out are equal line for line, else
# FAIL and show the difference.
diff_same() {
	if diff -u "$LAB_TMP/kernel.out" "$LAB_TMP/synack.out" >"$LAB_TMP/diff"; then
		pass "under synack every $1 equals the kernel's ($(wc -l <"$LAB_TMP/synack.out") lines)"
	else
		fail "$1: differs from the kernel's" "$(grep -c '^[-+][^-+]' "$LAB_TMP/diff") lines"
		show "$LAB_TMP/diff"
	fi
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
	bash "$LAB_ROOT/examples/lab.sh" up
	if [[ ${LAB_KERNEL_ONLY:-0} == 1 ]]; then
		ip -n "$NS_A" addr add "$ADDR_A/24" dev "$IF_A"
		echo "# LAB_KERNEL_ONLY=1: $NS_A/$IF_A has kernel address $ADDR_A; programs run WITHOUT synack"
	elif [[ ! -f $LAB_LIB ]]; then
		echo "# $LAB_LIB is missing: build first (bash tests/setup.sh)"
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
# LAB_AS_USER=NAME: the program (and `synack run`) runs as that user instead of root, with
# CAP_NET_RAW alone as an ambient capability (setpriv), which every process it starts or execs
# keeps: each can open the interface's packet socket as synack needs (docs/operations.md),
# without any other privilege. For servers that refuse to run as root (PostgreSQL).
synack_exec() {
	local env=(SYNACK_STRICT=1)
	local v t=${LAB_TIMEOUT:-30} as=()
	if [[ -n ${LAB_AS_USER:-} ]]; then
		as=(setpriv --reuid="$LAB_AS_USER" --regid="$LAB_AS_USER" --init-groups --inh-caps=+net_raw
			--ambient-caps=+net_raw --)
	fi
	for v in SYNACK_MSL_MS SYNACK_LINGER_MS SYNACK_TRACE SYNACK_LOG SYNACK_PCAP SYNACK_FIN_TIMEOUT_MS \
		SYNACK_SYN_RETRIES SYNACK_OFFLOAD SYNACK_BPF SYNACK_STATS SYNACK_SYN_BACKLOG SYNACK_SYNCOOKIES \
		SYNACK_MEM_MAX SYNACK_MAX_SOCKETS SYNACK_MAX_TIME_WAIT; do
		[[ -z ${!v:-} ]] || env+=("$v=${!v}")
	done
	if [[ ${LAB_KERNEL_ONLY:-0} == 1 ]]; then
		timeout -k 3 "$t" ip netns exec "$NS_A" "${as[@]}" "$@"
	elif [[ ${SYNACK_VIA_PRELOAD:-0} != 1 && -x $LAB_TOOL ]]; then
		timeout -k 3 "$t" ip netns exec "$NS_A" "${as[@]}" env "${env[@]}" "$LAB_TOOL" run --iface "$IF_A" \
			--addr "$ADDR_A/24" --strict -- "$@"
	else
		timeout -k 3 "$t" ip netns exec "$NS_A" "${as[@]}" env "${env[@]}" LD_PRELOAD="$LAB_LIB" \
			SYNACK_IFACE="$IF_A" SYNACK_ADDR="$ADDR_A/24" "$@"
	fi
}

# synack_exec without strict mode: what falls back to the kernel does so silently (the
# program's own view, with SYNACK_LOG=debug naming each decision). Plain LD_PRELOAD.
synack_exec_lax() {
	timeout -k 3 "${LAB_TIMEOUT:-30}" ip netns exec "$NS_A" env ${SYNACK_LOG:+SYNACK_LOG=$SYNACK_LOG} \
		LD_PRELOAD="$LAB_LIB" SYNACK_IFACE="$IF_A" SYNACK_ADDR="$ADDR_A/24" "$@"
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
		peer_listening "$port" && return 0
		kill -0 "$LAB_LAST_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# the peer's http.server on port $port did not start:"
	show "$LAB_TMP/peer-http-$port.log"
	return 1
}

# Wait (at most 10 s) until FILE has a line matching the extended regex REGEX (a background
# program's "listening..." or "ready" line); 1 when it never does or process PID exits first.
#   wait_line FILE REGEX PID
wait_line() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

# Whether a kernel socket listens on TCP port $1 in the peer namespace.
peer_listening() { [[ -n $(peer_exec ss -Hltn "sport = :$1") ]]; }

# Wait (at most 10 s) until a kernel server listens on port $1 in the peer namespace, so that
# a synack client's first connect() succeeds (retries would add connections to a trace). If
# none does: FAIL "set-up" and finish the test.
peer_wait_listen() {
	local i
	for ((i = 0; i < 200; i++)); do
		peer_listening "$1" && return 0
		sleep 0.05
	done
	fail "set-up" "no kernel server listening on port $1"
	lab_finish
}

# Random loss of PCT % of the TCP packets the kernel peer receives and of those it sends
# (nftables numgen, table inet lossy). One drop is one packet as the peer's firewall sees it:
# cut super-frames to segments first where a test needs per-segment loss.
#   peer_lossy PCT
peer_lossy() {
	peer_exec nft -f - <<EOF
table inet lossy {
	chain input {
		type filter hook input priority 0; policy accept;
		meta l4proto tcp numgen random mod 100 < $1 counter drop
	}
	chain output {
		type filter hook output priority 0; policy accept;
		meta l4proto tcp numgen random mod 100 < $1 counter drop
	}
}
EOF
}

# "in/out": the packets peer_lossy's rules dropped so far.
peer_lossy_drops() {
	local i o
	i=$(peer_exec nft list chain inet lossy input | sed -nE 's/.*counter packets ([0-9]+) .*/\1/p')
	o=$(peer_exec nft list chain inet lossy output | sed -nE 's/.*counter packets ([0-9]+) .*/\1/p')
	echo "${i:-0}/${o:-0}"
}

# Wait until a server started under synack (pid PID) serves URL to a kernel curl in the peer
# namespace: a probe every 0.5 s, at most 15 s; the body is saved in OUT. If it never answers:
# FAIL NAME, show the probe's error and the files LOG..., and finish the test.
#   synack_wait_http NAME PID URL OUT [LOG...]
synack_wait_http() {
	local name=$1 pid=$2 url=$3 out=$4 i f
	shift 4
	for ((i = 0; i < 30; i++)); do
		peer_exec timeout 2 curl -sS --max-time 1 -o "$out" "$url" 2>"$LAB_TMP/probe.err" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	fail "$name" "no answer within 15 s (server $(kill -0 "$pid" 2>/dev/null && echo running || echo exited))"
	show "$LAB_TMP/probe.err"
	for f; do show "$f"; done
	lab_finish
}

# PASS "NAME, SHA-256 equal" when file GOT is byte-exact with file WANT, else FAIL NAME.
#   check_sha NAME GOT WANT
check_sha() {
	if [[ $(sha "$2") == "$(sha "$3")" ]]; then
		pass "$1, SHA-256 equal"
	else
		fail "$1" "SHA-256 differs ($(stat -c %s "$2") bytes, want $(stat -c %s "$3"))"
	fi
}

# A transfer program exited RC having written OUT: check_sha NAME OUT WANT when RC is 0, else
# FAIL NAME and show LOG... (its error output first).
#   check_transfer NAME RC OUT WANT [LOG...]
check_transfer() {
	local name=$1 rc=$2 out=$3 want=$4 f
	shift 4
	if ((rc != 0)); then
		fail "$name" "exited $rc"
		for f; do show "$f"; done
	else
		check_sha "$name" "$out" "$want"
	fi
}

# A kernel curl in the peer namespace downloads URL into OUT (at most 60 s), which must be
# byte-exact with WANT (check_transfer; LOG... shown when curl fails).
#   peer_fetch NAME URL OUT WANT [LOG...]
peer_fetch() {
	local name=$1 url=$2 out=$3 want=$4 rc=0
	shift 4
	peer_exec timeout -k 3 60 curl -sS --max-time 55 -o "$out" "$url" 2>"$LAB_TMP/curl.err" || rc=$?
	check_transfer "$name" "$rc" "$out" "$want" "$LAB_TMP/curl.err" "$@"
}

# PASS NAME while process PID still runs, else FAIL it ("it exited") and show LOG.
#   check_running NAME PID LOG
check_running() {
	if kill -0 "$2" 2>/dev/null; then
		pass "$1"
	else
		fail "$1" "it exited"
		show "$3"
	fi
}

# Check an ab report in OUT (ab exited RC): N requests complete, none failed, no non-2xx, and
# N * BYTES bytes of bodies. ab prints "Complete requests: N", "Failed requests: N",
# "Non-2xx responses: N" (only when some), "HTML transferred: BYTES". On failure the report
# and LOG... are shown.
#   check_ab NAME OUT RC N BYTES [LOG...]
check_ab() {
	local name=$1 out=$2 rc=$3 n=$4 bytes=$5 complete failed non2xx html f
	shift 5
	complete=$(sed -nE 's/^Complete requests: +([0-9]+)$/\1/p' "$out")
	failed=$(sed -nE 's/^Failed requests: +([0-9]+)$/\1/p' "$out")
	non2xx=$(sed -nE 's/^Non-2xx responses: +([0-9]+)$/\1/p' "$out")
	html=$(sed -nE 's/^HTML transferred: +([0-9]+) bytes$/\1/p' "$out")
	if ((rc != 0)); then
		fail "$name" "ab exited $rc"
	elif [[ $complete != "$n" || $failed != 0 || -n $non2xx || $html != $((n * bytes)) ]]; then
		fail "$name" "complete=${complete:-?} failed=${failed:-?} non-2xx=${non2xx:-0} html=${html:-?} (want $n, 0, 0, $((n * bytes)))"
	else
		pass "$name: $complete complete, 0 failed, $html bytes ($(sed -nE 's/^Requests per second: +([0-9.]+).*/\1/p' "$out") req/s)"
		return 0
	fi
	show "$out"
	for f; do show "$f"; done
}

# nginx_conf DIR ADDR ROOT [WORKER_CONNECTIONS] [LISTEN]: tests/lab/nginx-conf.sh.
. "$LAB_ROOT/tests/lab/nginx-conf.sh"

# A checking program's report: each line "ok CASE" becomes PASS PREFIXCASE, each
# "FAIL CASE: why" FAIL PREFIXCASE; when the program exited RC != 0 without a FAIL line, FAIL
# PREFIXNAME with the exit status and show OUT and its .err sibling (OUT with .out -> .err).
#   report_checks OUT RC NAME [PREFIX]
report_checks() {
	local out=$1 rc=$2 name=$3 prefix=${4:-} status case
	while read -r status case; do
		case $status in
		ok) pass "$prefix$case" ;;
		FAIL) fail "$prefix${case%%: *}" "${case#*: }" ;;
		esac
	done < <(grep -E '^(ok|FAIL) ' "$out")
	if ((rc != 0)) && ! grep -q '^FAIL ' "$out"; then
		fail "$prefix$name" "exit $rc"
		show "$out"
		show "${out%.out}.err"
	fi
}

# The verdict of a strace -f run: LEAKS holds the calls on offloaded sockets (fds FDS) that
# reached the kernel; PASS when it is empty, else FAIL and show them.
#   check_no_leaks LEAKS FDS
check_no_leaks() {
	if [[ -s $1 ]]; then
		fail "no data-path syscall on an offloaded socket reaches the kernel" "$(wc -l <"$1") calls on fds $2"
		show "$1"
	else
		pass "no data-path syscall on an offloaded socket (fds $2) reaches the kernel (strace -f)"
	fi
}

# A counter in a SYNACK_STATS file: stat_of FILE NAME (empty when absent).
stat_of() { awk -v n="$2" '$1 == n { print $2 }' "$1" 2>/dev/null; }

# Wait (at most 10 s) until the server started under synack creates LAB_TMP/ready; if it
# never does: FAIL "set-up", show its LOG and finish the test.
#   synack_wait_ready LOG
synack_wait_ready() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -e $LAB_TMP/ready ]] && return 0
		sleep 0.1
	done
	fail "set-up" "the server under synack did not start"
	show "$1"
	lab_finish
}

# Wait until the command CMD... succeeds: it is tried every 0.1 s for at most SECS seconds.
# 0 when it did, 1 when it never did.
#   wait_for SECS CMD...
wait_for() {
	local i n=$(($1 * 10))
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# Capture on the kernel peer's interface (tcpdump, headers only, each frame written at once)
# into $LAB_TMP/NAME.pcap, with the pcap-filter FILTER; returns once tcpdump listens. Its pid
# is in LAB_CAPTURE_PID: stop it with peer_capture_stop before reading the file.
#   peer_capture NAME FILTER
peer_capture() {
	spawn "$LAB_TMP/$1.tcpdump.log" ip netns exec "$NS_B" tcpdump -U -n -s 128 -B 32768 -i veth-peer \
		-w "$LAB_TMP/$1.pcap" "$2"
	LAB_CAPTURE_PID=$LAB_LAST_PID
	wait_for 10 grep -qs 'listening on' "$LAB_TMP/$1.tcpdump.log" && return 0
	fail "set-up" "tcpdump on the peer did not start"
	show "$LAB_TMP/$1.tcpdump.log"
	lab_finish
}

# Stop the capture started by peer_capture (tcpdump writes what it still holds and exits).
peer_capture_stop() {
	kill -INT "$LAB_CAPTURE_PID" 2>/dev/null || true
	timeout 10 tail --pid="$LAB_CAPTURE_PID" -f /dev/null 2>/dev/null || true
}

# How many packets of the capture FILE match the pcap-filter FILTER (0 for a missing file).
#   pcap_count FILE FILTER
pcap_count() {
	{ tcpdump -n -r "$1" "$2" 2>/dev/null || true; } | wc -l
}

# pcap_count's filters: TCP segments with the RST flag, with the FIN flag; PCAP_CTL: with any
# of SYN, FIN, RST (what a capture of the connections' starts and ends needs to keep).
PCAP_RST='tcp[tcpflags] & tcp-rst != 0'
PCAP_FIN='tcp[tcpflags] & tcp-fin != 0'
PCAP_CTL='tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0'

# The capture FILE (peer_capture's, live) holds at least N packets matching FILTER.
#   pcap_has FILE FILTER N
pcap_has() { (($(pcap_count "$1" "$2") >= $3)); }

# PASS NAME when the capture FILE holds no RST at all (in either direction) and at least
# MIN_FIN FINs from the synack side's address (so that it did capture every connection's end),
# else FAIL NAME with the counts and the first RSTs.
#   check_no_rst NAME FILE MIN_FIN
check_no_rst() {
	local rst fin
	rst=$(pcap_count "$2" "$PCAP_RST")
	fin=$(pcap_count "$2" "src host $ADDR_A and $PCAP_FIN")
	if ((rst == 0 && fin >= $3)); then
		pass "$1 (tcpdump on the peer: 0 RST, $fin FIN from $ADDR_A)"
	else
		fail "$1" "tcpdump on the peer: $rst RST, $fin FIN from $ADDR_A (want 0 RST, at least $3)"
		tcpdump -n -r "$2" "$PCAP_RST" 2>/dev/null | head -n 10 | sed 's/^/  | /'
	fi
}

# COUNT kernel clients in the peer namespace (labpeer.py echo-clients, at most 120 s), one after
# the other (sequential) or all at once (parallel), each sends SIZE random bytes to the echo
# server on ADDR_A:PORT and must get them back byte-exact, ending with an orderly EOF (not a
# reset); one PASS/FAIL line, PREFIX before its name.
#   peer_echo PORT SIZE COUNT sequential|parallel [PREFIX]
peer_echo() {
	local rc=0 out=$LAB_TMP/echo-$1-$3-$4.out
	peer_exec timeout -k 3 120 "$LAB_PY" "$LAB_TMP/labpeer.py" echo-clients "$ADDR_A" "$1" "$2" "$3" \
		"$4" >"$out" 2>"${out%.out}.err" || rc=$?
	report_checks "$out" "$rc" "$3 $4 echo clients on port $1" "${5:-}"
}

# The worker processes of the nginx master PID (nginx_conf with NGINX_WORKERS), one pid a line.
nginx_workers() { ps -o pid=,args= --ppid "$1" 2>/dev/null | awk '/worker process/ { print $1 }'; }

# The master pid of the nginx whose nginx_conf directory is DIR (from its pid file), once it has
# written it (at most 10 s); empty when it never does.
#   nginx_master DIR
nginx_master() {
	wait_for 10 test -s "$1/nginx.pid" && cat "$1/nginx.pid"
}

# Does the master NGINX_MASTER run 2 workers?
nginx_two_workers() { [[ $(nginx_workers "$NGINX_MASTER" | wc -l) == 2 ]]; }

# Wait (at most 10 s) until the master of the nginx of nginx_conf directory DIR (NGINX_WORKERS=2)
# runs its 2 workers: PASS, with NGINX_MASTER, NGINX_W1 and NGINX_W2 set to the pids; else FAIL,
# show LOG... and finish the test.
#   nginx_wait_two_workers DIR [LOG...]
nginx_wait_two_workers() {
	local f
	NGINX_MASTER=$(nginx_master "$1")
	shift
	if [[ -n $NGINX_MASTER ]] && wait_for 10 nginx_two_workers; then
		read -r -d '' NGINX_W1 NGINX_W2 < <(nginx_workers "$NGINX_MASTER") || true
		pass "the master (pid $NGINX_MASTER) and its 2 workers (pids $NGINX_W1 $NGINX_W2) run"
		return 0
	fi
	fail "the master and its 2 workers run" \
		"master '${NGINX_MASTER}', workers: $(nginx_workers "${NGINX_MASTER:-0}" | tr '\n' ' ')"
	for f; do show "$f"; done
	lab_finish
}

# PASS when nginx's error log LOG has no [alert], [crit] or [emerg] line but those matching the
# extended regex EXCEPT (described as WHAT), else FAIL and show them.
#   check_nginx_log LOG [EXCEPT WHAT]
check_nginx_log() {
	if grep -E '\[(alert|crit|emerg)\]' "$1" | grep -vE "${2:-^\$}" >"$LAB_TMP/alerts"; then
		fail "nginx error log clean" "$(wc -l <"$LAB_TMP/alerts") alert/crit/emerg lines"
		show "$LAB_TMP/alerts"
	else
		pass "nginx error log has no alert/crit/emerg line${3:+ but $3}"
	fi
}

# PASS when none of the files LOG... (a server's stderr, where synack logs, and its own logs)
# says "stack broken", else FAIL and show those lines.
#   check_not_broken LOG...
check_not_broken() {
	if grep -i 'stack broken' "$@" >"$LAB_TMP/broken"; then
		fail "no 'stack broken' in the server's stderr and logs" "$(wc -l <"$LAB_TMP/broken") lines"
		show "$LAB_TMP/broken"
	else
		pass "no 'stack broken' in the server's stderr (synack's log) and logs"
	fi
}

# Wait (wait_line, at most 10 s) until the server NAME started in the background (pid PID)
# writes a line matching REGEX to its LOG; if it never does: FAIL "set-up", show LOG and finish
# the test.
#   wait_started NAME LOG REGEX PID
wait_started() {
	wait_line "$2" "$3" "$4" && return 0
	fail "set-up" "$1 did not start"
	show "$2"
	lab_finish
}
