/* Loss recovery at segment level: what a retransmitting connection sends,
 * with a fake clock (RFC 6298 RTO, RFC 5681/6582 fast retransmit and
 * NewReno fast recovery, RFC 6675 SACK-based recovery). */
#include <criterion/criterion.h>
#include <string.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 1000u

static struct harness *h;
static uint8_t pattern[70000];

static void setup(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	h = h_new(NULL);
	h->auto_arp = true;
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_retrans, .init = setup, .fini = teardown);

/* Send n full segments and pop them. */
static void send_segments(int s, int n)
{
	cr_assert_eq(sk_send(h->st, s, pattern, (size_t)n * 1460, h->now), n * 1460);
	for (int i = 0; i < n; i++)
		h_expect_tcp(h, i == n - 1 ? SK_TCP_ACK | SK_TCP_PSH : SK_TCP_ACK);
	h_expect_nothing(h);
}

Test(tcp_retrans, ack_after_an_rto_carries_the_highest_sequence_sent)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	send_segments(s, 3);
	h_advance(h, SK_MS(10)); /* the loss probe: the last segment */
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH).r.seq, isn + 1 + 2 * 1460);
	h_advance(h, SK_MS(190)); /* RTO: the first segment again */
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, isn + 1);
	/* The peer's data gets an ACK whose SEQ is what the peer may already
	 * have received up to (SND.NXT of RFC 9293, not the rewound one): a
	 * lower one is below its window and the peer would drop the ACK. */
	h_send(h, h_data(PEER_ISN + 1, isn + 1, pattern, 1460));
	h_send(h, h_data(PEER_ISN + 1461, isn + 1, pattern, 1460));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.payload_len, 0);
	cr_expect_eq(ack.r.seq, isn + 1 + 3 * 1460);
	cr_expect_eq(ack.r.ack, PEER_ISN + 1 + 2920);
}

#define MSS 1460u

/* Established with SACK-permitted in both SYNs (no other option). */
static int established_sack(uint32_t *isn)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	struct sk_tcp_repr sa = h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, syn.r.seq + 1);

	sa.mss = MSS;
	sa.sack_permitted = true;
	h_send(h, sa);
	h_expect_tcp(h, SK_TCP_ACK);
	*isn = syn.r.seq;
	return s;
}

/* Segment k of our stream starts here. */
static uint32_t seg(uint32_t isn, unsigned k)
{
	return isn + 1 + k * MSS;
}

static void dupack(uint32_t ack)
{
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, ack));
}

/* An ACK of `ack` SACKing segments [from, to) (and [from2, to2) if set). */
static void sack_ack(uint32_t isn, uint32_t ack, unsigned from, unsigned to, unsigned from2,
                     unsigned to2)
{
	struct sk_tcp_repr r = h_seg(SK_TCP_ACK, PEER_ISN + 1, ack);

	r.sack[0] = (struct sk_tcp_sack_block){seg(isn, from), seg(isn, to)};
	r.sack_count = 1;
	if (to2 > from2) {
		r.sack[1] = (struct sk_tcp_sack_block){seg(isn, from2), seg(isn, to2)};
		r.sack_count = 2;
	}
	h_send(h, r);
}

Test(tcp_retrans, first_two_duplicate_acks_send_new_data_limited_transmit)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	cr_assert_eq(sk_send(h->st, s, pattern, 20 * MSS, h->now), 20 * MSS);
	h_clear(h); /* IW10: segments 0-9 */
	dupack(isn + 1);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, seg(isn, 10), "RFC 3042");
	h_expect_nothing(h);
	dupack(isn + 1);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, seg(isn, 11));
	h_expect_nothing(h);
}

