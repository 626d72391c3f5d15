/* RFC 7323 window scaling and timestamps, RFC 2018 SACK-permitted and SACK
 * blocks, at segment level: what is offered, what is used only when both
 * SYNs carried it, PAWS, RTT from echoed timestamps. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 7000u
#define PEER_TS  500000u

static struct harness *h;
static uint8_t bytes[8000];
static uint32_t isn, our_ts;

static void setup(void)
{
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 17 + 1);
	h = h_new(NULL);
	h->auto_arp = true;
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_opts, .init = setup, .fini = teardown);

/* Active open whose SYN,ACK carries the given options (wscale -1: none). */
static int open_with(int8_t wscale, bool sack, bool ts)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	struct sk_tcp_repr sa = h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, syn.r.seq + 1);

	isn = syn.r.seq;
	our_ts = syn.r.ts_val;
	sa.mss = 1460;
	sa.wscale = wscale;
	sa.sack_permitted = sack;
	sa.has_timestamp = ts;
	sa.ts_val = PEER_TS;
	sa.ts_ecr = syn.r.ts_val;
	h_send(h, sa);
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_assert_eq(ack.r.ack, PEER_ISN + 1);
	cr_assert_eq(ack.r.has_timestamp, ts, "a TSopt exactly when both SYNs had one");
	return s;
}

/* A peer segment with a timestamp. */
static struct sk_tcp_repr ts_seg(struct sk_tcp_repr r, uint32_t tsval)
{
	r.has_timestamp = true;
	r.ts_val = tsval;
	r.ts_ecr = our_ts;
	return r;
}

Test(tcp_opts, syn_offers_window_scale_sack_and_timestamps)
{
	h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);

	cr_expect_eq(syn.r.wscale, 7,
	             "the 4 MiB autotuning cap (not the 256 KiB start) needs a shift of 7");
	cr_expect(syn.r.sack_permitted);
	cr_expect(syn.r.has_timestamp);
	cr_expect_eq(syn.r.ts_ecr, 0, "nothing to echo yet");
	cr_expect_eq(syn.r.window, 65535, "a SYN's window is never scaled");
}

Test(tcp_opts, nothing_is_used_when_the_synack_carries_no_options)
{
	int s = open_with(-1, false, false);
	int mss;

	sk_getopt(h->st, s, SK_OPT_MAXSEG, &mss);
	cr_expect_eq(mss, 1460);
	h_send(h, h_data(PEER_ISN + 1, isn + 1, bytes, 3000));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.window, 65535, "unscaled: clamped to 16 bits");
	cr_expect_not(ack.r.has_timestamp);
}

Test(tcp_opts, synack_answers_only_what_the_peer_syn_offered)
{
	h_listen(h, 4);
	struct sk_tcp_repr syn = h_seg(SK_TCP_SYN, PEER_ISN, 0);

	syn.mss = 1460;
	syn.has_timestamp = true;
	syn.ts_val = PEER_TS;
	h_send(h, syn);
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	cr_expect(sa.r.has_timestamp);
	cr_expect_eq(sa.r.ts_ecr, PEER_TS);
	cr_expect_eq(sa.r.wscale, -1, "not offered by the peer: not answered");
	cr_expect_not(sa.r.sack_permitted);
}

Test(tcp_opts, windows_are_scaled_both_ways_once_agreed)
{
	int s = open_with(2, false, false);

	/* The peer's window field 250 means 1000 bytes with its shift of 2. */
	struct sk_tcp_repr w = h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1);
	w.window = 250;
	h_send(h, w);
	cr_assert_eq(sk_send(h->st, s, bytes, 1000, h->now), 1000);
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(d.r.payload_len, 1000, "unscaled, 250 bytes would be the limit");
	h_expect_nothing(h);
	/* Ours: 256 KiB minus what was received, shifted by 7 (the shift
	 * fits the 4 MiB autotuning cap). */
	h_send(h, h_data(PEER_ISN + 1, isn + 1, bytes, 2920));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.window, (256 * 1024 - 2920) >> 7);
}

