/* Socket options with Linux semantics at segment level: IP_TOS and IP_TTL
 * in the IPv4 header of every segment (and inherited by accepted
 * connections), TCP_NOTSENT_LOWAT (send and POLLOUT as
 * tcp_stream_memory_free), TCP_DEFER_ACCEPT (a bare ACK does not complete
 * the handshake; data or the end of the period does, on Linux's timeline). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "../../core/ethernet.h"
#include "../../core/ipv4.h"
#include "harness.h"

#define PEER_ISN 7000u

static struct harness *h;

static void setup(void)
{
	h = h_new(NULL);
	h->auto_arp = true;
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_sockopts, .init = setup, .fini = teardown);

static int getopt_int(int s, enum sk_opt opt)
{
	int v = -12345;

	cr_assert_eq(sk_getopt(h->st, s, opt, &v), 0);
	return v;
}

/* Pop the next frame; its IPv4 header. */
static struct sk_ipv4_repr pop_ip(void)
{
	struct h_frame f = h_pop_frame(h);
	struct sk_ipv4_repr ip;

	cr_assert_eq(sk_ipv4_parse(f.data + SK_ETH_HLEN, f.len - SK_ETH_HLEN, true, &ip), 0);
	free(f.data);
	return ip;
}

Test(tcp_sockopts, ip_tos_and_ttl_defaults)
{
	int s = sk_socket(h->st);

	cr_expect_eq(getopt_int(s, SK_OPT_IP_TOS), 0);
	cr_expect_eq(getopt_int(s, SK_OPT_IP_TTL), 64, "net.ipv4.ip_default_ttl");
	cr_assert_eq(sk_bind(h->st, s, 0, H_OUR_PORT), 0);
	cr_assert_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	struct sk_ipv4_repr ip = pop_ip();
	cr_expect_eq(ip.tos, 0);
	cr_expect_eq(ip.ttl, 64);
}

Test(tcp_sockopts, ip_tos_and_ttl_reach_every_segment)
{
	int s = sk_socket(h->st);

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_IP_TOS, 0xb8 | 3), 0);
	cr_expect_eq(getopt_int(s, SK_OPT_IP_TOS), 0xb8, "the ECN bits are not the application's");
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_IP_TTL, 7), 0);
	cr_expect_eq(getopt_int(s, SK_OPT_IP_TTL), 7);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_IP_TTL, 0), -EINVAL);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_IP_TTL, 256), -EINVAL);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_IP_TTL, -2), -EINVAL);
	cr_expect_eq(getopt_int(s, SK_OPT_IP_TTL), 7, "a refused value changes nothing");

	cr_assert_eq(sk_bind(h->st, s, 0, H_OUR_PORT), 0);
	cr_assert_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	struct sk_ipv4_repr syn = pop_ip();
	cr_expect_eq(syn.tos, 0xb8);
	cr_expect_eq(syn.ttl, 7);

	/* Changed on the connection: the next segment carries it. */
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_IP_TOS, 0x10), 0);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_IP_TTL, -1), 0);
	cr_expect_eq(getopt_int(s, SK_OPT_IP_TTL), 64, "-1 is the default again");
	h_advance(h, SK_SEC(1)); /* the SYN again */
	struct sk_ipv4_repr again = pop_ip();
	cr_expect_eq(again.tos, 0x10);
	cr_expect_eq(again.ttl, 64);
}

Test(tcp_sockopts, an_accepted_connection_inherits_tos_and_ttl)
{
	int l = h_listen(h, 4);

	cr_assert_eq(sk_setopt(h->st, l, SK_OPT_IP_TOS, 0x28), 0);
	cr_assert_eq(sk_setopt(h->st, l, SK_OPT_IP_TTL, 33), 0);
	struct sk_tcp_repr syn = h_seg(SK_TCP_SYN, PEER_ISN, 0);
	syn.mss = 1460;
	h_send(h, syn);
	struct sk_ipv4_repr sa = pop_ip();
	cr_expect_eq(sa.tos, 0x28, "the SYN,ACK carries the listener's TOS");
	cr_expect_eq(sa.ttl, 33);
}

/* ---- TCP_NOTSENT_LOWAT ---- */

static uint32_t notsent_bytes(int s)
{
	struct sk_tcp_info i;

	cr_assert_eq(sk_get_info(h->st, s, &i), 0);
	return i.notsent_bytes;
}

Test(tcp_sockopts, notsent_lowat_limits_send_and_pollout)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);
	static uint8_t big[100000];

	cr_expect_eq(getopt_int(s, SK_OPT_NOTSENT_LOWAT), 0, "no limit by default");
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_NOTSENT_LOWAT, 4000), 0);
	cr_expect_eq(getopt_int(s, SK_OPT_NOTSENT_LOWAT), 4000);

	/* IW10 of 1460 goes out; beyond it, whole segments while fewer
	 * than 4000 bytes wait unsent (the last may overshoot). */
	ssize_t n = sk_send(h->st, s, big, sizeof(big), h->now);
	uint32_t ns = notsent_bytes(s);
	cr_expect_eq(n, 10 * 1460 + (ssize_t)ns, "took %zd", n);
	cr_expect(ns >= 4000 && ns < 4000 + 1460, "unsent %u", ns);
	cr_expect_eq(sk_poll(h->st, s) & SK_POLLOUT, 0, "2 x unsent >= lowat: not writeable");
	cr_expect_eq(sk_send(h->st, s, big, 1, h->now), -EAGAIN, "unsent >= lowat: no more");
	h_clear(h);

	/* The ACK of everything in flight lets the unsent bytes go: the
	 * writer is woken and the socket is writeable again. */
	unsigned wakes = h->wakes[s];
	struct sk_tcp_repr ack = h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1 + 10 * 1460);
	h_send(h, ack);
	cr_expect_eq(notsent_bytes(s), 0);
	cr_expect_gt(h->wakes[s], wakes, "woken once the unsent bytes left");
	cr_expect_neq(sk_poll(h->st, s) & SK_POLLOUT, 0);
}

