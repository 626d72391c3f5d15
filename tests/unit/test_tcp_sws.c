/* Silly window syndrome avoidance on both sides (RFC 9293 §3.8.6.2), at
 * segment level with a fake clock: the receiver does not advance its right
 * edge by small amounts, the sender does not fill small windows. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 9000u
#define BUF      4000

static struct harness *h;
static uint8_t bytes[8000];
static uint32_t isn;

static void small_rcvbuf(struct sk_config *cfg)
{
	cfg->rcvbuf = BUF;
}

static void setup(void)
{
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 5 + 2);
	h = h_new(small_rcvbuf);
	h->auto_arp = true;
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_sws, .init = setup, .fini = teardown);

/* The peer's ACK of our data so far with window `wnd`. */
static void peer_window(uint32_t ack, uint16_t wnd)
{
	struct sk_tcp_repr r = h_seg(SK_TCP_ACK, PEER_ISN + 1, ack);

	r.window = wnd;
	h_send(h, r);
}

Test(tcp_sws, receiver_keeps_a_closed_window_shut_until_an_mss_is_free)
{
	int s = h_established(h, PEER_ISN, &isn);
	uint8_t buf[BUF];

	h_send(h, h_data(PEER_ISN + 1, isn + 1, bytes, BUF));
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.window, 0);
	/* 1000 bytes read: less than min(BUF / 2, MSS) = 1460 is free. */
	cr_assert_eq(sk_recv(h->st, s, buf, 1000, 0, h->now), 1000);
	h_expect_nothing(h);
	/* The peer probes; our ACK still offers no window. */
	h_send(h, h_data(PEER_ISN + 1 + BUF, isn + 1, bytes, 1));
	h_advance(h, SK_MS(40));
	struct h_tcp a = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(a.r.ack, PEER_ISN + 2 + BUF, "the probe byte fits in the buffer");
	cr_expect_eq(a.r.window, 0, "999 free bytes are not offered");
	/* 600 more read: 1599 free, more than an MSS: the window opens. */
	cr_assert_eq(sk_recv(h->st, s, buf, 600, 0, h->now), 600);
	a = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(a.r.window, 1599);
}

Test(tcp_sws, receiver_does_not_move_the_right_edge_by_a_few_bytes)
{
	int s = h_established(h, PEER_ISN, &isn);
	uint8_t buf[64];

	h_send(h, h_data(PEER_ISN + 1, isn + 1, bytes, 1000));
	cr_assert_eq(sk_recv(h->st, s, buf, 10, 0, h->now), 10);
	h_advance(h, SK_MS(40));
	struct h_tcp a = h_expect_tcp(h, SK_TCP_ACK);
	/* Right edge unchanged: 4000 offered from PEER_ISN + 1. */
	cr_expect_eq(a.r.ack + a.r.window, PEER_ISN + 1 + BUF);
}

/* Established with the peer's SYN,ACK offering `wnd` bytes. */
static int established_window(uint16_t wnd)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	struct sk_tcp_repr sa = h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, syn.r.seq + 1);

	sa.mss = 1460;
	sa.window = wnd;
	h_send(h, sa);
	h_expect_tcp(h, SK_TCP_ACK);
	isn = syn.r.seq;
	return s;
}

Test(tcp_sws, sender_does_not_fill_a_small_window_while_data_is_in_flight)
{
	int s = established_window(3000);

	cr_assert_eq(sk_send(h->st, s, bytes, 8000, h->now), 8000);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.payload_len, 1460);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.payload_len, 1460);
	h_expect_nothing(h); /* 80 bytes of window left: silly */
	/* The first segment acknowledged, 1540 free: one full segment. */
	peer_window(isn + 1 + 1460, 3000);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.payload_len, 1460);
	h_expect_nothing(h);
}

Test(tcp_sws, sender_fills_half_the_largest_window_with_nothing_in_flight)
{
	int s = established_window(2000);

	peer_window(isn + 1, 1000); /* half of the largest offered */
	cr_assert_eq(sk_send(h->st, s, bytes, 3000, h->now), 3000);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.payload_len, 1000);
	h_expect_nothing(h);
}

Test(tcp_sws, sender_waits_for_the_override_below_half_the_largest_window)
{
	int s = established_window(2000);

	peer_window(isn + 1, 900);
	cr_assert_eq(sk_send(h->st, s, bytes, 3000, h->now), 3000);
	h_expect_nothing(h);
	/* The persist timer is the override timeout (RFC 9293 §3.8.6.2.1). */
	h_advance(h, SK_MS(200) - 1);
	h_expect_nothing(h);
	h_advance(h, 1);
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(d.r.seq, isn + 1);
	cr_expect_eq(d.r.payload_len, 900);
}
