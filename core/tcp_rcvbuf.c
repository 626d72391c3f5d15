/* Receive-buffer autotuning, as Linux's tcp_rcv_space_adjust ("dynamic
 * right-sizing"): once per RTT, the bytes the application read in that
 * RTT say how fast it drains the connection; a reader that keeps up with
 * a growing sender gets a bigger buffer, hence a bigger advertised window
 * (RFC 9293 §3.8.6: the window is what the receiver can buffer), up to a
 * cap. A slow reader reads no more per RTT than before and the buffer
 * stays. An explicit SO_RCVBUF switches it off, as in Linux.
 *
 * The ring grows by reallocation from sk_recv, never on the per-segment
 * path; the window scale was chosen in the handshake for the cap (RFC
 * 7323 §2.3), so the larger window can be expressed. */
#include "seq.h"
#include "tcp.h"

/* Linux tcp_init_buffer_space: the first measurement expects what an
 * initial window (RFC 6928, 10 segments) brings in one RTT. */
static uint32_t initial_space(const struct tcb *t)
{
	uint32_t iw = TCP_INIT_CWND_SEGS * (uint32_t)t->mss_ours;

	return iw < t->rcvbuf ? iw : t->rcvbuf;
}

static bool autotuning(const struct sk_stack *st, const struct tcb *t)
{
	return !t->rcvbuf_locked && st->cfg.rcvbuf_max > t->rcvbuf;
}

uint32_t tcp_rcvbuf_cap(const struct sk_stack *st, const struct tcb *t)
{
	return autotuning(st, t) ? st->cfg.rcvbuf_max : t->rcvbuf;
}

void tcp_rcvbuf_init(struct tcb *t, sk_time_t now)
{
	t->rcv_copied = t->rcvq_seq = 0;
	t->rcvq_space = initial_space(t);
	t->rcvq_time = now;
}

/* Bytes of the ring from its oldest byte that must keep their place: the
 * readable ones and the out-of-order ones stored past them (tcp_reass.c
 * keeps them at their offset from RCV.NXT). */
static size_t ring_span(const struct tcb *t)
{
	size_t span = sk_ringbuf_len(&t->rcv);

	if (t->reass.n > 0)
		span += t->reass.iv[t->reass.n - 1].right - t->rcv_nxt;
	return span;
}

void tcp_rcvbuf_adjust(struct sk_stack *st, struct tcb *t, size_t n, sk_time_t now)
{
	t->rcv_copied += (uint32_t)n;
	/* One measurement per RTT; none before an RTT is known (Linux waits
	 * for its receiver-side estimate; ours is the RFC 6298 SRTT, which
	 * the handshake already samples). */
	if (t->srtt == 0 || now - t->rcvq_time < t->srtt)
		return;
	uint32_t copied = t->rcv_copied - t->rcvq_seq;

	if (copied > t->rcvq_space) {
		if (autotuning(st, t) && tcp_state_synchronized(t->state)) {
			/* Linux's reasoning: twice the bytes of the last RTT to
			 * ride out a loss, a cushion of 16 segments, and room
			 * for a sender that doubles per RTT (slow start): the
			 * growth over the previous RTT, twice. */
			uint64_t win = 2 * (uint64_t)copied + 16u * t->mss_ours;
			uint64_t grow = win * (copied - t->rcvq_space) / t->rcvq_space;
			uint64_t cap = st->cfg.rcvbuf_max;
			/* RFC 7323 §2.3: no more than the scaled 16-bit field
			 * can offer (the shift was chosen for the cap; it is 0
			 * when the peer did not agree to scaling). */
			uint64_t field = (uint64_t)TCP_MAX_WINDOW << t->rcv_wscale;

			win += 2 * grow;
			if (win > cap)
				win = cap;
			if (win > field)
				win = field;
			if (win > t->rcv.cap &&
			    tcp_ring_grow(st, &t->rcv, (size_t)win, ring_span(t)) == 0)
				t->rcvbuf = (uint32_t)win; /* what SO_RCVBUF reads, as Linux */
		}
		t->rcvq_space = copied;
	}
	t->rcvq_seq = t->rcv_copied;
	t->rcvq_time = now;
}
