/* Fast retransmit and fast recovery: SACK-based loss recovery (RFC 6675)
 * when both SYNs carried SACK-permitted, NewReno (RFC 6582) otherwise.
 * The congestion controller (tcp_cc.h) picks ssthresh on entry; this file
 * owns cwnd until the recovery ends. An RTO ends a recovery that failed
 * (tcp_timer.c), and go-back-N takes over as before. */
#include "seq.h"
#include "tcp.h"

/* RFC 5681 §3.2 / RFC 6675 §2: DupThresh. */
#define DUP_THRESH 3

static void enter_recovery(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	t->in_recovery = true;
	/* RFC 6582 §3.2 step 2 "recover", RFC 6675 §5 step 4.1
	 * RecoveryPoint = HighData. */
	t->recover = t->snd_max;
	tcp_cc(t)->on_loss(t, now); /* ssthresh, cwnd = ssthresh (step 4.2) */
	/* Karn: an ACK of retransmitted data gives no timing (RFC 6298 §3);
	 * timestamps still do. */
	t->rtt_active = false;
	t->high_rxt = t->snd_una;
	/* RFC 6675 §5 step 4.3 / RFC 6582 step 2: the first unacknowledged
	 * segment goes at once, whatever the window says. */
	t->high_rxt = t->snd_una + tcp_retransmit(st, t, t->snd_una, UINT32_MAX, now);
	t->rxt_mark = t->high_rxt;
	if (!t->sack_ok) {
		/* RFC 6582 §3.2 step 2 (RFC 5681 §3.2 step 3): inflate by the
		 * three segments that left the network. */
		t->cwnd = t->ssthresh + DUP_THRESH * (uint32_t)t->snd_mss;
	}
}

void tcp_recovery_dupack(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	t->dupacks++;
	if (t->in_recovery) {
		/* RFC 6582 §3.2 step 3: each further duplicate ACK means one
		 * more segment left; SACK recovery counts pipe instead. */
		if (!t->sack_ok)
			t->cwnd += t->snd_mss;
		return;
	}
	/* RFC 6675 §5 step 4: DupThresh duplicate ACKs, or IsLost(SND.UNA)
	 * (enough SACKed above it). */
	bool lost = t->dupacks >= DUP_THRESH || (t->sack_ok && tcp_sack_is_lost(t, t->snd_una));

	/* RFC 6582 §3.2 step 1 / RFC 6675 §5: not again for losses of the
	 * window already recovered (the ACK must be beyond "recover"). */
	if (lost && seq_geq(t->snd_una, t->recover))
		enter_recovery(st, t, now);
}

void tcp_recovery_ack(struct sk_stack *st, struct tcb *t, uint32_t acked, bool sacked,
                      sk_time_t now)
{
	if (!t->in_recovery) {
		tcp_cc(t)->on_ack(t, acked, now);
		/* As Linux (tcp_fastretrans_alert on FLAG_DATA_SACKED): an
		 * ACK that advances and SACKs enough above the new SND.UNA
		 * shows it lost (RFC 6675 §4 IsLost) without waiting for
		 * three duplicates. */
		if (sacked && t->snd_una != t->snd_max && tcp_sack_is_lost(t, t->snd_una) &&
		    seq_geq(t->snd_una, t->recover))
			enter_recovery(st, t, now);
		return;
	}
	if (seq_geq(t->snd_una, t->recover)) {
		/* Full acknowledgment: recovery is over. RFC 6582 §3.2 step
		 * 5 option (1): cwnd = min(ssthresh, max(FlightSize, SMSS) +
		 * SMSS); after SACK recovery cwnd is ssthresh (as Linux's
		 * tcp_end_cwnd_reduction). */
		uint32_t flight = t->snd_max - t->snd_una;
		uint32_t deflated = (flight > t->snd_mss ? flight : t->snd_mss) + t->snd_mss;

		t->in_recovery = false;
		t->cwnd = t->sack_ok || deflated > t->ssthresh ? t->ssthresh : deflated;
		return;
	}
	if (seq_lt(t->high_rxt, t->snd_una))
		t->high_rxt = t->snd_una;
	if (t->sack_ok) {
		/* RFC 6675: the pipe loop decides what goes. The new first
		 * hole was retransmitted before anything above its end. */
		t->rxt_mark = t->sb.n ? t->sb.blk[0].left : t->snd_una;
		return;
	}
	/* RFC 6582 §3.2 step 4, partial acknowledgment: the next hole is
	 * lost too; retransmit it, deflate by what was acknowledged, add back
	 * one SMSS if that was at least one. */
	tcp_retransmit(st, t, t->snd_una, UINT32_MAX, now);
	t->cwnd = t->cwnd > acked ? t->cwnd - acked : 0;
	if (acked >= t->snd_mss)
		t->cwnd += t->snd_mss;
	if (t->cwnd < t->snd_mss)
		t->cwnd = t->snd_mss;
}

