/* ICMP (RFC 792, RFC 1122 §3.2.2): echo replies, and errors about our TCP
 * segments passed to TCP. */
#include "icmp.h"

#include <string.h>

#include "byteorder.h"
#include "checksum.h"
#include "stack_impl.h"

/* RFC 792: an error quotes the offending datagram's IP header and its first
 * 64 bits of data, i.e. the ports and sequence number of a TCP header. */
#define QUOTED_L4_MIN 8

static void echo_reply(struct sk_stack *st, const struct sk_ipv4_repr *ip, const uint8_t *msg,
                       size_t len, sk_time_t now)
{
	size_t room;
	uint8_t *out = sk_ip_tx_buf(st, &room);

	/* RFC 1122 §3.2.2.6: the reply carries the request's data back
	 * unchanged. We never fragment, so a request whose reply would not
	 * fit in one packet of our MTU goes unanswered. */
	if (len > room) {
		st->stats.icmp_drop++;
		return;
	}
	memcpy(out, msg, len);
	out[0] = SK_ICMP_ECHO_REPLY;
	out[1] = 0;
	sk_wr16(out + 2, 0);
	sk_wr16(out + 2, sk_csum_finish(sk_csum_add(0, out, len)));
	if (sk_ip_tx_send(st, ip->src, SK_IPPROTO_ICMP, len, NULL, now) == 0)
		st->stats.icmp_echo_replies++;
	else
		st->stats.icmp_drop++;
}

/* RFC 1122 §3.2.2.1 / §4.2.3.9: destination unreachable goes to the
 * transport layer, which tells hard errors from soft ones. Only quotes
 * of TCP segments we sent are of interest; the rest is checked here so TCP
 * receives a well-formed quote. */
static void dest_unreach(struct sk_stack *st, const uint8_t *msg, size_t len, sk_time_t now)
{
	const uint8_t *quoted = msg + SK_ICMP_HLEN;
	size_t qlen = len - SK_ICMP_HLEN;

	/* The quoted header's total length may exceed what was quoted, so
	 * sk_ipv4_parse (which insists on the whole datagram) is not used. */
	size_t ihl = qlen >= SK_IPV4_HLEN ? (size_t)(quoted[0] & 0x0f) * 4 : 0;
	if (qlen < SK_IPV4_HLEN || quoted[0] >> 4 != 4 || ihl < SK_IPV4_HLEN ||
	    qlen < ihl + QUOTED_L4_MIN || quoted[9] != SK_IPPROTO_TCP ||
	    sk_rd32(quoted + 12) != st->cfg.addr) {
		st->stats.icmp_drop++;
		return;
	}
	/* RFC 1191 §4: "fragmentation needed" carries the next-hop MTU in
	 * the low 16 bits of the second word (zero from old routers). */
	uint16_t next_mtu = msg[1] == SK_ICMP_FRAG_NEEDED ? sk_rd16(msg + 6) : 0;
	sk_tcp_icmp_error(st, msg[0], msg[1], next_mtu, quoted, qlen, now);
}

void sk_icmp_input(struct sk_stack *st, const struct sk_ipv4_repr *ip, const uint8_t *msg,
                   size_t len, bool csum_trusted, sk_time_t now)
{
	st->stats.icmp_rx++;
	if (len < SK_ICMP_HLEN) {
		st->stats.icmp_drop++;
		return;
	}
	/* RFC 792: the checksum covers the whole ICMP message. */
	if (!csum_trusted && sk_csum_finish(sk_csum_add(0, msg, len)) != 0) {
		st->stats.icmp_drop++;
		return;
	}
	switch (msg[0]) {
	case SK_ICMP_ECHO_REQUEST:
		echo_reply(st, ip, msg, len, now);
		break;
	case SK_ICMP_DEST_UNREACH:
		dest_unreach(st, msg, len, now);
		break;
	default:
		/* Echo replies (we send no requests), redirects (RFC 1122
		 * §3.2.2.2 lets a host ignore them; ours has one route),
		 * time exceeded and the rest have no consumer yet. */
		st->stats.icmp_drop++;
		break;
	}
}