Test(tcp_opts, timestamps_take_room_from_the_mss_and_ride_on_every_segment)
{
	int s = open_with(-1, false, true);
	int mss;

	sk_getopt(h->st, s, SK_OPT_MAXSEG, &mss);
	cr_expect_eq(mss, 1448, "1460 minus the 12-byte TSopt, as Linux");
	cr_assert_eq(sk_send(h->st, s, bytes, 2000, h->now), 2000);
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(d.r.payload_len, 1448);
	cr_expect(d.r.has_timestamp);
	cr_expect_eq(d.r.ts_ecr, PEER_TS);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH).r.payload_len, 2000 - 1448);
	h_advance(h, SK_MS(7));
	/* The peer's data also acknowledges ours (no loss probe at 10 ms). */
	h_send(h, ts_seg(h_data(PEER_ISN + 1, isn + 2001, bytes, 10), PEER_TS + 3));
	h_advance(h, SK_MS(40));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ts_ecr, PEER_TS + 3, "TS.Recent follows the peer");
	cr_expect_eq(ack.r.ts_val - d.r.ts_val, 47, "a 1 ms clock");
}

Test(tcp_opts, paws_drops_an_old_duplicate_and_acks_it)
{
	int s = open_with(-1, false, true);

	h_send(h, ts_seg(h_data(PEER_ISN + 1, isn + 1, bytes, 100), PEER_TS + 10));
	h_clear(h);
	/* Next data, but stamped before the last: an old duplicate. */
	h_send(h, ts_seg(h_data(PEER_ISN + 101, isn + 1, bytes + 100, 100), PEER_TS + 9));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ack, PEER_ISN + 101, "not taken");
	cr_expect_eq(sk_rx_queued(h->st, s), 100);
}

Test(tcp_opts, a_segment_beyond_the_last_ack_does_not_move_ts_recent)
{
	open_with(-1, false, true);

	/* Out of order, with a newer stamp: RFC 7323 §4.3 keeps the echo of
	 * the segment our ACKs are waiting for. */
	h_send(h, ts_seg(h_data(PEER_ISN + 501, isn + 1, bytes, 100), PEER_TS + 50));
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.ts_ecr, PEER_TS);
	h_send(h, ts_seg(h_data(PEER_ISN + 1, isn + 1, bytes, 500), PEER_TS + 60));
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.ts_ecr, PEER_TS + 60);
}

Test(tcp_opts, echoed_timestamp_times_a_retransmitted_segment)
{
	int s = open_with(-1, false, true);
	struct tcb *t = tcp_tcb(h->st, s);

	sk_send(h->st, s, "x", 1, h->now);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	h_advance(h, SK_MS(200));
	struct h_tcp rx = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	h_advance(h, SK_MS(30));
	/* The ACK echoes the retransmission's TSval: a 30 ms sample, which
	 * Karn's rule alone could not give. */
	struct sk_tcp_repr a = ts_seg(h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 2), PEER_TS + 1);
	a.ts_ecr = rx.r.ts_val;
	sk_time_t before = t->srtt;
	h_send(h, a);
	cr_expect_neq(t->srtt, before);
	cr_expect_eq(t->srtt, (7 * before + SK_MS(30)) / 8);
}

Test(tcp_opts, echoed_timestamp_is_no_sample_while_segments_are_timed)
{
	int s = open_with(-1, false, true);
	struct tcb *t = tcp_tcb(h->st, s);
	static uint8_t two[2 * 1448];

	/* Two segments: the first is timed in µs; its ACK gives the sample. */
	cr_assert_eq(sk_send(h->st, s, two, sizeof(two), h->now), (ssize_t)sizeof(two));
	struct h_tcp first = h_expect_tcp(h, SK_TCP_ACK);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	h_advance(h, 300);
	struct sk_tcp_repr a = ts_seg(h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1 + 1448), PEER_TS + 1);
	a.ts_ecr = first.r.ts_val;
	h_send(h, a);
	sk_time_t srtt = t->srtt;
	cr_assert_gt(srtt, 0);
	/* The second one's ACK, 2 ms later, echoes a timestamp: no
	 * retransmission made timing impossible, so the coarse echo (1 ms
	 * steps) is not a sample (Linux: tcp_ack_update_rtt). */
	h_advance(h, SK_MS(2));
	a = ts_seg(h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1 + sizeof(two)), PEER_TS + 2);
	a.ts_ecr = first.r.ts_val;
	h_send(h, a);
	cr_expect_eq(t->srtt, srtt, "SRTT moved from %ld to %ld on an echoed timestamp",
	             (long)srtt, (long)t->srtt);
}

