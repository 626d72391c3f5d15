#!/usr/bin/env bash
# Malformed and unusual frames against synack (docs/security.md).
#
# A Python server under synack (SYNACK_BPF=0, so every frame on the interface reaches synack's
# own checks; receive checksum offload off on its veth, so synack verifies TCP checksums
# itself instead of trusting veth's "checksum unnecessary") listens on two ports.
#   1. examples/tcpinject sends 200 frames of each of 23 kinds: truncated Ethernet/IP/TCP
#      headers, IP total length and TCP data offset lying in both directions, IP options (good
#      and with a bad length), fragments, bad TCP option lengths, bad checksums, martian and
#      foreign addresses, port 0. synack must survive and count every frame of each kind under
#      the drop reason the injector names (SYNACK_STATS at exit).
#   2. tcpinject's own TCP client, from a spoofed on-link address: its sequence numbers wrap
#      during a 64 KiB upload, it advertises a zero window (synack must probe, backing off),
#      sends a storm of 1000 window probes beyond synack's window (dropped, each answered by an
#      ACK that does not move), then opens a 1 GiB window and takes 200,000 bytes intact.
#   3. A kernel client still gets its line echoed.
. "$(dirname "$0")/lib.sh"

lab_up

INJ=$LAB_BUILD/examples/tcpinject
K=200
PY=$LAB_TMP/malformed.py
cat >"$PY" <<'EOF'
import os, socket, sys, threading
from labpeer import echo_line, listener

def read_exactly(c, n):
    buf = b''
    while len(buf) < n:
        b = c.recv(n - len(buf))
        if not b:
            break
        buf += b
    return buf

def rawconn(c):
    with c:
        data = read_exactly(c, 65536)
        c.sendall(b'%d %d\n' % (len(data), sum(data) & 0xffffffff))
        c.sendall(bytes((i * 7) & 0xff for i in range(200000)))
        while c.recv(65536):
            pass

def serve(ls, fn):
    while True:
        c, _ = ls.accept()
        threading.Thread(target=fn, args=(c,), daemon=True).start()

addr, tmp = sys.argv[1], sys.argv[2]
for port, fn in ((7112, echo_line), (7113, rawconn)):
    threading.Thread(target=serve, args=(listener(addr, port), fn), daemon=True).start()
open(tmp + '/ready', 'w').close()
while not os.path.exists(tmp + '/stop'):
    threading.Event().wait(0.1)
sys.exit(0)
EOF

ip netns exec "$NS_A" ethtool -K "$IF_A" rx off >/dev/null 2>&1 ||
	echo "# could not switch off receive checksum offload on $IF_A"
STATS=$LAB_TMP/stats
SYNACK_BPF=0 SYNACK_STATS=$STATS LAB_TIMEOUT=120 spawn "$LAB_TMP/server.log" \
	synack_exec "$LAB_PY" "$PY" "$ADDR_A" "$LAB_TMP"
server_pid=$LAB_LAST_PID
synack_wait_ready "$LAB_TMP/server.log"
MAC_A=$(ip netns exec "$NS_A" cat /sys/class/net/$IF_A/address)
MAC_B=$(ip netns exec "$NS_B" cat /sys/class/net/veth-peer/address)

# ---- 1. malformed frames ----
rc=0
timeout -k 3 60 ip netns exec "$NS_B" "$INJ" veth-peer "$MAC_A" "$ADDR_A" malformed "$MAC_B" "$ADDR_B" "$K" \
	>"$LAB_TMP/kinds" 2>"$LAB_TMP/kinds.err" || rc=$?
((rc == 0)) || {
	fail "malformed frames sent" "tcpinject exited $rc"
	show "$LAB_TMP/kinds.err"
}

# ---- 2. the raw client: wrap, zero and huge windows, a probe storm ----
rc=0
timeout -k 3 90 ip netns exec "$NS_B" "$INJ" veth-peer "$MAC_A" "$ADDR_A" rawconn 02:77:00:00:00:4d \
	10.77.0.77 7113 >"$LAB_TMP/rawconn.out" 2>"$LAB_TMP/rawconn.err" || rc=$?
report_checks "$LAB_TMP/rawconn.out" "$rc" "raw TCP client" "raw client from a spoofed on-link address: "

# ---- 3. a kernel client is still served ----
if [[ $(peer_exec timeout 10 "$LAB_PY" -c "
import socket; s = socket.create_connection(('$ADDR_A', 7112), timeout=8)
s.sendall(b'still here\n'); print(s.recv(100).decode().strip())" 2>"$LAB_TMP/echo.err") == "still here" ]]; then
	pass "after all of it, a kernel client's line is echoed"
else
	fail "after all of it, a kernel client's line is echoed" "no echo"
	show "$LAB_TMP/echo.err"
fi
check_running "synack survived every frame" "$server_pid" "$LAB_TMP/server.log"

touch "$LAB_TMP/stop"
timeout 30 tail --pid="$server_pid" -f /dev/null 2>/dev/null || true
if [[ ! -s $STATS ]]; then
	fail "every malformed frame counted under its reason" "no SYNACK_STATS file"
	show "$LAB_TMP/server.log"
	lab_finish
fi
# Each counter must have counted at least the frames of the kinds that name it.
declare -A want=()
while read -r _ kind counter n; do
	want[$counter]=$((${want[$counter]:-0} + n))
	echo "# $kind -> $counter ($n)"
done <"$LAB_TMP/kinds"
short=""
summary=""
for counter in "${!want[@]}"; do
	got=$(stat_of "$STATS" "$counter")
	summary+="$counter $got/${want[$counter]}, "
	((${got:-0} >= ${want[$counter]})) || short+="$counter ${got:-none} < ${want[$counter]}; "
done
kinds=$(wc -l <"$LAB_TMP/kinds")
if ((kinds == 0)); then
	fail "every malformed frame counted under its reason" "no frame was sent"
elif [[ -z $short ]]; then
	pass "every malformed frame counted under its reason: $kinds kinds x $K (${summary%, })"
else
	fail "every malformed frame counted under its reason" "$short"
fi
lab_finish
