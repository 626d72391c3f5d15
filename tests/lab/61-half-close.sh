#!/usr/bin/env bash
# Half-close (TCP/IP Illustrated ch. 18; RFC 9293 §3.6): one direction closed by shutdown(SHUT_WR),
# the other still carrying data, against a Linux peer, byte-exact (SHA-256).
#
# The server of each case reads to end of stream and only THEN sends its reply (the bytes it
# received, back), so the reply can only arrive if the half-closed connection still carries
# the other direction.
#  1. synack client -> kernel server: the client sends, shutdown(SHUT_WR), reads the whole reply
#     in FIN_WAIT_2; its trace must be SYN_SENT -> ESTABLISHED -> FIN_WAIT_1 -> FIN_WAIT_2 ->
#     TIME_WAIT -> CLOSED (the peer ACKs at once, SYNACK_LAB_PEER_QUICKACK=1, so our FIN's ACK
#     does not ride on the reply).
#  2. kernel client -> synack server: synack reads the kernel's FIN as end of stream (0 from
#     recv), sends the reply from CLOSE_WAIT, closes: LISTEN -> SYN_RECEIVED -> ESTABLISHED ->
#     CLOSE_WAIT -> LAST_ACK -> CLOSED for each connection (the listener's own line is left out).
. "$(dirname "$0")/lib.sh"

export SYNACK_LAB_PEER_QUICKACK=1
lab_up

HC=$LAB_TMP/halfclose.py
cat >"$HC" <<'EOF'
import socket, sys
from labpeer import connect, listener

def server(addr, port):
    # Reads each connection to end of stream, then sends back what it read, then closes.
    ls = listener(addr, port)
    while True:
        c, _ = ls.accept()
        data = bytearray()
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
        c.sendall(data)
        c.close()

def client(addr, port, infile, outfile):
    # Sends the file, shuts down writing, reads the reply to end of stream.
    data = open(infile, 'rb').read()
    s = connect(addr, port)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    try:
        s.send(b'x')
        sys.exit('send after SHUT_WR succeeded')
    except BrokenPipeError:
        pass
    reply = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            break
        reply += b
    if s.recv(1) != b'':
        sys.exit('a second read after end of stream did not return 0 bytes')
    open(outfile, 'wb').write(reply)
    s.close()

if sys.argv[1] == 'server':
    server(sys.argv[2], int(sys.argv[3]))
else:
    client(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
EOF

SIZES=(1 65536 300000)

# ---- 1. synack client half-closes toward a kernel server -------------------------------------
spawn "$LAB_TMP/kserver.log" ip netns exec "$NS_B" "$LAB_PY" "$HC" server "$ADDR_B" 7001
peer_wait_listen 7001
for size in "${SIZES[@]}"; do
	name="synack client: send $size B, shutdown(SHUT_WR), read the reply"
	make_file "$LAB_TMP/in$size" "$size"
	rc=0
	SYNACK_TRACE=states SYNACK_MSL_MS=200 SYNACK_LINGER_MS=3000 LAB_TIMEOUT=25 \
		synack_exec "$LAB_PY" "$HC" client "$ADDR_B" 7001 "$LAB_TMP/in$size" "$LAB_TMP/out$size" \
		2>"$LAB_TMP/c$size.err" || rc=$?
	# The MSS (1460, or 1448 with timestamps) is not what this test is about.
	timeline=$(bash "$LAB_ROOT/examples/trace-timeline.sh" --port 7001 <"$LAB_TMP/c$size.err" |
		sed -E 's/ \(MSS [0-9]+\)//')
	want="SYN_SENT -> ESTABLISHED -> FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> CLOSED"
	if ((rc != 0)); then
		fail "$name" "client exited $rc"
		show "$LAB_TMP/c$size.err"
		show "$LAB_TMP/kserver.log"
	elif [[ ! -f $LAB_TMP/out$size ]] ||
		[[ $(sha "$LAB_TMP/out$size") != "$(sha "$LAB_TMP/in$size")" ]]; then
		fail "$name" "the reply differs from what was sent"
	elif [[ ${timeline#*  } != "$want" ]]; then
		fail "$name" "timeline '${timeline#*  }', want '$want'"
		show "$LAB_TMP/c$size.err"
	else
		pass "$name: SHA-256 equal; $want"
	fi
done

# ---- 2. a kernel client half-closes toward a synack server -----------------------------------
SYNACK_TRACE=states SYNACK_MSL_MS=200 LAB_TIMEOUT=60 \
	spawn "$LAB_TMP/sserver.log" synack_exec "$LAB_PY" "$HC" server "$ADDR_A" 7002
for size in "${SIZES[@]}"; do
	name="synack server: reads to end of stream, replies from CLOSE_WAIT ($size B)"
	rc=0
	timeout -k 3 20 ip netns exec "$NS_B" "$LAB_PY" "$HC" client "$ADDR_A" 7002 "$LAB_TMP/in$size" \
		"$LAB_TMP/kout$size" 2>"$LAB_TMP/k$size.err" || rc=$?
	if ((rc != 0)); then
		fail "$name" "kernel client exited $rc"
		show "$LAB_TMP/k$size.err"
		show "$LAB_TMP/sserver.log"
	elif [[ $(sha "$LAB_TMP/kout$size") != "$(sha "$LAB_TMP/in$size")" ]]; then
		fail "$name" "the reply differs from what was sent"
	else
		pass "$name: SHA-256 equal"
	fi
done
# The server's connections, one timeline each (ports differ): every one a passive open that
# ends by the server's close after the client's FIN.
want="LISTEN -> SYN_RECEIVED -> ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED"
timelines=$(bash "$LAB_ROOT/examples/trace-timeline.sh" --port 7002 <"$LAB_TMP/sserver.log" |
	grep -vF ' > 0.0.0.0:0 ' | sed -E 's/ \(MSS [0-9]+\)//' || true)
n=$(grep -c . <<<"$timelines" || true)
bad=$(grep -vF "  $want" <<<"$timelines" || true)
if ((n != ${#SIZES[@]})); then
	fail "synack server: passive half-close timeline" "$n connections traced, want ${#SIZES[@]}"
	show "$LAB_TMP/sserver.log"
elif [[ -n $bad ]]; then
	fail "synack server: passive half-close timeline" "got '${bad#*  }', want '$want'"
	show "$LAB_TMP/sserver.log"
else
	pass "synack server: passive half-close timeline: $want"
fi
lab_finish
