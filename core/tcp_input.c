/* TCP input: RFC 9293 §3.10.7 "SEGMENT ARRIVES", in the RFC's order, with
 * RFC 5961's hardening of RST, SYN and ACK processing. One segment in, at
 * most a few segments out (through tcp_output), no allocation except a
 * passive open's new connection. */
#include <errno.h>

#include "arp_cache.h"
#include "seq.h"
#include "tcp.h"

/* What the checks below need besides the parsed header. */
struct seg {
	const struct sk_ipv4_repr *ip;
	struct sk_tcp_repr r;
	uint32_t seq;        /* r.seq after trimming to the window */
	const uint8_t *data; /* payload after trimming */
	size_t len;
	bool syn, fin; /* after trimming */
	uint32_t wnd;  /* the peer's window in bytes (RFC 7323 §2.2 scaling) */
};

static uint32_t seg_seq_len(const struct sk_tcp_repr *r)
{
	return (uint32_t)r->payload_len + !!(r->flags & SK_TCP_SYN) + !!(r->flags & SK_TCP_FIN);
}

/* RFC 5961 §7: challenge and out-of-window ACKs share one rate limit per
 * connection, so a blind attacker cannot make us flood the peer. */
static void send_limited_ack(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	if (t->last_challenge && now - t->last_challenge < TCP_CHALLENGE_GAP)
		return;
	t->last_challenge = now;
	tcp_send_ack(st, t, now);
}

static void challenge_ack(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	st->stats.tcp_challenge_acks++;
	send_limited_ack(st, t, now);
}

static void enter_time_wait(struct sk_stack *st, struct tcb *t, const char *cause, sk_time_t now)
{
	tcp_set_state(st, t, SK_TCP_TIME_WAIT, cause, now);
	/* RFC 9293 §3.10.7.4 eighth step: TIME_WAIT lasts 2 MSL. Nothing is
	 * outstanding any more: no retransmission. */
	t->rto_at = SK_TIME_NEVER;
	t->state_at = now + 2 * SK_MS(st->cfg.msl_ms);
	tcp_timer_update(st, t);
	/* An orphan's slot may be recycled before 2 MSL when the arena is
	 * full (tcp_slot_alloc); one the application holds waits for close. */
	if (!t->user_owned && t->parent == TCP_NIL)
		tcp_tw_enqueue(st, t);
}

static void enter_fin_wait_2(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	tcp_set_state(st, t, SK_TCP_FIN_WAIT_2, "rcv ACK of FIN", now);
	/* An orphan must not wait forever for a FIN (seed item 6; Linux
	 * tcp_fin_timeout). */
	if (!t->user_owned && t->parent == TCP_NIL)
		t->state_at = now + SK_MS(st->cfg.fin_timeout_ms);
}

/* What the peer's SYN tells us: IRS, RCV.NXT = IRS + 1, its MSS and its
 * window (SND.WL1 = SEG.SEQ, SND.WL2 = SEG.ACK, RFC 9293 §3.10.7.3). */
static void take_peer_syn(struct sk_stack *st, struct tcb *t, const struct sk_tcp_repr *r,
                          sk_time_t now)
{
	t->irs = r->seq;
	t->rcv_nxt = r->seq + 1;
	t->rcv_adv = t->rcv_nxt;
	tcp_opts_peer_syn(t, r, now); /* before the MSS: the TSopt takes room */
	tcp_set_peer_mss(st, t, r->mss);
	t->snd_wnd = t->max_snd_wnd = r->window;
	t->snd_wl1 = r->seq;
	t->snd_wl2 = (r->flags & SK_TCP_ACK) ? r->ack : t->iss;
}

/* ---- RFC 9293 §3.10.7.2: LISTEN ---- */

