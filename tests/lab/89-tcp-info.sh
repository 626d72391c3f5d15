#!/usr/bin/env bash
# TCP_INFO with real figures, TCP_CONGESTION and SO_REUSEPORT on synack sockets: a python3
# client under synack (getsockopt through the shim) against a kernel echo server.
#  - after a 1 MiB echo round trip: state ESTABLISHED, rtt > 0 and rttvar set, rto >= 200 ms,
#    MSS as negotiated (timestamps take 12 B), bytes_acked = bytes_received = 1 MiB, nothing in
#    flight nor unsent, cwnd >= 10 segments, the options both SYNs carried (TS, SACK, WS);
#  - the same echo through a peer that drops 5 % of the TCP segments it receives on another port
#    (nftables numgen, as 80-lossy): tcpi_total_retrans > 0, tcpi_bytes_retrans > 0 and
#    tcpi_bytes_sent = 1 MiB + tcpi_bytes_retrans exactly; on the clean connection the same
#    identity holds (a loaded machine may still make the loss probe resend a segment there);
#  - TCP_CONGESTION: "cubic" by default, "reno" set before connect is in force after it,
#    switching on a connected socket, an unknown name is ENOENT;
#  - SO_REUSEPORT is accepted and read back; a second socket with it binds the same port and
#    listens, a third without it is EADDRINUSE (the spreading: 125-reuseport).
. "$(dirname "$0")/lib.sh"

lab_up

cat >"$LAB_TMP/echo.py" <<'PYEOF'
import socket, sys, threading
def echo(c):
    while b := c.recv(65536):
        c.sendall(b)
    c.close()
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], int(sys.argv[2])))
ls.listen(64)
while True:
    c, _ = ls.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
PYEOF

cat >"$LAB_TMP/client.py" <<'PYEOF'
import errno, os, socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
failed = []
def check(name, ok, why=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + why), flush=True)
    if not ok:
        failed.append(name)

# struct tcp_info of <linux/tcp.h> (232 bytes up to tcpi_snd_wnd).
FIELDS = ("state ca_state retransmits probes backoff options wscale pad "
          "rto ato snd_mss rcv_mss unacked sacked lost retrans fackets last_data_sent last_ack_sent "
          "last_data_recv last_ack_recv pmtu rcv_ssthresh rtt rttvar snd_ssthresh snd_cwnd advmss "
          "reordering rcv_rtt rcv_space total_retrans pacing_rate max_pacing_rate bytes_acked "
          "bytes_received segs_out segs_in notsent_bytes min_rtt data_segs_in data_segs_out "
          "delivery_rate busy_time rwnd_limited sndbuf_limited delivered delivered_ce bytes_sent "
          "bytes_retrans dsack_dups reord_seen rcv_ooopack snd_wnd").split()
FMT = "<8B24I4Q6IQ3Q2I2Q4I"
assert struct.calcsize(FMT) == 232
def tcp_info(s):
    raw = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    check("TCP_INFO returns the whole 232-byte struct", len(raw) == 232, f"{len(raw)} B")
    return dict(zip(FIELDS, struct.unpack(FMT, raw.ljust(232, b"\0"))))
def cong(s):
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0").decode()

N = 1 << 20
data = os.urandom(N)
def echo(s, what):
    s.sendall(data)
    got = bytearray()
    while len(got) < N:
        b = s.recv(65536)
        if not b:
            break
        got += b
    check(what, bytes(got) == data, f"{len(got)} B")

s = socket.create_connection((host, port), timeout=20)
check("TCP_CONGESTION is cubic by default", cong(s) == "cubic", cong(s))
echo(s, "1 MiB echoed byte-exact")
i = tcp_info(s)
print("# tcp_info " + " ".join(f"{k}={i[k]}" for k in FIELDS if k != "pad"), flush=True)
check("tcpi_state is ESTABLISHED (1)", i["state"] == 1, str(i["state"]))
check("tcpi_rtt > 0 and tcpi_rttvar > 0", i["rtt"] > 0 and i["rttvar"] > 0, f"rtt={i['rtt']} rttvar={i['rttvar']}")
check("tcpi_rto >= 200 ms and >= rtt", i["rto"] >= 200000 and i["rto"] >= i["rtt"], str(i["rto"]))
check("tcpi_options: timestamps, SACK, window scaling (1|2|4)", i["options"] == 7, str(i["options"]))
check("tcpi_snd_mss is 1448 (1460 less the timestamp option)", i["snd_mss"] == 1448, str(i["snd_mss"]))
check("tcpi_advmss is 1460 (MTU 1500)", i["advmss"] == 1460 and i["pmtu"] == 1500, f"{i['advmss']} {i['pmtu']}")
check("tcpi_bytes_acked equals the bytes sent", i["bytes_acked"] == N, str(i["bytes_acked"]))
check("tcpi_bytes_received equals the bytes received", i["bytes_received"] == N, str(i["bytes_received"]))
check("nothing in flight nor unsent (tcpi_unacked, tcpi_notsent_bytes)", i["unacked"] == 0 and i["notsent_bytes"] == 0,
      f"{i['unacked']} {i['notsent_bytes']}")
