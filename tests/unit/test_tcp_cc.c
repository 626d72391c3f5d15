/* Congestion control behind struct cc_ops: NewReno (RFC 5681) and CUBIC
 * (RFC 9438), driven directly on a TCB with a fake clock, and the per-
 * socket choice (SK_OPT_CONGESTION). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../core/tcp.h"
#include "harness.h"

#define MSS 1000u

static struct tcb conn(const struct cc_ops *cc, uint32_t cwnd_segs)
{
	struct tcb t = {.snd_mss = MSS, .cwnd = cwnd_segs * MSS, .ssthresh = UINT32_MAX};

	t.cc_algo = cc == &tcp_cc_newreno ? TCP_CC_NEWRENO : TCP_CC_CUBIC;
	t.srtt = SK_MS(10);
	t.snd_una = 1;
	t.snd_max = 1 + cwnd_segs * MSS; /* a full window in flight */
	cc->init(&t);
	return t;
}

/* One RTT's worth of ACKs: one per segment of the current window. */
static void ack_one_window(struct tcb *t, sk_time_t *now)
{
	uint32_t n = t->cwnd / MSS;

	for (uint32_t i = 0; i < n; i++)
		tcp_cc(t)->on_ack(t, MSS, *now);
	*now += t->srtt;
}

Test(tcp_cc, slow_start_adds_every_acked_byte)
{
	struct tcb t = conn(&tcp_cc_newreno, 10);

	tcp_cc(&t)->on_ack(&t, 2 * MSS, SK_SEC(1));
	cr_expect_eq(t.cwnd, 12 * MSS, "RFC 3465 §2.3: a stretch ACK counts every byte");
	t.ssthresh = 13 * MSS;
	tcp_cc(&t)->on_ack(&t, 3 * MSS, SK_SEC(1));
	cr_expect_eq(t.cwnd, 13 * MSS + MSS * 2 * MSS / (13 * MSS),
	             "slow start stops at ssthresh, the rest is avoidance");
}

Test(tcp_cc, newreno_avoidance_grows_about_one_segment_per_window)
{
	struct tcb t = conn(&tcp_cc_newreno, 20);
	sk_time_t now = SK_SEC(1);

	t.ssthresh = t.cwnd;
	ack_one_window(&t, &now);
	cr_expect_geq(t.cwnd, 20 * MSS + MSS * 95 / 100);
	cr_expect_leq(t.cwnd, 21 * MSS + MSS / 10);
}

Test(tcp_cc, newreno_loss_halves_the_flight)
{
	struct tcb t = conn(&tcp_cc_newreno, 10);

	tcp_cc(&t)->on_loss(&t, SK_SEC(1));
	cr_expect_eq(t.ssthresh, 5 * MSS, "RFC 5681 eq. 4");
	cr_expect_eq(t.cwnd, 5 * MSS);
}

Test(tcp_cc, ssthresh_never_drops_below_two_segments)
{
	struct tcb t = conn(&tcp_cc_newreno, 2);

	tcp_cc(&t)->on_loss(&t, SK_SEC(1));
	cr_expect_eq(t.ssthresh, 2 * MSS);
	t = conn(&tcp_cc_cubic, 2);
	tcp_cc(&t)->on_loss(&t, SK_SEC(1));
	cr_expect_eq(t.ssthresh, 2 * MSS);
}

Test(tcp_cc, rto_restarts_from_one_segment)
{
	const struct cc_ops *ops[] = {&tcp_cc_newreno, &tcp_cc_cubic};

	for (int i = 0; i < 2; i++) {
		struct tcb t = conn(ops[i], 40);

		tcp_cc(&t)->on_rto(&t, SK_SEC(1));
		cr_expect_eq(t.cwnd, MSS, "%s", ops[i]->name);
		cr_expect_geq(t.ssthresh, 20 * MSS, "%s", ops[i]->name);
	}
}

