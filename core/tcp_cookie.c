/* SYN cookies (RFC 4987 §3.6), made and checked as Linux does
 * (net/ipv4/syncookies.c), so that a listener whose SYN queue is full keeps
 * answering SYNs without keeping any state for them.
 *
 * The ISN of the SYN,ACK is the cookie (Linux secure_tcp_syn_cookie):
 *
 *   H0(4-tuple) + SEG.SEQ + (count << 24) + ((H1(4-tuple, count) + mssind) mod 2^24)
 *
 * with H0 and H1 SipHash under two secrets of the stack, `count` a minute
 * counter and mssind the peer's MSS rounded down to one of four values
 * (Linux's msstab). The ACK that completes the handshake acknowledges
 * ISN + 1: subtracting H0 and the SYN's sequence number (SEG.SEQ - 1) gives
 * back the count, which must be at most one minute old (two counts, Linux's
 * MAX_SYNCOOKIE_AGE), and H1 for that count gives back mssind, which must
 * be one of the four. A guess passes with odds of about 4 in 2^24 times 2
 * in 2^8.
 *
 * When the SYN carries timestamps (RFC 7323), the options that do not fit
 * in the ISN ride in the low 6 bits of our TSval, which the peer echoes
 * (Linux cookie_init_timestamp): the peer's window scale (4 bits, 15 for
 * none) and SACK-permitted. Without timestamps the connection has neither
 * window scaling nor SACK, and our SYN,ACK offers neither (Linux clears
 * them too). ECN is not negotiated by synack, so its bit stays 0. */
#include <errno.h>

#include "seq.h"
#include "siphash.h"
#include "tcp.h"

#define COOKIE_BITS    24
#define COOKIE_MASK    ((1u << COOKIE_BITS) - 1)
#define COOKIE_PERIOD  SK_SEC(60)  /* Linux tcp_cookie_time: one count a minute */
#define COOKIE_AGE_MAX 2           /* Linux MAX_SYNCOOKIE_AGE */
#define COOKIE_VALID   SK_SEC(120) /* Linux TCP_SYNCOOKIE_VALID */
#define TS_BITS        6           /* Linux TSBITS */
#define TS_WSCALE_MASK 0xfu
#define TS_SACK        0x10u

/* Linux's msstab (net/ipv4/syncookies.c): the MSS values a cookie tells. */
static const uint16_t msstab[] = {536, 1300, 1440, 1460};
#define MSSTAB_LEN (sizeof(msstab) / sizeof(msstab[0]))

static uint32_t cookie_hash(const struct sk_stack *st, uint32_t saddr, uint32_t daddr,
                            uint16_t sport, uint16_t dport, uint32_t count, int c)
{
	uint32_t in[4] = {saddr, daddr, (uint32_t)sport << 16 | dport, count};

	return (uint32_t)sk_siphash24(sk_tcp_of(st)->cookie_key[c], in, sizeof(in));
}

static uint32_t cookie_count(sk_time_t now)
{
	return (uint32_t)(now / COOKIE_PERIOD);
}

/* Linux secure_tcp_syn_cookie; saddr and sport are the peer's. */
static uint32_t cookie_make(const struct sk_stack *st, uint32_t saddr, uint32_t daddr,
                            uint16_t sport, uint16_t dport, uint32_t sseq, uint32_t data,
                            sk_time_t now)
{
	uint32_t count = cookie_count(now);

	return cookie_hash(st, saddr, daddr, sport, dport, 0, 0) + sseq + (count << COOKIE_BITS) +
	       ((cookie_hash(st, saddr, daddr, sport, dport, count, 1) + data) & COOKIE_MASK);
}

/* Linux check_tcp_syn_cookie: the data (mssind), or UINT32_MAX when the
 * cookie is too old. */
static uint32_t cookie_data(const struct sk_stack *st, uint32_t saddr, uint32_t daddr,
                            uint16_t sport, uint16_t dport, uint32_t sseq, uint32_t cookie,
                            sk_time_t now)
{
	uint32_t count = cookie_count(now);

	cookie -= cookie_hash(st, saddr, daddr, sport, dport, 0, 0) + sseq;
	/* What is left is (count << 24) + (H1 + data) mod 2^24. */
	uint32_t diff = (count - (cookie >> COOKIE_BITS)) & (UINT32_MAX >> COOKIE_BITS);

	if (diff >= COOKIE_AGE_MAX)
		return UINT32_MAX;
	return (cookie - cookie_hash(st, saddr, daddr, sport, dport, count - diff, 1)) & COOKIE_MASK;
}

