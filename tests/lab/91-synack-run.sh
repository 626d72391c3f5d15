#!/usr/bin/env bash
# `synack run` (build/shim/synack) checks that the preload will take effect (design brief §7,
# issue 4 item 4): it refuses, with one clear line on stderr and a non-zero exit, and without
# running the program,
#   - a set-user-ID program (a copy of /usr/bin/true, chmod u+s): the loader ignores LD_PRELOAD;
#   - a program with file capabilities (a copy of /usr/bin/true, setcap cap_net_raw+ep): same;
#   - SYNACK_LIB naming a file that is not a loadable library (glibc would skip it silently);
# and for a normal program it works: the program's output is printed, and its connection goes
# through synack (curl to a kernel http.server; SYNACK_TRACE=states shows ESTABLISHED).
. "$(dirname "$0")/lib.sh"

lab_up
if [[ ! -x $LAB_TOOL ]]; then
	fail "synack is built" "$LAB_TOOL is missing"
	lab_finish
fi

# Run `synack run` in the synack namespace with the lab's interface and address, bounded.
run_tool() {
	timeout -k 3 30 ip netns exec "$NS_A" "$LAB_TOOL" run --iface "$IF_A" --addr "$ADDR_A/24" \
		--strict -- "$@"
}

# The refusal of a run (exit RC, stderr ERR): non-zero, exactly one line, matching PATTERN.
#   check_refusal NAME RC ERR OUT PATTERN
check_refusal() {
	local name=$1 rc=$2 err=$3 out=$4 pattern=$5 lines
	lines=$(wc -l <"$err")
	if ((rc == 0)); then
		fail "$name" "exit 0: the program ran"
	elif ((rc == 124 || rc == 137)); then
		fail "$name" "timed out"
	elif [[ -s $out ]]; then
		fail "$name" "something ran and printed to stdout"
	elif ((lines != 1)); then
		fail "$name" "$lines lines on stderr, want one"
	elif ! grep -qE "^synack: .*$pattern" "$err"; then
		fail "$name" "the message does not say why: $(cat "$err")"
	else
		pass "$name: exit $rc, \"$(cat "$err")\""
		return 0
	fi
	show "$err"
}

# 1. set-user-ID
cp /usr/bin/true "$LAB_TMP/true-setuid"
chmod u+s "$LAB_TMP/true-setuid"
rc=0
run_tool "$LAB_TMP/true-setuid" >"$LAB_TMP/suid.out" 2>"$LAB_TMP/suid.err" || rc=$?
check_refusal "refuses a set-user-ID program" "$rc" "$LAB_TMP/suid.err" "$LAB_TMP/suid.out" \
	"true-setuid is set-user/group-ID: the loader ignores LD_PRELOAD"

# 1b. set-group-ID
cp /usr/bin/true "$LAB_TMP/true-setgid"
chmod g+s "$LAB_TMP/true-setgid"
rc=0
run_tool "$LAB_TMP/true-setgid" >"$LAB_TMP/sgid.out" 2>"$LAB_TMP/sgid.err" || rc=$?
check_refusal "refuses a set-group-ID program" "$rc" "$LAB_TMP/sgid.err" "$LAB_TMP/sgid.out" \
	"true-setgid is set-user/group-ID"

# 2. file capabilities
cp /usr/bin/true "$LAB_TMP/true-caps"
if ! command -v setcap >/dev/null; then
	fail "refuses a program with file capabilities" "setcap is missing (libcap2-bin)"
elif ! setcap cap_net_raw+ep "$LAB_TMP/true-caps" 2>"$LAB_TMP/setcap.err"; then
	fail "refuses a program with file capabilities" "setcap failed: $(cat "$LAB_TMP/setcap.err")"
else
	rc=0
	run_tool "$LAB_TMP/true-caps" >"$LAB_TMP/caps.out" 2>"$LAB_TMP/caps.err" || rc=$?
	check_refusal "refuses a program with file capabilities" "$rc" "$LAB_TMP/caps.err" \
		"$LAB_TMP/caps.out" "true-caps has file capabilities: the loader ignores LD_PRELOAD"
fi

# 3. SYNACK_LIB that is not a loadable library: a text file, an ELF executable, a missing file.
for i in $(seq 100); do echo "this is not a shared library"; done >"$LAB_TMP/notalib.so"
rc=0
SYNACK_LIB=$LAB_TMP/notalib.so run_tool /usr/bin/true >"$LAB_TMP/lib.out" 2>"$LAB_TMP/lib.err" || rc=$?
check_refusal "refuses SYNACK_LIB naming a text file" "$rc" "$LAB_TMP/lib.err" "$LAB_TMP/lib.out" \
	"notalib.so cannot be preloaded"
cp /usr/bin/true "$LAB_TMP/exe.so"
rc=0
SYNACK_LIB=$LAB_TMP/exe.so run_tool /usr/bin/true >"$LAB_TMP/exe.out" 2>"$LAB_TMP/exe.err" || rc=$?
check_refusal "refuses SYNACK_LIB naming an executable" "$rc" "$LAB_TMP/exe.err" "$LAB_TMP/exe.out" \
	"exe.so cannot be preloaded"
rc=0
SYNACK_LIB=$LAB_TMP/no-such-lib.so run_tool /usr/bin/true >"$LAB_TMP/nolib.out" \
	2>"$LAB_TMP/nolib.err" || rc=$?
check_refusal "refuses SYNACK_LIB naming a missing file" "$rc" "$LAB_TMP/nolib.err" \
	"$LAB_TMP/nolib.out" "no-such-lib.so"

# 4. A normal program: curl prints the page; its connection is synack's.
srv=$LAB_TMP/srv
mkdir -p "$srv"
echo "hello through synack run" >"$srv/hello.txt"
peer_http_server "$srv" 8000 HTTP/1.0
rc=0
SYNACK_TRACE=states run_tool curl -sS --max-time 20 "http://$ADDR_B:8000/hello.txt" \
	>"$LAB_TMP/curl.out" 2>"$LAB_TMP/curl.err" || rc=$?
if ((rc != 0)); then
	fail "runs a normal program" "exit $rc"
	show "$LAB_TMP/curl.err"
elif ! cmp -s "$LAB_TMP/curl.out" "$srv/hello.txt"; then
	fail "runs a normal program" "its output differs: $(head -c 200 "$LAB_TMP/curl.out")"
	show "$LAB_TMP/curl.err"
elif ! grep -q "^synack: trace .* -> ESTABLISHED " "$LAB_TMP/curl.err"; then
	fail "runs a normal program" "output right, but synack reported no ESTABLISHED connection"
	show "$LAB_TMP/curl.err"
else
	pass "runs a normal program: curl's output printed, its connection ESTABLISHED by synack"
fi
lab_finish
