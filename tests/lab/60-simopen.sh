#!/usr/bin/env bash
# A connection without listen(): examples/simopen under synack (10.77.0.1:5001, then :5011)
# and the same program on the kernel peer (10.77.0.2:5002, then :5012), each connect()ing to
# the other, started together. Nobody listens; they must get ONE connection and each print the
# other's line.
#
# 1. "synack in SYN_SENT gets the kernel's SYN": an nftables rule in the peer namespace drops
#    every SYN (without ACK) coming from synack's port 5001. synack's connect therefore stays in
#    SYN_SENT (its SYN and retransmissions never arrive) until the kernel's SYN reaches it: the
#    simultaneous-open edge SYN_SENT -> SYN_RECEIVED (RFC 9293 §3.10.7.3), answered with a
#    SYN,ACK (not dropped: it carries ACK) that completes the kernel's connect. The synack trace
#    must read SYN_SENT -> SYN_RECEIVED -> ESTABLISHED, and the rule must have dropped a SYN.
#    The kernel side's SYNs that arrive before synack's connect are refused with an RST (or go
#    unanswered before synack starts) and simopen retries; this case does not depend on timing.
# 2. "no firewall": both started together with nothing dropped, the natural race of two
#    programs; whatever the interleaving (refusals, crossing SYNs), exactly one connection.
. "$(dirname "$0")/lib.sh"

SIMOPEN=$LAB_BUILD/examples/simopen
NFT_TABLE=synack_simopen

lab_up

if [[ ! -x $SIMOPEN ]]; then
	fail "setup" "$SIMOPEN is not built"
	lab_finish
fi

# Run both sides; synack first (port $SPORT), the kernel side (port $KPORT) immediately after
# (neither listens). Each case has its own ports: a previous case's connection may still be in
# TIME_WAIT on the kernel, and the kernel refuses connect() from a bound port into a 4-tuple in
# TIME_WAIT (EADDRNOTAVAIL). Sets KRC and SRC (exit statuses); outputs in $LAB_TMP/{k,s}$1.*.
run_pair() {
	local tag=$1
	SYNACK_TRACE=states SYNACK_MSL_MS=200 LAB_TIMEOUT=25 \
		spawn "$LAB_TMP/s$tag.err" synack_exec "$SIMOPEN" -t 15 -m "line from synack" \
		"$SPORT" "$ADDR_B" "$KPORT"
	local spid=$LAB_LAST_PID
	# spawn sends stdout and stderr to one file; keep the kernel side's apart.
	KRC=0
	timeout -k 3 25 ip netns exec "$NS_B" "$SIMOPEN" -t 15 -m "line from the kernel" \
		"$KPORT" "$ADDR_A" "$SPORT" >"$LAB_TMP/k$tag.out" 2>"$LAB_TMP/k$tag.err" || KRC=$?
	SRC=0
	wait "$spid" || SRC=$?
}

# Check the outputs of run_pair $1 (case name $2). Returns 0 when both exchanged lines.
check_lines() {
	local tag=$1 name=$2
	if ((KRC != 0 || SRC != 0)); then
		fail "$name" "exit status: kernel side $KRC, synack side $SRC"
		show "$LAB_TMP/k$tag.err"
		show "$LAB_TMP/s$tag.err"
		return 1
	fi
	if [[ $(cat "$LAB_TMP/k$tag.out") != "line from synack" ]]; then
		fail "$name" "the kernel side did not print synack's line"
		show "$LAB_TMP/k$tag.out"
		return 1
	fi
	if ! grep -qx "line from the kernel" "$LAB_TMP/s$tag.err"; then
		fail "$name" "the synack side did not print the kernel's line"
		show "$LAB_TMP/s$tag.err"
		return 1
	fi
	return 0
}

# The states of synack's connection ADDR_A:SPORT > ADDR_B:KPORT, one per line ("FROM TO"),
# from the trace in $1.
transitions() {
	awk -v l="$ADDR_A:$SPORT" -v r="$ADDR_B:$KPORT" \
		'$1 == "synack:" && $2 == "trace" && $4 == l && $6 == r { print $7, $9 }' "$1"
}

# ---- 1. the kernel's SYN reaches synack in SYN_SENT ------------------------------------------
SPORT=5001 KPORT=5002
peer_exec nft -f - <<EOF
table inet $NFT_TABLE {
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr $ADDR_A tcp sport $SPORT tcp dport $KPORT tcp flags & (syn | ack) == syn counter drop
	}
}
EOF
run_pair 1
dropped=$(peer_exec nft list chain inet "$NFT_TABLE" input |
	sed -nE 's/.*counter packets ([0-9]+) .*/\1/p')
peer_exec nft delete table inet "$NFT_TABLE"
name="synack in SYN_SENT receives the kernel's SYN: SYN_SENT -> SYN_RECEIVED -> ESTABLISHED"
if check_lines 1 "$name"; then
	got=$(transitions "$LAB_TMP/s1.err" | head -n 3 | tr '\n' ';')
	want="CLOSED SYN_SENT;SYN_SENT SYN_RECEIVED;SYN_RECEIVED ESTABLISHED;"
	if [[ $got != "$want" ]]; then
		fail "$name" "trace of $SPORT > $KPORT starts '$got', want '$want'"
		show "$LAB_TMP/s1.err"
	elif ((${dropped:-0} < 1)); then
		fail "$name" "the nftables rule dropped no SYN of synack's (counter '${dropped:-none}')"
	elif [[ $(transitions "$LAB_TMP/s1.err" | grep -c ' ESTABLISHED$') -ne 1 ]]; then
		fail "$name" "more than one ESTABLISHED in synack's trace"
		show "$LAB_TMP/s1.err"
	else
		pass "$name (synack SYNs dropped: $dropped)"
	fi
fi

# ---- 2. both started together, nothing dropped ------------------------------------------------
SPORT=5011 KPORT=5012
run_pair 2
name="two programs connect() to each other without listen(): one connection"
if check_lines 2 "$name"; then
	n=$(transitions "$LAB_TMP/s2.err" | grep -c ' ESTABLISHED$' || true)
	if ((n != 1)); then
		fail "$name" "synack's trace shows $n connections established, want 1"
		show "$LAB_TMP/s2.err"
	else
		pass "$name ($(grep -o 'after [0-9]* attempt(s)' "$LAB_TMP/s2.err" | head -1) on synack's side)"
	fi
fi
lab_finish
