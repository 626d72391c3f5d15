/* Is the peer still there? Keepalive (RFC 9293 §3.8.4, RFC 1122
 * §4.2.3.6) and TCP_USER_TIMEOUT (RFC 5482), with Linux's semantics
 * (tcp_keepalive_timer, tcp_write_timeout) so that programs tuned for the
 * kernel see the same timings and errors.
 *
 * Keepalive: after TCP_KEEPIDLE s with nothing received and nothing to
 * send, a probe <SEQ=SND.UNA-1><CTL=ACK> every TCP_KEEPINTVL s; any
 * acceptable segment from the peer answers (the count restarts); after
 * TCP_KEEPCNT unanswered probes the connection is reset and fails with
 * ETIMEDOUT. The timer is lazy (gVisor's habit): input only records when
 * the peer was last heard, the expiry looks at it and re-arms.
 *
 * TCP_USER_TIMEOUT: data transmitted and not acknowledged for that many
 * ms ends the connection with ETIMEDOUT, whatever the retry count; the RTO
 * is clamped so that the end comes on time. With keepalive, it replaces
 * TCP_KEEPCNT: the connection ends at the first expiry that finds the peer
 * silent for longer than the user timeout with a probe out. */
#include <errno.h>

#include "seq.h"
#include "tcp.h"

/* Linux keeps the timer in ESTABLISHED and the closing states; in the
 * others (data or a FIN outstanding) the retransmission timer rules. */
static bool ka_state(enum sk_tcp_state s)
{
	switch (s) {
	case SK_TCP_ESTABLISHED:
	case SK_TCP_CLOSE_WAIT:
	case SK_TCP_FIN_WAIT_1:
	case SK_TCP_FIN_WAIT_2:
	case SK_TCP_CLOSING:
	case SK_TCP_LAST_ACK:
		return true;
	default:
		return false;
	}
}

void tcp_ka_state(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	if (t->state == SK_TCP_ESTABLISHED) {
		t->last_rcv = now;
		t->ka_probes = 0;
		t->ut_since = 0;
		/* Linux tcp_finish_connect / tcp_rcv_state_process: the
		 * keepalive timer starts with the connection. */
		if (t->keepalive) {
			t->ka_at = now + SK_SEC(t->keepidle);
			tcp_timer_update(st, t);
		}
	} else if (!ka_state(t->state)) {
		t->ka_at = t->cork_at = SK_TIME_NEVER;
		t->ut_since = 0;
		tcp_timer_update(st, t);
	}
}

void tcp_ka_input(struct tcb *t, const struct sk_tcp_repr *r, sk_time_t now)
{
	/* Linux tcp_ack: any acceptable ACK clears icsk_probes_out and
	 * stamps rcv_tstamp; data stamps lrcvtime. One stamp covers both. */
	t->last_rcv = now;
	t->ka_probes = 0;
	/* New data acknowledged: the user timeout counts again from the next
	 * expiry (Linux clears retrans_stamp once the retransmitted head is
	 * acknowledged). */
	if ((r->flags & SK_TCP_ACK) && seq_gt(r->ack, t->snd_una) && seq_leq(r->ack, t->snd_max))
		t->ut_since = 0;
}

void tcp_ka_rearm(struct sk_stack *st, struct tcb *t, bool from_now, sk_time_t now)
{
	if (!t->keepalive || !ka_state(t->state)) {
		t->ka_at = SK_TIME_NEVER;
	} else if (from_now) {
		/* Linux tcp_set_keepalive: keepalive_time_when() from now. */
		t->ka_at = now + SK_SEC(t->keepidle);
	} else {
		/* Linux tcp_sock_set_keepidle_locked: what is left of the
		 * idle time since the peer was last heard (0 if over). */
		sk_time_t idle = SK_SEC(t->keepidle), elapsed = now - t->last_rcv;

		t->ka_at = now + (elapsed < idle ? idle - elapsed : 0);
	}
	tcp_timer_update(st, t);
}

void tcp_ka_expired(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	if (!t->keepalive || !ka_state(t->state))
		return;
	sk_time_t idle = SK_SEC(t->keepidle);

	/* Linux: data in flight or queued -> no probe, the retransmission
	 * timer watches the peer; look again after the idle time. */
	if (t->snd_una != t->snd_max || sk_ringbuf_len(&t->snd) > 0) {
		t->ka_at = now + idle;
		return;
	}
	sk_time_t elapsed = now - t->last_rcv;

	if (elapsed < idle) {
		t->ka_at = now + (idle - elapsed); /* heard from since: wait on */
		return;
	}
	sk_time_t ut = SK_MS(t->user_timeout);

	if ((ut && elapsed >= ut && t->ka_probes > 0) ||
	    (!ut && t->ka_probes >= (uint32_t)t->keepcnt)) {
		/* RFC 1122 §4.2.3.6: the peer is dead. Linux resets
		 * (tcp_send_active_reset) and reports ETIMEDOUT. */
		tcp_abort(st, t, ETIMEDOUT, "keepalive timeout", now);
		return;
	}
	tcp_send_keepalive(st, t, now);
	t->ka_probes++;
	t->ka_at = now + SK_SEC(t->keepintvl);
}

bool tcp_user_timeout_active(const struct tcb *t)
{
	/* A passive child's SYN,ACK keeps tcp_synack_retries (Linux: the
	 * request socket has no user timeout). */
	return t->user_timeout && !(t->passive && t->snd_una == t->iss);
}

bool tcp_user_timeout_due(struct tcb *t, sk_time_t now)
{
	if (!tcp_user_timeout_active(t))
		return false;
	/* The first expiry since the last progress: the timer was armed
	 * when the oldest outstanding segment went out, one RTO ago. */
	if (t->ut_since == 0)
		t->ut_since = now > t->rto ? now - t->rto : 1;
	return now - t->ut_since >= SK_MS(t->user_timeout);
}

void tcp_user_timeout_clamp(struct sk_stack *st, struct tcb *t)
{
	/* Linux tcp_clamp_rto_to_user_timeout. */
	if (!tcp_user_timeout_active(t) || t->ut_since == 0 || t->rto_at == SK_TIME_NEVER)
		return;
	sk_time_t end = t->ut_since + SK_MS(t->user_timeout);

	if (end < t->rto_at) {
		t->rto_at = end;
		tcp_timer_update(st, t);
	}
}
