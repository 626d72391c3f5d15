/* TCP output: "dispatch" (smoltcp), deriving the next segments from the
 * connection state, and the one-off replies (ACK, RST). Each frame is built
 * in place in the stack's transmit buffer with one copy from the send ring. */
#include "seq.h"
#include "tcp.h"

uint32_t tcp_rcv_window(const struct tcb *t)
{
	size_t space = sk_ringbuf_space(&t->rcv);
	/* The 16-bit field times 2^shift (RFC 7323 §2.2; shift 0 unless
	 * both SYNs carried the option). */
	size_t max = (size_t)TCP_MAX_WINDOW << t->rcv_wscale;

	return space > max ? (uint32_t)max : (uint32_t)space;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* The window to advertise in a non-SYN segment, unscaled bytes, already a
 * multiple of the scale. RFC 9293 §3.8.6.2.2 receiver SWS avoidance: the
 * right edge moves on only by at least min(half the buffer, one MSS);
 * until then the window offered before (what is left of it) stands. */
static uint32_t adv_window(const struct tcb *t)
{
	uint32_t space = tcp_rcv_window(t);
	uint32_t cur = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	uint32_t step = min_u32(t->rcvbuf / 2, t->snd_mss);
	uint32_t unit = 1u << t->rcv_wscale;
	uint32_t wnd = space > cur && space - cur >= step ? space : cur;

	if (wnd > space)
		wnd = space; /* the ring shrank under an old promise: never */
	/* RFC 7323 §2.4: rounding down to the scale could move the right
	 * edge left; round up while the ring has the room. */
	uint32_t up = (wnd + unit - 1) & ~(unit - 1);

	return up <= sk_ringbuf_space(&t->rcv) && up <= (TCP_MAX_WINDOW << t->rcv_wscale)
	           ? up
	           : wnd & ~(unit - 1);
}

void tcp_segment_checksum(struct sk_stack *st, uint8_t *buf, size_t l4_len, uint32_t src,
                          uint32_t dst, struct sk_tx_offload *off)
{
	if (!st->cfg.tx_csum_offload) {
		sk_tcp_set_checksum(buf, l4_len, src, dst);
		return;
	}
	sk_tcp_set_partial_checksum(buf, l4_len, src, dst);
	off->csum_start = SK_L4_OFFSET;
	off->csum_offset = SK_TCP_CSUM_OFFSET;
}

/* Emit one segment of this connection, or a super-frame of several: the
 * payload_len bytes from the send ring at ring offset `off`, when they are
 * more than one segment's worth (tcp_seg_payload_max), leave in one frame
 * that the device cuts into segments of that size (sk_config.tso_max;
 * only tcp_send_new asks for it). */
static void xmit(struct sk_stack *st, struct tcb *t, uint32_t seq, uint8_t flags, size_t off,
                 size_t payload_len, sk_time_t now)
{
	size_t room;
	uint8_t *buf = sk_ip_tx_buf(st, &room);
	size_t seg = tcp_seg_payload_max(t);
	bool super = payload_len > seg && st->cfg.tso_max;
	struct sk_tx_offload offload = {0};
	struct sk_tcp_repr r = {
	    .src_port = t->lport,
	    .dst_port = t->rport,
	    .seq = seq,
	    .flags = flags,
	    .mss = -1,
	    .wscale = -1,
	};

	uint32_t wnd;

	if (flags & SK_TCP_SYN) {
		wnd = tcp_rcv_window(t);
		/* RFC 9293 §3.7.1: the MSS option in every SYN; RFC 7323
		 * §2.2: a SYN's window is never scaled. */
		r.mss = t->mss_ours;
		tcp_opts_syn(t, flags & SK_TCP_ACK, &r, now);
		if (wnd > TCP_MAX_WINDOW)
			wnd = TCP_MAX_WINDOW;
		r.window = (uint16_t)wnd;
	} else {
		tcp_opts_out(t, &r, now);
		wnd = adv_window(t);
		r.window = (uint16_t)(wnd >> t->rcv_wscale);
	}
	if (flags & SK_TCP_ACK) {
		r.ack = t->rcv_nxt;
		/* What we advertise is a promise (RFC 9293 §3.8.6.2.2): the
		 * right edge never moves left (adv_window). */
		t->rcv_adv = t->rcv_nxt + wnd;
		t->last_ack_sent = t->rcv_nxt;
		t->rcv_unacked = 0;
		t->ack_now = false;
		t->dack_at = SK_TIME_NEVER;
		if (t->sack_ok && t->reass.n > 0 && !(flags & (SK_TCP_RST | SK_TCP_SYN))) {
			/* RFC 2018 §4: SACK blocks for what we hold out of
			 * order; a data segment carries those that fit. */
			/* Each segment cut from a super-frame carries
			 * the same header: it must fit beside one
			 * segment's payload. */
			size_t wire = super ? seg : payload_len;

			r.sack_count = (uint8_t)tcp_reass_sack(t, r.sack, SK_TCP_MAX_SACK);
			while (r.sack_count > 0 && sk_tcp_header_len(&r) + wire > room)
				r.sack_count--;
		}
	}
	size_t hlen = sk_tcp_emit(&r, buf);

	if (super) {
		offload.gso_size = (uint16_t)seg;
		offload.hdr_len = (uint16_t)(SK_L4_OFFSET + hlen);
		st->stats.tcp_tx_super_frames++;
		st->stats.tcp_tx_super_segs += (payload_len + seg - 1) / seg;
	} else if (hlen + payload_len > room) {
		/* Never larger than the MTU: callers cut payload at snd_mss,
		 * which is at most MTU - 40, and SYNs carry no payload. */
		payload_len = room - hlen;
	}
	if (super)
		/* The device gathers the payload from the send ring. */
		offload.nfrags =
		    (uint8_t)sk_ringbuf_spans(&t->snd, off, payload_len, offload.frags);
	else
		sk_ringbuf_peek(&t->snd, off, buf + hlen, payload_len);
	tcp_segment_checksum(st, buf, hlen + payload_len, t->laddr, t->raddr, &offload);
	st->stats.tcp_tx_segs++;
	t->bytes_sent += payload_len;
	/* A failed transmit is a lost segment: the RTO recovers it. */
	/* A passive child's SYN,ACK goes to the MAC its SYN came from while
	 * ARP knows no better (tcb.peer_mac). */
	(void)sk_ip_tx_send_to(st, t->raddr, SK_IPPROTO_TCP, hlen + payload_len, t->ip_tos,
	                       t->ip_ttl, offload.csum_start ? &offload : NULL,
	                       t->peer_mac_ok ? t->peer_mac : NULL, now);
}

void tcp_send_ack(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	/* <SEQ=SND.NXT> is the RFC's SND.NXT, our snd_max: after a
	 * retransmission rewound snd_nxt, an ACK with the rewound value lies
	 * below what the peer already received and the peer drops it as
	 * unacceptable (RFC 9293 §3.10.7.4), ACK field and all. Two peers both
	 * recovering then ignore each other's ACKs until the retries run out. */
	xmit(st, t, t->snd_max, SK_TCP_ACK, 0, 0, now);
	tcp_timer_update(st, t);
}

void tcp_send_keepalive(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	/* RFC 1122 §4.2.3.6: a sequence number the peer has already seen
	 * makes it answer with an ACK; no garbage octet, as Linux. */
	xmit(st, t, t->snd_una - 1, SK_TCP_ACK, 0, 0, now);
	tcp_timer_update(st, t);
}

void tcp_send_rst(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	/* RFC 9293 §3.10.4 ABORT: <SEQ=SND.NXT><CTL=RST>. The ACK bit is
	 * set as Linux does (tcp_send_active_reset) so a peer that checks it
	 * accepts the reset. */
	xmit(st, t, t->snd_max, SK_TCP_RST | SK_TCP_ACK, 0, 0, now);
	st->stats.tcp_rst_sent++;
}

void tcp_reply_rst(struct sk_stack *st, const struct sk_ipv4_repr *ip, const struct sk_tcp_repr *in,
                   sk_time_t now)
{
	/* RFC 9293 §3.10.7.1: never answer a reset with a reset. */
	if (in->flags & SK_TCP_RST)
		return;
	size_t room;
	uint8_t *buf = sk_ip_tx_buf(st, &room);
	struct sk_tcp_repr r = {
	    .src_port = in->dst_port,
	    .dst_port = in->src_port,
	    .mss = -1,
	    .wscale = -1,
	};

	if (in->flags & SK_TCP_ACK) {
		/* RFC 9293 §3.10.7.1: <SEQ=SEG.ACK><CTL=RST>. */
		r.seq = in->ack;
		r.flags = SK_TCP_RST;
	} else {
		/* <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; SYN and FIN count. */
		uint32_t seg_len = (uint32_t)in->payload_len + !!(in->flags & SK_TCP_SYN) +
		                   !!(in->flags & SK_TCP_FIN);

		r.seq = 0;
		r.ack = in->seq + seg_len;
		r.flags = SK_TCP_RST | SK_TCP_ACK;
	}
	size_t hlen = sk_tcp_emit(&r, buf);
	struct sk_tx_offload offload = {0};

	tcp_segment_checksum(st, buf, hlen, ip->dst, ip->src, &offload);
	st->stats.tcp_tx_segs++;
	st->stats.tcp_rst_sent++;
	/* To the sender's MAC when ARP does not know it: a reset never
	 * waits for (or triggers) address resolution (docs/security.md). */
	(void)sk_ip_tx_send_to(st, ip->src, SK_IPPROTO_TCP, hlen, 0, 0,
	                       offload.csum_start ? &offload : NULL, sk_rx_sender_mac(st, ip->src),
	                       now);
}

/* How much of `want` bytes (more than one segment of `mss`; `avail`
 * queued) the next frame carries: whole segments up to the device's
 * super-frame size when it cuts them for us (sk_config.tso_max) and the
 * next hop is resolved, else one segment. The short tail of what is queued
 * rides along (the device cuts it as the last, shorter segment) when it
 * would go as a segment of its own anyway: not while Nagle (Minshall's
 * form, as in tcp_send_new) or cork would hold it; a tail cut by the
 * window or cwnd waits for them. Linux's tcp_mss_split_point. */
static size_t tcp_super_frame_len(struct sk_stack *st, const struct tcb *t, size_t mss, size_t want,
                                  size_t avail)
{
	size_t max = st->cfg.tso_max;

	if (st->cfg.tso_max_segs && max > st->cfg.tso_max_segs * mss)
		max = st->cfg.tso_max_segs * mss;
	if (max < 2 * mss || want < 2 * mss || !sk_ip_tx_direct(st, t->raddr))
		return mss;
	if (want == avail && want <= max && !t->cork && !t->more &&
	    (t->nodelay || !seq_gt(t->snd_sml, t->snd_una)))
		return want;
	if (want > max)
		want = max;
	return want - want % mss;
}

/* Data and FIN of a synchronised connection (RFC 9293 §3.8.6, RFC 5681,
 * RFC 9293 §3.7.4 Nagle): one segment at SND.NXT within `room` bytes of
 * congestion allowance. False when nothing (more) can go now. */
bool tcp_send_new(struct sk_stack *st, struct tcb *t, uint32_t room, sk_time_t now)
{
	size_t ring = sk_ringbuf_len(&t->snd);
	uint32_t fin_seq = t->snd_buf_seq + (uint32_t)ring;
	uint32_t limit = UINT32_MAX;

	if (t->sb.n > 0 && seq_lt(t->snd_nxt, t->snd_max))
		limit = tcp_sack_skip(t, &t->snd_nxt); /* go-back-N skips SACKed data */
	size_t off = t->snd_nxt - t->snd_buf_seq;
	size_t avail = off < ring ? ring - off : 0;
	bool fin_pending = t->fin_queued && seq_leq(t->snd_nxt, fin_seq);
	uint32_t in_flight = t->snd_nxt - t->snd_una;

	if (avail == 0 && !fin_pending)
		return false;

	uint32_t wnd = t->snd_wnd > in_flight ? t->snd_wnd - in_flight : 0;
	uint32_t usable = min_u32(wnd, room);
	if (t->persist && t->snd_wnd == 0 && in_flight == 0 && avail > 0)
		usable = 1; /* RFC 9293 §3.8.6.1: a zero-window probe */

	size_t mss = tcp_seg_payload_max(t);
	size_t n = avail < mss ? avail : mss;

	/* New data beyond one segment may leave as a super-frame (only new
	 * data: what is resent is never more than what was lost). */
	if (avail > mss && seq_geq(t->snd_nxt, t->snd_max))
		n = tcp_super_frame_len(st, t, mss, avail < usable ? avail : usable, avail);
	if (n > usable)
		n = usable;
	if (n > limit)
		n = limit;
	bool fin = fin_pending && n == avail;

	if (n == 0 && !fin) {
		if (t->snd_wnd == 0 && in_flight == 0 && t->rto_at == SK_TIME_NEVER) {
			/* RFC 9293 §3.8.6.1: the persist timer. */
			t->persist = true;
			tcp_rto_arm(st, t, now);
		}
		return false;
	}
	/* RFC 9293 §3.8.6.2.1 sender SWS avoidance: a segment cut short by
	 * the window waits for it to open while data is in flight (the ACKs
	 * will open it); with nothing in flight it goes if it is at least
	 * half the largest window the peer offered (Fs = 1/2), else the
	 * persist timer is the override timeout. Then RFC 9293 §3.7.4
	 * Nagle, in Minshall's form as Linux has it: hold a short segment
	 * while an earlier short one is unacked, unless TCP_NODELAY or it
	 * ends the stream. A retransmission cut short by SACKed data, a
	 * zero-window probe and the override are not held. */
	if (n < mss && !fin && n != limit) {
		bool probe = t->persist && t->snd_wnd == 0;

		if (n < avail && !probe && !t->sws_override &&
		    (in_flight > 0 || 2 * n < t->max_snd_wnd)) {
			if (in_flight == 0 && t->rto_at == SK_TIME_NEVER) {
				t->persist = true;
				tcp_rto_arm(st, t, now);
			}
			return false;
		}
		if (!t->nodelay && in_flight > 0 && seq_gt(t->snd_sml, t->snd_una))
			return false;
		if (tcp_cork_hold(st, t, avail, now))
			return false; /* TCP_CORK / MSG_MORE (tcp_cork.c) */
	}

	uint8_t flags = SK_TCP_ACK;
	if (fin)
		flags |= SK_TCP_FIN;
	if (n > 0 && n == avail)
		flags |= SK_TCP_PSH;
	uint32_t seq = t->snd_nxt;

	t->sws_override = false;
	if (t->snd_wnd > 0)
		t->persist = false; /* an open window needs no probing */
	/* The connection records the segment as sent, its timer running,
	 * before it goes to the device: a thread that dies in the transmit
	 * (a process killed in its send syscall, the stack shared) leaves a
	 * segment the RTO resends, never one the peer holds and we do not
	 * know of (its ACK would then be for data not yet sent, and ignored:
	 * the connection would wait forever). */
	t->snd_nxt += (uint32_t)n + (fin ? 1 : 0);
	/* The last segment sent was short (a super-frame's tail too). */
	if (n % mss != 0 || n < t->snd_mss)
		t->snd_sml = t->snd_nxt;
	if (seq_geq(seq, t->snd_max)) {
		/* New data (not a retransmission): time it if nothing
		 * is timed (Karn's algorithm, RFC 6298 §3). */
		if (!t->rtt_active) {
			t->rtt_active = true;
			t->rtt_seq = t->snd_nxt;
			t->rtt_start = now;
		}
	} else {
		tcp_count_retrans(st, t, (uint32_t)n);
	}
	if (seq_gt(t->snd_nxt, t->snd_max))
		t->snd_max = t->snd_nxt;
	/* RFC 6298 §5.1: running whenever data is outstanding. */
	if (t->rto_at == SK_TIME_NEVER)
		tcp_rto_arm(st, t, now);
	else if (seq_geq(seq, t->snd_una) && n > 0)
		tcp_probe_rearm(t, now); /* RFC 8985 §7.2: PTO after each send */
	xmit(st, t, seq, flags, off, n, now);
	return !fin;
}

uint32_t tcp_retransmit(struct sk_stack *st, struct tcb *t, uint32_t seq, uint32_t max,
                        sk_time_t now)
{
	size_t ring = sk_ringbuf_len(&t->snd);
	uint32_t fin_seq = t->snd_buf_seq + (uint32_t)ring;
	size_t off = seq - t->snd_buf_seq;
	size_t avail = off < ring ? ring - off : 0;
	size_t mss = tcp_seg_payload_max(t);
	size_t n = avail < mss ? avail : mss;

	if (n > max)
		n = max;
	/* The FIN again only if it was sent and this segment reaches it. */
	bool fin = t->fin_queued && seq + (uint32_t)n == fin_seq && seq_gt(t->snd_max, fin_seq);

	if (n == 0 && !fin)
		return 0;
	uint8_t flags = SK_TCP_ACK;
	if (fin)
		flags |= SK_TCP_FIN;
	if (n > 0 && n == avail)
		flags |= SK_TCP_PSH;
	xmit(st, t, seq, flags, off, n, now);
	tcp_count_retrans(st, t, (uint32_t)n);
	if (t->rto_at == SK_TIME_NEVER)
		tcp_rto_arm(st, t, now);
	return (uint32_t)n + (fin ? 1 : 0);
}

static void output_data(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	if (t->in_recovery && t->sack_ok) {
		tcp_recovery_output(st, t, now); /* RFC 6675: pipe, not flight */
		return;
	}
	for (;;) {
		uint32_t in_flight = t->snd_nxt - t->snd_una;
		uint32_t cwnd = tcp_cc(t)->window(t);

		/* RFC 3042 limited transmit: each of the first two duplicate
		 * ACKs lets one new segment go beyond cwnd, so that a small
		 * flight can still produce the third duplicate. */
		if (!t->in_recovery && t->dupacks < 3)
			cwnd += t->dupacks * (uint32_t)t->snd_mss;

		if (!tcp_send_new(st, t, cwnd > in_flight ? cwnd - in_flight : 0, now))
			break;
	}
}

/* Time the handshake's RTT too, but never a retransmitted SYN (Karn). */
static void time_syn(struct tcb *t, sk_time_t now)
{
	if (t->retries == 0) {
		t->rtt_active = true;
		t->rtt_seq = t->iss + 1;
		t->rtt_start = now;
	}
}

void tcp_output(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	switch (t->state) {
	case SK_TCP_SYN_SENT:
		if (t->snd_nxt == t->iss) {
			t->snd_nxt = t->snd_max = t->iss + 1;
			time_syn(t, now);
			if (t->rto_at == SK_TIME_NEVER)
				tcp_rto_arm(st, t, now);
			/* Recorded first, then sent: tcp_send_new. */
			xmit(st, t, t->iss, SK_TCP_SYN, 0, 0, now);
		}
		break;
	case SK_TCP_CLOSED:
	case SK_TCP_LISTEN:
		break;
	default:
		if (t->snd_una == t->iss) {
			/* SYN_RECEIVED (or closed from it): the SYN,ACK is
			 * our only business until it is acknowledged. */
			if (t->snd_nxt == t->iss) {
				t->snd_nxt = t->snd_max = t->iss + 1;
				time_syn(t, now);
				if (t->rto_at == SK_TIME_NEVER)
					tcp_rto_arm(st, t, now);
				/* Recorded first, then sent: tcp_send_new. */
				xmit(st, t, t->iss, SK_TCP_SYN | SK_TCP_ACK, 0, 0, now);
			}
		} else if (t->state != SK_TCP_TIME_WAIT && t->state != SK_TCP_FIN_WAIT_2) {
			output_data(st, t, now);
		}
		if (t->ack_now)
			xmit(st, t, t->snd_max, SK_TCP_ACK, 0, 0, now); /* see tcp_send_ack */
		break;
	}
	tcp_timer_update(st, t);
}

void tcp_window_update(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	if (!tcp_state_synchronized(t->state) || t->fin_rcvd)
		return;
	uint32_t cur = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	uint32_t wnd = adv_window(t); /* already SWS-avoiding */
	uint32_t grown = wnd > cur ? wnd - cur : 0;
	uint32_t half = t->rcvbuf / 2;

	/* RFC 9293 §3.8.6.2.2: an update is worth a segment when the window
	 * grew by min(half the buffer, 2 full segments) (Linux
	 * tcp_cleanup_rbuf), or at least doubled: a closed or nearly closed
	 * window that opens is announced at once, or the peer waits for its
	 * persist timer. */
	if (grown > 0 && (grown >= min_u32(half, 2u * t->snd_mss) || wnd >= 2 * cur)) {
		t->ack_now = true;
		tcp_output(st, t, now);
	}
}
