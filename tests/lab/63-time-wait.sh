#!/usr/bin/env bash
# TIME_WAIT against a Linux peer (RFC 9293 §3.10.7.4, §3.10.8; seed §5).
# A synack client closes first; the kernel server reads to end of stream and closes after it.
# synack goes FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT. Its ACK of the server's FIN is dropped once
# (an nftables rule in the peer namespace, removed as soon as it has dropped that one ACK), so
# the kernel, in LAST_ACK, retransmits its FIN: synack, in TIME_WAIT, must re-ACK it (and restart
# its 2·MSL timer), never answer with an RST, and the kernel then leaves LAST_ACK after
# exactly one retransmission. synack's connection ends in CLOSED no sooner than 2·MSL after
# entering TIME_WAIT, and restarted by the retransmitted FIN: it lasts 2·MSL plus most of the gap
# between the FIN and its retransmission (measured with tcpdump in the peer namespace).
. "$(dirname "$0")/lib.sh"

export SYNACK_LAB_PEER_QUICKACK=1
lab_up

MSL=500
PORT=7020
PY=$LAB_TMP/tw.py
cat >"$PY" <<'EOF'
import socket, sys, time
from labpeer import connect, listener, wait_file

if sys.argv[1] == 'server':
    # Read to end of stream, tell the test, wait until it has armed the drop rule, close.
    addr, port, tmp = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    ls = listener(addr, port, 1)
    c, _ = ls.accept()
    while c.recv(4096):
        pass
    open(tmp + '/eof', 'w').close()
    wait_file(tmp + '/armed')
    c.close()
    time.sleep(30)
else:
    # Connect, send a line, close first; stay alive while TIME_WAIT runs its course (until the
    # test has seen it end in the trace).
    addr, port, tmp = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = connect(addr, port)
    s.sendall(b'bye\n')
    s.close()
    wait_file(tmp + '/done', 40)
EOF

# Counters in the peer namespace: the kernel's FINs out, synack's RSTs in.
peer_exec nft -f - <<EOF
table inet tw_count {
	chain output {
		type filter hook output priority 0; policy accept;
		ip saddr $ADDR_B tcp sport $PORT tcp flags & fin == fin counter
	}
	chain input {
		type filter hook input priority -10; policy accept;
		ip saddr $ADDR_A tcp dport $PORT tcp flags & rst == rst counter
	}
}
EOF
counter() {
	peer_exec nft list chain inet "$1" "$2" | sed -nE 's/.*counter packets ([0-9]+) .*/\1/p'
}

# The kernel's FINs on the wire, timed: the gap between the FIN and its retransmission is what
# the 2·MSL restart adds to TIME_WAIT.
spawn "$LAB_TMP/tcpdump.log" ip netns exec "$NS_B" \
	tcpdump -i veth-peer -U -n -w "$LAB_TMP/fins.pcap" \
	"src host $ADDR_B and tcp src port $PORT and tcp[tcpflags] & tcp-fin != 0"
tcpdump_pid=$LAB_LAST_PID
# Each wait below is for a condition, bounded generously (a loaded machine is slow, not wrong).
wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds; 1 if it never did
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < end)) || return 1
		sleep 0.01
	done
}
if ! wait_for 20 grep -qs 'listening on' "$LAB_TMP/tcpdump.log"; then
	fail "set-up" "tcpdump did not start"
	show "$LAB_TMP/tcpdump.log"
	lab_finish
fi

spawn "$LAB_TMP/server.log" \
	ip netns exec "$NS_B" "$LAB_PY" "$PY" server "$ADDR_B" "$PORT" "$LAB_TMP"
peer_wait_listen "$PORT"
SYNACK_TRACE=states SYNACK_MSL_MS=$MSL SYNACK_LINGER_MS=3000 LAB_TIMEOUT=60 \
	spawn "$LAB_TMP/client.log" synack_exec "$LAB_PY" "$PY" client "$ADDR_B" "$PORT" "$LAB_TMP"
client_pid=$LAB_LAST_PID
trace=$LAB_TMP/client.log
# The time of the first transition to state $1 in the trace (ms), or nothing.
ms_of() { awk -v s="$1" '$1 == "synack:" && $2 == "trace" && $9 == s { print $3; exit }' "$trace"; }

# Once the server has read our FIN (synack is in FIN_WAIT_2 and sends nothing until the server's
# FIN), drop the next pure ACK from synack: the ACK of the server's FIN.
if ! wait_for 30 test -e "$LAB_TMP/eof"; then
	fail "set-up" "the server never read the client's end of stream"
	show "$trace"
	show "$LAB_TMP/server.log"
	lab_finish
