/* TCP_CORK and MSG_MORE at segment level (Linux tcp(7)): partial segments
 * are held, full ones go, uncorking or a send without MSG_MORE releases
 * the rest, and nothing waits longer than 200 ms. */
#include <criterion/criterion.h>
#include <errno.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 1000u

static struct harness *h;
static uint8_t pattern[4000];

static void setup(void)
{
	h = h_new(NULL);
	h->auto_arp = true;
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 13 + 5);
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_cork, .init = setup, .fini = teardown);

Test(tcp_cork, corked_partial_segments_wait_full_ones_go)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn), v;

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_CORK, 1), 0);
	cr_assert_eq(sk_getopt(h->st, s, SK_OPT_CORK, &v), 0);
	cr_expect_eq(v, 1);
	cr_assert_eq(sk_send(h->st, s, pattern, 100, h->now), 100);
	h_expect_nothing(h);
	cr_assert_eq(sk_send(h->st, s, pattern + 100, 1400, h->now), 1400);
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(d.r.seq, isn + 1);
	cr_expect_eq(d.r.payload_len, 1460, "one full segment of both writes");
	cr_expect_arr_eq(d.payload, pattern, 1460);
	h_expect_nothing(h);
	cr_expect_eq(sk_tx_queued(h->st, s), 1500);
	/* Uncorking pushes the 40 bytes left. */
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_CORK, 0), 0);
	d = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(d.r.seq, isn + 1461);
	cr_expect_eq(d.r.payload_len, 40);
	cr_expect_arr_eq(d.payload, pattern + 1460, 40);
}

Test(tcp_cork, nothing_is_held_longer_than_200_ms)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	sk_setopt(h->st, s, SK_OPT_CORK, 1);
	sk_time_t t0 = h->now;

	cr_assert_eq(sk_send(h->st, s, "abc", 3, h->now), 3);
	h_advance_to(h, t0 + SK_MS(150));
	cr_assert_eq(sk_send(h->st, s, "def", 3, h->now), 3);
	h_advance_to(h, t0 + SK_MS(200) - 1);
	h_expect_nothing(h);
	h_advance_to(h, t0 + SK_MS(200));
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(d.r.payload_len, 6, "counted from the first byte held");
	cr_expect_arr_eq(d.payload, "abcdef", 6);
	/* Still corked: the next partial segment waits its own 200 ms. */
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 7));
	sk_time_t t1 = h->now;

	cr_assert_eq(sk_send(h->st, s, "g", 1, h->now), 1);
	h_advance_to(h, t1 + SK_MS(200) - 1);
	h_expect_nothing(h);
	h_advance_to(h, t1 + SK_MS(200));
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH).r.seq, isn + 7);
}

Test(tcp_cork, cork_wins_over_nodelay)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	sk_setopt(h->st, s, SK_OPT_NODELAY, 1);
	sk_setopt(h->st, s, SK_OPT_CORK, 1);
	sk_send(h->st, s, "x", 1, h->now);
	h_expect_nothing(h);
	sk_setopt(h->st, s, SK_OPT_CORK, 0);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH).r.payload_len, 1);
}

Test(tcp_cork, the_fin_is_not_held)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	sk_setopt(h->st, s, SK_OPT_CORK, 1);
	sk_send(h->st, s, "bye", 3, h->now);
	h_expect_nothing(h);
	cr_assert_eq(sk_shutdown(h->st, s, SK_SHUT_WR, h->now), 0);
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH | SK_TCP_FIN);
	cr_expect_eq(d.r.payload_len, 3);
}

Test(tcp_cork, retransmissions_are_not_held)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	sk_send(h->st, s, "abc", 3, h->now);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	sk_setopt(h->st, s, SK_OPT_CORK, 1);
	h_advance(h, SK_MS(200)); /* the RTO */
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(d.r.seq, isn + 1);
	cr_expect_eq(d.r.payload_len, 3);
}

Test(tcp_cork, uncorking_leaves_nagle_in_charge)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	/* A short segment is in flight; corked bytes released by uncorking
	 * wait for its ACK like any short segment (Linux: no push override
	 * without TCP_NODELAY). */
	sk_send(h->st, s, "a", 1, h->now);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	sk_setopt(h->st, s, SK_OPT_CORK, 1);
	sk_send(h->st, s, "b", 1, h->now);
	sk_setopt(h->st, s, SK_OPT_CORK, 0);
	h_expect_nothing(h);
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 2));
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(d.r.seq, isn + 2);
	cr_expect_eq(d.payload[0], 'b');
}

Test(tcp_cork, msg_more_holds_until_a_send_without_it)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	cr_assert_eq(sk_sendmsg(h->st, s, "GET / ", 6, SK_MSG_MORE, h->now), 6);
	h_expect_nothing(h);
	cr_assert_eq(sk_sendmsg(h->st, s, "HTTP/1.1", 8, SK_MSG_MORE, h->now), 8);
	h_expect_nothing(h);
	cr_assert_eq(sk_sendmsg(h->st, s, "\r\n\r\n", 4, 0, h->now), 4);
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(d.r.seq, isn + 1);
	cr_expect_eq(d.r.payload_len, 18, "one segment");
	cr_expect_arr_eq(d.payload, "GET / HTTP/1.1\r\n\r\n", 18);
	int v;
	sk_getopt(h->st, s, SK_OPT_CORK, &v);
	cr_expect_eq(v, 0, "MSG_MORE is per call, not TCP_CORK");
}

Test(tcp_cork, msg_more_sends_full_segments_and_holds_the_tail)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	cr_assert_eq(sk_sendmsg(h->st, s, pattern, 3000, SK_MSG_MORE, h->now), 3000);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.payload_len, 1460);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.payload_len, 1460);
	h_expect_nothing(h);
	sk_time_t t0 = h->now;

	h_advance(h, SK_MS(5)); /* before the 10 ms loss probe (RFC 8985) */
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 2921));
	h_expect_nothing(h);
	h_advance_to(h, t0 + SK_MS(200) - 1);
	h_expect_nothing(h);
	h_advance_to(h, t0 + SK_MS(200));
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(d.r.seq, isn + 2921, "the 80-byte tail after the 200 ms ceiling");
	cr_expect_eq(d.r.payload_len, 80);
}

Test(tcp_cork, msg_more_hold_ends_with_uncork)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	sk_setopt(h->st, s, SK_OPT_CORK, 1);
	sk_sendmsg(h->st, s, "xy", 2, SK_MSG_MORE, h->now);
	h_expect_nothing(h);
	sk_setopt(h->st, s, SK_OPT_CORK, 0);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH).r.payload_len, 2);
}

Test(tcp_cork, send_errors_are_unchanged_by_flags)
{
	int s = sk_socket(h->st);

	cr_expect_eq(sk_sendmsg(h->st, s, "x", 1, SK_MSG_MORE, h->now),
	             sk_send(h->st, s, "x", 1, h->now));
	cr_expect_eq(sk_sendmsg(h->st, 77, "x", 1, 0, h->now), -EBADF);
	sk_close(h->st, s, h->now);
}