Test(tcp_cc, cubic_loss_multiplies_by_beta)
{
	struct tcb t = conn(&tcp_cc_cubic, 100);

	tcp_cc(&t)->on_loss(&t, SK_SEC(1));
	cr_expect_eq(t.ssthresh, 70 * MSS, "RFC 9438 §4.6: beta_cubic = 0.7");
	cr_expect_eq(t.cwnd, 70 * MSS);
	cr_expect_float_eq(t.cc_state.w_max, 100.0, 1e-9);
}

Test(tcp_cc, cubic_returns_to_w_max_after_k_concavely)
{
	struct tcb t = conn(&tcp_cc_cubic, 100);
	sk_time_t now = SK_SEC(1);

	/* A long RTT keeps the Reno-friendly estimate (+0.53 segment per
	 * RTT, 42 RTTs to K) below the cubic curve. */
	t.srtt = SK_MS(100);
	tcp_cc(&t)->on_loss(&t, now);
	/* K = cbrt(W_max (1 - beta) / C) = cbrt(75) s ≈ 4.217 s. */
	sk_time_t start = now;
	uint32_t at_1s = 0;

	while (now - start < SK_MS(4217)) {
		ack_one_window(&t, &now);
		if (!at_1s && now - start >= SK_SEC(1))
			at_1s = t.cwnd;
	}
	cr_expect_float_eq(t.cc_state.k, 4.217e6, 1e3);
	/* Concave: most of the way back within the first second. */
	cr_expect_gt(at_1s, 83 * MSS, "cwnd %u after 1 s", at_1s);
	cr_expect_geq(t.cwnd, 98 * MSS, "back at W_max after K: %u", t.cwnd);
	cr_expect_leq(t.cwnd, 103 * MSS, "and plateaus there: %u", t.cwnd);
	/* Then convex: probing beyond W_max speeds up again. */
	uint32_t plateau = t.cwnd;
	for (int i = 0; i < 200; i++)
		ack_one_window(&t, &now);
	cr_expect_gt(t.cwnd, plateau + 20 * MSS);
}

Test(tcp_cc, cubic_fast_convergence_releases_bandwidth)
{
	struct tcb t = conn(&tcp_cc_cubic, 100);

	tcp_cc(&t)->on_loss(&t, SK_SEC(1)); /* W_max 100, cwnd 70 */
	tcp_cc(&t)->on_loss(&t, SK_SEC(2)); /* below the last W_max: §4.7 */
	cr_expect_float_eq(t.cc_state.w_max, 70.0 * 1.7 / 2.0, 1e-9);
	cr_expect_eq(t.cwnd, 49 * MSS);
}

Test(tcp_cc, cubic_is_reno_friendly_at_short_rtt)
{
	/* With a tiny RTT the cubic curve is slow compared with Reno's
	 * one segment per RTT: W_est (§4.3) carries the window. */
	struct tcb t = conn(&tcp_cc_cubic, 10);
	sk_time_t now = SK_SEC(1);

	t.srtt = 100;
	tcp_cc(&t)->on_loss(&t, now);
	uint32_t after = t.cwnd;
	for (int i = 0; i < 100; i++)
		ack_one_window(&t, &now);
	/* 100 RTTs of 100 µs: the cubic term adds nearly nothing, W_est about
	 * alpha (0.53) segment per RTT. */
	cr_expect_gt(t.cwnd, after + 40 * MSS, "cwnd %u", t.cwnd);
}

Test(tcp_cc, congestion_option_defaults_to_cubic_and_selects_newreno)
{
	struct harness *h = h_new(NULL);
	int s = sk_socket(h->st), v = -1;

	cr_expect_eq(sk_getopt(h->st, s, SK_OPT_CONGESTION, &v), 0);
	cr_expect_eq(v, 0, "CUBIC by default, as Linux");
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_CONGESTION, 2), -ENOENT);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_CONGESTION, 1), 0);
	sk_getopt(h->st, s, SK_OPT_CONGESTION, &v);
	cr_expect_eq(v, 1);
	sk_close(h->st, s, h->now);
	h_free(h);
}

