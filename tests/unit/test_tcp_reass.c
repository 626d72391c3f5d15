/* Out-of-order reassembly at segment level (RFC 9293 §3.10.7.4 seventh
 * step, RFC 5681 §4.2): held segments, immediate ACKs, the bounded queue,
 * a FIN beyond a hole. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 5000u
#define SEG      1000u

static struct harness *h;
static uint8_t bytes[64 * SEG];

static void setup(void)
{
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 13 + i / 251);
	h = h_new(NULL);
	h->auto_arp = true;
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_reass, .init = setup, .fini = teardown);

static uint32_t isn;

/* Segment number k (SEG bytes) of the peer's stream. */
static void peer_segment(unsigned k, uint8_t extra_flags)
{
	struct sk_tcp_repr r = h_data(PEER_ISN + 1 + k * SEG, isn + 1, bytes + k * SEG, SEG);

	r.flags |= extra_flags;
	h_send(h, r);
}

static uint32_t expect_ack(void)
{
	struct h_tcp a = h_expect_tcp(h, SK_TCP_ACK);

	cr_expect_eq(a.r.payload_len, 0);
	return a.r.ack;
}

static void expect_stream(int s, size_t from, size_t n)
{
	static uint8_t buf[sizeof(bytes)];

	cr_assert_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), (ssize_t)n);
	cr_expect_arr_eq(buf, bytes + from, n);
}

Test(tcp_reass, held_segment_is_delivered_when_the_hole_fills)
{
	int s = h_established(h, PEER_ISN, &isn);

	peer_segment(1, 0);
	cr_expect_eq(expect_ack(), PEER_ISN + 1, "a duplicate ACK at once");
	cr_expect_eq(sk_rx_queued(h->st, s), 0, "nothing readable past the hole");
	cr_expect_eq(sk_poll(h->st, s) & SK_POLLIN, 0);
	peer_segment(0, 0);
	cr_expect_eq(expect_ack(), PEER_ISN + 1 + 2 * SEG, "both segments acked at once");
	expect_stream(s, 0, 2 * SEG);
	h_expect_nothing(h);
}

Test(tcp_reass, every_out_of_order_segment_gets_its_duplicate_ack)
{
	h_established(h, PEER_ISN, &isn);

	for (unsigned k = 1; k <= 4; k++) {
		peer_segment(k, 0);
		cr_expect_eq(expect_ack(), PEER_ISN + 1);
		h_expect_nothing(h);
	}
}

Test(tcp_reass, filling_part_of_a_gap_acks_up_to_the_next_hole)
{
	int s = h_established(h, PEER_ISN, &isn);

	peer_segment(1, 0);
	peer_segment(3, 0);
	h_clear(h);
	peer_segment(0, 0);
	cr_expect_eq(expect_ack(), PEER_ISN + 1 + 2 * SEG, "immediate, up to the hole at 2");
	peer_segment(2, 0);
	cr_expect_eq(expect_ack(), PEER_ISN + 1 + 4 * SEG);
	expect_stream(s, 0, 4 * SEG);
}

Test(tcp_reass, overlapping_held_segments_merge_and_deliver_once)
{
	int s = h_established(h, PEER_ISN, &isn);

	/* Bytes 1500..2500 then 1200..2000 and 2400..3000: one interval. */
	h_send(h, h_data(PEER_ISN + 1 + 1500, isn + 1, bytes + 1500, 1000));
	h_send(h, h_data(PEER_ISN + 1 + 1200, isn + 1, bytes + 1200, 800));
	h_send(h, h_data(PEER_ISN + 1 + 2400, isn + 1, bytes + 2400, 600));
	h_clear(h);
	h_send(h, h_data(PEER_ISN + 1, isn + 1, bytes, 1300));
	cr_expect_eq(expect_ack(), PEER_ISN + 1 + 3000);
	expect_stream(s, 0, 3000);
}

/* Small segment k (SMALL bytes): TCP_REASS_MAX disjoint ones fit in an
 * unscaled window. */
#define SMALL 400u
static void small_segment(unsigned k)
{
	h_send(h, h_data(PEER_ISN + 1 + k * SMALL, isn + 1, bytes + k * SMALL, SMALL));
}

