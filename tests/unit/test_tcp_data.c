/* Data transfer at segment level: delivery and delayed ACKs (RFC 9293
 * §3.8.6.3), sending, Nagle, retransmission (RFC 6298), the receive window,
 * zero-window probes, out-of-order handling, and sequence wrap-around. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 1000u

static struct harness *h;
static uint8_t pattern[70000];

static void setup(void)
{
	h = h_new(NULL);
	h->auto_arp = true;
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 31 + 7);
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_data, .init = setup, .fini = teardown);

/* A data segment from the peer. */
static struct sk_tcp_repr data_seg(uint32_t seq, uint32_t ack, const void *p, size_t n)
{
	struct sk_tcp_repr r = h_seg(SK_TCP_ACK | SK_TCP_PSH, seq, ack);

	r.payload = p;
	r.payload_len = n;
	return r;
}

Test(tcp_data, peer_data_is_readable_and_acked_after_40ms)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	h_send(h, data_seg(PEER_ISN + 1, isn + 1, "hello", 5));
	h_expect_nothing(h); /* the ACK is delayed */
	cr_expect_eq(sk_poll(h->st, s), SK_POLLIN | SK_POLLRDNORM | SK_POLLOUT | SK_POLLWRNORM);
	char buf[16];
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), SK_MSG_PEEK, h->now), 5);
	cr_expect_eq(sk_rx_queued(h->st, s), 5);
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), 5);
	cr_expect_arr_eq(buf, "hello", 5);
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), -EAGAIN);

	h_advance(h, SK_MS(40) - 1);
	h_expect_nothing(h);
	h_advance(h, 1);
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ack, PEER_ISN + 6);
	cr_expect_eq(ack.r.seq, isn + 1);
	/* Reading 5 bytes freed 5: too little to move the right edge (RFC
	 * 9293 §3.8.6.2.2 receiver SWS avoidance), so the window offered at
	 * the handshake (65535 from RCV.NXT then) stands. */
	cr_expect_eq(ack.r.window, 65535 - 5);
	h_expect_nothing(h);
}

Test(tcp_data, every_second_full_segment_is_acked_at_once)
{
	uint32_t isn;
	h_established(h, PEER_ISN, &isn);

	h_send(h, data_seg(PEER_ISN + 1, isn + 1, pattern, 1460));
	h_expect_nothing(h);
	h_send(h, data_seg(PEER_ISN + 1461, isn + 1, pattern + 1460, 1460));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ack, PEER_ISN + 1 + 2920);
	h_advance(h, SK_MS(100));
	h_expect_nothing(h); /* no second, delayed ACK */
}

Test(tcp_data, gso_super_frame_larger_than_mss_is_accepted)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	h_send(h, data_seg(PEER_ISN + 1, isn + 1, pattern, 60000));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ack, PEER_ISN + 1 + 60000);
	cr_expect_eq(ack.r.window, 65535, "256 KiB ring, clamped without window scaling");
	static uint8_t buf[60000];
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), 60000);
	cr_expect_arr_eq(buf, pattern, 60000);
}

Test(tcp_data, quickack_acks_every_segment)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_QUICKACK, 1), 0);
	h_send(h, data_seg(PEER_ISN + 1, isn + 1, "a", 1));
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.ack, PEER_ISN + 2);
}

Test(tcp_data, ack_rides_on_outgoing_data)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	h_send(h, data_seg(PEER_ISN + 1, isn + 1, "ping", 4));
	h_expect_nothing(h);
	cr_assert_eq(sk_send(h->st, s, "pong", 4, h->now), 4);
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(d.r.seq, isn + 1);
	cr_expect_eq(d.r.ack, PEER_ISN + 5, "the pending ACK is carried by the data");
	cr_expect_arr_eq(d.payload, "pong", 4);
	h_advance(h, SK_MS(50));
	h_expect_nothing(h); /* the delayed ACK was cancelled */
}