void tcp_recovery_sack(struct sk_stack *st, struct tcb *t, const struct sk_tcp_repr *r,
                       sk_time_t now)
{
	/* RFC 6675 cannot see a lost retransmission and waits for the RTO
	 * (200 ms at least), which dominated transfers at a few percent of
	 * loss. Retransmissions go in sequence order, so when the most
	 * recent SACK block (RFC 2018 §4: sack[0]) shows a retransmission
	 * sent after SND.UNA's arriving while SND.UNA's did not, that one was
	 * lost: resend it (the idea of Linux's lost-retransmit detection,
	 * tcp_mark_lost_retrans, in its simplest form). */
	if (!t->in_recovery || !t->sack_ok || r->sack_count == 0 ||
	    !seq_gt(t->high_rxt, t->snd_una) || !seq_lt(t->rxt_mark, t->high_rxt))
		return;
	if (!seq_lt(r->sack[0].left, t->high_rxt) || !seq_gt(r->sack[0].right, t->rxt_mark))
		return;
	uint32_t hole = t->sb.n ? t->sb.blk[0].left - t->snd_una : UINT32_MAX;

	tcp_retransmit(st, t, t->snd_una, hole, now);
	t->rxt_mark = t->high_rxt; /* only a later retransmission tells again */
}

sk_time_t tcp_probe_at(const struct tcb *t, sk_time_t now)
{
	/* RFC 8985 §7.2: PTO = 2 SRTT, at least 10 ms as Linux
	 * (tcp_schedule_loss_probe). Only on an established connection with
	 * an RTT estimate, before any RTO of this flight, and with more than
	 * one segment out (a lone segment waits for the peer's delayed ACK:
	 * the RTO serves it). */
	if (t->state != SK_TCP_ESTABLISHED && t->state != SK_TCP_CLOSE_WAIT)
		return SK_TIME_NEVER;
	if (t->srtt == 0 || t->retries > 0 || t->persist || t->snd_max - t->snd_una <= t->snd_mss)
		return SK_TIME_NEVER;
	sk_time_t pto = 2 * t->srtt;

	return now + (pto > TCP_PROBE_MIN ? pto : TCP_PROBE_MIN);
}

void tcp_probe_rearm(struct tcb *t, sk_time_t now)
{
	sk_time_t probe = tcp_probe_at(t, now);
	sk_time_t rto = t->probe_armed ? t->rto_real : t->rto_at;

	if (probe >= rto)
		return;
	t->rto_real = rto;
	t->rto_at = probe;
	t->probe_armed = true;
}

void tcp_probe_send(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	/* RFC 8985 §7.3: new data if the windows allow, else the last
	 * segment again, to draw an ACK (with SACK) that shows what is
	 * missing. In recovery, SND.UNA's segment: its retransmission may be
	 * the one lost (or its ACK was), and the answer says which. */
	if (!t->in_recovery) {
		uint32_t in_flight = t->snd_nxt - t->snd_una;
		uint32_t room = t->snd_wnd > in_flight ? t->snd_wnd - in_flight : 0;

		if (tcp_send_new(st, t, room < t->snd_mss ? room : t->snd_mss, now))
			return;
		uint32_t last =
		    t->snd_max - t->snd_una > t->snd_mss ? t->snd_max - t->snd_mss : t->snd_una;

		tcp_retransmit(st, t, last, t->snd_max - last, now);
		return;
	}
	uint32_t hole = t->sb.n ? t->sb.blk[0].left - t->snd_una : UINT32_MAX;

	tcp_retransmit(st, t, t->snd_una, hole, now);
}

void tcp_recovery_rto(struct tcb *t)
{
	/* RFC 6675 §5.1 / RFC 6582 §4: no fast recovery for the losses of
	 * the window the timeout is repairing. */
	t->in_recovery = false;
	t->recover = t->snd_max;
	t->dupacks = 0;
}

void tcp_recovery_output(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	/* RFC 6675 §5 (C): while cwnd - pipe >= 1 SMSS, send NextSeg(). A
	 * bounded loop: each turn sends a segment (pipe grows by it) or
	 * stops. */
	for (;;) {
		uint32_t pipe = tcp_sack_pipe(t);
		uint32_t seq, len, n;

		if (t->cwnd < pipe + t->snd_mss)
			break;
		if (tcp_sack_next_seg(t, false, &seq, &len)) {
			/* Rule 1: a hole deemed lost. */
			n = tcp_retransmit(st, t, seq, len, now);
		} else if (tcp_send_new(st, t, t->cwnd - pipe, now)) {
			continue; /* rule 2: new data */
		} else if (tcp_sack_next_seg(t, true, &seq, &len)) {
			/* Rule 3: a hole not yet deemed lost. */
			n = tcp_retransmit(st, t, seq, len, now);
		} else {
			break;
		}
		if (n == 0)
			break;
		t->high_rxt = seq + n; /* C.3 */
	}
}