Test(tcp_reass, a_segment_needing_more_intervals_than_the_queue_has_is_dropped)
{
	int s = h_established(h, PEER_ISN, &isn);

	/* Segments 1, 3, ..., 2*TCP_REASS_MAX-1 fill the queue; one more
	 * disjoint segment finds no interval. */
	for (unsigned i = 0; i < TCP_REASS_MAX; i++)
		small_segment(2 * i + 1);
	small_segment(2 * TCP_REASS_MAX + 1);
	h_clear(h);
	for (unsigned i = 0; i < TCP_REASS_MAX; i++)
		small_segment(2 * i);
	/* Everything up to the dropped segment is in; it is not. */
	uint32_t last = 0;
	while (h_pending(h))
		last = expect_ack();
	cr_expect_eq(last, PEER_ISN + 1 + 2 * TCP_REASS_MAX * SMALL);
	small_segment(2 * TCP_REASS_MAX);
	h_advance(h, SK_MS(40)); /* in order, no hole left: a delayed ACK */
	cr_expect_eq(expect_ack(), PEER_ISN + 1 + (2 * TCP_REASS_MAX + 1) * SMALL,
	             "the dropped one must come again");
	expect_stream(s, 0, (2 * TCP_REASS_MAX + 1) * SMALL);
}

Test(tcp_reass, fin_beyond_a_hole_closes_when_the_hole_fills)
{
	int s = h_established(h, PEER_ISN, &isn);

	peer_segment(1, SK_TCP_FIN);
	cr_expect_eq(expect_ack(), PEER_ISN + 1);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	peer_segment(0, 0);
	cr_expect_eq(expect_ack(), PEER_ISN + 1 + 2 * SEG + 1, "data and FIN acknowledged");
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSE_WAIT);
	expect_stream(s, 0, 2 * SEG);
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), 0, "end of stream after the data");
}

Test(tcp_reass, bare_fin_beyond_a_hole_is_held_too)
{
	int s = h_established(h, PEER_ISN, &isn);

	h_send(h, h_seg(SK_TCP_ACK | SK_TCP_FIN, PEER_ISN + 1 + SEG, isn + 1));
	cr_expect_eq(expect_ack(), PEER_ISN + 1);
	peer_segment(0, 0);
	cr_expect_eq(expect_ack(), PEER_ISN + 1 + SEG + 1);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSE_WAIT);
}

Test(tcp_reass, held_bytes_survive_the_reader_emptying_the_ring)
{
	int s = h_established(h, PEER_ISN, &isn);

	peer_segment(0, 0);
	peer_segment(2, 0);
	h_clear(h);
	expect_stream(s, 0, SEG); /* the ring is empty now, segment 2 held */
	peer_segment(1, 0);
	expect_stream(s, SEG, 2 * SEG);
}

/* h_established, the peer's SYN+ACK permitting SACK too (RFC 2018), so our
 * ACKs list what is held. */
static int established_sack(void)
{
	int s = h_connect(h);

	isn = h_expect_tcp(h, SK_TCP_SYN).r.seq;
	struct sk_tcp_repr sa = h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, isn + 1);
	sa.mss = 1460;
	sa.sack_permitted = true;
	h_send(h, sa);
	h_expect_tcp(h, SK_TCP_ACK);
	return s;
}

/* Found by tests/fuzz/fuzz_input (its invariant: held intervals lie above
 * RCV.NXT): bytes held out of order just past a FIN stayed held once the
 * FIN was consumed, at RCV.NXT itself, and every later ACK listed them as
 * a SACK block. The peer's stream ends at its FIN (RFC 9293 §3.10.7.4
 * eighth step): nothing above it can be data, and Linux tcp_fin purges
 * the out-of-order queue and the SACK state. */
Test(tcp_reass, a_fin_drops_what_is_held_beyond_it)
{
	int s = established_sack();

	h_send(h, h_data(PEER_ISN + 2, isn + 1, bytes, 9)); /* one byte's hole */
	struct h_tcp a = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(a.r.sack_count, 1, "the held bytes are SACKed");
	h_send(h, h_seg(SK_TCP_ACK | SK_TCP_FIN, PEER_ISN + 1, isn + 1));
	a = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(a.r.ack, PEER_ISN + 2, "the FIN acknowledged");
	cr_expect_eq(a.r.sack_count, 0, "a SACK block [%u, %u) past the FIN",
	             a.r.sack[0].left - PEER_ISN, a.r.sack[0].right - PEER_ISN);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSE_WAIT);
	cr_expect_eq(tcp_tcb(h->st, s)->reass.n, 0, "nothing held past the end of the stream");
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), 0, "end of stream, no byte past it");
}
