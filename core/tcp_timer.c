/* TCP timers as deadlines (design brief §8): each TCB stores its deadlines
 * (retransmission, delayed ACK, state timer: TIME_WAIT of a socket still
 * held, or orphaned FIN_WAIT_2; the TIME_WAIT table has its own FIFO,
 * tcp_timewait.c); a binary min-heap of slots keyed by their earliest deadline
 * makes "when next?" O(1) and re-arming O(log n). */
#include <errno.h>

#include "tcp.h"

/* ---- the heap ---- */

static sk_time_t key(const struct sk_tcp *tcp, uint32_t pos)
{
	return tcp_tcbs(tcp)[tcp_heap(tcp)[pos]].deadline;
}

static void heap_set(struct sk_tcp *tcp, uint32_t pos, int32_t id)
{
	tcp_heap(tcp)[pos] = id;
	tcp_tcbs(tcp)[id].heap_pos = (int32_t)pos;
}

static void sift_up(struct sk_tcp *tcp, uint32_t pos)
{
	int32_t id = tcp_heap(tcp)[pos];
	sk_time_t k = tcp_tcbs(tcp)[id].deadline;

	while (pos > 0) {
		uint32_t parent = (pos - 1) / 2;

		if (key(tcp, parent) <= k)
			break;
		heap_set(tcp, pos, tcp_heap(tcp)[parent]);
		pos = parent;
	}
	heap_set(tcp, pos, id);
}

static void sift_down(struct sk_tcp *tcp, uint32_t pos)
{
	int32_t id = tcp_heap(tcp)[pos];
	sk_time_t k = tcp_tcbs(tcp)[id].deadline;

	for (;;) {
		uint32_t c = 2 * pos + 1;

		if (c >= tcp->heap_len)
			break;
		if (c + 1 < tcp->heap_len && key(tcp, c + 1) < key(tcp, c))
			c++;
		if (k <= key(tcp, c))
			break;
		heap_set(tcp, pos, tcp_heap(tcp)[c]);
		pos = c;
	}
	heap_set(tcp, pos, id);
}

static void heap_remove(struct sk_tcp *tcp, struct tcb *t)
{
	uint32_t pos = (uint32_t)t->heap_pos;
	int32_t last = tcp_heap(tcp)[--tcp->heap_len];

	t->heap_pos = TCP_NIL;
	if ((uint32_t)pos == tcp->heap_len)
		return;
	heap_set(tcp, pos, last);
	sift_down(tcp, pos);
	sift_up(tcp, (uint32_t)tcp_tcbs(tcp)[last].heap_pos);
}

static sk_time_t min_time(sk_time_t a, sk_time_t b)
{
	return a < b ? a : b;
}

void tcp_timer_update(struct sk_stack *st, struct tcb *t)
{
	struct sk_tcp *tcp = sk_tcp_of(st);
	sk_time_t d = min_time(t->rto_at, min_time(t->dack_at, t->state_at));

	d = min_time(d, min_time(t->ka_at, t->cork_at)); /* tcp_keepalive.c, tcp_cork.c */

	if (d == t->deadline && (d == SK_TIME_NEVER) == (t->heap_pos == TCP_NIL))
		return;
	t->deadline = d;
	if (d == SK_TIME_NEVER) {
		if (t->heap_pos != TCP_NIL)
			heap_remove(tcp, t);
		return;
	}
	if (t->heap_pos == TCP_NIL) {
		heap_set(tcp, tcp->heap_len++, t->id);
		sift_up(tcp, tcp->heap_len - 1);
		return;
	}
	sift_up(tcp, (uint32_t)t->heap_pos);
	sift_down(tcp, (uint32_t)t->heap_pos);
}

sk_time_t sk_tcp_next_deadline(const struct sk_tcp *tcp)
{
	sk_time_t d = tcp->heap_len ? key(tcp, 0) : SK_TIME_NEVER;

	return min_time(d, tcp_tw_next_deadline(tcp));
}

/* ---- RFC 6298 retransmission timer ---- */

