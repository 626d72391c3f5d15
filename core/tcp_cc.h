/* Congestion control behind one small interface (smoltcp's habit, Linux's
 * tcp_congestion_ops): the loss-recovery code in tcp_input.c/tcp_timer.c
 * decides *when* (new data acknowledged, loss detected, RTO), an
 * algorithm decides *how much* the congestion window moves.
 *
 * cwnd and ssthresh live in the TCB, in bytes; an algorithm keeps its own
 * state in tcb.cc_state. on_ack is not called during fast recovery: the
 * recovery code owns cwnd until it exits (RFC 6582 §3.2, RFC 6675 §5). */
#ifndef SYNACK_CORE_TCP_CC_H
#define SYNACK_CORE_TCP_CC_H

#include <stdint.h>

#include "sk_time.h"

struct tcb;

/* Per-connection state of whichever algorithm runs (NewReno needs none). */
struct tcp_cc_state {
	/* RFC 9438 §4 CUBIC, windows in segments, times in µs. */
	double w_max;      /* window just before the last reduction */
	double w_last_max; /* the one before (§4.7 fast convergence) */
	double k;          /* time to reach w_max again, µs */
	double w_est;      /* the Reno-friendly estimate (§4.3) */
	double cwnd_epoch; /* cwnd when the epoch began */
	sk_time_t epoch;   /* start of the congestion-avoidance epoch, 0 = none */
};

struct cc_ops {
	const char *name;
	/* A new connection (cwnd = IW already set), or an algorithm switch. */
	void (*init)(struct tcb *t);
	/* `acked` bytes of new data acknowledged, outside fast recovery. */
	void (*on_ack)(struct tcb *t, uint32_t acked, sk_time_t now);
	/* Loss detected by duplicate ACKs or SACK: set ssthresh and cwnd for
	 * the recovery that starts (RFC 5681 §3.2 step 2, RFC 9438 §4.6). */
	void (*on_loss)(struct tcb *t, sk_time_t now);
	/* The retransmission timer expired: ssthresh, and cwnd = loss window
	 * (RFC 5681 §3.1, RFC 9438 §4.8). */
	void (*on_rto)(struct tcb *t, sk_time_t now);
	/* The window the sender may have in flight, bytes. */
	uint32_t (*window)(const struct tcb *t);
};

enum tcp_cc_algo { TCP_CC_CUBIC = 0, TCP_CC_NEWRENO = 1 };

extern const struct cc_ops tcp_cc_newreno;
extern const struct cc_ops tcp_cc_cubic;

/* The ops for SK_OPT_CONGESTION's value, NULL if unknown. */
const struct cc_ops *tcp_cc_get(int algo);

/* Shared by the algorithms: RFC 5681 §3.1 slow start (one SMSS per ACK at
 * most, RFC 3465 L = 1) below ssthresh; returns the bytes not used. */
uint32_t tcp_cc_slow_start(struct tcb *t, uint32_t acked);
/* RFC 5681 eq. 4 floor: ssthresh is never below two segments. */
uint32_t tcp_cc_floor(const struct tcb *t, uint64_t bytes);

#endif