static void listen_input(struct sk_stack *st, struct tcb *l, struct seg *s, sk_time_t now)
{
	/* First: an incoming RST is ignored. */
	if (s->r.flags & SK_TCP_RST)
		return;
	/* Second: any ACK is bad here: <SEQ=SEG.ACK><CTL=RST>. */
	if (s->r.flags & SK_TCP_ACK) {
		tcp_reply_rst(st, s->ip, &s->r, now);
		return;
	}
	/* Fourth: anything but a SYN is dropped. */
	if (!(s->r.flags & SK_TCP_SYN))
		return;
	/* The backlog bounds half-open and unaccepted children together
	 * (Linux admits backlog + 1): beyond it, drop; the peer retries. */
	if (l->syn_count + l->acc_count > l->backlog)
		return;
	struct tcb *c = tcp_slot_alloc(st);
	if (!c)
		return;
	/* The child is born a copy of the listener's LISTEN, so its first
	 * transition is the diagram's LISTEN -> SYN_RECEIVED. */
	c->state = SK_TCP_LISTEN;
	c->laddr = s->ip->dst;
	c->lport = l->lport;
	c->raddr = s->ip->src;
	c->rport = s->r.src_port;
	c->passive = true;
	c->reuseaddr = l->reuseaddr;
	c->keepalive = l->keepalive;
	c->nodelay = l->nodelay;
	c->quickack = l->quickack;
	c->linger_abort = l->linger_abort;
	c->user_mss = l->user_mss;
	c->keepidle = l->keepidle;
	c->keepintvl = l->keepintvl;
	c->keepcnt = l->keepcnt;
	c->user_timeout = l->user_timeout; /* Linux sk_clone: both inherited */
	c->cork = l->cork;
	c->rcvlowat = l->rcvlowat; /* sk_clone copies sk_rcvlowat */
	c->rcvbuf = l->rcvbuf;
	c->rcvbuf_locked = l->rcvbuf_locked;
	c->sndbuf = l->sndbuf;
	c->cc_algo = l->cc_algo;
	if (tcp_conn_init(st, c, now) < 0) {
		tcp_slot_free(st, c);
		return;
	}
	/* Link into the listener's half-open list. */
	c->parent = l->id;
	c->q_next = l->syn_head;
	if (l->syn_head != TCP_NIL)
		tcp_tcb(st, l->syn_head)->q_prev = c->id;
	l->syn_head = c->id;
	l->syn_count++;

	/* RCV.NXT = SEG.SEQ + 1, IRS = SEG.SEQ. Data on a SYN is not
	 * acknowledged (no TCP Fast Open): the peer resends it. */
	take_peer_syn(st, c, &s->r, now);
	tcp_conn_insert(st, c);
	tcp_bind_child_insert(st, c); /* it holds the port, even past l */
	st->stats.tcp_conn_passive++;
	tcp_set_state(st, c, SK_TCP_SYN_RECEIVED, "rcv SYN", now);
	tcp_output(st, c, now); /* <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> */
}

/* ---- RFC 9293 §3.10.7.3: SYN_SENT ---- */

static void rtt_ack(struct tcb *t, const struct sk_tcp_repr *r, sk_time_t now)
{
	sk_time_t rtt;

	if (t->rtt_active && seq_geq(r->ack, t->rtt_seq)) {
		tcp_rtt_sample(t, now - t->rtt_start);
		t->rtt_active = false;
	} else if (!t->rtt_active && tcp_ts_rtt(t, r, now, &rtt)) {
		/* As Linux tcp_ack_update_rtt: the µs sample of a timed,
		 * never retransmitted segment first; else (after a
		 * retransmission, where Karn forbids timing) the echoed
		 * timestamp (RFC 7323 §4.1). */
		tcp_rtt_sample(t, rtt);
	}
}

static void process_text(struct sk_stack *st, struct tcb *t, struct seg *s, sk_time_t now);

