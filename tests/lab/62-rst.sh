#!/usr/bin/env bash
# RST handling against a Linux peer (RFC 9293 §3.10.7.4, RFC 5961 §3).
#  1. The kernel peer aborts (SO_LINGER {1, 0} then close: an RST) while the synack client is
#     blocked in recv(): recv fails with ECONNRESET, the trace shows ESTABLISHED -> CLOSED.
#  2. Forged RSTs, crafted in the peer namespace with an AF_PACKET socket and the connection's
#     real 4-tuple, against an idle synack client connection:
#       - out of the receive window (RCV.NXT + 2^30 and RCV.NXT - 70000): silently dropped,
#         nothing answers, the connection lives;
#       - in the window but not RCV.NXT exactly: a challenge ACK (ACK = RCV.NXT), the
#         connection lives;
#     the client then still exchanges data. Last, an RST at exactly RCV.NXT: the client, blocked
#     in recv(), gets ECONNRESET. That last step proves the forged segments are well formed (the
#     survivals above are not an accident of a bad checksum or a wrong port).
. "$(dirname "$0")/lib.sh"

lab_up

PY=$LAB_TMP/rst.py
cat >"$PY" <<'EOF'
import errno, os, socket, struct, sys, time
from labpeer import connect, csum, listener, say, wait_file

def read_line(s):
    buf = b''
    while not buf.endswith(b'\n'):
        b = s.recv(100)
        if not b:
            sys.exit('end of stream before a line')
        buf += b
    return buf

def expect_reset(s):
    # Blocks in recv until the RST; prints how it failed and how long it was blocked.
    t0 = time.monotonic()
    try:
        b = s.recv(100)
        sys.exit('recv returned %r instead of failing' % b)
    except OSError as e:
        say('recv: %s (%s) after %.0f ms blocked' % (errno.errorcode.get(e.errno, e.errno),
            os.strerror(e.errno), (time.monotonic() - t0) * 1000))

def abort_server(addr, port):
    # Per connection: wait for a line, let the client block in recv, then abort.
    ls = listener(addr, port)
    while True:
        c, _ = ls.accept()
        read_line(c)
        time.sleep(0.3)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        c.close()

def echo_server(addr, port):
    ls = listener(addr, port)
    while True:
        c, _ = ls.accept()
        while True:
            b = c.recv(4096)
            if not b:
                break
            c.sendall(b)
        c.close()

def abort_client(addr, port):
    s = connect(addr, port)
    s.sendall(b'ready\n')
    expect_reset(s)

def forged_client(addr, port, tmp):
    s = connect(addr, port)
    s.sendall(b'ping1\n')
    if read_line(s) != b'ping1\n':
        sys.exit('bad echo 1')
    open(tmp + '/phase1', 'w').close()
    wait_file(tmp + '/go2')           # the forger has sent its out-of-window RSTs
    s.sendall(b'ping2\n')
    if read_line(s) != b'ping2\n':
        sys.exit('bad echo 2')
    say('alive after the forged RSTs')
    open(tmp + '/phase2', 'w').close()
    expect_reset(s)                   # the forger's exact RST

# ---- the forger: runs in the peer namespace, talks raw Ethernet on the peer's interface ----
MAC_SK, MAC_PEER = bytes.fromhex('027700000001'), bytes.fromhex('027700000002')

def rst_frame(src, dst, sport, dport, seq):
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq & 0xffffffff, 0, 5 << 4, 0x04, 0, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0x4242, 0x4000, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return MAC_SK + MAC_PEER + b'\x08\x00' + ip + tcp

class Sniffer:
    # Every TCP segment on the interface, in both directions.
    def __init__(self, iface):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        self.s.bind((iface, 0))
        self.s.settimeout(0.02)

    def segments(self, secs):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            try:
                f = self.s.recv(70000)
            except socket.timeout:
                yield None              # lets the caller check its stop condition
                continue
            if len(f) < 54 or f[14] >> 4 != 4 or f[12:14] != b'\x08\x00' or f[23] != 6:
                continue
            ihl = (f[14] & 15) * 4
            t = f[14 + ihl:]
            tot = struct.unpack('!H', f[16:18])[0]
            sport, dport, seq, ack = struct.unpack('!HHII', t[:12])
            flags, doff = t[13], (t[12] >> 4) * 4
            yield (socket.inet_ntoa(f[26:30]), sport, socket.inet_ntoa(f[30:34]), dport,
                   seq, ack, flags, tot - ihl - doff)

