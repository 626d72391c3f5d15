/* ICMP errors about our segments (RFC 1122 §4.2.3.9, RFC 1191, RFC 5927)
 * and ARP failures, turned into connection events. */
#include <errno.h>

#include "byteorder.h"
#include "ipv4.h"
#include "seq.h"
#include "tcp.h"

#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED  4

/* RFC 1122 §3.2.2.1 codes -> errno, as Linux's icmp_err_convert. */
static int unreach_errno(uint8_t code)
{
	switch (code) {
	case 0:
		return ENETUNREACH;
	case 2:
		return ENOPROTOOPT;
	case 3:
		return ECONNREFUSED;
	default:
		return EHOSTUNREACH;
	}
}

void sk_tcp_icmp_error(struct sk_stack *st, uint8_t type, uint8_t code, uint16_t next_mtu,
                       const uint8_t *quoted, size_t quoted_len, sk_time_t now)
{
	tcp_clock(st, now);
	if (type != ICMP_DEST_UNREACH || quoted_len < SK_IPV4_HLEN)
		return;
	size_t ihl = (size_t)(quoted[0] & 0x0f) * 4;

	/* The quote is untrusted too: its header length must fit and leave
	 * the 8 TCP bytes RFC 792 guarantees (ports and sequence number). */
	if (ihl < SK_IPV4_HLEN || quoted_len < ihl + 8 || quoted[9] != SK_IPPROTO_TCP)
		return;
	uint32_t src = sk_rd32(quoted + 12), dst = sk_rd32(quoted + 16);
	const uint8_t *th = quoted + ihl;
	struct tcb *t = tcp_conn_lookup(st, src, sk_rd16(th), dst, sk_rd16(th + 2));

	if (!t)
		return;
	uint32_t seq = sk_rd32(th + 4);

	/* RFC 5927 §4.1: only a quote of data in flight is believed. */
	if (!seq_in(seq, t->snd_una, t->snd_max + (t->snd_una == t->snd_max)))
		return;
	if (code == ICMP_FRAG_NEEDED) {
		/* RFC 1191 §6.1: lower the MSS to fit the reported MTU, then
		 * resend what no longer fits. Never below TCP_MIN_MSS, the
		 * floor of a peer's MSS option (tcp_set_peer_mss): a forged
		 * error must not make us send minuscule segments either (Linux
		 * tcp_mtu_to_mss and tcp_min_snd_mss, CVE-2019-11479). */
		if (next_mtu < 68 || next_mtu >= st->cfg.mtu)
			return;
		uint32_t mtu_mss = next_mtu - 40u < TCP_MIN_MSS ? TCP_MIN_MSS : next_mtu - 40u;
		uint16_t mss = (uint16_t)(mtu_mss - tcp_opts_space(t));

		if (mss >= t->snd_mss)
			return;
		t->snd_mss = mss;
		if (t->cwnd > TCP_INIT_CWND_SEGS * (uint32_t)mss)
			t->cwnd = TCP_INIT_CWND_SEGS * (uint32_t)mss;
		t->snd_nxt = t->snd_una;
		t->rtt_active = false;
		tcp_output(st, t, now);
		return;
	}
	/* RFC 1122 §4.2.3.9: hard errors during the handshake abort it (as
	 * Linux tcp_v4_err); on a synchronised connection they are soft. */
	if (t->state == SK_TCP_SYN_SENT)
		tcp_close_conn(st, t, unreach_errno(code), "ICMP unreachable", now);
}

void sk_tcp_neighbour_unreachable(struct sk_stack *st, uint32_t addr, sk_time_t now)
{
	tcp_clock(st, now);
	/* A scan of the arena, but only when ARP gives up on a neighbour:
	 * rare, and never on the per-segment path. `addr` is the next hop,
	 * which is the peer itself or the gateway for every off-link peer. */
	for (uint32_t i = 0; i < sk_tcp_of(st)->hwm; i++) {
		struct tcb *t = &tcp_tcbs(sk_tcp_of(st))[i];

		if (!t->in_use || t->state != SK_TCP_SYN_SENT)
			continue;
		bool on_link = sk_ipv4_same_subnet(t->raddr, st->cfg.addr, st->cfg.prefix_len);

		if (on_link ? t->raddr == addr : st->cfg.gateway == addr)
			tcp_close_conn(st, t, EHOSTUNREACH, "neighbour unreachable", now);
	}
}