static void syn_sent_input(struct sk_stack *st, struct tcb *t, struct seg *s, sk_time_t now)
{
	bool ack_ok = false;

	/* First: the ACK must cover our SYN and nothing unsent. */
	if (s->r.flags & SK_TCP_ACK) {
		if (seq_leq(s->r.ack, t->iss) || seq_gt(s->r.ack, t->snd_max)) {
			tcp_reply_rst(st, s->ip, &s->r, now); /* not if RST */
			return;
		}
		ack_ok = true;
	}
	/* Second: RFC 5961 §3.2: in SYN_SENT a RST is acceptable when it
	 * acknowledges our SYN; then the connection was refused. */
	if (s->r.flags & SK_TCP_RST) {
		if (ack_ok) {
			st->stats.tcp_conn_reset++;
			tcp_close_conn(st, t, ECONNREFUSED, "rcv RST", now);
		}
		return;
	}
	/* Fifth: neither SYN nor RST: drop. */
	if (!(s->r.flags & SK_TCP_SYN))
		return;
	/* Fourth: the SYN. */
	take_peer_syn(st, t, &s->r, now);
	if (ack_ok) {
		t->snd_una = s->r.ack;
		rtt_ack(t, &s->r, now);
		t->retries = 0;
		t->rto_at = SK_TIME_NEVER;
		t->ever_connected = true;
		tcp_set_state(st, t, SK_TCP_ESTABLISHED, "rcv SYN,ACK", now);
		sk_arp_confirm(st, t->raddr, now);
		/* <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, then any data that
		 * came with the SYN,ACK (the sixth step onwards). */
		t->ack_now = true;
		s->seq = s->r.seq + 1;
		s->data = s->r.payload;
		s->len = s->r.payload_len;
		s->fin = s->r.flags & SK_TCP_FIN;
		process_text(st, t, s, now);
		if (!t->in_use || t->state == SK_TCP_CLOSED)
			return;
	} else {
		/* Simultaneous open: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>
		 * with the original ISS (rewind and dispatch). */
		tcp_set_state(st, t, SK_TCP_SYN_RECEIVED, "rcv SYN (simultaneous open)", now);
		t->snd_nxt = t->iss;
		t->rto_at = SK_TIME_NEVER;
		t->rtt_active = false;
	}
	tcp_output(st, t, now);
}

/* ---- RFC 9293 §3.10.7.4: the other states ---- */

/* First check: is the segment acceptable (the four cases of the table)? */
static bool acceptable(const struct tcb *t, const struct sk_tcp_repr *r, uint32_t wnd)
{
	uint32_t len = seg_seq_len(r);
	uint32_t end = t->rcv_nxt + wnd;

	if (len == 0)
		return wnd == 0 ? r->seq == t->rcv_nxt : seq_in(r->seq, t->rcv_nxt, end);
	if (wnd == 0)
		return false;
	return seq_in(r->seq, t->rcv_nxt, end) || seq_in(r->seq + len - 1, t->rcv_nxt, end);
}

/* Cut what lies before RCV.NXT or beyond the window (RFC 9293 §3.10.7.4
 * first step: "trimmed ... to only the portion that lies within"). */
static void trim(const struct tcb *t, struct seg *s, uint32_t wnd)
{
	s->seq = s->r.seq;
	s->data = s->r.payload;
	s->len = s->r.payload_len;
	s->syn = s->r.flags & SK_TCP_SYN;
	s->fin = s->r.flags & SK_TCP_FIN;
	if (seq_lt(s->seq, t->rcv_nxt)) {
		uint32_t d = t->rcv_nxt - s->seq;

		if (s->syn) {
			s->syn = false;
			d--;
			s->seq++;
		}
		if (d > s->len) {
			s->fin = false; /* the FIN too is old */
			d = (uint32_t)s->len;
		}
		s->data += d;
		s->len -= d;
		s->seq += d;
	}
	if (seq_geq(s->seq, t->rcv_nxt)) {
		uint32_t room = t->rcv_nxt + wnd - s->seq;

		if (s->len > room) {
			s->len = room;
			s->fin = false;
		}
	}
}