Test(tcp_retrans, newreno_recovery_inflates_the_window_per_duplicate_ack)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_CONGESTION, 1), 0);
	cr_assert_eq(sk_send(h->st, s, pattern, 20 * MSS, h->now), 20 * MSS);
	for (int i = 0; i < 2; i++)
		dupack(isn + 1);
	h_clear(h); /* IW10 and two limited-transmit segments: 0-11 */
	dupack(isn + 1);
	struct h_tcp r = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(r.r.seq, isn + 1, "fast retransmit of the first segment");
	h_expect_nothing(h);
	/* ssthresh = 12 / 2 = 6 segments, cwnd = 6 + 3; 12 in flight: the
	 * 7th duplicate ACK makes cwnd 13 and lets one new segment go. */
	for (int i = 0; i < 3; i++)
		dupack(isn + 1);
	h_expect_nothing(h);
	dupack(isn + 1);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, seg(isn, 12));
	h_expect_nothing(h);
	cr_expect_eq(tcp_tcb(h->st, s)->ssthresh, 6 * MSS);
}

Test(tcp_retrans, newreno_partial_ack_retransmits_the_next_hole_at_once)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	sk_setopt(h->st, s, SK_OPT_CONGESTION, 1);
	send_segments(s, 10);
	for (int i = 0; i < 3; i++)
		dupack(isn + 1);
	h_clear(h);
	/* Segments 0-4 arrive; 5 was lost too. */
	dupack(seg(isn, 5));
	struct h_tcp r = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(r.r.seq, seg(isn, 5));
	cr_expect_eq(r.r.payload_len, MSS);
	cr_expect(tcp_tcb(h->st, s)->in_recovery, "a partial ACK does not end recovery");
	uint32_t ssthresh = tcp_tcb(h->st, s)->ssthresh;
	/* More duplicates of the partial ACK: no second reduction. */
	for (int i = 0; i < 3; i++)
		dupack(seg(isn, 5));
	cr_expect_eq(tcp_tcb(h->st, s)->ssthresh, ssthresh);
}

Test(tcp_retrans, full_ack_ends_recovery_with_a_deflated_window)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);
	struct tcb *t = tcp_tcb(h->st, s);

	sk_setopt(h->st, s, SK_OPT_CONGESTION, 1);
	send_segments(s, 10);
	for (int i = 0; i < 3; i++)
		dupack(isn + 1);
	h_clear(h);
	dupack(seg(isn, 10));
	cr_expect_not(t->in_recovery);
	cr_expect_leq(t->cwnd, t->ssthresh, "RFC 6582 §3.2 step 5");
	cr_expect_geq(t->cwnd, MSS);
}

Test(tcp_retrans, sacked_data_above_the_first_segment_retransmits_it_at_once)
{
	uint32_t isn;
	int s = established_sack(&isn);

	send_segments(s, 6);
	/* One ACK SACKing three segments: IsLost(SND.UNA) (RFC 6675 §4). */
	sack_ack(isn, isn + 1, 1, 4, 0, 0);
	struct h_tcp r = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(r.r.seq, isn + 1);
	cr_expect_eq(r.r.payload_len, MSS);
	cr_expect(tcp_tcb(h->st, s)->in_recovery);
}

Test(tcp_retrans, sack_recovery_retransmits_only_the_holes)
{
	uint32_t isn;
	int s = established_sack(&isn);

	send_segments(s, 10);
	/* Segments 2 and 5 were lost: ACK 2 with 3-4 and 6-9 SACKed. */
	sack_ack(isn, seg(isn, 2), 3, 5, 6, 10);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, seg(isn, 2));
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, seg(isn, 5));
	h_expect_nothing(h);
	cr_expect_eq(h->st->stats.tcp_retransmits, 2);
	/* Both arrive: recovery is over. */
	dupack(seg(isn, 10));
	cr_expect_not(tcp_tcb(h->st, s)->in_recovery);
	cr_expect_eq(sk_tx_queued(h->st, s), 0);
}

Test(tcp_retrans, go_back_n_after_an_rto_skips_sacked_segments)
{
	uint32_t isn;
	int s = established_sack(&isn);

	send_segments(s, 6);
	/* 2-3 SACKed: not enough to deem 0 lost; then silence. */
	sack_ack(isn, isn + 1, 2, 4, 0, 0);
	h_expect_nothing(h);
	h_advance(h, SK_MS(10)); /* the loss probe: the last segment */
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH).r.seq, seg(isn, 5));
	h_advance(h, SK_MS(190));
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, seg(isn, 0));
	h_expect_nothing(h);
	sack_ack(isn, seg(isn, 1), 2, 4, 0, 0);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, seg(isn, 1));
	struct h_tcp r = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(r.r.seq, seg(isn, 4), "2 and 3 are held by the peer: not resent");
	h_expect_nothing(h);
}