Test(tcp_data, send_cuts_mss_segments_within_the_initial_window)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	/* The peer's window (64240) allows 43 segments, IW10 allows 10. */
	cr_assert_eq(sk_send(h->st, s, pattern, 20 * 1460, h->now), 20 * 1460);
	for (int i = 0; i < 10; i++) {
		struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK);
		cr_expect_eq(d.r.seq, isn + 1 + (uint32_t)i * 1460);
		cr_expect_eq(d.r.payload_len, 1460);
		cr_expect_arr_eq(d.payload, pattern + i * 1460, 1460);
	}
	h_expect_nothing(h);
	cr_expect_eq(sk_tx_queued(h->st, s), 20 * 1460);
	/* One ACK for two segments: slow start grows cwnd by the bytes it
	 * acknowledges (RFC 3465 §2.3, as Linux), so four more go (2 freed
	 * + 2 growth). */
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1 + 2 * 1460));
	for (int i = 10; i < 14; i++)
		cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, isn + 1 + (uint32_t)i * 1460);
	h_expect_nothing(h);
	cr_expect_eq(sk_tx_queued(h->st, s), 18 * 1460);
}

Test(tcp_data, nagle_holds_a_second_small_segment_until_acked)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	cr_assert_eq(sk_send(h->st, s, "a", 1, h->now), 1);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_assert_eq(sk_send(h->st, s, "b", 1, h->now), 1);
	h_expect_nothing(h);
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 2));
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(d.r.seq, isn + 2);
	cr_expect_eq(d.payload[0], 'b');
}

Test(tcp_data, nodelay_sends_small_segments_at_once)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_NODELAY, 1), 0);
	sk_send(h->st, s, "a", 1, h->now);
	sk_send(h->st, s, "b", 1, h->now);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH).r.seq, isn + 1);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH).r.seq, isn + 2);
}

Test(tcp_data, rto_retransmits_with_exponential_backoff)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	sk_send(h->st, s, "data", 4, h->now);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	/* The handshake measured an RTT of 0: RTO is the 200 ms floor. */
	sk_time_t rto = SK_MS(200), at = h->now;
	for (int i = 0; i < 4; i++) {
		at += rto;
		h_advance_to(h, at - 1);
		h_expect_nothing(h);
		h_advance_to(h, at);
		struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
		cr_expect_eq(d.r.seq, isn + 1);
		cr_expect_arr_eq(d.payload, "data", 4);
		rto *= 2;
	}
	cr_expect_eq(h->st->stats.tcp_retransmits, 4);
	/* The ACK ends it. */
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 5));
	h_advance(h, SK_SEC(10));
	h_expect_nothing(h);
	cr_expect_eq(sk_tx_queued(h->st, s), 0);
}

Test(tcp_data, retransmission_gives_up_with_etimedout)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	sk_send(h->st, s, "data", 4, h->now);
	h_advance(h, SK_SEC(3600));
	/* 1 original + 15 retransmissions, then the connection is dropped. */
	size_t n = h_pending(h);
	cr_expect_eq(n, 1 + TCP_MAX_RETRIES);
	h_clear(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
	cr_expect_eq(sk_send(h->st, s, "x", 1, h->now), -ETIMEDOUT);
	cr_expect_eq(sk_send(h->st, s, "x", 1, h->now), -EPIPE);
}

Test(tcp_data, three_duplicate_acks_retransmit_at_once)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	sk_send(h->st, s, pattern, 4 * 1460, h->now);
	for (int i = 0; i < 4; i++)
		h_expect_tcp(h, i == 3 ? SK_TCP_ACK | SK_TCP_PSH : SK_TCP_ACK);
	for (int i = 0; i < 2; i++) {
		h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1));
		h_expect_nothing(h);
	}
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1));
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(d.r.seq, isn + 1, "the first unacknowledged segment again");
	cr_expect_eq(d.r.payload_len, 1460);
}

Test(tcp_data, out_of_order_segment_gets_an_immediate_duplicate_ack)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	h_send(h, data_seg(PEER_ISN + 101, isn + 1, "later", 5));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ack, PEER_ISN + 1, "still expecting the first byte");
	cr_expect_eq(sk_rx_queued(h->st, s), 0);
}

