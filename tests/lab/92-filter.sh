#!/usr/bin/env bash
# One receiver per frame: the kernel hands a synack process only IPv4 addressed to its own
# address and ARP (the packet filter of netdev/afpacket_filter.c, SYNACK_BPF).
#
# A synack echo server (python3) holds one connection from the kernel peer. While it does, the
# peer sends frames the server must never be handed, all to synack's MAC:
#   - UDP to 10.77.0.9, another address on the link, through the peer's kernel (a permanent
#     neighbour entry gives 10.77.0.9 synack's MAC): core would count each in ip_drop_not_ours;
#   - IPv6 frames: rx_drop_ethertype;
#   - IPv4 to synack's own address in a VLAN tag: the device's rx_ignored;
# then a last line on the TCP connection. The peer stays on one CPU, so its frames are queued
# in the order sent: when the server echoes that line, everything sent before it has been
# through the filter and, if handed over, counted. The server then exits and writes its
# counters (SYNACK_STATS). With the filter, all three counters are 0 (through `synack run`,
# which hands down its packet socket, and through plain LD_PRELOAD, where synack opens its own);
# the control run with SYNACK_BPF=0 counts every frame, so the test fails if the frames do not
# reach synack's interface at all. The conversation itself shows that ARP and synack's own
# IPv4 still pass.
. "$(dirname "$0")/lib.sh"

lab_up

PORT=7092
OTHER=10.77.0.9
N_UDP=40
N_RAW=10
MAC_A=$(ip -n "$NS_A" -br link show "$IF_A" | awk '{print $3}')
peer_exec ip neigh replace "$OTHER" lladdr "$MAC_A" dev veth-peer nud permanent

cat >"$LAB_TMP/echo_once.py" <<'EOF'
# Under synack: echo one connection's lines until the peer closes, then exit normally (the
# counters are written at exit).
import sys
from labpeer import listener

ls = listener(sys.argv[1], int(sys.argv[2]), 1)
c, _ = ls.accept()
for line in c.makefile('rb'):
    c.sendall(line)
c.close()
ls.close()
EOF

cat >"$LAB_TMP/foreign.py" <<'EOF'
# The kernel peer: a connection to the synack server, and frames for someone else meanwhile.
import os, socket, struct, sys
from labpeer import connect

addr, port, other, n_udp, n_raw, mac_a = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
    int(sys.argv[4]), int(sys.argv[5]), bytes.fromhex(sys.argv[6].replace(':', ''))
# One CPU: the frames below go through one receive backlog, in the order sent.
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

def echo(s, line):
    s.sendall(line)
    got = b''
    while not got.endswith(b'\n'):
        b = s.recv(100)
        if not b:
            sys.exit('the synack server closed before echoing %r' % line)
        got += b
    if got != line:
        sys.exit('echo %r, want %r' % (got, line))

s = connect(addr, port)
echo(s, b'hello\n')

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n_udp):
    u.sendto(b'not for synack %d' % i, (other, 9))

mac_peer = open('/sys/class/net/veth-peer/address').read().strip()
mac_peer = bytes.fromhex(mac_peer.replace(':', ''))
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 28, 1, 0x4000, 64, 17, 0,
                 socket.inet_aton('10.77.0.2'), socket.inet_aton(addr)) + bytes(8)
tagged = mac_a + mac_peer + struct.pack('!HHH', 0x8100, 5, 0x0800) + ip
ipv6 = mac_a + mac_peer + struct.pack('!H', 0x86dd) + b'\x60' + bytes(39)
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
raw.bind(('veth-peer', 0))
for i in range(n_raw):
    raw.send(tagged)
    raw.send(ipv6)

echo(s, b'done\n')
s.close()
print('ok', flush=True)
EOF

# Counter NAME of stats file FILE ("" when absent).
stat_of() { awk -v n="$2" '$1 == n { print $2 }' "$1" 2>/dev/null; }

# The synack echo server (in the background, through spawn): STATS, then VAR=VALUE settings.
server() {
	local stats=$1
	shift
	export "$@" SYNACK_STATS="$stats"
	synack_exec "$LAB_PY" "$LAB_TMP/echo_once.py" "$ADDR_A" "$PORT"
}