Test(tcp_retrans, dsack_and_out_of_range_blocks_are_ignored)
{
	uint32_t isn;
	int s = established_sack(&isn);
	struct tcb *t = tcp_tcb(h->st, s);

	send_segments(s, 4);
	struct sk_tcp_repr r = h_seg(SK_TCP_ACK, PEER_ISN + 1, seg(isn, 1));
	r.sack[0] = (struct sk_tcp_sack_block){isn + 1, seg(isn, 1)};     /* D-SACK */
	r.sack[1] = (struct sk_tcp_sack_block){seg(isn, 3), seg(isn, 9)}; /* unsent */
	r.sack[2] = (struct sk_tcp_sack_block){seg(isn, 3), seg(isn, 2)}; /* inverted */
	r.sack_count = 3;
	h_send(h, r);
	cr_expect_eq(t->sb.n, 0);
}

Test(tcp_retrans, a_lost_retransmission_is_resent_when_a_later_one_arrives)
{
	uint32_t isn;
	int s = established_sack(&isn);

	send_segments(s, 10);
	sack_ack(isn, seg(isn, 2), 3, 5, 6, 10); /* 2 and 5 lost */
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, seg(isn, 2));
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, seg(isn, 5));
	/* The retransmission of 5 arrives, that of 2 does not: without this
	 * only the RTO would resend 2. */
	sack_ack(isn, seg(isn, 2), 3, 10, 0, 0);
	struct h_tcp r = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(r.r.seq, seg(isn, 2));
	cr_expect_eq(r.r.payload_len, MSS);
	h_expect_nothing(h);
	/* A repeat of the same news is no new evidence. */
	sack_ack(isn, seg(isn, 2), 3, 10, 0, 0);
	h_expect_nothing(h);
	dupack(seg(isn, 10));
	cr_expect_not(tcp_tcb(h->st, s)->in_recovery);
}

Test(tcp_retrans, silence_after_a_flight_brings_a_loss_probe_of_the_last_segment)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	send_segments(s, 3);
	/* SRTT is ~0 (the handshake was instant): PTO is the 10 ms floor. */
	h_advance(h, SK_MS(10) - 1);
	h_expect_nothing(h);
	h_advance(h, 1);
	struct h_tcp p = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(p.r.seq, seg(isn, 2), "RFC 8985 §7.3: the last segment");
	h_expect_nothing(h);
	cr_expect_eq(tcp_tcb(h->st, s)->cwnd, 10 * MSS, "a probe is not a loss");
	/* The RTO proper still comes at 200 ms. */
	h_advance(h, SK_MS(190) - 1);
	h_expect_nothing(h);
	h_advance(h, 1);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, isn + 1);
}

Test(tcp_retrans, loss_probe_sends_new_data_when_it_may)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	cr_assert_eq(sk_send(h->st, s, pattern, 20 * MSS, h->now), 20 * MSS);
	h_clear(h); /* IW10 */
	h_advance(h, SK_MS(10));
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, seg(isn, 10));
	h_expect_nothing(h);
}

Test(tcp_retrans, loss_probe_in_recovery_resends_the_first_hole)
{
	uint32_t isn;
	int s = established_sack(&isn);

	send_segments(s, 10);
	sack_ack(isn, seg(isn, 2), 3, 5, 6, 10);
	h_clear(h); /* retransmissions of 2 and 5 */
	/* Neither is acknowledged: the probe repeats SND.UNA's segment. */
	h_advance(h, SK_MS(10));
	struct h_tcp p = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(p.r.seq, seg(isn, 2));
	cr_expect_eq(p.r.payload_len, MSS);
	h_expect_nothing(h);
}
