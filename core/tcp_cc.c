/* Congestion control: the algorithm table, the pieces every algorithm
 * shares, and NewReno (RFC 5681 §3.1, the window side of RFC 6582). */
#include <stddef.h>

#include "tcp.h"
#include "tcp_cc.h"

uint32_t tcp_cc_floor(const struct tcb *t, uint64_t bytes)
{
	uint64_t two = 2u * (uint64_t)t->snd_mss;

	if (bytes < two)
		bytes = two;
	return bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
}

uint32_t tcp_cc_slow_start(struct tcb *t, uint32_t acked)
{
	if (t->cwnd >= t->ssthresh)
		return acked;
	/* RFC 3465 §2.3 (Appropriate Byte Counting): cwnd grows by the bytes
	 * each ACK newly acknowledges, without RFC 5681 eq. 2's one-SMSS cap,
	 * as Linux's tcp_slow_start does: a peer receiving super-frames
	 * (GRO/GSO) acknowledges dozens of segments in one stretch ACK, and
	 * counting it as one segment would stall slow start. Never past
	 * ssthresh in one step (RFC 9438 §4.10 leaves the rest to avoidance). */
	uint32_t inc = acked;

	if (inc > t->ssthresh - t->cwnd)
		inc = t->ssthresh - t->cwnd;
	t->cwnd += inc;
	return acked - inc;
}

static void reno_init(struct tcb *t)
{
	(void)t;
}

static void reno_on_ack(struct tcb *t, uint32_t acked, sk_time_t now)
{
	(void)now;
	acked = tcp_cc_slow_start(t, acked);
	if (acked == 0 || t->cwnd < t->ssthresh)
		return;
	/* RFC 5681 §3.1 eq. 3: about one SMSS per RTT in avoidance, counted
	 * in acknowledged bytes (RFC 3465 §2.1) so stretch ACKs count fully. */
	uint32_t inc = (uint32_t)((uint64_t)t->snd_mss * acked / t->cwnd);

	t->cwnd += inc ? inc : 1;
}

static uint32_t flight_size(const struct tcb *t)
{
	return t->snd_max - t->snd_una;
}

static void reno_on_loss(struct tcb *t, sk_time_t now)
{
	(void)now;
	/* RFC 5681 §3.2 step 2, eq. 4: ssthresh = max(FlightSize / 2,
	 * 2 SMSS); recovery then sets cwnd from it. */
	t->ssthresh = tcp_cc_floor(t, flight_size(t) / 2);
	t->cwnd = t->ssthresh;
}

static void reno_on_rto(struct tcb *t, sk_time_t now)
{
	(void)now;
	/* RFC 5681 §3.1: eq. 4, then cwnd = LW = 1 SMSS. */
	t->ssthresh = tcp_cc_floor(t, flight_size(t) / 2);
	t->cwnd = t->snd_mss;
}

static uint32_t cc_window(const struct tcb *t)
{
	return t->cwnd;
}

const struct cc_ops tcp_cc_newreno = {
    .name = "reno",
    .init = reno_init,
    .on_ack = reno_on_ack,
    .on_loss = reno_on_loss,
    .on_rto = reno_on_rto,
    .window = cc_window,
};

const struct cc_ops *tcp_cc_get(int algo)
{
	switch (algo) {
	case TCP_CC_CUBIC:
		return &tcp_cc_cubic;
	case TCP_CC_NEWRENO:
		return &tcp_cc_newreno;
	default:
		return NULL;
	}
}