/* Second check, for a segment with RST: RFC 5961 §3.2. */
static void rst_input(struct sk_stack *st, struct tcb *t, const struct seg *s, uint32_t wnd,
                      sk_time_t now)
{
	uint32_t seq = s->r.seq;
	/* Like Linux, also exact: RCV.NXT - 1 once the peer's FIN is in. */
	bool exact = seq == t->rcv_nxt || (t->fin_rcvd && seq == t->rcv_nxt - 1);

	if (!exact) {
		/* In the window but not exact: challenge ACK; outside:
		 * silently dropped. */
		if (seq_in(seq, t->rcv_nxt, t->rcv_nxt + (wnd ? wnd : 1)))
			challenge_ack(st, t, now);
		else
			st->stats.tcp_drop_out_of_window++;
		return;
	}
	switch (t->state) {
	case SK_TCP_TIME_WAIT:
		/* RFC 1337: no TIME_WAIT assassination; the RST is ignored. */
		return;
	case SK_TCP_SYN_RECEIVED:
		if (t->passive) {
			/* The listener keeps serving; this child is gone. */
			tcp_set_state(st, t, SK_TCP_LISTEN, "rcv RST", now);
			tcp_slot_free(st, t);
			return;
		}
		st->stats.tcp_conn_reset++;
		tcp_close_conn(st, t, ECONNREFUSED, "rcv RST", now);
		return;
	case SK_TCP_CLOSING:
	case SK_TCP_LAST_ACK:
		st->stats.tcp_conn_reset++;
		tcp_close_conn(st, t, 0, "rcv RST", now);
		return;
	case SK_TCP_CLOSE_WAIT:
		/* The peer already said it will send no more: as Linux's
		 * tcp_reset(), the program learns of the reset as EPIPE
		 * (SO_ERROR and the next send), not ECONNRESET. */
		st->stats.tcp_conn_reset++;
		tcp_close_conn(st, t, EPIPE, "rcv RST", now);
		return;
	default:
		st->stats.tcp_conn_reset++;
		tcp_close_conn(st, t, ECONNRESET, "rcv RST", now);
		return;
	}
}