def forger(iface, sk_addr, peer_addr, port, tmp):
    sn = Sniffer(iface)
    open(tmp + '/sniffing', 'w').close()  # the test starts the client only now
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    tx.bind((iface, 0))
    cport = rcv_nxt = None   # synack's port; synack's RCV.NXT (the kernel's SND.NXT)

    def track(secs, stop=None):
        # Follow the kernel's sequence space on the connection; returns segments from synack.
        # stop(segments from synack so far) ends the tracking early when true.
        nonlocal cport, rcv_nxt
        from_sk = []
        for seg in sn.segments(secs):
            if seg is None:
                if stop and stop(from_sk):
                    break
                continue
            (src, sp, dst, dp, seq, ack, fl, ln) = seg
            if src == peer_addr and sp == port and not fl & 0x04:
                cport = dp
                end = (seq + ln + (1 if fl & 0x03 else 0)) & 0xffffffff
                if rcv_nxt is None or ((end - rcv_nxt) & 0xffffffff) < 0x80000000:
                    rcv_nxt = end
            elif src == sk_addr and dp == port and sp == cport:
                from_sk.append((seq, ack, fl, ln))
            # Checked only once the segment is accounted for (and again on every idle tick):
            # the segment that made the client go on may be this very one.
            if stop and stop(from_sk):
                break
        return from_sk

    def send_rst(seq):
        tx.send(rst_frame(peer_addr, sk_addr, port, cport, seq))

    track(20, lambda _: os.path.exists(tmp + '/phase1'))
    track(0.3)                          # let delayed ACKs go by: the connection is idle now
    if cport is None:
        sys.exit('forger: never saw the connection')
    print('forger: connection %s:%d > %s:%d, RCV.NXT %u'
          % (sk_addr, cport, peer_addr, port, rcv_nxt), flush=True)
    ok = True
    for off in (1 << 30, -70000):
        send_rst(rcv_nxt + off)
        got = track(0.3)
        if got:
            print('forger: out-of-window RST (RCV.NXT%+d) was answered: %r' % (off, got),
                  flush=True)
            ok = False
        else:
            print('forger: out-of-window RST (RCV.NXT%+d): no answer' % off, flush=True)
    send_rst(rcv_nxt + 1)
    # Wait for the challenge ACK (at most 10 s: a loaded machine may be slow to answer), then
    # 0.3 s more for any second answer.
    got = track(10, lambda segs: any(g[2] & 0x10 and g[1] == rcv_nxt for g in segs))
    got += track(0.3)
    acks = [g for g in got if g[2] & 0x10 and not g[2] & 0x07 and g[1] == rcv_nxt]
    if len(acks) == 1 and len(got) == 1:
        print('forger: in-window RST (RCV.NXT+1): one challenge ACK, ack %u' % acks[0][1],
              flush=True)
    else:
        print('forger: in-window RST (RCV.NXT+1): want one challenge ACK with ack %u, got %r'
              % (rcv_nxt, got), flush=True)
        ok = False
    open(tmp + '/go2', 'w').close()
    track(20, lambda _: os.path.exists(tmp + '/phase2'))
    track(0.3)                          # the client is blocked in recv now
    send_rst(rcv_nxt)
    got = track(0.3)
    if got:
        print('forger: synack answered the exact RST: %r' % got, flush=True)
        ok = False
    print('forger: exact RST (RCV.NXT %u) sent' % rcv_nxt, flush=True)
    sys.exit(0 if ok else 1)

role = sys.argv[1]
if role == 'abort-server':
    abort_server(sys.argv[2], int(sys.argv[3]))
elif role == 'echo-server':
    echo_server(sys.argv[2], int(sys.argv[3]))
elif role == 'abort-client':
    abort_client(sys.argv[2], int(sys.argv[3]))
elif role == 'forged-client':
    forged_client(sys.argv[2], int(sys.argv[3]), sys.argv[4])
