/* The options negotiated in the handshake (RFC 7323 window scaling and
 * timestamps, RFC 2018 SACK-permitted) and what they mean per segment:
 * the TSopt of every segment, PAWS, RTT from echoed timestamps, scaled
 * windows. Each option is used only when both SYNs carried it (RFC 7323
 * §2.2, §3.2; RFC 2018 §2). */
#include "seq.h"
#include "tcp.h"

/* RFC 7323 §2.3: the shift is at most 14. */
#define TCP_MAX_WSCALE 14
/* RFC 7323 §5.5: TS.Recent older than 24 days is invalid (the peer's
 * 1 ms clock may have wrapped its sign bit since). */
#define TCP_PAWS_IDLE SK_SEC(24 * 24 * 3600)
/* RFC 7323 §3.2: the TSopt takes 10 bytes, 12 with its NOPs. */
#define TCP_TSOPT_SPACE 12

uint8_t tcp_rcv_wscale(const struct sk_stack *st, const struct tcb *t)
{
	uint8_t ws = 0;

	/* RFC 7323 §2.3: the smallest shift that lets the 16-bit field
	 * express the whole receive buffer, as large as autotuning may make
	 * it (tcp_rcvbuf.c; the shift cannot change after the SYN). */
	uint32_t cap = tcp_rcvbuf_cap(st, t);

	while (ws < TCP_MAX_WSCALE && (cap >> ws) > TCP_MAX_WINDOW)
		ws++;
	return ws;
}

void tcp_opts_init(struct sk_stack *st, struct tcb *t)
{
	t->rcv_wscale = tcp_rcv_wscale(st, t);
	t->snd_wscale = 0;
	t->ws_ok = t->ts_ok = t->sack_ok = false;
	t->ts_recent = 0;
	t->ts_recent_at = 0;
	t->last_ack_sent = 0;
	/* RFC 7323 §5.4: an offset so TSval does not reveal the host's
	 * uptime; per address pair, not per connection, so TSvals towards a
	 * peer keep increasing across connections (see sk_tcp_ts_offset). */
	t->ts_offset = sk_tcp_ts_offset(st->cfg.ts_key, t->laddr, t->raddr);
}

uint32_t tcp_ts_now(const struct tcb *t, sk_time_t now)
{
	return tcp_ts_clock(t->ts_offset, now);
}

void tcp_opts_syn(const struct tcb *t, bool synack, struct sk_tcp_repr *r, sk_time_t now)
{
	/* An active open offers everything; a SYN,ACK answers only what the
	 * peer's SYN offered (RFC 7323 §2.2, §3.2; RFC 2018 §2). */
	if (!synack || t->ws_ok)
		r->wscale = (int8_t)t->rcv_wscale;
	r->sack_permitted = !synack || t->sack_ok;
	if (!synack || t->ts_ok) {
		r->has_timestamp = true;
		r->ts_val = tcp_ts_now(t, now);
		r->ts_ecr = synack ? t->ts_recent : 0;
	}
}

void tcp_opts_peer_syn(struct tcb *t, const struct sk_tcp_repr *r, sk_time_t now)
{
	t->ws_ok = r->wscale >= 0;
	t->snd_wscale = t->ws_ok ? (uint8_t)r->wscale : 0;
	if (!t->ws_ok)
		t->rcv_wscale = 0; /* RFC 7323 §2.2: both shifts are 0 then */
	t->sack_ok = r->sack_permitted;
	t->ts_ok = r->has_timestamp;
	if (t->ts_ok) {
		t->ts_recent = r->ts_val;
		t->ts_recent_at = now;
	}
}

void tcp_opts_out(struct tcb *t, struct sk_tcp_repr *r, sk_time_t now)
{
	/* RFC 7323 §3.2: once agreed, a TSopt in every segment. */
	if (t->ts_ok) {
		r->has_timestamp = true;
		r->ts_val = tcp_ts_now(t, now);
		r->ts_ecr = t->ts_recent;
	}
}

size_t tcp_opts_space(const struct tcb *t)
{
	return t->ts_ok ? TCP_TSOPT_SPACE : 0;
}

uint32_t tcp_seg_window(const struct tcb *t, const struct sk_tcp_repr *r)
{
	/* RFC 7323 §2.2: the window of a SYN is never scaled. */
	if (r->flags & SK_TCP_SYN)
		return r->window;
	return (uint32_t)r->window << t->snd_wscale;
}

bool tcp_paws_reject(struct tcb *t, const struct sk_tcp_repr *r, sk_time_t now)
{
	/* RFC 7323 §5.3 R1: a segment whose TSval is older than TS.Recent is
	 * an old duplicate (wrapped sequence numbers). A RST is exempt
	 * (§5.2 and Linux), and so is a segment without TSopt (Linux keeps
	 * it, RFC 7323 §3.2 only says SHOULD drop). */
	if (!t->ts_ok || !r->has_timestamp || (r->flags & SK_TCP_RST))
		return false;
	if (!seq_lt(r->ts_val, t->ts_recent))
		return false;
	if (now - t->ts_recent_at > TCP_PAWS_IDLE) {
		/* RFC 7323 §5.5: an idle connection's TS.Recent has expired;
		 * accept and start over from this segment. */
		t->ts_recent = r->ts_val;
		t->ts_recent_at = now;
		return false;
	}
	return true;
}

void tcp_ts_update(struct tcb *t, const struct sk_tcp_repr *r, sk_time_t now)
{
	/* RFC 7323 §4.3 (2)/(3): TS.Recent follows the segment that the ACK
	 * we last sent was expecting, so it echoes the oldest unacknowledged
	 * segment's time (delayed ACKs measure the full RTT). */
	if (!t->ts_ok || !r->has_timestamp)
		return;
	if (seq_geq(r->ts_val, t->ts_recent) && seq_leq(r->seq, t->last_ack_sent)) {
		t->ts_recent = r->ts_val;
		t->ts_recent_at = now;
	}
}

bool tcp_ts_rtt(const struct tcb *t, const struct sk_tcp_repr *r, sk_time_t now, sk_time_t *rtt)
{
	/* RFC 7323 §4.1: RTT = now - TSecr of an ACK of new data; it is
	 * unambiguous even for retransmitted data (no Karn rule needed). */
	if (!t->ts_ok || !r->has_timestamp || !(r->flags & SK_TCP_ACK) || r->ts_ecr == 0)
		return false;
	uint32_t d = tcp_ts_now(t, now) - r->ts_ecr;

	if ((int32_t)d < 0)
		return false; /* an echo from the future: not ours */
	*rtt = SK_MS(d);
	return true;
}

size_t tcp_seg_payload_max(const struct tcb *t)
{
	if (!t->sack_ok || t->reass.n == 0)
		return t->snd_mss;
	/* As Linux tcp_current_mss: while we hold out-of-order data, data
	 * segments make room for the SACK blocks (RFC 2018 §3: 2 + 8n bytes,
	 * NOP-padded; 3 blocks beside a TSopt, 4 without), so that ACKs
	 * riding on data still tell the peer what it must resend. */
	size_t blocks = t->reass.n < (t->ts_ok ? 3u : 4u) ? t->reass.n : (t->ts_ok ? 3u : 4u);
	size_t room = 4 + 8 * blocks;

	return t->snd_mss > room + TCP_MIN_MSS ? t->snd_mss - room : t->snd_mss;
}