Test(tcp_data, old_duplicate_data_is_acked_and_not_delivered_twice)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	h_send(h, data_seg(PEER_ISN + 1, isn + 1, "abc", 3));
	h_send(h, data_seg(PEER_ISN + 1, isn + 1, "abcdef", 6)); /* overlaps */
	cr_expect_eq(sk_rx_queued(h->st, s), 6);
	char buf[8];
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), 6);
	cr_expect_arr_eq(buf, "abcdef", 6);
	h_clear(h);
	h_send(h, data_seg(PEER_ISN + 1, isn + 1, "abc", 3)); /* entirely old */
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.ack, PEER_ISN + 7);
}

static void small_rcvbuf(struct sk_config *cfg)
{
	cfg->rcvbuf = 4000;
}

Test(tcp_data, window_is_free_space_and_reopens_after_reading)
{
	h_free(h);
	h = h_new(small_rcvbuf);
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	h_send(h, data_seg(PEER_ISN + 1, isn + 1, pattern, 1460));
	h_send(h, data_seg(PEER_ISN + 1461, isn + 1, pattern, 1460));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.window, 4000 - 2920);
	/* Beyond the window: trimmed to what fits, the rest is not acked. */
	h_send(h, data_seg(PEER_ISN + 2921, isn + 1, pattern, 1460));
	h_advance(h, SK_MS(40));
	ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ack, PEER_ISN + 4001);
	cr_expect_eq(ack.r.window, 0);
	/* Reading opens the window: an update goes out at once. */
	static uint8_t buf[4000];
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), 4000);
	ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.window, 4000);
	cr_expect_eq(ack.r.ack, PEER_ISN + 4001);
}

Test(tcp_data, zero_window_is_probed_by_the_persist_timer)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);
	struct sk_tcp_repr zw = h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1);

	zw.window = 0;
	h_send(h, zw);
	cr_assert_eq(sk_send(h->st, s, "xyz", 3, h->now), 3);
	h_expect_nothing(h);
	h_advance(h, SK_MS(200));
	struct h_tcp probe = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(probe.r.seq, isn + 1);
	cr_expect_eq(probe.r.payload_len, 1, "one byte beyond the window");
	/* The peer still has no room and says so: probes go on (backing off),
	 * and the connection is not given up while it answers. */
	for (int i = 0; i < 20; i++) {
		zw.ack = isn + 1;
		h_send(h, zw);
		h_advance(h, SK_SEC(120));
		h_expect_tcp(h, SK_TCP_ACK);
		h_clear(h);
	}
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	/* The window opens: everything goes (after ARP re-probes the peer,
	 * silent for 40 minutes). */
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1));
	h_answer_arp(h);
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(d.r.seq, isn + 1);
	cr_expect_eq(d.r.payload_len, 3);
}

Test(tcp_data, peer_sequence_numbers_wrap_around)
{
	uint32_t isn;
	const uint32_t peer_isn = 0xfffffff0u;
	int s = h_established(h, peer_isn, &isn);

	/* 32 bytes starting at 2^32 - 15: they straddle the wrap. */
	h_send(h, data_seg(peer_isn + 1, isn + 1, pattern, 32));
	h_send(h, data_seg(peer_isn + 33, isn + 1, pattern + 32, 32));
	h_advance(h, SK_MS(40));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ack, peer_isn + 65u);
	cr_expect_eq(ack.r.ack, 0x31u);
	char buf[64];
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), 64);
	cr_expect_arr_eq(buf, pattern, 64);
}