static sk_time_t clamp_rto(sk_time_t rto)
{
	if (rto < TCP_RTO_MIN)
		return TCP_RTO_MIN;
	return rto > TCP_RTO_MAX ? TCP_RTO_MAX : rto;
}

void tcp_rtt_sample(struct tcb *t, sk_time_t r)
{
	if (t->srtt == 0) {
		/* RFC 6298 §2.2: the first measurement. */
		t->srtt = r ? r : 1;
		t->rttvar = r / 2;
	} else {
		/* RFC 6298 §2.3: beta = 1/4, alpha = 1/8. */
		sk_time_t diff = t->srtt > r ? t->srtt - r : r - t->srtt;

		t->rttvar = (3 * t->rttvar + diff) / 4;
		t->srtt = (7 * t->srtt + r) / 8;
		if (t->srtt == 0)
			t->srtt = 1;
	}
	/* RFC 6298 §2.3 with G = 1 µs: RTO = SRTT + max(G, 4 * RTTVAR),
	 * then §2.4's floor (Linux's 200 ms) and §2.5's ceiling. */
	sk_time_t var4 = 4 * t->rttvar;

	t->rto = clamp_rto(t->srtt + (var4 ? var4 : 1));
}

void tcp_rto_reset(struct tcb *t)
{
	/* RFC 6298 §5.7 spirit: new data acknowledged ends the backoff; the
	 * RTO is again SRTT + 4 RTTVAR (or stays as is without a sample). */
	if (t->srtt) {
		sk_time_t var4 = 4 * t->rttvar;

		t->rto = clamp_rto(t->srtt + (var4 ? var4 : 1));
	}
}

void tcp_rto_arm(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	sk_time_t probe = tcp_probe_at(t, now);

	t->rto_at = now + t->rto;
	/* A loss probe first, when one is due (RFC 8985 §7.2); the RTO
	 * proper stays where RFC 6298 puts it. */
	t->probe_armed = probe < t->rto_at;
	if (t->probe_armed) {
		t->rto_real = t->rto_at;
		t->rto_at = probe;
	}
	tcp_timer_update(st, t);
}

static bool handshaking(const struct tcb *t)
{
	/* Our SYN is outstanding (SYN_SENT, SYN_RECEIVED, or a FIN_WAIT_1
	 * reached from SYN_RECEIVED before the SYN was acknowledged). */
	return t->snd_una == t->iss;
}

