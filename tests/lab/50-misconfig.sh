#!/usr/bin/env bash
# A wrong configuration gives exactly one clear line on stderr starting "synack:" that names
# what is wrong, and the program's connection fails fast (no hang, no crash). Runs with plain
# LD_PRELOAD (as a user who sets the environment by hand would), not `synack run`, which
# checks its own options before the library ever sees them.
. "$(dirname "$0")/lib.sh"

lab_up
srv=$LAB_TMP/srv
mkdir -p "$srv"
make_file "$srv/f.bin" 1000
peer_http_server "$srv" 8000 HTTP/1.0

# check NAME WORD ENV...: run curl with LD_PRELOAD and ENV; WORD must appear in the synack line.
check() {
	local name=$1 word=$2 rc=0 start elapsed lines crashed=""
	shift 2
	start=$(now_ms)
	timeout -k 2 10 ip netns exec "$NS_A" env LD_PRELOAD="$LAB_LIB" SYNACK_STRICT=1 "$@" \
		curl -sS --max-time 8 -o "$LAB_TMP/out" "http://$ADDR_B:8000/f.bin" \
		2>"$LAB_TMP/err" || rc=$?
	elapsed=$(($(now_ms) - start))
	lines=$(grep -c '^synack:' "$LAB_TMP/err" || true)
	((rc < 128)) || crashed=1
	if [[ ${LAB_KERNEL_ONLY:-0} == 1 ]]; then
		fail "$name" "not meaningful without synack (LAB_KERNEL_ONLY=1)"
	elif ((rc == 0)); then
		fail "$name" "curl succeeded"
	elif ((rc == 124 || rc == 137)); then
		fail "$name" "curl hung (killed after 10 s)"
	elif [[ -n $crashed ]]; then
		fail "$name" "curl died of a signal (exit $rc)"
		show "$LAB_TMP/err"
	elif ((elapsed > 3000)); then
		fail "$name" "curl took ${elapsed} ms to fail (limit 3000 ms)"
	elif ((lines != 1)); then
		fail "$name" "$lines lines start with 'synack:' on stderr (want exactly 1)"
		show "$LAB_TMP/err"
	elif ! grep '^synack:' "$LAB_TMP/err" | grep -q -- "$word"; then
		fail "$name" "the synack line does not mention $word"
		show "$LAB_TMP/err"
	else
		pass "$name: $(grep '^synack:' "$LAB_TMP/err") (curl exit $rc, ${elapsed} ms)"
	fi
}

check "missing SYNACK_IFACE" SYNACK_IFACE SYNACK_ADDR="$ADDR_A/24"
check "SYNACK_ADDR without prefix" SYNACK_ADDR SYNACK_IFACE="$IF_A" SYNACK_ADDR="$ADDR_A"
check "SYNACK_ADDR not an address" SYNACK_ADDR SYNACK_IFACE="$IF_A" SYNACK_ADDR=banana/24
check "missing SYNACK_ADDR" SYNACK_ADDR SYNACK_IFACE="$IF_A"
check "interface does not exist" nosuch0 SYNACK_IFACE=nosuch0 SYNACK_ADDR="$ADDR_A/24"
lab_finish
