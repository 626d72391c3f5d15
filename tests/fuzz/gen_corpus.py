#!/usr/bin/env python3
"""Write the fuzz harnesses' seed corpus, tests/fuzz/corpus/<harness>/<seed>.

    python3 tests/fuzz/gen_corpus.py

The seeds are small inputs each harness reads, in its own format (the comment at the top of
each tests/fuzz/fuzz_*.c): real frames as Linux sends them (a SYN with its options, ARP, ICMP)
and, for fuzz_input, scripts of segment templates that walk the live connections of
tests/fuzz/world.c through the paths the fuzzer must reach: ACKs of the data in flight,
duplicate ACKs with SACK blocks (fast retransmit, SACK recovery), retransmission timeouts,
in-order data read by the application (receive autotuning), the out-of-order hole filled, ICMP
errors, the closes. Deterministic: running it again writes the same files; the test command
runs whatever corpus/ holds. Inputs of findings are kept beside them as regress-<what> (this
script leaves those alone).
"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lab'))
from labpeer import csum  # noqa: E402 (the lab's RFC 1071 checksum)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')

# Connections of world.h, and whether each agreed on timestamps.
LISTEN, SYN_RCVD, EST_PASSIVE, EST_ACTIVE, FIN_WAIT_2, TIME_WAIT, CLOSE_WAIT, SYN_SENT = range(8)
HAS_TS = {LISTEN: False, SYN_RCVD: True, EST_PASSIVE: True, EST_ACTIVE: True, FIN_WAIT_2: False,
          TIME_WAIT: True, CLOSE_WAIT: True, SYN_SENT: False}
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MSS_TS = 1448  # the segment size of a connection with timestamps (MSS 1460 - 12)


# ---- fuzz_input records -----------------------------------------------------------------------

def op(code, tick=0):
    """The op byte: low nibble what, high nibble 100 µs ticks of the clock first."""
    return bytes([(tick & 0x0f) << 4 | code])


def seg(conn, flags=ACK, seq=0, ack=0, win=65535, plen=0, sacks=(), mss=None, ws=None,
        sack_perm=False, ts_flip=False, ts_delta=0, ecr_back=1, bad_csum=False, tick=1):
    """A TCP template: seq from the peer's next sequence number, ack from our SND.UNA, both as
    they are when the record runs (ack=0 is a duplicate ACK, ack=n acknowledges n more)."""
    o = (1 if ts_flip else 0) | (2 if mss is not None else 0) | (4 if ws is not None else 0)
    o |= (8 if sack_perm else 0) | (len(sacks) << 4) | (0x80 if bad_csum else 0)
    b = op(2, tick) + struct.pack('!BBhhHB', conn, flags, seq, ack, win, o)
    if mss is not None:
        b += struct.pack('!H', mss)
    if ws is not None:
        b += struct.pack('!B', ws)
    for left, length in sacks:
        b += struct.pack('!HH', left, length)
    if HAS_TS[conn] != ts_flip:
        b += struct.pack('!bB', ts_delta, ecr_back)
    return b + struct.pack('!H', plen)


def wait_ms(ms):
    return op(7) + struct.pack('!H', ms)


def app(conn, call, arg=0):
    """recv 0, send 1, send MSG_MORE 2, shutdown 3, close 4, setopt 5, accept 6, reconnect 7,
    poll/info 8."""
    return op(8) + struct.pack('!BBH', conn, call, arg)


def setopt(conn, opt, value):
    """sk_setopt(opt, value): enum sk_opt numbers; a value beyond 16 bits goes in units of 64."""
    if -32768 <= value < 32768:
        return app(conn, 5, opt) + struct.pack('!h', value)
    return app(conn, 5, 0x10 | opt) + struct.pack('!h', value // 64)


KEEPALIVE, KEEPIDLE, KEEPINTVL, RCVBUF, CONGESTION, CORK = 1, 4, 5, 7, 12, 14


def icmp_error(conn, code, mtu=0, seq=0, extra=0):
    return op(5) + struct.pack('!BBHhB', conn, code, mtu, seq, extra)


def icmp_other(typ, code, body):
    return op(6) + struct.pack('!BBB', typ, code, len(body)) + body


def raw_frame(frame, trusted=False):
    return op(0) + struct.pack('!H', len(frame)) + frame + bytes([1 if trusted else 0])


def raw_ip(pkt, trusted=False):
    return op(1) + struct.pack('!H', len(pkt)) + pkt + bytes([1 if trusted else 0])


def arp(opcode, who):
    return op(9) + bytes([opcode, who])


# ---- real frames ------------------------------------------------------------------------------

OUR_MAC, PEER_MAC = bytes.fromhex('020000000001'), bytes.fromhex('020000000002')
OUR_IP, PEER_IP = bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2])


def ipv4(proto, payload, src=PEER_IP, dst=OUR_IP, ident=0x1234, df=True):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident, 0x4000 if df else 0, 64,
                    proto, 0, src, dst)
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload


def tcp(sport, dport, seq, ack, flags, opts=b'', payload=b'', win=64240, src=PEER_IP, dst=OUR_IP):
    opts += b'\0' * (-len(opts) % 4)
    h = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, (5 + len(opts) // 4) << 4, flags, win,
                    0, 0) + opts
    pseudo = src + dst + struct.pack('!BBH', 0, 6, len(h) + len(payload))
    c = csum(pseudo + h + payload)
    return h[:16] + struct.pack('!H', c) + h[18:] + payload


# Linux's SYN options: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
LINUX_SYN_OPTS = bytes.fromhex('020405b40402080a0001e24000000000' + '01030307')
SACK_OPTS = bytes.fromhex('0101080a0001e2410001e240' + '0101050a' + '000027100000283c')


def eth(payload, ethertype=0x0800, dst=OUR_MAC, src=PEER_MAC):
    return dst + src + struct.pack('!H', ethertype) + payload


def arp_pkt(op_, sha, spa, tha, tpa):
    return struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, op_, sha, spa, tha, tpa)


ARP_REQUEST = eth(arp_pkt(1, PEER_MAC, PEER_IP, b'\0' * 6, OUR_IP), 0x0806, b'\xff' * 6)
ARP_REPLY = eth(arp_pkt(2, PEER_MAC, PEER_IP, OUR_MAC, OUR_IP), 0x0806)
SYN_FRAME = eth(ipv4(6, tcp(1200, 80, 0x11223344, 0, SYN, LINUX_SYN_OPTS)))
SYN_CLOSED_PORT = eth(ipv4(6, tcp(1201, 81, 0x55667788, 0, SYN, LINUX_SYN_OPTS)))
ECHO = bytes([8, 0, 0, 0, 0x12, 0x34, 0, 1]) + b'abcdefghijklmnopqrstuvwabcdefghi'
ECHO = ECHO[:2] + struct.pack('!H', csum(ECHO)) + ECHO[4:]
ECHO_FRAME = eth(ipv4(1, ECHO, ident=0x4321, df=False))


def unreach(code, quoted_seq, mtu=0, sport=40000, dport=5000):
    """ICMP destination unreachable quoting our segment (our address to the peer's)."""
    q = ipv4(6, tcp(sport, dport, quoted_seq, 0, ACK, src=OUR_IP, dst=PEER_IP)[:8],
             src=OUR_IP, dst=PEER_IP)
    m = struct.pack('!BBHHH', 3, code, 0, 0, mtu) + q
    return m[:2] + struct.pack('!H', csum(m)) + m[4:]


# ---- the seeds --------------------------------------------------------------------------------

def fuzz_input_seeds():
    s = {}
    # Everything in flight acknowledged, then the rest of the 20 000 bytes.
    s['ack-all'] = (seg(EST_ACTIVE, ack=10 * MSS_TS) + wait_ms(2) +
                    seg(EST_ACTIVE, ack=20000 - 10 * MSS_TS) + wait_ms(50))
    # Three duplicate ACKs with growing SACK blocks: fast retransmit and SACK recovery
    # (RFC 6675), a partial ACK, then everything.
    s['sack-recovery'] = (
        seg(EST_ACTIVE, sacks=[(MSS_TS, MSS_TS)]) +
        seg(EST_ACTIVE, sacks=[(MSS_TS, 2 * MSS_TS)]) +
        seg(EST_ACTIVE, sacks=[(MSS_TS, 3 * MSS_TS)]) +
        seg(EST_ACTIVE, sacks=[(MSS_TS, 4 * MSS_TS), (6 * MSS_TS, MSS_TS)]) +
        seg(EST_ACTIVE, ack=MSS_TS, sacks=[(2 * MSS_TS, 2 * MSS_TS)], tick=5) +
        seg(EST_ACTIVE, ack=4 * MSS_TS, sacks=[(MSS_TS, MSS_TS)], tick=5) +
        seg(EST_ACTIVE, ack=5 * MSS_TS, tick=5) + wait_ms(300))
    # Duplicate ACKs without SACK blocks (NewReno, RFC 6582), then a loss probe / RTO.
    s['newreno'] = (setopt(EST_ACTIVE, CONGESTION, 1) +  # NewReno
                    seg(EST_ACTIVE) + seg(EST_ACTIVE) + seg(EST_ACTIVE) + seg(EST_ACTIVE) +
                    seg(EST_ACTIVE, ack=2 * MSS_TS) + wait_ms(1500) +
                    seg(EST_ACTIVE, ack=10 * MSS_TS))
    # The SYN_SENT connection answered without SACK-permitted: then losses are NewReno's
    # (RFC 6582) partial ACKs.
    nosack = seg(SYN_SENT, flags=SYN | ACK, seq=0, ack=1, mss=1460) + app(SYN_SENT, 1, 20000)
    s['newreno-nosack'] = (nosack + seg(SYN_SENT) + seg(SYN_SENT) + seg(SYN_SENT) +
                           seg(SYN_SENT) + seg(SYN_SENT, ack=1460, tick=5) +
                           seg(SYN_SENT, ack=2 * 1460, tick=5) +
                           seg(SYN_SENT, ack=7 * 1460, tick=5) + wait_ms(1500) +
                           seg(SYN_SENT, ack=20000 - 10 * 1460) + wait_ms(100))
    # SO_RCVBUF changed under held out-of-order data, then more data and reads.
    s['rcvbuf-set'] = (setopt(EST_ACTIVE, RCVBUF, 4096) + seg(EST_ACTIVE, seq=2000, plen=1400) +
                       seg(EST_ACTIVE, seq=0, plen=1000) + setopt(EST_ACTIVE, RCVBUF, 1 << 20) +
                       seg(EST_ACTIVE, seq=0, plen=1448) + app(EST_ACTIVE, 0, 5000) +
                       seg(EST_ACTIVE, seq=0, plen=1448) + app(EST_ACTIVE, 0, 5000))
    # Simultaneous close: our FIN and the peer's cross (CLOSING), then the ACK of ours.
    s['simultaneous-close'] = (app(EST_PASSIVE, 3, 1) + seg(EST_PASSIVE, flags=ACK | FIN) +
                               seg(EST_PASSIVE, ack=1, seq=1) + wait_ms(2100))
    # Hosts that never answer ARP (on the link, behind the gateway): ARP gives up and the
    # SYN_SENT connections fail (EHOSTUNREACH).
    s['arp-fails'] = app(0, 9, 0) + app(0, 9, 1) + app(0, 9, 6) + wait_ms(5000) + wait_ms(5000)
    # Nothing acknowledged: the RTO fires and backs off; then the ACK comes.
    s['rto'] = wait_ms(1200) + wait_ms(2500) + seg(EST_ACTIVE, ack=MSS_TS) + wait_ms(3000)
    # A zero window from the peer (persist), then it opens.
    s['zero-window'] = (seg(EST_ACTIVE, ack=10 * MSS_TS, win=0) + wait_ms(700) +
                        wait_ms(1500) + seg(EST_ACTIVE, win=200) + seg(EST_ACTIVE, win=65535))
    # In-order data read by the application, RTT after RTT: receive autotuning grows the
    # buffer (tcp_rcvbuf.c).
    grow = b''
    for _ in range(4):
        for i in range(11):
            grow += seg(EST_PASSIVE, seq=0, plen=1448, flags=ACK | PSH)
        grow += wait_ms(3) + app(EST_PASSIVE, 0, 65535)
    s['autotune'] = grow
    # The out-of-order hole filled (reassembly), then more out of order with SACK to the peer.
    s['reass'] = (seg(EST_ACTIVE, seq=0, plen=1000, flags=ACK | PSH) +
                  seg(EST_ACTIVE, seq=3000, plen=500) + seg(EST_ACTIVE, seq=2000, plen=500) +
                  seg(EST_ACTIVE, seq=5000, plen=100, flags=ACK | FIN) +
                  seg(EST_ACTIVE, seq=0, plen=2000) + app(EST_ACTIVE, 0, 8000) + wait_ms(100))
    # ICMP: fragmentation needed lowers the MSS (RFC 1191), unreachable aborts a SYN_SENT
    # (RFC 1122 §4.2.3.9) and is soft on a synchronised connection; an echo request.
    s['icmp'] = (icmp_error(EST_ACTIVE, 4, mtu=1200, seq=0) +
                 icmp_error(EST_ACTIVE, 4, mtu=576, seq=2 * MSS_TS, extra=12) +
                 icmp_error(EST_PASSIVE, 1) + icmp_error(SYN_SENT, 3) +
                 icmp_error(SYN_RCVD, 3) + icmp_error(FIN_WAIT_2, 4, mtu=1400) +
                 icmp_other(8, 0, b'\x12\x34\x00\x01hello') + icmp_other(0, 0, b'') +
                 icmp_other(11, 0, b'\0' * 32) + raw_frame(ECHO_FRAME) + wait_ms(50))
    # The handshake of the SYN_RCVD child completed and accepted; a new child from a SYN with
    # Linux's options; SYN+ACK retransmissions; a SYN to a closed port (RST).
    s['passive'] = (seg(SYN_RCVD, ack=1) + app(SYN_RCVD, 6) +
                    seg(LISTEN, flags=SYN, seq=7, mss=1460, ws=7, sack_perm=True, ts_flip=True) +
                    raw_frame(SYN_FRAME) + raw_frame(SYN_CLOSED_PORT) + wait_ms(1100) +
                    wait_ms(2100) + app(LISTEN, 6) + app(LISTEN, 6))
    # The closes: FIN_WAIT_2 gets the FIN (TIME_WAIT), TIME_WAIT gets its FIN again and a new
    # SYN, CLOSE_WAIT reads and closes (LAST_ACK, then CLOSED), 2·MSL passes, reconnect.
    s['closes'] = (seg(FIN_WAIT_2, flags=ACK | FIN) + seg(TIME_WAIT, seq=-1, flags=ACK | FIN) +
                   seg(TIME_WAIT, seq=10000, flags=SYN, tick=15) +
                   app(CLOSE_WAIT, 0, 1000) + app(CLOSE_WAIT, 4) + seg(CLOSE_WAIT, ack=1) +
                   app(EST_PASSIVE, 4) + wait_ms(2500) + app(FIN_WAIT_2, 4) +
                   app(FIN_WAIT_2, 7) + app(TIME_WAIT, 7) + wait_ms(5))
    # Resets: out of the window (ignored), in the window (challenge ACK, RFC 5961), exact.
    s['rst'] = (seg(EST_ACTIVE, flags=RST, seq=30000) + seg(EST_ACTIVE, flags=RST, seq=100) +
                seg(EST_ACTIVE, flags=SYN, seq=5) + seg(EST_PASSIVE, flags=RST | ACK, seq=0) +
                seg(SYN_RCVD, flags=RST, seq=0) + seg(SYN_SENT, flags=RST | ACK, ack=1))
    # Application calls: send with MSG_MORE and cork, keepalive, shutdown, options, info.
    s['app'] = (app(EST_PASSIVE, 1, 3000) + app(EST_PASSIVE, 2, 100) +
                setopt(EST_PASSIVE, CORK, 1) + app(EST_PASSIVE, 8, 0) +
                setopt(EST_PASSIVE, KEEPALIVE, 1) + setopt(EST_PASSIVE, KEEPIDLE, 1) +
                setopt(EST_PASSIVE, KEEPINTVL, 1) +
                wait_ms(2000) + wait_ms(2000) + app(EST_PASSIVE, 3, 1) + wait_ms(300))
    # Timestamps: an old TSval (PAWS, RFC 7323 §5), options in a non-SYN segment.
    s['paws'] = (seg(EST_ACTIVE, ts_delta=-100, plen=10, seq=0) +
                 seg(EST_ACTIVE, ts_flip=True, plen=10, seq=0) +
                 seg(EST_ACTIVE, mss=100, ws=14, sack_perm=True) + seg(EST_ACTIVE, bad_csum=True))
    # ARP from the peer and from strangers; raw frames of every kind; an ARP cache timeout.
    s['arp-raw'] = (arp(1, 0) + arp(2, 1) + arp(1, 2) + arp(2, 0x83) + raw_frame(ARP_REQUEST) +
                    raw_frame(ARP_REPLY) + raw_frame(eth(b'\0' * 30, 0x86dd)) +
                    raw_ip(ipv4(17, b'\0' * 8)) + raw_frame(SYN_FRAME, trusted=True) +
                    wait_ms(60000) + wait_ms(60000) + seg(EST_ACTIVE, ack=MSS_TS) + wait_ms(100))
    return s


def write(harness, seeds):
    """Replace the harness's generated seeds; findings kept as regress-* files stay."""
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if not f.startswith('regress-'):
            os.remove(os.path.join(d, f))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


def main():
    write('fuzz_input', fuzz_input_seeds())
    syn = tcp(1200, 80, 0x11223344, 0, SYN, LINUX_SYN_OPTS)
    write('fuzz_tcp_options', {
        'linux-syn': syn,
        'sack': tcp(80, 40000, 1, 2, ACK, SACK_OPTS),
        'data': tcp(80, 40000, 1, 2, ACK | PSH, payload=b'hello'),
        'bad-option-length': tcp(80, 40000, 1, 2, ACK, bytes.fromhex('0201')),
        'unknown-option': tcp(80, 40000, 1, 2, ACK, bytes.fromhex('fe0400000101')),
    })
    write('fuzz_ipv4', {
        'tcp-verify': b'\x01' + ipv4(6, syn),
        'icmp': b'\x00' + ipv4(1, ECHO),
        'options': b'\x01' + bytes.fromhex('46000020123440004006') + b'\0\0' + PEER_IP + OUR_IP +
        b'\x01\x01\x01\x00' + b'\0' * 8,
        'fragment': b'\x01' + ipv4(17, b'\0' * 16, df=False)[:6] + b'\x20\x00' +
        ipv4(17, b'\0' * 16)[8:],
    })
    write('fuzz_arp', {'request': ARP_REQUEST, 'reply': ARP_REPLY,
                       'padded': ARP_REQUEST + b'\0' * 18})
    # mode: bit 1 fix the checksum, bit 2 quote connection (mode >> 3).
    write('fuzz_icmp', {
        'echo': b'\x00' + ECHO,
        'frag-needed': bytes([2 | 4 | EST_ACTIVE << 3]) + unreach(4, 0, mtu=1200),
        'port-unreach-syn-sent': bytes([2 | 4 | SYN_SENT << 3]) + unreach(3, 0),
        'host-unreach': bytes([2 | 4 | EST_PASSIVE << 3]) + unreach(1, 0),
        'trusted': b'\x01' + unreach(4, 5, mtu=1000),
    })
    write('fuzz_config', {
        'minimal': b'SYNACK_IFACE=veth-sk\nSYNACK_ADDR=10.77.0.1/24\n',
        'full': b'SYNACK_IFACE=veth-sk\nSYNACK_ADDR=10.77.0.1/24\nSYNACK_GATEWAY=10.77.0.254\n'
                b'SYNACK_MTU=1400\nSYNACK_MSL_MS=200\nSYNACK_FIN_TIMEOUT_MS=1000\n'
                b'SYNACK_SYN_RETRIES=3\nSYNACK_LINGER_MS=100\nSYNACK_MAX_SOCKETS=64\n'
                b'SYNACK_CC=reno\nSYNACK_RCVBUF_MAX=1048576\nSYNACK_LOG=debug\n'
                b'SYNACK_TRACE=states\nSYNACK_STRICT=1\nSYNACK_PCAP=/tmp/x.pcap\n'
                b'SYNACK_PACKET_FD=3\nSYNACK_IMPAIR=loss=2%,dup=1%,reorder=3%,delay=5ms,seed=42\n',
        'bad-addr': b'SYNACK_IFACE=veth-sk\nSYNACK_ADDR=10.77.0.1/33\n',
        'bad-gateway': b'SYNACK_IFACE=eth0\nSYNACK_ADDR=10.0.0.1/8\nSYNACK_GATEWAY=11.0.0.1\n',
    })
    write('fuzz_impair', {
        'all': b'loss=2%,dup=1%,reorder=3%,delay=5ms,seed=42',
        'fractions': b'loss=0.5%,delay=1.25ms',
        'bad': b'loss=200%',
        'empty': b'',
    })


if __name__ == '__main__':
    main()