/* Fifth check: the ACK field. Returns false when the segment is dropped. */
static bool ack_input(struct sk_stack *st, struct tcb *t, struct seg *s, bool *fin_acked,
                      sk_time_t now)
{
	uint32_t ack = s->r.ack;

	if (t->state == SK_TCP_SYN_RECEIVED) {
		if (!(seq_gt(ack, t->snd_una) && seq_leq(ack, t->snd_max))) {
			tcp_reply_rst(st, s->ip, &s->r, now); /* <SEQ=SEG.ACK><CTL=RST> */
			return false;
		}
		/* A full accept queue drops the completing ACK (as Linux):
		 * the child stays half-open and the peer retransmits. */
		if (t->passive && t->parent != TCP_NIL && !tcp_child_complete(st, t))
			return false;
		t->ever_connected = true;
		t->snd_wnd = t->max_snd_wnd = s->wnd;
		t->snd_wl1 = s->r.seq;
		t->snd_wl2 = ack;
		tcp_set_state(st, t, SK_TCP_ESTABLISHED, "rcv ACK of SYN", now);
	}
	/* RFC 5961 §5.2: acceptable is
	 * SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT. */
	if (seq_gt(ack, t->snd_max)) {
		challenge_ack(st, t, now); /* acks something not yet sent */
		return false;
	}
	if (seq_lt(ack, t->snd_una - t->max_snd_wnd)) {
		challenge_ack(st, t, now);
		return false;
	}
	uint32_t fin_seq = t->snd_buf_seq + (uint32_t)sk_ringbuf_len(&t->snd);
	/* RFC 2018 §5: the scoreboard takes the SACK blocks first; new SACK
	 * information makes an ACK a duplicate in RFC 6675 §2's sense. */
	uint32_t newly_sacked = t->sack_ok ? tcp_sack_update(t, &s->r) : 0;

	if (seq_gt(ack, t->snd_una)) {
		uint32_t acked = ack - t->snd_una;
		bool syn_acked = t->snd_una == t->iss;

		t->snd_una = ack;
		if (seq_lt(t->snd_nxt, ack))
			t->snd_nxt = ack;
		if (seq_gt(ack, t->snd_buf_seq)) {
			uint32_t n = ack - t->snd_buf_seq;

			if (n > sk_ringbuf_len(&t->snd))
				n = (uint32_t)sk_ringbuf_len(&t->snd);
			sk_ringbuf_discard(&t->snd, n);
			t->snd_buf_seq += n;
			/* Space freed: a writer that ran out of it may
			 * proceed (Linux tcp_check_space, SOCK_NOSPACE). */
			if (n)
				tcp_check_space(st, t);
		}
		rtt_ack(t, &s->r, now);
		tcp_sack_prune(t);
		/* RFC 5681 §3.1: the algorithm grows cwnd (tcp_cc.h), or
		 * recovery handles a partial or full ACK. */
		if (!syn_acked)
			tcp_recovery_ack(st, t, acked, newly_sacked > 0, now);
		t->retries = 0;
		t->dupacks = 0;
		/* RFC 6298 §5.2/§5.3: stop when all is acked, else restart;
		 * the backoff ends with new data acknowledged (§5.7). */
		tcp_rto_reset(t);
		t->rto_at = SK_TIME_NEVER;
		if (t->snd_una != t->snd_max)
			tcp_rto_arm(st, t, now);
		sk_arp_confirm(st, t->raddr, now);
	} else if (ack == t->snd_una && t->snd_una != t->snd_max &&
	           !(s->r.flags & (SK_TCP_SYN | SK_TCP_FIN)) &&
	           (newly_sacked > 0 || (s->r.payload_len == 0 && s->wnd == t->snd_wnd))) {
		/* RFC 5681 §2 duplicate ACK (or RFC 6675's, with new SACK
		 * information): fast retransmit and recovery may begin. */
		bool was_in_recovery = t->in_recovery;

		tcp_recovery_dupack(st, t, now);
		if (was_in_recovery && newly_sacked > 0)
			tcp_recovery_sack(st, t, &s->r, now);
	}
	/* RFC 9293 §3.10.7.4 fifth step: update the send window if the
	 * segment is newer (SND.WL1 < SEG.SEQ, or = with SND.WL2 <= SEG.ACK). */
	if (seq_leq(t->snd_una, ack) && (seq_lt(t->snd_wl1, s->r.seq) ||
	                                 (t->snd_wl1 == s->r.seq && seq_leq(t->snd_wl2, ack)))) {
		uint32_t wnd = s->wnd;
		bool opened = t->snd_wnd == 0 && wnd > 0;

		t->snd_wnd = wnd;
		t->snd_wl1 = s->r.seq;
		t->snd_wl2 = ack;
		if (t->snd_wnd > t->max_snd_wnd)
			t->max_snd_wnd = t->snd_wnd;
		if (opened && t->persist) {
			/* A probe byte beyond the old window was dropped by the
			 * peer unless this ACK covers it: send from SND.UNA. */
			t->persist = false;
			t->snd_nxt = t->snd_una;
			t->rto_at = SK_TIME_NEVER;
			if (t->snd_una != t->snd_max)
				tcp_rto_arm(st, t, now);
		}
	}
	if (t->persist)
		t->retries = 0; /* the peer answers our probes: keep probing */

	*fin_acked = t->fin_queued && seq_gt(t->snd_una, fin_seq);
	/* FIN_WAIT_1 with our FIN acked moves on after the eighth step:
	 * to TIME_WAIT if this segment also carries the peer's FIN, else to
	 * FIN_WAIT_2 (synchronized_input). */
	switch (t->state) {
	case SK_TCP_CLOSING:
		if (*fin_acked)
			enter_time_wait(st, t, "rcv ACK of FIN", now);
		break;
	case SK_TCP_LAST_ACK:
		if (*fin_acked) {
			tcp_close_conn(st, t, 0, "rcv ACK of FIN", now);
			return false;
		}
		break;
	default:
		break;
	}
	return true;
}

