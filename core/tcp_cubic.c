/* CUBIC congestion control (RFC 9438), the default as on Linux. Windows
 * are computed in segments (doubles), kept in bytes in the TCB. */
#include "tcp.h"
#include "tcp_cc.h"

/* RFC 9438 §5: C = 0.4, beta_cubic = 0.7. */
#define CUBIC_C    0.4
#define CUBIC_BETA 0.7
/* §4.3: alpha_cubic = 3 (1 - beta) / (1 + beta). */
#define CUBIC_ALPHA (3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA))

static double segs(const struct tcb *t, uint32_t bytes)
{
	return (double)bytes / (double)t->snd_mss;
}

/* Cube root by Newton's method (no libm in core/); x >= 0, called once
 * per congestion event. */
static double cube_root(double x)
{
	double r = x > 1.0 ? x / 3.0 : 1.0;

	if (x <= 0.0)
		return 0.0;
	for (int i = 0; i < 100; i++) {
		double next = r - (r * r * r - x) / (3.0 * r * r);

		if (next == r)
			break;
		r = next;
	}
	return r;
}

static void cubic_init(struct tcb *t)
{
	t->cc_state = (struct tcp_cc_state){0};
}

/* §4.2: W_cubic(t) = C (t - K)^3 + W_max, t and K in seconds. */
static double w_cubic(const struct tcp_cc_state *c, double t_us)
{
	double d = (t_us - c->k) / 1e6;

	return CUBIC_C * d * d * d + c->w_max;
}

static void cubic_on_ack(struct tcb *t, uint32_t acked, sk_time_t now)
{
	struct tcp_cc_state *c = &t->cc_state;

	acked = tcp_cc_slow_start(t, acked);
	if (acked == 0 || t->cwnd < t->ssthresh)
		return;
	double cwnd = segs(t, t->cwnd);

	if (c->epoch == 0) {
		/* §4.2: a new epoch when avoidance starts; after slow start
		 * without a prior loss, W_max is where we are (K = 0). */
		c->epoch = now ? now : 1;
		c->cwnd_epoch = cwnd;
		c->w_est = cwnd;
		if (c->w_max < cwnd) {
			c->w_max = cwnd;
			c->k = 0;
		} else {
			c->k = cube_root((c->w_max - cwnd) / CUBIC_C) * 1e6;
		}
	}
	/* §4.3 Reno-friendly region: W_est grows by alpha per window. */
	c->w_est += CUBIC_ALPHA * segs(t, acked) / cwnd;
	/* §4.4/4.5: the target one RTT ahead, within [cwnd, 1.5 cwnd]. */
	double elapsed = (double)(now - c->epoch) + (double)t->srtt;
	double target = w_cubic(c, elapsed);

	if (target < cwnd)
		target = cwnd;
	if (target > 1.5 * cwnd)
		target = 1.5 * cwnd;
	double next;

	if (w_cubic(c, (double)(now - c->epoch)) < c->w_est)
		next = c->w_est > cwnd ? c->w_est : cwnd; /* Reno-friendly */
	else
		next = cwnd + (target - cwnd) * segs(t, acked) / cwnd;
	double bytes = next * (double)t->snd_mss;

	if (bytes > (double)UINT32_MAX)
		bytes = (double)UINT32_MAX;
	if ((uint32_t)bytes > t->cwnd)
		t->cwnd = (uint32_t)bytes;
}

/* §4.6 multiplicative decrease and §4.7 fast convergence. */
static void reduce(struct tcb *t)
{
	struct tcp_cc_state *c = &t->cc_state;
	double cwnd = segs(t, t->cwnd);

	if (cwnd < c->w_last_max)
		c->w_max = cwnd * (1.0 + CUBIC_BETA) / 2.0; /* release room */
	else
		c->w_max = cwnd;
	c->w_last_max = cwnd;
	c->epoch = 0; /* the next ACK in avoidance opens an epoch */
	t->ssthresh = tcp_cc_floor(t, (uint64_t)((double)t->cwnd * CUBIC_BETA));
}

static void cubic_on_loss(struct tcb *t, sk_time_t now)
{
	(void)now;
	reduce(t);
	t->cwnd = t->ssthresh;
}

static void cubic_on_rto(struct tcb *t, sk_time_t now)
{
	(void)now;
	/* §4.8: as a loss, then restart from one segment (slow start). */
	reduce(t);
	t->cwnd = t->snd_mss;
}

static uint32_t cubic_window(const struct tcb *t)
{
	return t->cwnd;
}

const struct cc_ops tcp_cc_cubic = {
    .name = "cubic",
    .init = cubic_init,
    .on_ack = cubic_on_ack,
    .on_loss = cubic_on_loss,
    .on_rto = cubic_on_rto,
    .window = cubic_window,
};