elif role == 'forger':
    forger(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
EOF

# synack's transitions of the connection to the peer's port $2, "FROM TO" per line, from $1.
transitions() {
	awk -v r="$ADDR_B:$2" '$1 == "synack:" && $2 == "trace" && $6 == r { print $7, $9 }' "$1"
}

# ---- 1. the kernel aborts while synack's client is blocked in recv ----------------------------
spawn "$LAB_TMP/abort-server.log" ip netns exec "$NS_B" "$LAB_PY" "$PY" abort-server "$ADDR_B" 7010
peer_wait_listen 7010
name="kernel peer aborts (SO_LINGER 0): recv blocked under synack fails with ECONNRESET"
rc=0
SYNACK_TRACE=states LAB_TIMEOUT=20 synack_exec "$LAB_PY" "$PY" abort-client "$ADDR_B" 7010 \
	>"$LAB_TMP/abort-client.out" 2>"$LAB_TMP/abort-client.err" || rc=$?
got=$(transitions "$LAB_TMP/abort-client.err" 7010 | tr '\n' ';')
if ((rc != 0)); then
	fail "$name" "client exited $rc"
	show "$LAB_TMP/abort-client.out"
	show "$LAB_TMP/abort-client.err"
elif ! grep -Eq '^recv: ECONNRESET \(Connection reset by peer\) after [0-9]+ ms blocked$' \
	"$LAB_TMP/abort-client.out"; then
	fail "$name" "recv did not fail with ECONNRESET"
	show "$LAB_TMP/abort-client.out"
elif [[ $got != "CLOSED SYN_SENT;SYN_SENT ESTABLISHED;ESTABLISHED CLOSED;" ]]; then
	fail "$name" "transitions '$got', want SYN_SENT -> ESTABLISHED -> CLOSED"
	show "$LAB_TMP/abort-client.err"
elif ! grep -q "ESTABLISHED -> CLOSED (.*RST.*)" "$LAB_TMP/abort-client.err"; then
	fail "$name" "the trace does not give the RST as the cause of CLOSED"
	show "$LAB_TMP/abort-client.err"
else
	pass "$name ($(cat "$LAB_TMP/abort-client.out"))"
fi

# ---- 2. forged RSTs from the peer's namespace -------------------------------------------------
spawn "$LAB_TMP/echo-server.log" ip netns exec "$NS_B" "$LAB_PY" "$PY" echo-server "$ADDR_B" 7011
peer_wait_listen 7011
spawn "$LAB_TMP/forger.log" timeout -k 3 40 ip netns exec "$NS_B" "$LAB_PY" "$PY" forger veth-peer \
	"$ADDR_A" "$ADDR_B" 7011 "$LAB_TMP"
forger_pid=$LAB_LAST_PID
# The forger's sniffer is open before the connection starts (at most 20 s).
for ((i = 0; i < 400; i++)); do
	[[ -e $LAB_TMP/sniffing ]] && break
	kill -0 "$forger_pid" 2>/dev/null || break
	sleep 0.05
done
if [[ ! -e $LAB_TMP/sniffing ]]; then
	fail "set-up" "the forger did not open its sniffer"
	show "$LAB_TMP/forger.log"
	lab_finish
fi
rc=0
SYNACK_TRACE=states LAB_TIMEOUT=40 \
	synack_exec "$LAB_PY" "$PY" forged-client "$ADDR_B" 7011 "$LAB_TMP" \
	>"$LAB_TMP/forged-client.out" 2>"$LAB_TMP/forged-client.err" || rc=$?
frc=0
wait "$forger_pid" || frc=$?
name="forged RSTs out of the window are ignored, in the window but inexact get a challenge ACK"
if ((frc != 0)) || ! grep -q 'one challenge ACK' "$LAB_TMP/forger.log"; then
	fail "$name" "forger exited $frc"
	show "$LAB_TMP/forger.log"
	show "$LAB_TMP/forged-client.err"
elif ! grep -qx 'alive after the forged RSTs' "$LAB_TMP/forged-client.out"; then
	fail "$name" "the connection did not survive them (client exit $rc)"
	show "$LAB_TMP/forged-client.out"
	show "$LAB_TMP/forged-client.err"
	show "$LAB_TMP/forger.log"
else
	pass "$name; the connection still carries data"
fi
name="forged RST at exactly RCV.NXT resets the connection (ECONNRESET in recv)"
got=$(transitions "$LAB_TMP/forged-client.err" 7011 | tr '\n' ';')
if ((rc != 0)); then
	fail "$name" "client exited $rc"
	show "$LAB_TMP/forged-client.out"
	show "$LAB_TMP/forged-client.err"
	show "$LAB_TMP/forger.log"
elif ! grep -Eq '^recv: ECONNRESET \(Connection reset by peer\)' "$LAB_TMP/forged-client.out"; then
	fail "$name" "recv did not fail with ECONNRESET"
	show "$LAB_TMP/forged-client.out"
elif [[ $got != "CLOSED SYN_SENT;SYN_SENT ESTABLISHED;ESTABLISHED CLOSED;" ]]; then
	fail "$name" "transitions '$got', want SYN_SENT -> ESTABLISHED -> CLOSED"
	show "$LAB_TMP/forged-client.err"
else
	pass "$name"
fi
lab_finish