Test(tcp_opts, sack_blocks_list_held_data_most_recent_first)
{
	open_with(-1, true, true);

	h_send(h, ts_seg(h_data(PEER_ISN + 1001, isn + 1, bytes, 100), PEER_TS));
	struct h_tcp a = h_expect_tcp(h, SK_TCP_ACK);
	cr_assert_eq(a.r.sack_count, 1);
	cr_expect_eq(a.r.sack[0].left, PEER_ISN + 1001);
	cr_expect_eq(a.r.sack[0].right, PEER_ISN + 1101);
	h_send(h, ts_seg(h_data(PEER_ISN + 3001, isn + 1, bytes, 100), PEER_TS));
	h_send(h, ts_seg(h_data(PEER_ISN + 2001, isn + 1, bytes, 100), PEER_TS));
	h_send(h, ts_seg(h_data(PEER_ISN + 4001, isn + 1, bytes, 100), PEER_TS));
	h_expect_tcp(h, SK_TCP_ACK);
	h_expect_tcp(h, SK_TCP_ACK);
	a = h_expect_tcp(h, SK_TCP_ACK);
	cr_assert_eq(a.r.sack_count, 3, "three blocks fit beside a TSopt");
	cr_expect_eq(a.r.sack[0].left, PEER_ISN + 4001);
	cr_expect_eq(a.r.sack[1].left, PEER_ISN + 2001);
	cr_expect_eq(a.r.sack[2].left, PEER_ISN + 3001);
	/* Growing a block makes it the most recent. */
	h_send(h, ts_seg(h_data(PEER_ISN + 1101, isn + 1, bytes, 100), PEER_TS));
	a = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(a.r.sack[0].left, PEER_ISN + 1001);
	cr_expect_eq(a.r.sack[0].right, PEER_ISN + 1201);
}

Test(tcp_opts, no_sack_blocks_without_sack_permitted)
{
	open_with(-1, false, false);

	h_send(h, h_data(PEER_ISN + 1001, isn + 1, bytes, 100));
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.sack_count, 0);
}

Test(tcp_opts, data_segments_make_room_for_sack_blocks_while_data_is_held)
{
	int s = open_with(-1, true, true);

	h_send(h, ts_seg(h_data(PEER_ISN + 1001, isn + 1, bytes, 100), PEER_TS));
	h_expect_tcp(h, SK_TCP_ACK);
	cr_assert_eq(sk_send(h->st, s, bytes, 3000, h->now), 3000);
	struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(d.r.payload_len, 1448 - 12, "one SACK block: 4 + 8 bytes");
	cr_expect_eq(d.r.sack_count, 1, "the ACK riding on data reports the hole too");
	cr_expect_eq(d.r.sack[0].left, PEER_ISN + 1001);
}

Test(tcp_opts, a_crossing_synack_window_is_not_scaled)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	struct sk_tcp_repr psyn = h_seg(SK_TCP_SYN, PEER_ISN, 0);

	isn = syn.r.seq;
	psyn.mss = 1460;
	psyn.wscale = 2;
	h_send(h, psyn); /* simultaneous open: SYN_RECEIVED, our SYN,ACK */
	h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	struct sk_tcp_repr sa = h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, isn + 1);
	sa.mss = 1460;
	sa.wscale = 2;
	sa.window = 1000; /* a SYN's window: 1000 bytes, not 4000 */
	h_send(h, sa);
	h_clear(h);
	cr_assert_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	cr_assert_eq(sk_send(h->st, s, bytes, 3000, h->now), 3000);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.payload_len, 1000);
	h_expect_nothing(h);
}