Test(tcp_data, our_sequence_numbers_wrap_around)
{
	/* Pick the time at which RFC 6528 gives an ISN of 2^32 - 100. */
	uint32_t f = sk_tcp_isn(h->cfg.isn_key, H_OUR_IP, H_OUR_PORT, H_PEER_IP, H_PEER_PORT, 0);
	sk_time_t at = (sk_time_t)(uint32_t)(0xffffff9cu - f) * 4;
	while (at < h->now)
		at += (sk_time_t)4 << 32;
	h_advance_to(h, at);
	/* Hours later the peer's ARP entry has expired: connect by hand so
	 * the ARP exchange can be answered. */
	int s = sk_socket(h->st);
	cr_assert_eq(sk_bind(h->st, s, 0, H_OUR_PORT), 0);
	cr_assert_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	h_answer_arp(h);
	uint32_t isn = h_expect_tcp(h, SK_TCP_SYN).r.seq;
	cr_assert_eq(isn, 0xffffff9cu);
	struct sk_tcp_repr sa = h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, isn + 1);
	sa.mss = 1460;
	h_send(h, sa);
	h_expect_tcp(h, SK_TCP_ACK);

	cr_assert_eq(sk_send(h->st, s, pattern, 3000, h->now), 3000);
	struct h_tcp a = h_expect_tcp(h, SK_TCP_ACK);
	struct h_tcp b = h_expect_tcp(h, SK_TCP_ACK);
	struct h_tcp c = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(a.r.seq, 0xffffff9du);
	cr_expect_eq(b.r.seq, 0xffffff9du + 1460);
	cr_expect_eq(c.r.seq, 0xffffff9du + 2920);
	/* A cumulative ACK across the wrap frees everything. */
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, 0xffffff9du + 3000));
	cr_expect_eq(sk_tx_queued(h->st, s), 0);
	h_advance(h, SK_SEC(5));
	h_expect_nothing(h);
}

/* RFC 792 / RFC 1191: the quote of our segment at seq (its IPv4 header and
 * the first 8 bytes of TCP) that a router's "fragmentation needed" carries. */
static void quote_segment(uint8_t q[28], uint32_t seq)
{
	static const uint8_t ip[20] = {0x45, 0, 0x05, 0xdc, 0, 0, 0x40, 0,  64, 6,
	                               0,    0, 10,   77,   0, 1, 10,   77, 0,  2};

	memcpy(q, ip, sizeof(ip));
	q[20] = H_OUR_PORT >> 8, q[21] = H_OUR_PORT & 0xff, q[22] = 0, q[23] = H_PEER_PORT;
	q[24] = (uint8_t)(seq >> 24), q[25] = (uint8_t)(seq >> 16);
	q[26] = (uint8_t)(seq >> 8), q[27] = (uint8_t)seq;
}

Test(tcp_data, icmp_fragmentation_needed_lowers_the_mss_and_resends)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	sk_send(h->st, s, pattern, 1460, h->now);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	/* RFC 1191: a router with MTU 1000 quotes our segment. */
	uint8_t q[28];
	quote_segment(q, isn + 1);
	sk_tcp_icmp_error(h->st, 3, 4, 1000, q, sizeof(q), h->now);
	struct h_tcp a = h_expect_tcp(h, SK_TCP_ACK);
	struct h_tcp b = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(a.r.seq, isn + 1);
	cr_expect_eq(a.r.payload_len, 960);
	cr_expect_eq(b.r.seq, isn + 961);
	cr_expect_eq(b.r.payload_len, 500);
	int v;
	sk_getopt(h->st, s, SK_OPT_MAXSEG, &v);
	cr_expect_eq(v, 960);
	/* A quote of a sequence number not in flight is not believed. */
	q[24] ^= 0x55;
	sk_tcp_icmp_error(h->st, 3, 4, 600, q, sizeof(q), h->now);
	h_expect_nothing(h);
}

/* Found by tests/fuzz/fuzz_input: a "fragmentation needed" with the
 * smallest MTU (68) lowered the MSS to 28 (16 with timestamps), below the
 * TCP_MIN_MSS floor a peer's MSS option gets: anyone who can quote one
 * byte in flight could make us send minuscule segments. Linux floors both
 * at tcp_min_snd_mss (tcp_mtu_to_mss, CVE-2019-11479). */
Test(tcp_data, icmp_fragmentation_needed_never_lowers_the_mss_below_the_floor)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);
	uint8_t q[28];
	int v;

	sk_send(h->st, s, pattern, 200, h->now);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	quote_segment(q, isn + 1);
	sk_tcp_icmp_error(h->st, 3, 4, 68, q, sizeof(q), h->now);
	struct h_tcp a = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(a.r.seq, isn + 1);
	cr_expect_eq(a.r.payload_len, 48, "a resent segment of %zu bytes, want 48", a.r.payload_len);
	sk_getopt(h->st, s, SK_OPT_MAXSEG, &v);
	cr_expect_eq(v, 48);
}