check("tcpi_snd_cwnd >= 10 segments", i["snd_cwnd"] >= 10, str(i["snd_cwnd"]))
check("tcpi_snd_wnd is the peer's window (> 64 KiB with scaling)", i["snd_wnd"] > 65535, str(i["snd_wnd"]))
# A loaded machine can delay an ACK past the loss probe's timeout (RFC 8985 §7) even on a
# clean link, and the probe is a retransmission: what must hold whatever the load is that the
# counters agree (bytes sent = 1 MiB + bytes resent; segments resent iff bytes resent). The
# lossy run below proves that they count.
check("clean link: tcpi_bytes_sent = 1 MiB + tcpi_bytes_retrans, segments and bytes resent agree",
      i["bytes_sent"] == N + i["bytes_retrans"] and (i["total_retrans"] == 0) == (i["bytes_retrans"] == 0),
      f"{i['total_retrans']} {i['bytes_retrans']} {i['bytes_sent']}")
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"reno")
check("TCP_CONGESTION switches to reno on a connected socket", cong(s) == "reno", cong(s))
try:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"nosuchcc")
    check("TCP_CONGESTION with an unknown name fails with ENOENT", False, "accepted")
except OSError as e:
    check("TCP_CONGESTION with an unknown name fails with ENOENT", e.errno == errno.ENOENT, str(e))
s.close()

# Through the lossy port: the peer drops some of our segments, we retransmit them.
s = socket.create_connection((host, int(sys.argv[4])), timeout=60)
echo(s, "1 MiB echoed byte-exact through the lossy port")
i = tcp_info(s)
print("# tcp_info lossy " + " ".join(f"{k}={i[k]}" for k in ("total_retrans", "bytes_retrans", "bytes_sent", "bytes_acked")), flush=True)
check("lossy link: tcpi_total_retrans > 0", i["total_retrans"] > 0, str(i["total_retrans"]))
check("lossy link: tcpi_bytes_retrans > 0", i["bytes_retrans"] > 0, str(i["bytes_retrans"]))
check("lossy link: tcpi_bytes_sent = 1 MiB + tcpi_bytes_retrans",
      i["bytes_sent"] == N + i["bytes_retrans"], f"{i['bytes_sent']} vs {N} + {i['bytes_retrans']}")
check("lossy link: tcpi_bytes_acked = tcpi_bytes_received = 1 MiB",
      i["bytes_acked"] == N and i["bytes_received"] == N, f"{i['bytes_acked']} {i['bytes_received']}")
s.close()

s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"reno")
s.settimeout(20)
s.connect((host, port))
check("TCP_CONGESTION reno set before connect is in force after it", cong(s) == "reno", cong(s))
s.sendall(b"x" * 1000)
check("a reno connection echoes", s.recv(1000, socket.MSG_WAITALL) == b"x" * 1000)
s.close()

a = socket.socket()
a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
a.bind((sys.argv[3], 7300))
a.listen(8)
check("SO_REUSEPORT reads back 1 on a synack listener",
      a.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1)
b = socket.socket()
b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
try:
    b.bind((sys.argv[3], 7300))
    b.listen(8)
    check("a second SO_REUSEPORT socket binds the port and listens", True)
except OSError as e:
    check("a second SO_REUSEPORT socket binds the port and listens", False, str(e))
c = socket.socket()
try:
    c.bind((sys.argv[3], 7300))
    check("a socket without SO_REUSEPORT on the port fails with EADDRINUSE", False, "bound")
except OSError as e:
    check("a socket without SO_REUSEPORT on the port fails with EADDRINUSE", e.errno == errno.EADDRINUSE, str(e))
sys.exit(1 if failed else 0)
PYEOF

spawn "$LAB_TMP/server.log" ip netns exec "$NS_B" "$LAB_PY" "$LAB_TMP/echo.py" "$ADDR_B" 7200
spawn "$LAB_TMP/server2.log" ip netns exec "$NS_B" "$LAB_PY" "$LAB_TMP/echo.py" "$ADDR_B" 7201
# The lossy port: the peer drops 5 % of the segments it receives there (ours), one wire
# segment each (gso_max_segs 1), so synack retransmits.
ip -n "$NS_A" link set "$IF_A" gso_max_segs 1
peer_exec nft -f - <<EOF
table inet lossy {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 7201 numgen random mod 100 < 5 counter drop
	}
}
EOF
peer_wait_listen 7200
peer_wait_listen 7201

rc=0
LAB_TIMEOUT=60 synack_exec "$LAB_PY" "$LAB_TMP/client.py" "$ADDR_B" 7200 "$ADDR_A" 7201 \
	>"$LAB_TMP/client.out" 2>"$LAB_TMP/client.err" || rc=$?
while read -r status name; do
	case $status in
	ok) pass "$name" ;;
	FAIL) fail "${name%%: *}" "${name#*: }" ;;
	esac
done < <(grep -E '^(ok|FAIL) ' "$LAB_TMP/client.out")
grep '^# tcp_info' "$LAB_TMP/client.out" | cut -c1-400 || true
echo "# nftables dropped on the lossy port: $(peer_exec nft list chain inet lossy input | sed -nE 's/.*counter packets ([0-9]+) .*/\1/p')"
if ((rc != 0)) && ! grep -q '^FAIL ' "$LAB_TMP/client.out"; then
	fail "python3 TCP_INFO client under synack" "exit $rc"
	show "$LAB_TMP/client.out"
	show "$LAB_TMP/client.err"
fi
lab_finish