/* Seventh step: segment text (also reached from SYN_SENT). Eighth: FIN. */
static void process_text(struct sk_stack *st, struct tcb *t, struct seg *s, sk_time_t now)
{
	bool fin = s->fin;

	if (s->len > 0) {
		switch (t->state) {
		case SK_TCP_ESTABLISHED:
		case SK_TCP_FIN_WAIT_1:
		case SK_TCP_FIN_WAIT_2:
			if (!t->user_owned && t->parent == TCP_NIL) {
				/* Closed by the application: nobody will read
				 * new data. Linux resets (tcp_rcv_state_process),
				 * telling the peer its data was lost. */
				tcp_abort(st, t, 0, "data after close()", now);
				return;
			}
			if (s->seq != t->rcv_nxt) {
				/* Out of order: held for later (RFC 9293
				 * §3.10.7.4 seventh step), and an immediate
				 * duplicate ACK tells the peer (RFC 5681 §4.2),
				 * with SACK blocks when agreed (RFC 2018). */
				tcp_reass_insert(t, s->seq, s->data, s->len, fin);
				t->ack_now = true;
				return;
			}
			bool had_hole = t->reass.n > 0;
			size_t n = sk_ringbuf_write(&t->rcv, s->data, s->len);

			t->rcv_nxt += (uint32_t)n;
			if (n < s->len)
				fin = false;
			if (had_hole) {
				/* RFC 5681 §4.2: a segment that fills all or
				 * part of a gap is acknowledged at once. */
				n += tcp_reass_advance(t);
				t->ack_now = true;
			}
			t->rcv_unacked += (uint32_t)n;
			/* Linux tcp_data_ready: readers wake at SO_RCVLOWAT. */
			if (tcp_rcv_ready(t))
				sk_wake(st, t->id);
			/* RFC 9293 §3.8.6.3 / RFC 1122 §4.2.3.2: ACK at least
			 * every second full-sized segment, else within 40 ms. */
			if (t->quickack || t->rcv_unacked >= 2u * t->snd_mss)
				t->ack_now = true;
			else if (t->dack_at == SK_TIME_NEVER)
				t->dack_at = now + TCP_DELACK;
			break;
		default:
			/* CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT: the peer
			 * already sent its FIN; such text is ignored. */
			fin = false;
			break;
		}
	}
	/* Eighth step: the FIN, only when it is the next byte expected (it
	 * may have been held out of order and now be reached). */
	bool held;

	if (fin && s->len == 0 && seq_gt(s->seq, t->rcv_nxt) &&
	    (t->state == SK_TCP_ESTABLISHED || t->state == SK_TCP_FIN_WAIT_1 ||
	     t->state == SK_TCP_FIN_WAIT_2)) {
		/* A bare FIN beyond a hole: hold it, tell the peer. */
		tcp_reass_insert(t, s->seq, NULL, 0, true);
		t->ack_now = true;
		return;
	}
	held = tcp_reass_fin_due(t);
	if (!held && (!fin || s->seq + s->len != t->rcv_nxt))
		return;
	switch (t->state) {
	case SK_TCP_ESTABLISHED:
	case SK_TCP_FIN_WAIT_1:
	case SK_TCP_FIN_WAIT_2:
		break;
	case SK_TCP_TIME_WAIT:
		/* A retransmitted FIN: acknowledge it, restart 2 MSL. */
		t->ack_now = true;
		t->state_at = now + 2 * SK_MS(st->cfg.msl_ms);
		return;
	default:
		return; /* CLOSE_WAIT, CLOSING, LAST_ACK: remain */
	}
	t->rcv_nxt++;
	/* The stream ends here: whatever is held above it cannot be data of
	 * it (Linux tcp_fin purges the out-of-order queue), and our ACKs
	 * must not SACK it. */
	tcp_reass_reset(&t->reass);
	t->fin_rcvd = true;
	t->shut_rd = true;
	t->ack_now = true; /* a FIN is acknowledged at once */
	sk_wake(st, t->id);
	uint32_t fin_seq = t->snd_buf_seq + (uint32_t)sk_ringbuf_len(&t->snd);
	bool our_fin_acked = t->fin_queued && seq_gt(t->snd_una, fin_seq);

	if (t->state == SK_TCP_ESTABLISHED)
		tcp_set_state(st, t, SK_TCP_CLOSE_WAIT, "rcv FIN", now);
	else if (t->state == SK_TCP_FIN_WAIT_2)
		enter_time_wait(st, t, "rcv FIN", now);
	else if (our_fin_acked)
		enter_time_wait(st, t, "rcv FIN,ACK", now);
	else
		tcp_set_state(st, t, SK_TCP_CLOSING, "rcv FIN (simultaneous close)", now);
}

