#!/usr/bin/env bash
# A SYN flood from spoofed on-link sources against a listener under synack (docs/security.md).
#
# A Python echo server listens under synack (backlog 128: its SYN queue holds 128). From the
# peer namespace, examples/tcpinject sends 20,000 SYNs at 20,000/s from random addresses of
# 10.77.0.10-250 with random MACs and ports: none of them will ever answer. Once a quarter is
# sent, a real kernel client connects and exchanges a line. Checks:
#   - the client connects during the flood, within a generous bound (5 s; its connect time is
#     reported: a SYN,ACK that had to wait for a SYN retransmission would show as ~1 s);
#   - the listener answered with SYN cookies, kept no more than its SYN queue, and never queued
#     a frame for ARP nor sent ARP requests towards the spoofed sources (SYNACK_STATS);
#   - the memory of the synack process stays bounded: its RSS grows by less than 32 MiB
#     (before / after / peak reported).
. "$(dirname "$0")/lib.sh"

lab_up

INJ=$LAB_BUILD/examples/tcpinject
PORT=7110
COUNT=${FLOOD_COUNT:-20000} # FLOOD_COUNT, FLOOD_RATE: by hand, for heavier floods
RATE=${FLOOD_RATE:-20000}
PY=$LAB_TMP/flood.py
cat >"$PY" <<'EOF'
import os, socket, sys, threading, time
from labpeer import echo_line, listener

def rss_kib():
    # VmRSS and VmHWM (peak) of this process, KiB.
    d = {}
    for line in open('/proc/self/status'):
        k, _, v = line.partition(':')
        d[k] = v.split()[0] if v.split() else '0'
    return int(d['VmRSS']), int(d['VmHWM'])

def server(addr, port, tmp):
    ls = listener(addr, port, 128)
    ls.settimeout(0.2)
    open(tmp + '/rss-before', 'w').write('%d %d\n' % rss_kib())
    open(tmp + '/ready', 'w').close()
    while not os.path.exists(tmp + '/stop'):
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=echo_line, args=(c,), daemon=True).start()
    open(tmp + '/rss-after', 'w').write('%d %d\n' % rss_kib())
    sys.exit(0)  # a normal exit: SYNACK_STATS is written

def client(addr, port):
    t0 = time.monotonic()
    s = socket.create_connection((addr, port), timeout=10)
    ms = (time.monotonic() - t0) * 1000
    s.sendall(b'hello through the flood\n')
    if s.recv(100) != b'hello through the flood\n':
        sys.exit('bad echo')
    print('%.1f' % ms)

if sys.argv[1] == 'server':
    server(sys.argv[2], int(sys.argv[3]), sys.argv[4])
else:
    client(sys.argv[2], int(sys.argv[3]))
EOF

STATS=$LAB_TMP/stats
SYNACK_STATS=$STATS LAB_TIMEOUT=120 spawn "$LAB_TMP/server.log" \
	synack_exec "$LAB_PY" "$PY" server "$ADDR_A" "$PORT" "$LAB_TMP"
server_pid=$LAB_LAST_PID
synack_wait_ready "$LAB_TMP/server.log"

MAC_A=$(ip netns exec "$NS_A" cat /sys/class/net/$IF_A/address)
spawn "$LAB_TMP/flood.log" timeout -k 3 60 ip netns exec "$NS_B" "$INJ" veth-peer "$MAC_A" "$ADDR_A" \
	synflood "$PORT" "$COUNT" "$RATE" 10.77.0.0 10 250 "$LAB_TMP/quarter"
flood_pid=$LAB_LAST_PID
for ((i = 0; i < 200; i++)); do
	[[ -e $LAB_TMP/quarter ]] && break
	sleep 0.05
done

# ---- the real client, during the flood ----
name="a kernel client connects during a flood of $COUNT spoofed SYNs at $RATE/s"
rc=0
peer_exec timeout -k 3 20 "$LAB_PY" "$PY" client "$ADDR_A" "$PORT" >"$LAB_TMP/client.out" \
	2>"$LAB_TMP/client.err" || rc=$?
during=no
kill -0 "$flood_pid" 2>/dev/null && during=yes
ms=$(cat "$LAB_TMP/client.out" 2>/dev/null)
if ((rc != 0)); then
	fail "$name" "client exited $rc"
	show "$LAB_TMP/client.err"
elif [[ ! -e $LAB_TMP/quarter ]]; then
	fail "$name" "the flood never reached a quarter"
	show "$LAB_TMP/flood.log"
elif awk -v m="$ms" 'BEGIN { exit !(m <= 5000) }'; then
	pass "$name: connected and echoed, connect() took $ms ms (flood still running then: $during)"
else
	fail "$name" "connect() took $ms ms (bound 5000)"
fi

# ---- the flood ends; the server exits and reports ----
timeout 60 tail --pid="$flood_pid" -f /dev/null 2>/dev/null || true
touch "$LAB_TMP/stop"
timeout 30 tail --pid="$server_pid" -f /dev/null 2>/dev/null || true
echo "# injector: $(cat "$LAB_TMP/flood.log")"
if [[ ! -s $STATS ]]; then
	fail "SYN cookies and the ARP cache under the flood" "no SYNACK_STATS file"
	show "$LAB_TMP/server.log"
	lab_finish
fi
echo "# counters: $(for c in tcp_rx_segs tcp_syn_queue_full tcp_syncookies_sent tcp_syncookies_ok \
	tcp_syncookies_failed tcp_conn_passive tcp_listen_overflows arp_requests_sent arp_queue_drops \
	arp_tx_sender_mac arp_learned_tcp dev_rx_frames; do printf '%s=%s ' "$c" "$(stat_of "$STATS" "$c")"; done)"
sent=$(stat_of "$STATS" tcp_syncookies_sent)
passive=$(stat_of "$STATS" tcp_conn_passive)
ok=$(stat_of "$STATS" tcp_syncookies_ok)
arpreq=$(stat_of "$STATS" arp_requests_sent)
arpdrop=$(stat_of "$STATS" arp_queue_drops)
name="SYN cookies answer the flood; the SYN queue holds 128; no ARP towards spoofed sources"
if ((sent >= COUNT / 2 && passive <= 128 + 2 && arpreq <= 2 && arpdrop == 0)); then
	pass "$name (cookies sent $sent, half-open connections made $passive, cookies accepted $ok, ARP requests $arpreq, ARP queue drops 0)"
else
	fail "$name" "cookies sent $sent (want >= $((COUNT / 2))), passive $passive (want <= 130), ARP requests $arpreq (<= 2), ARP queue drops $arpdrop (0)"
fi

read -r before _ <"$LAB_TMP/rss-before" || before=0
read -r after peak <"$LAB_TMP/rss-after" || after=0
name="the synack process's memory stays bounded during the flood"
if ((after > 0 && after - before < 32768)); then
	pass "$name: RSS $((before / 1024)) MiB before, $((after / 1024)) MiB after, peak $((peak / 1024)) MiB (+$((after - before)) KiB)"
else
	fail "$name" "RSS $before KiB before, $after KiB after (bound +32768 KiB), peak $peak KiB"
fi
lab_finish