# One run: NAME, then VAR=VALUE settings for synack_exec. Leaves $LAB_TMP/stats-NAME.
run() {
	local name=$1 stats=$LAB_TMP/stats-$1 rc=0 pid i
	shift
	rm -f "$stats"
	# The peer forgets synack's MAC, so each run sees ARP: synack itself answers a SYN from an
	# on-link client at the SYN's source MAC and sends no request (docs/security.md).
	peer_exec ip neigh flush dev veth-peer
	spawn "$LAB_TMP/server-$name.log" server "$stats" "$@"
	pid=$LAB_LAST_PID
	peer_exec timeout -k 3 30 "$LAB_PY" "$LAB_TMP/foreign.py" "$ADDR_A" "$PORT" "$OTHER" \
		"$N_UDP" "$N_RAW" "$MAC_A" >"$LAB_TMP/peer-$name.log" 2>&1 || rc=$?
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ((rc != 0)) || ! grep -qx ok "$LAB_TMP/peer-$name.log"; then
		fail "$name: conversation" "the peer's client exited $rc"
		show "$LAB_TMP/peer-$name.log"
		show "$LAB_TMP/server-$name.log"
		return 1
	fi
	if [[ ! -s $stats ]]; then
		fail "$name: counters" "no SYNACK_STATS file (server $(kill -0 "$pid" 2>/dev/null && echo 'still running' || echo exited))"
		show "$LAB_TMP/server-$name.log"
		return 1
	fi
	return 0
}

# The counters that count frames for others: "ip_drop_not_ours=N rx_drop_ethertype=N ...".
foreign_counts() {
	local f=$1
	echo "ip_drop_not_ours=$(stat_of "$f" ip_drop_not_ours) rx_drop_ethertype=$(stat_of "$f" rx_drop_ethertype)" \
		"dev_rx_ignored=$(stat_of "$f" dev_rx_ignored) dev_packet_filter=$(stat_of "$f" dev_packet_filter)"
}

check_filtered() {
	local name=$1 f=$LAB_TMP/stats-$1
	# arp_rx: the stack starts with an empty neighbour cache and learns the peer's MAC only
	# from ARP, so ARP passed the filter.
	if [[ $(stat_of "$f" dev_packet_filter) == 1 && $(stat_of "$f" ip_drop_not_ours) == 0 &&
		$(stat_of "$f" rx_drop_ethertype) == 0 && $(stat_of "$f" dev_rx_ignored) == 0 &&
		$(stat_of "$f" arp_rx) -ge 1 ]]; then
		pass "$name: none of the $((N_UDP + 2 * N_RAW)) foreign frames reached synack, ARP did ($(foreign_counts "$f"), arp_rx=$(stat_of "$f" arp_rx), dev_rx_frames=$(stat_of "$f" dev_rx_frames))"
	else
		fail "$name: foreign frames reached synack, or ARP did not" \
			"$(foreign_counts "$f") arp_rx=$(stat_of "$f" arp_rx) (want 0, 0, 0, 1, >= 1)"
		show "$f"
	fi
}

if run filter-synack-run; then
	check_filtered filter-synack-run
fi
if run filter-preload SYNACK_VIA_PRELOAD=1; then
	check_filtered filter-preload
fi
if run control-no-filter SYNACK_BPF=0; then
	f=$LAB_TMP/stats-control-no-filter
	if [[ $(stat_of "$f" dev_packet_filter) == 0 && $(stat_of "$f" ip_drop_not_ours) -ge $N_UDP &&
		$(stat_of "$f" rx_drop_ethertype) -ge $N_RAW && $(stat_of "$f" dev_rx_ignored) -ge $N_RAW ]]; then
		pass "control SYNACK_BPF=0: synack was handed every foreign frame and dropped it itself ($(foreign_counts "$f"), dev_rx_frames=$(stat_of "$f" dev_rx_frames))"
	else
		fail "control SYNACK_BPF=0: the foreign frames did not reach synack" \
			"$(foreign_counts "$f") (want >= $N_UDP, >= $N_RAW, >= $N_RAW, 0)"
		show "$f"
	fi
fi

lab_finish