static void synchronized_input(struct sk_stack *st, struct tcb *t, struct seg *s, sk_time_t now)
{
	uint32_t wnd = tcp_rcv_window(t);

	/* Second check first for RST: RFC 5961 §3.2 judges it against the
	 * window itself (and accepts RCV.NXT - 1 after a FIN, which the
	 * acceptability test would refuse). */
	if (s->r.flags & SK_TCP_RST) {
		rst_input(st, t, s, wnd, now);
		return;
	}
	/* Scaled unless a SYN: a crossing SYN,ACK read below as a plain ACK
	 * keeps its unscaled window. */
	s->wnd = tcp_seg_window(t, &s->r);
	if (t->state == SK_TCP_SYN_RECEIVED && !t->passive &&
	    (s->r.flags & (SK_TCP_SYN | SK_TCP_ACK)) == (SK_TCP_SYN | SK_TCP_ACK) &&
	    s->r.seq + 1 == t->rcv_nxt && s->r.ack == t->snd_max) {
		/* Simultaneous open: the peer's SYN,ACK crossed ours. Its SYN
		 * is already acknowledged, its ACK completes our handshake
		 * (Linux tcp_validate_incoming does the same): read it as the
		 * ACK that follows the SYN. */
		s->r.flags &= (uint8_t)~SK_TCP_SYN;
		s->r.seq++;
	}
	/* RFC 7323 §5.3 R1: PAWS before the sequence check; the old
	 * duplicate gets an ACK (the rate limit spares data, as below). */
	if (!(s->r.flags & SK_TCP_SYN) && tcp_paws_reject(t, &s->r, now)) {
		st->stats.tcp_drop_out_of_window++;
		if (s->r.payload_len > 0)
			tcp_send_ack(st, t, now);
		else
			send_limited_ack(st, t, now);
		return;
	}
	/* First check: sequence number. */
	if (!acceptable(t, &s->r, wnd)) {
		st->stats.tcp_drop_out_of_window++;
		if (t->state == SK_TCP_SYN_RECEIVED && (s->r.flags & SK_TCP_SYN) &&
		    !(s->r.flags & SK_TCP_ACK) && s->r.seq == t->irs) {
			/* The peer lost our SYN,ACK and resent its SYN: resend
			 * ours (Linux tcp_check_req). */
			t->snd_nxt = t->iss;
			tcp_output(st, t, now);
			return;
		}
		if (t->state == SK_TCP_TIME_WAIT && (s->r.flags & SK_TCP_FIN))
			t->state_at = now + 2 * SK_MS(st->cfg.msl_ms); /* restart 2MSL */
		/* <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>; rate-limited unless
		 * the segment carries data, which always gets its ACK. */
		if (s->r.payload_len > 0)
			tcp_send_ack(st, t, now);
		else
			send_limited_ack(st, t, now);
		return;
	}
	tcp_ts_update(t, &s->r, now); /* RFC 7323 §4.3, acceptable segments only */
	tcp_ka_input(t, &s->r, now);  /* the peer is alive (keepalive, user timeout) */
	trim(t, s, wnd);
	/* Fourth check: SYN. */
	if (s->r.flags & SK_TCP_SYN) {
		if (t->state == SK_TCP_SYN_RECEIVED && t->passive) {
			/* RFC 9293 §3.10.7.4: a passive open returns to LISTEN. */
			tcp_set_state(st, t, SK_TCP_LISTEN, "rcv SYN in window", now);
			tcp_slot_free(st, t);
			return;
		}
		/* RFC 5961 §4.2: a SYN in a synchronised state gets a
		 * challenge ACK, whatever its sequence number. */
		challenge_ack(st, t, now);
		return;
	}
	/* Fifth check: the ACK field; a segment without ACK is dropped. */
	if (!(s->r.flags & SK_TCP_ACK))
		return;
	bool fin_acked = false;
	if (!ack_input(st, t, s, &fin_acked, now))
		return;
	process_text(st, t, s, now);
	if (!t->in_use || t->state == SK_TCP_CLOSED)
		return;
	if (t->state == SK_TCP_FIN_WAIT_1 && fin_acked)
		enter_fin_wait_2(st, t, now);
	tcp_output(st, t, now);
}

