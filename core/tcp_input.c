/* TCP input: RFC 9293 §3.10.7 "SEGMENT ARRIVES", in the RFC's order, with
 * RFC 5961's hardening of RST, SYN and ACK processing. One segment in, at
 * most a few segments out (through tcp_output), no allocation except a
 * passive open's new connection. */
#include <errno.h>
#include <string.h>

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
static bool send_limited_ack(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	if (t->last_challenge && now - t->last_challenge < TCP_CHALLENGE_GAP)
		return false;
	t->last_challenge = now;
	tcp_send_ack(st, t, now);
	return true;
}

static void challenge_ack(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	st->stats.tcp_challenge_acks++;
	if (!send_limited_ack(st, t, now))
		st->stats.tcp_challenge_acks_limited++;
}

static void enter_time_wait(struct sk_stack *st, struct tcb *t, const char *cause, sk_time_t now)
{
	tcp_set_state(st, t, SK_TCP_TIME_WAIT, cause, now);
	/* RFC 9293 §3.10.7.4 eighth step: TIME_WAIT lasts 2 MSL. Nothing is
	 * outstanding any more: no retransmission. */
	t->rto_at = SK_TIME_NEVER;
	t->state_at = now + 2 * SK_MS(st->cfg.msl_ms);
	tcp_timer_update(st, t);
	/* An orphan moves to the TIME_WAIT table once the ACK of the FIN is
	 * out (synchronized_input); one the application holds waits for
	 * close(). */
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

/* The SYN queue's bound (docs/security.md): min(backlog, syn_backlog), as
 * Linux bounds its request queue by the backlog, and at least one, where
 * Linux's listen(fd, 0) would answer every SYN with a cookie. */
static uint32_t syn_queue_max(const struct sk_stack *st, const struct tcb *l)
{
	uint32_t max = l->backlog < st->cfg.syn_backlog ? l->backlog : st->cfg.syn_backlog;

	return max ? max : 1;
}

/* A new passive child of l for segment s (a SYN, or the ACK of a SYN
 * cookie), on l's SYN queue, holding no buffers yet (tcp_conn_init): the
 * listener's options, the 4-tuple, and the MAC of an on-link peer. NULL
 * when the socket table is full. */
static struct tcb *child_new(struct sk_stack *st, struct tcb *l, const struct seg *s,
                             sk_time_t now)
{
	struct tcb *c = tcp_slot_alloc(st);
	if (!c)
		return NULL;
	/* The child is born a copy of the listener's LISTEN, so its first
	 * transition is the diagram's LISTEN -> SYN_RECEIVED. */
	c->state = SK_TCP_LISTEN;
	c->laddr = s->ip->dst;
	c->lport = l->lport;
	c->raddr = s->ip->src;
	c->rport = s->r.src_port;
	c->passive = true;
	c->reuseaddr = l->reuseaddr;
	c->reuseport = l->reuseport; /* sk_clone_lock: the port is shared with it */
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
	c->ip_tos = l->ip_tos; /* inet_csk_clone_lock copies the inet socket */
	c->ip_ttl = l->ip_ttl;
	c->notsent_lowat = l->notsent_lowat;
	tcp_conn_init(st, c, now);
	/* An on-link peer's SYN,ACKs go to the MAC its SYN came from while
	 * ARP does not know it: a flood of SYNs from spoofed on-link
	 * sources then never fills the ARP queue nor evicts real neighbours
	 * (docs/security.md). */
	const uint8_t *mac = sk_rx_sender_mac(st, c->raddr);

	if (mac) {
		memcpy(c->peer_mac, mac, sizeof(c->peer_mac));
		c->peer_mac_ok = true;
	}
	/* Link into the listener's half-open list. */
	c->parent = l->id;
	c->q_next = l->syn_head;
	if (l->syn_head != TCP_NIL)
		tcp_tcb(st, l->syn_head)->q_prev = c->id;
	l->syn_head = c->id;
	l->syn_count++;
	return c;
}

static void synchronized_input(struct sk_stack *st, struct tcb *t, struct seg *s, sk_time_t now);

/* The ACK of a SYN cookie (tcp_cookie.c): the connection its SYN would
 * have made, as though our SYN,ACK had just been sent, then the ACK (and
 * any data on it) processed by it: Linux cookie_v4_check. */
static void cookie_child(struct sk_stack *st, struct tcb *l, struct seg *s,
                         const struct tcp_cookie *ck, sk_time_t now)
{
	/* The accept queue must have room (Linux drops the ACK: the peer's
	 * retransmission brings the cookie again). */
	if (l->acc_count > l->backlog) {
		st->stats.tcp_listen_overflows++;
		return;
	}
	struct tcb *c = child_new(st, l, s, now);

	if (!c) {
		st->stats.tcp_syn_queue_drops++;
		return;
	}
	c->syncookie = true;
	c->iss = s->r.ack - 1;
	c->snd_una = c->iss;
	c->snd_nxt = c->snd_max = c->iss + 1;
	c->snd_buf_seq = c->iss + 1;
	c->snd_sml = c->recover = c->iss;
	c->irs = s->r.seq - 1;
	c->rcv_nxt = s->r.seq;
	/* The window our SYN,ACK offered (tcp_cookie_synack). */
	c->rcv_adv = c->rcv_nxt + (c->rcvbuf < TCP_MAX_WINDOW ? c->rcvbuf : TCP_MAX_WINDOW);
	c->ws_ok = ck->ws_ok;
	c->snd_wscale = ck->snd_wscale;
	if (!c->ws_ok)
		c->rcv_wscale = 0;
	c->sack_ok = ck->sack_ok;
	c->ts_ok = ck->ts_ok;
	if (c->ts_ok) {
		c->ts_recent = s->r.ts_val;
		c->ts_recent_at = now;
	}
	c->last_ack_sent = c->rcv_nxt;
	tcp_set_peer_mss(st, c, ck->mss);
	c->snd_wl1 = c->irs;
	c->snd_wl2 = c->iss;
	tcp_conn_insert(st, c);
	tcp_bind_child_insert(st, c);
	st->stats.tcp_conn_passive++;
	tcp_set_state(st, c, SK_TCP_SYN_RECEIVED, "rcv ACK of a SYN cookie", now);
	synchronized_input(st, c, s, now);
	if (c->in_use && c->state == SK_TCP_SYN_RECEIVED) {
		/* Not completed after all (nothing above should refuse it):
		 * no SYN,ACK timer would ever free it. */
		tcp_set_state(st, c, SK_TCP_LISTEN, "SYN cookie ACK refused", now);
		tcp_slot_free(st, c);
	}
}

static void listen_input(struct sk_stack *st, struct tcb *l, struct seg *s, sk_time_t now)
{
	struct tcp_cookie ck;

	/* First: an incoming RST is ignored. */
	if (s->r.flags & SK_TCP_RST)
		return;
	/* Second: any ACK is bad here: <SEQ=SEG.ACK><CTL=RST>, unless it
	 * answers one of our SYN cookies. */
	if (s->r.flags & SK_TCP_ACK) {
		if (!(s->r.flags & SK_TCP_SYN) && tcp_cookie_check(st, l, s->ip, &s->r, now, &ck))
			cookie_child(st, l, s, &ck, now);
		else
			tcp_reply_rst(st, s->ip, &s->r, now);
		return;
	}
	/* Fourth: anything but a SYN is dropped. */
	if (!(s->r.flags & SK_TCP_SYN))
		return;
	/* A full accept queue drops the SYN (Linux admits backlog + 1
	 * established connections): the peer retries. */
	if (l->acc_count > l->backlog) {
		st->stats.tcp_listen_overflows++;
		return;
	}
	/* A full SYN queue answers with a SYN cookie and keeps nothing
	 * (RFC 4987 §3.6); so does a full socket table. */
	bool cookie = st->cfg.syncookies == 2;
	struct tcb *c = NULL;

	if (!cookie && l->syn_count >= syn_queue_max(st, l)) {
		st->stats.tcp_syn_queue_full++;
		cookie = true;
	}
	if (!cookie && !(c = child_new(st, l, s, now)))
		cookie = true;
	if (cookie) {
		if (st->cfg.syncookies)
			tcp_cookie_synack(st, l, s->ip, &s->r, now);
		else
			st->stats.tcp_syn_queue_drops++;
		return;
	}
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
	} else if (!t->rtt_active && (t->retries > 0 || t->in_recovery) &&
	           tcp_ts_rtt(t, r, now, &rtt)) {
		/* As Linux tcp_ack_update_rtt: the µs sample of a timed,
		 * never retransmitted segment first; the echoed timestamp
		 * (RFC 7323 §4.1) only after a retransmission, where Karn
		 * forbids timing. Linux times every segment in µs, so it
		 * rarely needs the echo; here one segment per RTT is timed,
		 * and taking the echo on every other ACK would pull SRTT
		 * to the timestamp clock's 1 ms steps (RTTVAR to 0 on a
		 * link faster than that). */
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
		if (t->passive && t->parent != TCP_NIL &&
		    ((!t->syncookie && tcp_defer_hold(st, t, &s->r)) || !tcp_child_complete(st, t)))
			return false;
		t->ever_connected = true;
		t->snd_wnd = t->max_snd_wnd = s->wnd;
		t->snd_wl1 = s->r.seq;
		t->snd_wl2 = ack;
		tcp_set_state(st, t, SK_TCP_ESTABLISHED, "rcv ACK of SYN", now);
		if (t->peer_mac_ok) {
			/* The peer answered the SYN,ACK sent to its SYN's MAC:
			 * from now on the ARP cache says where it is. */
			sk_arp_learn(st, t->raddr, t->peer_mac, now);
			t->peer_mac_ok = false;
		}
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
			t->bytes_acked += n;
			/* Space freed: a writer that ran out of it may
			 * proceed (Linux tcp_check_space, SOCK_NOSPACE). */
			if (n)
				tcp_check_space(st, t);
		}
		/* A cookie's SYN,ACK was not timed, and its TSval was moved
		 * back by up to 63 ms to carry options: no sample from it. */
		if (!(syn_acked && t->syncookie))
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

/* In-order data for a reader waiting with its own buffer
 * (sk_recv_direct_begin): as much as fits goes straight there when nothing
 * is queued before it (in the receive buffer or out of order), and wakes
 * the reader. Returns the bytes placed. The buffer is an address in the
 * lender's process: another process holding the stack (sk_stack_bind)
 * leaves the data in the ring, where the reader finds it after
 * sk_recv_direct_end. */
static size_t tcp_rcv_direct(struct sk_stack *st, struct tcb *t, const uint8_t *data, size_t len,
                             bool had_hole)
{
	size_t room = t->direct_len - t->direct_done;
	size_t n = len < room ? len : room;

	if (!t->direct_buf || t->direct_owner != st->owner || had_hole ||
	    sk_ringbuf_len(&t->rcv) > 0 || n == 0)
		return 0;
	memcpy(t->direct_buf + t->direct_done, data, n);
	t->direct_done += n;
	sk_wake(st, t->id);
	return n;
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
				if (tcp_ring_reserve(st, &t->rcv) < 0)
					st->stats.tcp_drop_no_mem++;
				else if (!tcp_reass_insert(t, s->seq, s->data, s->len, fin))
					st->stats.tcp_drop_reass_full++;
				t->ack_now = true;
				return;
			}
			bool had_hole = t->reass.n > 0;
			size_t n = tcp_rcv_direct(st, t, s->data, s->len, had_hole);

			/* The receive ring's storage, when data first has to
			 * wait in it (tcp_mem.c); without it the rest is
			 * dropped and the peer sends it again. */
			if (n < s->len && tcp_ring_reserve(st, &t->rcv) < 0)
				st->stats.tcp_drop_no_mem++;
			else
				n += sk_ringbuf_write(&t->rcv, s->data + n, s->len - n);

			t->rcv_nxt += (uint32_t)n;
			t->bytes_received += n;
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
		/* RFC 5961 §4.2: a SYN gets a challenge ACK "irrespective of
		 * the sequence number" (Linux tcp_validate_incoming too). */
		if ((s->r.flags & SK_TCP_SYN) && tcp_state_synchronized(t->state)) {
			challenge_ack(st, t, now);
			return;
		}
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
	/* Linux tcp_data_snd_check: after the push, so a TCP_NOTSENT_LOWAT
	 * writer wakes once what it queued went out. */
	tcp_check_space(st, t);
	/* It got to TIME_WAIT with nobody holding it, and the ACK of the
	 * peer's FIN is out: the rest of its life needs no slot. */
	if (t->state == SK_TCP_TIME_WAIT && !t->user_owned && t->parent == TCP_NIL)
		tcp_tw_adopt(st, t, now);
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
	/* Shorter than a header: malformed, whatever its checksum (which
	 * such a segment does not even hold). */
	if (len < SK_TCP_HLEN) {
		st->stats.tcp_drop_malformed++;
		return;
	}
	if (!csum_trusted && !sk_tcp_checksum_ok(seg, len, ip->src, ip->dst)) {
		st->stats.tcp_drop_bad_csum++;
		return;
	}
	int err = sk_tcp_parse(seg, len, &s.r);

	if (err == -EPROTO) {
		st->stats.tcp_drop_bad_options++;
		return;
	}
	if (err < 0 || s.r.src_port == 0 || s.r.dst_port == 0 || martian_source(ip->src)) {
		st->stats.tcp_drop_malformed++;
		return;
	}
	struct tcb *t = tcp_conn_lookup(st, ip->dst, s.r.dst_port, ip->src, s.r.src_port);

	if (t && t->state == SK_TCP_TIME_WAIT && (s.r.flags & SK_TCP_SYN) &&
	    !(s.r.flags & (SK_TCP_ACK | SK_TCP_RST)) && seq_gt(s.r.seq, t->rcv_nxt) &&
	    tcp_listener_lookup(st, ip->dst, s.r.dst_port, ip->src, s.r.src_port)) {
		/* RFC 6191 / RFC 1122 §4.2.2.13: a new SYN above the old
		 * connection's sequence space may reopen the 4-tuple. */
		tcp_close_conn(st, t, 0, "new SYN reuses the 4-tuple", now);
		t = NULL;
	}
	if (!t) {
		struct tcb *l =
		    tcp_listener_lookup(st, ip->dst, s.r.dst_port, ip->src, s.r.src_port);
		struct tcp_tw *tw =
		    tcp_tw_lookup(st, ip->dst, s.r.dst_port, ip->src, s.r.src_port);

		if (tw && l && (s.r.flags & SK_TCP_SYN) &&
		    !(s.r.flags & (SK_TCP_ACK | SK_TCP_RST)) && seq_gt(s.r.seq, tw->rcv_nxt)) {
			/* The same rule for a TIME_WAIT in the table. */
			tcp_tw_end(st, tw, "new SYN reuses the 4-tuple", now);
		} else if (tw) {
			tcp_tw_input(st, tw, &s.r, now);
			return;
		}
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