fi
peer_exec nft -f - <<EOF
table inet tw_drop {
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr $ADDR_A tcp dport $PORT tcp flags & (fin | syn | rst | ack) == ack counter drop
	}
}
EOF
touch "$LAB_TMP/armed"
dropped=0
end=$((SECONDS + 20))
while ((SECONDS < end)); do
	dropped=$(counter tw_drop input)
	((dropped > 0)) && break
	sleep 0.005
done
peer_exec nft delete table inet tw_drop
# The client stays until its connection has left TIME_WAIT (2·MSL after the last FIN).
closed_seen() { [[ -n $(ms_of CLOSED) ]]; }
wait_for 30 closed_seen || true
touch "$LAB_TMP/done"

rc=0
wait "$client_pid" || rc=$?
kill -INT "$tcpdump_pid" 2>/dev/null || true
wait "$tcpdump_pid" || true
# Gap between the first two FINs in µs (empty if fewer than two).
fin_gap_us=$(tcpdump -r "$LAB_TMP/fins.pcap" -tt -n 2>/dev/null |
	awk 'NR == 1 { a = $1 } NR == 2 { printf "%d", ($1 - a) * 1000000 }')
fins=$(counter tw_count output)
rsts=$(counter tw_count input)
last_ack=$(peer_exec ss -Htn state last-ack "( sport = :$PORT )")
timeline=$(bash "$LAB_ROOT/examples/trace-timeline.sh" --port "$PORT" <"$trace" |
	sed -E 's/ \(MSS [0-9]+\)//') # the MSS (1460, or 1448 with timestamps) is not at issue here
t_tw=$(ms_of TIME_WAIT)
t_closed=$(ms_of CLOSED)

name="active close: FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> CLOSED"
want="SYN_SENT -> ESTABLISHED -> FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> CLOSED"
if ((rc != 0)); then
	fail "$name" "client exited $rc"
	show "$trace"
	show "$LAB_TMP/server.log"
elif [[ ${timeline#*  } != "$want" ]]; then
	fail "$name" "timeline '${timeline#*  }', want '$want'"
	show "$trace"
else
	pass "$name"
fi

name="TIME_WAIT re-ACKs the retransmitted FIN"
if ((dropped != 1)); then
	fail "$name" "the drop rule dropped $dropped ACKs, want 1 (test set-up)"
elif ((fins != 2)); then
	fail "$name" "the kernel sent $fins FINs, want 2 (the original and ONE retransmission)"
	show "$trace"
elif ((rsts != 0)); then
	fail "$name" "synack sent $rsts RSTs"
elif [[ -n $last_ack ]]; then
	fail "$name" "the kernel is still in LAST_ACK: $last_ack"
else
	pass "$name (one ACK dropped, 2 FINs from the kernel, no RST, peer CLOSED)"
fi

name="CLOSED after 2*MSL (SYNACK_MSL_MS=$MSL), restarted by the retransmitted FIN"
if [[ -z $t_tw || -z $t_closed ]]; then
	fail "$name" "no TIME_WAIT or CLOSED in the trace"
	show "$trace"
else
	# Times in the trace are ms with 3 decimals; compare in µs.
	tw_us=$(awk -v a="$t_tw" -v b="$t_closed" 'BEGIN { printf "%d", (b - a) * 1000 }')
	if ((tw_us < 2 * MSL * 1000)); then
		fail "$name" "TIME_WAIT lasted $((tw_us / 1000)) ms, less than 2*MSL = $((2 * MSL)) ms"
	elif [[ -z $fin_gap_us ]]; then
		fail "$name" "tcpdump did not see the kernel's two FINs"
		show "$LAB_TMP/tcpdump.log"
	elif ((tw_us < 2 * MSL * 1000 + fin_gap_us / 2)); then
		# Restarted, TIME_WAIT lasts 2*MSL + the gap (>= 200 ms, the kernel's minimum RTO);
		# not restarted, 2*MSL. The trace's times are when synack's runtime thread processed
		# the FINs, which on a loaded machine may lag the wire by tens of ms: the threshold is
		# half the gap, far from both.
		why="TIME_WAIT lasted $((tw_us / 1000)) ms: not restarted by the FIN retransmitted"
		why+=" $((fin_gap_us / 1000)) ms in (want >= $((2 * MSL + fin_gap_us / 2000)) ms)"
		fail "$name" "$why"
	elif ((tw_us > (2 * MSL + 2000) * 1000 + fin_gap_us)); then
		fail "$name" "TIME_WAIT lasted $((tw_us / 1000)) ms, far more than 2*MSL after the last FIN"
	else
		pass "$name: TIME_WAIT lasted $((tw_us / 1000)) ms, FIN again at +$((fin_gap_us / 1000)) ms"
	fi
fi
lab_finish