Test(tcp_cc, the_chosen_algorithm_runs_the_connection)
{
	struct harness *h = h_new(NULL);
	uint32_t isn;
	int s = h_established(h, 100, &isn);

	cr_expect_eq(tcp_cc(tcp_tcb(h->st, s)), &tcp_cc_cubic);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_CONGESTION, 1), 0);
	cr_expect_eq(tcp_cc(tcp_tcb(h->st, s)), &tcp_cc_newreno, "switched mid-connection");
	h_free(h);
}

static void reno_by_default(struct sk_config *cfg)
{
	cfg->default_cc = 1; /* SYNACK_CC=reno */
}

Test(tcp_cc, the_configured_default_runs_every_new_connection)
{
	struct harness *h = h_new(reno_by_default);
	static uint8_t data[10 * 1460];
	uint32_t isn;
	int s = h_established(h, 100, &isn), v = -1;

	cr_expect_eq(sk_getopt(h->st, s, SK_OPT_CONGESTION, &v), 0);
	cr_expect_eq(v, 1, "NewReno from the stack's configuration");
	/* A full initial window (RFC 6928: 10 segments), the first one
	 * acknowledged, then three duplicate ACKs. */
	cr_assert_eq(sk_send(h->st, s, data, sizeof(data), h->now), (ssize_t)sizeof(data));
	cr_assert_eq(h_pending(h), 10);
	h_clear(h);
	h_send(h, h_seg(SK_TCP_ACK, 101, isn + 1 + 1460));
	for (int i = 0; i < 3; i++)
		h_send(h, h_seg(SK_TCP_ACK, 101, isn + 1 + 1460));
	struct h_tcp rxt = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(rxt.r.seq, isn + 1 + 1460, "fast retransmit of the missing segment");
	/* RFC 5681 eq. 4: ssthresh = FlightSize / 2 (9 segments in flight);
	 * CUBIC would have kept 0.7 of the window (RFC 9438 §4.6). */
	cr_expect_eq(tcp_tcb(h->st, s)->ssthresh, 9 * 1460 / 2);
	cr_expect_eq(tcp_cc(tcp_tcb(h->st, s)), &tcp_cc_newreno);
	h_free(h);
}

Test(tcp_cc, a_passive_connection_gets_the_configured_default_and_the_option_overrides_it)
{
	struct harness *h = h_new(reno_by_default);
	int l = h_listen(h, 4), v = -1;
	struct sk_tcp_repr syn = h_seg(SK_TCP_SYN, 500, 0);

	syn.mss = 1460;
	h_send(h, syn);
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	h_send(h, h_seg(SK_TCP_ACK, 501, sa.r.seq + 1));
	int c = sk_accept(h->st, l, NULL);
	cr_assert_geq(c, 0);
	sk_getopt(h->st, c, SK_OPT_CONGESTION, &v);
	cr_expect_eq(v, 1);
	cr_expect_eq(tcp_cc(tcp_tcb(h->st, c)), &tcp_cc_newreno);
	/* TCP_CONGESTION still chooses per socket. */
	int s = sk_socket(h->st);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_CONGESTION, 0), 0);
	sk_getopt(h->st, s, SK_OPT_CONGESTION, &v);
	cr_expect_eq(v, 0);
	h_free(h);
}

static int drop_frame(void *ctx, const uint8_t *frame, size_t len)
{
	(void)ctx, (void)frame, (void)len;
	return 0;
}

Test(tcp_cc, the_stack_refuses_an_unknown_default)
{
	struct sk_config c;
	const struct sk_link_ops link = {.xmit = drop_frame};

	sk_config_defaults(&c);
	memcpy(c.mac, H_OUR_MAC, 6);
	c.addr = H_OUR_IP;
	cr_expect_eq(c.default_cc, 0, "CUBIC unless configured");
	c.default_cc = 2;
	cr_expect_null(sk_stack_new(&c, &link, NULL, NULL));
	c.default_cc = 1;
	struct sk_stack *st = sk_stack_new(&c, &link, NULL, NULL);
	cr_expect_not_null(st);
	sk_stack_free(st);
}