/* Our 1 ms timestamp clock before the per-pair offset (tcp_ts_now). */
static uint32_t ts_clock(sk_time_t now)
{
	return (uint32_t)(now / 1000);
}

void tcp_cookie_synack(struct sk_stack *st, struct tcb *l, const struct sk_ipv4_repr *ip,
                       const struct sk_tcp_repr *r, sk_time_t now)
{
	uint32_t peer_mss = r->mss < 0 ? TCP_DEFAULT_MSS : (uint32_t)r->mss;
	uint32_t mssind = MSSTAB_LEN - 1;

	while (mssind > 0 && peer_mss < msstab[mssind])
		mssind--;
	size_t room;
	uint8_t *buf = sk_ip_tx_buf(st, &room);
	struct sk_tcp_repr out = {
	    .src_port = r->dst_port,
	    .dst_port = r->src_port,
	    .seq = cookie_make(st, ip->src, ip->dst, r->src_port, r->dst_port, r->seq, mssind, now),
	    .ack = r->seq + 1,
	    .flags = SK_TCP_SYN | SK_TCP_ACK,
	    .window = (uint16_t)(l->rcvbuf < TCP_MAX_WINDOW ? l->rcvbuf : TCP_MAX_WINDOW),
	    .mss = (int32_t)tcp_mss_ours(st, l),
	    .wscale = -1,
	};

	if (r->has_timestamp) {
		/* Linux cookie_init_timestamp: the options in the low bits of
		 * a TSval never later than our clock. */
		uint32_t opts = r->wscale >= 0 ? (uint32_t)r->wscale : TS_WSCALE_MASK;
		uint32_t clock = ts_clock(now);
		uint32_t ts;

		if (r->sack_permitted)
			opts |= TS_SACK;
		ts = (clock >> TS_BITS << TS_BITS) | opts;
		if (seq_gt(ts, clock))
			ts -= 1u << TS_BITS;
		out.has_timestamp = true;
		out.ts_val = ts + sk_tcp_ts_offset(st->cfg.ts_key, ip->dst, ip->src);
		out.ts_ecr = r->ts_val;
		out.sack_permitted = r->sack_permitted;
		if (r->wscale >= 0)
			out.wscale = (int8_t)tcp_rcv_wscale(st, l);
	}
	size_t hlen = sk_tcp_emit(&out, buf);

	sk_tcp_set_checksum(buf, hlen, ip->dst, ip->src);
	st->stats.tcp_tx_segs++;
	st->stats.tcp_syncookies_sent++;
	l->cookie_at = now ? now : 1;
	if (!l->flood_warned) {
		/* Linux's tcp_syn_flood_action line, once per listener. */
		l->flood_warned = true;
		sk_log(st, SK_LOG_WARN,
		       "possible SYN flooding on port %u: sending SYN cookies (the SYN queue "
		       "holds %u; see SYNACK_SYN_BACKLOG)",
		       (unsigned)l->lport, (unsigned)l->syn_count);
	}
	(void)sk_ip_tx_send_to(st, ip->src, SK_IPPROTO_TCP, hlen, l->ip_tos, l->ip_ttl, NULL,
	                       sk_rx_sender_mac(st, ip->src), now);
}

bool tcp_cookie_check(struct sk_stack *st, const struct tcb *l, const struct sk_ipv4_repr *ip,
                      const struct sk_tcp_repr *r, sk_time_t now, struct tcp_cookie *out)
{
	/* Linux cookie_v4_check: only while cookies are on and this listener
	 * sent some lately; then anything else is no cookie of ours. */
	if (!st->cfg.syncookies || !l->cookie_at || now - l->cookie_at > COOKIE_VALID)
		return false;
	uint32_t mssind = cookie_data(st, ip->src, ip->dst, r->src_port, r->dst_port, r->seq - 1,
	                              r->ack - 1, now);

	if (mssind >= MSSTAB_LEN) {
		st->stats.tcp_syncookies_failed++;
		return false;
	}
	*out = (struct tcp_cookie){.mss = msstab[mssind]};
	if (r->has_timestamp) {
		/* Linux cookie_timestamp_decode, after taking the per-pair
		 * offset back out of the echo. */
		uint32_t opts = r->ts_ecr - sk_tcp_ts_offset(st->cfg.ts_key, ip->dst, ip->src);

		out->ts_ok = true;
		out->sack_ok = (opts & TS_SACK) != 0;
		out->ws_ok = (opts & TS_WSCALE_MASK) != TS_WSCALE_MASK;
		out->snd_wscale = out->ws_ok ? (uint8_t)(opts & TS_WSCALE_MASK) : 0;
	}
	st->stats.tcp_syncookies_ok++;
	return true;
}