static bool martian_source(uint32_t addr)
{
	/* RFC 1122 §4.2.3.10: no connection from a broadcast or multicast
	 * source, nor from 0.0.0.0. */
	return addr == 0 || addr == 0xffffffffu || (addr >> 28) == 0xe;
}

void sk_tcp_input(struct sk_stack *st, const struct sk_ipv4_repr *ip, const uint8_t *seg,
                  size_t len, bool csum_trusted, sk_time_t now)
{
	struct seg s = {.ip = ip};

	tcp_clock(st, now);
	st->stats.tcp_rx_segs++;
	if (!csum_trusted && !sk_tcp_checksum_ok(seg, len, ip->src, ip->dst)) {
		st->stats.tcp_drop_bad_csum++;
		return;
	}
	if (sk_tcp_parse(seg, len, &s.r) < 0 || s.r.src_port == 0 || s.r.dst_port == 0 ||
	    martian_source(ip->src)) {
		st->stats.tcp_drop_malformed++;
		return;
	}
	struct tcb *t = tcp_conn_lookup(st, ip->dst, s.r.dst_port, ip->src, s.r.src_port);

	if (t && t->state == SK_TCP_TIME_WAIT && (s.r.flags & SK_TCP_SYN) &&
	    !(s.r.flags & (SK_TCP_ACK | SK_TCP_RST)) && seq_gt(s.r.seq, t->rcv_nxt) &&
	    tcp_listener_lookup(st, ip->dst, s.r.dst_port)) {
		/* RFC 6191 / RFC 1122 §4.2.2.13: a new SYN above the old
		 * connection's sequence space may reopen the 4-tuple. */
		tcp_close_conn(st, t, 0, "new SYN reuses the 4-tuple", now);
		t = NULL;
	}
	if (!t) {
		struct tcb *l = tcp_listener_lookup(st, ip->dst, s.r.dst_port);

		if (l)
			listen_input(st, l, &s, now);
		else
			tcp_reply_rst(st, ip, &s.r, now); /* RFC 9293 §3.10.7.1 */
		return;
	}
	if (t->state == SK_TCP_SYN_SENT)
		syn_sent_input(st, t, &s, now);
	else
		synchronized_input(st, t, &s, now);
}