Test(tcp_sockopts, notsent_lowat_pollout_needs_twice_the_margin)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);
	static uint8_t buf[20000];

	/* Fill the initial window, then queue 1500 unsent bytes. */
	cr_assert_eq(sk_send(h->st, s, buf, 10 * 1460 + 1500, h->now), 10 * 1460 + 1500);
	cr_assert_eq(notsent_bytes(s), 1500);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_NOTSENT_LOWAT, 3001), 0);
	cr_expect_neq(sk_poll(h->st, s) & SK_POLLOUT, 0, "2 x 1500 < 3001");
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_NOTSENT_LOWAT, 3000), 0);
	cr_expect_eq(sk_poll(h->st, s) & SK_POLLOUT, 0, "2 x 1500 >= 3000");
	cr_expect_gt(sk_send(h->st, s, buf, 100, h->now), 0, "send needs only 1500 < 3000");
}

/* ---- TCP_DEFER_ACCEPT ---- */

Test(tcp_sockopts, defer_accept_reads_back_as_linux_rounds_it)
{
	int l = sk_socket(h->st);
	static const int secs[][2] = {{0, 0}, {-3, 0}, {1, 1}, {2, 3}, {3, 3}, {5, 7},
	                              {30, 31}, {200, 247}, {1000, 1087}};

	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
		cr_assert_eq(sk_setopt(h->st, l, SK_OPT_DEFER_ACCEPT, secs[i][0]), 0);
		cr_expect_eq(getopt_int(l, SK_OPT_DEFER_ACCEPT), secs[i][1], "%d s", secs[i][0]);
	}
}

/* A listener deferring 5 s (3 SYN,ACK timeouts: 1 + 2 + 4 s) and a handshake
 * up to the peer's bare ACK. Returns the listener; *our_isn its child's ISN. */
static int deferred_handshake(uint32_t *our_isn)
{
	int l = h_listen(h, 4);

	cr_assert_eq(sk_setopt(h->st, l, SK_OPT_DEFER_ACCEPT, 5), 0);
	struct sk_tcp_repr syn = h_seg(SK_TCP_SYN, PEER_ISN, 0);
	syn.mss = 1460;
	h_send(h, syn);
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	*our_isn = sa.r.seq;
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, sa.r.seq + 1));
	h_expect_nothing(h);
	struct sk_endpoint peer;
	cr_expect_eq(sk_accept(h->st, l, &peer), -EAGAIN, "a bare ACK completes nothing");
	cr_expect_eq(sk_poll(h->st, l), 0, "the listener is not readable");
	return l;
}

Test(tcp_sockopts, defer_accept_data_completes_the_connection)
{
	uint32_t isn;
	int l = deferred_handshake(&isn);
	struct sk_endpoint peer;

	h_send(h, h_data(PEER_ISN + 1, isn + 1, "GET /", 5));
	cr_expect_neq(sk_poll(h->st, l) & SK_POLLIN, 0);
	int c = sk_accept(h->st, l, &peer);
	cr_assert_geq(c, 0);
	cr_expect_eq(sk_sock_state(h->st, c), SK_TCP_ESTABLISHED);
	char buf[8];
	cr_expect_eq(sk_recv(h->st, c, buf, sizeof(buf), 0, h->now), 5, "the data is there");
}

Test(tcp_sockopts, defer_accept_ends_with_a_resent_syn_ack)
{
	uint32_t isn;
	int l = deferred_handshake(&isn);
	struct sk_endpoint peer;

	/* The timeouts at 1 s and 3 s resend nothing; the last one of the
	 * period, at 7 s, resends the SYN,ACK (syn_ack_recalc). */
	h_advance(h, SK_MS(6999));
	h_expect_nothing(h);
	cr_expect_eq(sk_accept(h->st, l, &peer), -EAGAIN);
	h_advance(h, SK_MS(1));
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	cr_expect_eq(sa.r.seq, isn);
	/* The peer's ACK answers it: now it completes, without data. */
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1));
	int c = sk_accept(h->st, l, &peer);
	cr_assert_geq(c, 0);
	cr_expect_eq(sk_sock_state(h->st, c), SK_TCP_ESTABLISHED);
}

Test(tcp_sockopts, defer_accept_without_data_expires_silently)
{
	uint32_t isn;
	int l = deferred_handshake(&isn);
	struct sk_endpoint peer;

	/* Linux: resends at 7, 15 and 31 s (from the end of the period on),
	 * expiry at the timeout of 63 s (tcp_synack_retries = 5), no RST. */
	static const int resend_at[] = {7, 15, 31};
	sk_time_t t0 = h->now;

	for (int i = 0; i < 3; i++) {
		h_advance_to(h, t0 + SK_SEC(resend_at[i]));
		h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	}
	h_advance_to(h, t0 + SK_SEC(62));
	h_expect_nothing(h);
	h_advance_to(h, t0 + SK_SEC(64));
	h_expect_nothing(h);
	cr_expect_eq(sk_accept(h->st, l, &peer), -EAGAIN);
	/* The child is gone: the peer's late ACK matches no connection. */
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1));
	h_answer_arp(h); /* a minute passed: the neighbour entry is refreshed */
	h_expect_tcp(h, SK_TCP_RST);
}