static void rto_expired(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	uint32_t limit = TCP_MAX_RETRIES;

	/* Linux tcp_write_timeout: SYN_SENT, and an active open in
	 * SYN_RECEIVED (simultaneous open), give up after tcp_syn_retries. */
	if (t->state == SK_TCP_SYN_SENT || (t->state == SK_TCP_SYN_RECEIVED && !t->passive))
		limit = st->cfg.syn_retries;
	else if (handshaking(t) && t->passive)
		limit = TCP_SYNACK_RETRIES;

	if (t->snd_una == t->snd_max && !t->persist)
		return; /* everything was acknowledged meanwhile */
	if (t->probe_armed) {
		/* The probe timeout, not the RTO: no backoff, no retry. */
		t->probe_armed = false;
		t->rto_at = t->rto_real;
		tcp_probe_send(st, t, now);
		return;
	}
	if (tcp_user_timeout_due(t, now)) {
		/* RFC 5482 / Linux tcp_write_timeout: TCP_USER_TIMEOUT ms
		 * without an acknowledgment ends the connection. */
		tcp_close_conn(st, t, ETIMEDOUT, "user timeout", now);
		return;
	}
	if (handshaking(t) && t->passive) {
		enum tcp_defer_rto d = tcp_defer_rto(st, t);

		if (d == TCP_DEFER_EXPIRE) {
			tcp_set_state(st, t, SK_TCP_CLOSED, "TCP_DEFER_ACCEPT: no data", now);
			tcp_slot_free(st, t);
			return;
		}
		if (d == TCP_DEFER_WAIT) {
			/* ACKed, waiting for data: the timer backs off,
			 * nothing is resent (syn_ack_recalc). */
			t->retries++;
			t->rto = clamp_rto(t->rto * 2);
			t->rto_at = SK_TIME_NEVER;
			tcp_rto_arm(st, t, now);
			return;
		}
		if (t->defer_acked)
			limit = UINT32_MAX; /* the deferral's own end rules */
	}
	if (t->retries >= limit && !tcp_user_timeout_active(t)) {
		/* RFC 9293 §3.8.3 (R2): give up; RFC 6298 gives no limit, the
		 * counts are Linux's (tcp_syn_retries, tcp_retries2). */
		if (t->state == SK_TCP_SYN_RECEIVED && t->passive) {
			tcp_set_state(st, t, SK_TCP_CLOSED, "SYN,ACK retries exhausted", now);
			tcp_slot_free(st, t);
			return;
		}
		tcp_close_conn(st, t, ETIMEDOUT, "retransmission timeout", now);
		return;
	}
	t->retries++;
	/* tcp_retransmits counts segments: data in tcp_output.c, the SYN or
	 * SYN,ACK here. */
	if (handshaking(t))
		tcp_count_retrans(st, t, 0);
	tcp_recovery_rto(t);
	if (!handshaking(t) && !t->persist) {
		/* RFC 5681 §3.1 / RFC 9438 §4.8: the algorithm's loss
		 * response, restarting from one segment. */
		tcp_cc(t)->on_rto(t, now);
	}
	/* RFC 9293 §3.8.6.2.1: the persist timer on a window too small to
	 * fill (sender SWS avoidance) is the override timeout: send it. */
	if (t->persist && t->snd_wnd > 0)
		t->sws_override = true;
	/* RFC 6298 §5.5: back off; §5.6 the SYN keeps its 1 s base. */
	t->rto = clamp_rto(t->rto * 2);
	/* Karn: a retransmitted segment gives no RTT sample. */
	t->rtt_active = false;
	t->dupacks = 0;
	/* smoltcp style: retransmit by rewinding SND.NXT and dispatching. */
	t->snd_nxt = t->snd_una;
	t->rto_at = SK_TIME_NEVER;
	tcp_output(st, t, now);
	if (t->rto_at == SK_TIME_NEVER)
		tcp_rto_arm(st, t, now);
	tcp_user_timeout_clamp(st, t);
}

static void state_timer_expired(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	if (t->state == SK_TCP_TIME_WAIT)
		tcp_close_conn(st, t, 0, "2MSL timeout", now); /* RFC 9293 §3.10.8 */
	else if (t->state == SK_TCP_FIN_WAIT_2)
		tcp_close_conn(st, t, 0, "FIN_WAIT_2 timeout", now); /* Linux tcp_fin_timeout */
}

void sk_tcp_run_timers(struct sk_stack *st, sk_time_t now)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	tcp_clock(st, now);
	/* Every handler either clears the deadline it ran or moves it past
	 * `now`, so this loop ends. */
	while (tcp->heap_len && key(tcp, 0) <= now) {
		struct tcb *t = &tcp_tcbs(tcp)[tcp_heap(tcp)[0]];

		if (t->dack_at <= now) {
			t->dack_at = SK_TIME_NEVER;
			t->ack_now = true;
			tcp_output(st, t, now);
		}
		if (t->in_use && t->state_at <= now) {
			t->state_at = SK_TIME_NEVER;
			state_timer_expired(st, t, now);
		}
		if (t->in_use && t->rto_at <= now) {
			t->rto_at = SK_TIME_NEVER;
			rto_expired(st, t, now);
		}
		if (t->in_use && t->cork_at <= now) {
			t->cork_at = SK_TIME_NEVER;
			tcp_cork_expired(st, t, now);
		}
		if (t->in_use && t->ka_at <= now) {
			t->ka_at = SK_TIME_NEVER;
			tcp_ka_expired(st, t, now);
		}
		if (t->in_use)
			tcp_timer_update(st, t);
	}
	tcp_tw_run_timers(st, now);
}
