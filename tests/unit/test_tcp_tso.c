/* TCP super-frames (sk_config.tso_max) and checksum offload
 * (tx_csum_offload) at segment level: what a stack on a GSO-capable device
 * emits, that a device cutting the super-frames at gso_size would put the
 * same bytes on the wire, and that retransmissions, PMTUD and the window
 * keep reasoning in MSS-sized segments. The harness plays the device: it
 * records the offload request of each frame and fills in the checksum as a
 * device does (harness.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/byteorder.h"
#include "../../core/checksum.h"
#include "../../core/arp.h"
#include "../../core/ethernet.h"
#include "../../core/icmp.h"
#include "../../core/seq.h"
#include "../../core/ipv4.h"
#include "../../core/stack_impl.h"
#include "harness.h"
#include "l3_frames.h"

#define PEER_ISN 5000u
#define MSS      1460u /* the peer's MSS option; no timestamps agreed */

/* The byte at stream offset k: every payload is checked against it. */
static uint8_t pat(size_t k)
{
	return (uint8_t)(k * 13 + 7);
}

struct conn {
	struct harness *h;
	int s;
	uint32_t isn;  /* our ISN: stream offset k is sequence number isn + 1 + k */
	size_t queued; /* stream bytes handed to sk_send so far */
};

static void gso_device(struct sk_config *cfg)
{
	cfg->tso_max = SK_TSO_MAX;
	cfg->tx_csum_offload = true;
}

static void csum_device(struct sk_config *cfg)
{
	cfg->tx_csum_offload = true;
}

/* An active open whose SYN,ACK agrees MSS 1460, window scale 7 and SACK:
 * the peer's window (64240 << 7) never limits these tests. */
static struct conn open_conn(void (*tweak)(struct sk_config *))
{
	struct conn c = {.h = h_new(tweak)};

	c.h->auto_arp = true;
	c.s = h_connect(c.h);
	struct h_tcp syn = h_expect_tcp(c.h, SK_TCP_SYN);
	struct sk_tcp_repr synack = h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, syn.r.seq + 1);

	synack.mss = MSS;
	synack.wscale = 7;
	synack.sack_permitted = true;
	h_send(c.h, synack);
	h_expect_tcp(c.h, SK_TCP_ACK);
	cr_assert_eq(sk_sock_state(c.h->st, c.s), SK_TCP_ESTABLISHED);
	c.isn = syn.r.seq;
	return c;
}

static uint32_t seq_of(const struct conn *c, size_t k)
{
	return c->isn + 1 + (uint32_t)k;
}

/* Queue the next n bytes of the stream. */
static void stream_send(struct conn *c, size_t n)
{
	static uint8_t buf[128 * 1024];

	cr_assert_leq(n, sizeof(buf));
	for (size_t i = 0; i < n; i++)
		buf[i] = pat(c->queued + i);
	cr_assert_eq(sk_send(c->h->st, c->s, buf, n, c->h->now), (ssize_t)n);
	c->queued += n;
}

static uint8_t head_flags(const struct harness *h)
{
	cr_assert_gt(h_pending(h), 0, "expected a frame from the stack, got none");
	const uint8_t *f = h->frames[0].data;
	size_t ihl = (size_t)(f[SK_ETH_HLEN] & 0x0f) * 4;

	return f[SK_ETH_HLEN + ihl + 13];
}

/* Pop the next frame, a data segment or super-frame, and check its bytes. */
static struct h_tcp pop_data(struct conn *c)
{
	struct h_tcp seg = h_expect_tcp(c->h, head_flags(c->h));
	size_t k = seg.r.seq - c->isn - 1;

	for (size_t i = 0; i < seg.r.payload_len; i++)
		cr_assert_eq(seg.payload[i], pat(k + i), "stream byte %zu differs", k + i);
	return seg;
}

static void peer_ack(struct conn *c, uint32_t ack)
{
	h_advance(c->h, SK_MS(1));
	h_send(c->h, h_seg(SK_TCP_ACK, PEER_ISN + 1, ack));
}

/* Acknowledge every frame as it comes until nothing is left to send. */
static void drain(struct conn *c)
{
	while (h_pending(c->h) > 0) {
		struct h_tcp seg = pop_data(c);

		if (h_pending(c->h) == 0)
			peer_ack(c, seg.r.seq + (uint32_t)seg.r.payload_len);
	}
}

/* An established connection on a device made by tweak, whose cwnd holds
 * at least 50 segments, with nothing in flight. */
static struct conn warm(void (*tweak)(struct sk_config *))
{
	struct conn c = open_conn(tweak);
	struct sk_tcp_info info;

	for (int round = 0; round < 16; round++) {
		cr_assert_eq(sk_get_info(c.h->st, c.s, &info), 0);
		if (info.snd_cwnd >= 50)
			return c;
		stream_send(&c, 64 * 1024);
		drain(&c);
	}
	cr_assert_fail("cwnd did not open to 50 segments (%u)", info.snd_cwnd);
	return c;
}

static void expect_super(const struct h_tcp *seg, uint32_t seq, size_t n, uint16_t gso)
{
	cr_expect_eq(seg->r.seq, seq);
	cr_expect_eq(seg->r.payload_len, n, "payload %zu, want %zu", seg->r.payload_len, n);
	cr_expect_eq(seg->off.gso_size, gso, "gso_size %u, want the MSS %u", seg->off.gso_size,
	             gso);
	cr_expect_eq(seg->off.csum_start, SK_ETH_HLEN + SK_IPV4_HLEN);
	cr_expect_eq(seg->off.csum_offset, 16);
	cr_expect_eq(seg->off.hdr_len, seg->frame_len - n, "hdr_len covers every header byte");
}

Test(tcp_tso, one_64k_send_leaves_as_one_super_frame_cut_at_the_mss)
{
	struct conn c = warm(gso_device);
	const struct sk_stats *st = sk_get_stats(c.h->st);
	uint64_t supers = st->tcp_tx_super_frames, segs = st->tcp_tx_super_segs;
	size_t k = c.queued;

	stream_send(&c, 65536);
	/* 44 whole segments (64240 bytes) in one frame; the short tail in a
	 * segment of its own, judged by Nagle as any short segment. */
	struct h_tcp big = pop_data(&c);
	expect_super(&big, seq_of(&c, k), 44 * MSS, MSS);
	struct h_tcp tail = pop_data(&c);
	cr_expect_eq(tail.r.flags, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(tail.r.seq, seq_of(&c, k + 44 * MSS));
	cr_expect_eq(tail.r.payload_len, 65536 - 44 * MSS);
	cr_expect_eq(tail.off.gso_size, 0, "one segment is no super-frame");
	h_expect_nothing(c.h);
	cr_expect_eq(st->tcp_tx_super_frames, supers + 1);
	cr_expect_eq(st->tcp_tx_super_segs, segs + 44);
	h_free(c.h);
}

Test(tcp_tso, the_short_tail_of_the_queue_rides_in_the_super_frame)
{
	struct conn c = warm(gso_device);
	size_t k = c.queued;

	/* 20 segments and 800 bytes: the device cuts the last, shorter
	 * segment, as Linux's TSO frames end (tcp_mss_split_point). */
	stream_send(&c, 20 * MSS + 800);
	struct h_tcp all = pop_data(&c);
	expect_super(&all, seq_of(&c, k), 20 * MSS + 800, MSS);
	cr_expect_eq(all.r.flags, SK_TCP_ACK | SK_TCP_PSH);
	h_expect_nothing(c.h);
	/* That tail is a short segment in flight: Minshall's Nagle holds the
	 * next short tail back until it is acknowledged. */
	stream_send(&c, 10 * MSS + 100);
	struct h_tcp whole = pop_data(&c);
	expect_super(&whole, seq_of(&c, k + 20 * MSS + 800), 10 * MSS, MSS);
	h_expect_nothing(c.h);
	peer_ack(&c, seq_of(&c, k + 20 * MSS + 800));
	struct h_tcp tail = pop_data(&c);
	cr_expect_eq(tail.r.seq, seq_of(&c, k + 30 * MSS + 800));
	cr_expect_eq(tail.r.payload_len, 100);
	h_free(c.h);
}

static void four_segment_device(struct sk_config *cfg)
{
	gso_device(cfg);
	cfg->tso_max_segs = 4; /* ip link set ... gso_max_segs 4 */
}

Test(tcp_tso, super_frames_keep_to_the_devices_segment_limit)
{
	struct conn c = warm(four_segment_device);
	size_t k = c.queued;

	stream_send(&c, 10 * MSS);
	/* 4 + 4 segments, then the last two: a frame of 2 is a super-frame
	 * too (the queue's end rides along). */
	for (int i = 0; i < 3; i++) {
		struct h_tcp seg = pop_data(&c);
		size_t n = i < 2 ? 4 * MSS : 2 * MSS;

		expect_super(&seg, seq_of(&c, k + (size_t)i * 4 * MSS), n, MSS);
	}
	h_expect_nothing(c.h);
	h_free(c.h);
}

Test(tcp_tso, the_first_flight_is_one_frame_of_the_initial_window)
{
	struct conn c = open_conn(gso_device);

	stream_send(&c, 65536);
	/* RFC 6928: an initial window of 10 segments, in one frame. */
	struct h_tcp first = pop_data(&c);
	expect_super(&first, seq_of(&c, 0), 10 * MSS, MSS);
	h_expect_nothing(c.h);
	h_free(c.h);
}

Test(tcp_tso, a_window_of_three_and_a_half_segments_sends_three_whole_ones)
{
	struct conn c = warm(gso_device);
	size_t k = c.queued;
	uint32_t una = seq_of(&c, k);

	/* The peer's window shrinks to 3.5 segments (scale 7: 5110 << 7 is
	 * far more, so announce it unscaled-small: 40 << 7 = 5120). */
	struct sk_tcp_repr w = h_seg(SK_TCP_ACK, PEER_ISN + 1, una);
	w.window = 40; /* 5120 bytes: 3 segments and 740 bytes */
	h_send(c.h, w);
	stream_send(&c, 20000);
	struct h_tcp seg = pop_data(&c);
	expect_super(&seg, una, 3 * MSS, MSS);
	/* RFC 9293 §3.8.6.2.1: the 740 bytes the window leaves wait while
	 * data is in flight. */
	h_expect_nothing(c.h);
	h_free(c.h);
}

Test(tcp_tso, after_a_loss_only_the_lost_segment_is_resent)
{
	struct conn c = warm(gso_device);
	size_t k = c.queued;
	uint32_t una = seq_of(&c, k);

	stream_send(&c, 44 * MSS);
	struct h_tcp big = pop_data(&c);
	expect_super(&big, una, 44 * MSS, MSS);
	h_expect_nothing(c.h);
	/* The first segment is lost: three duplicate ACKs SACK the rest
	 * (RFC 6675), in steps as the segments arrive. */
	for (uint32_t n = 2; n <= 4; n++) {
		struct sk_tcp_repr dup = h_seg(SK_TCP_ACK, PEER_ISN + 1, una);
		dup.sack_count = 1;
		dup.sack[0] = (struct sk_tcp_sack_block){una + MSS, una + n * MSS};
		h_advance(c.h, SK_MS(1));
		h_send(c.h, dup);
	}
	struct h_tcp re = pop_data(&c);
	cr_expect_eq(re.r.seq, una);
	cr_expect_eq(re.r.payload_len, MSS, "a retransmission is one segment: what was lost");
	cr_expect_eq(re.off.gso_size, 0);
	/* Whatever else goes now is new data beyond the flight, never the
	 * SACKed segments again. */
	while (h_pending(c.h) > 0) {
		struct h_tcp more = pop_data(&c);
		cr_expect(seq_geq(more.r.seq, una + 44 * MSS), "resent SACKed data at %u",
		          more.r.seq);
	}
	h_free(c.h);
}

Test(tcp_tso, an_rto_resends_one_segment_not_a_super_frame)
{
	struct conn c = warm(gso_device);
	uint32_t una = seq_of(&c, c.queued);

	stream_send(&c, 20 * MSS);
	struct h_tcp big = pop_data(&c);
	expect_super(&big, una, 20 * MSS, MSS);
	/* No ACK comes: the loss probe (RFC 8985 §7), then the RTO resend
	 * from SND.UNA, each one segment. */
	for (int i = 0; i < 2000; i++) {
		h_advance(c.h, SK_MS(5));
		if (h_pending(c.h) == 0)
			continue;
		struct h_tcp re = pop_data(&c);
		cr_expect_leq(re.r.payload_len, MSS, "a resend of %zu bytes", re.r.payload_len);
		cr_expect_eq(re.off.gso_size, 0);
		if (re.r.seq == una) {
			h_free(c.h);
			return;
		}
	}
	cr_assert_fail("no retransmission of SND.UNA");
}

Test(tcp_tso, pmtud_cuts_the_next_super_frame_at_the_new_mss)
{
	struct conn c = warm(gso_device);
	uint32_t una = seq_of(&c, c.queued);

	stream_send(&c, 30 * MSS);
	struct h_tcp big = pop_data(&c);
	expect_super(&big, una, 30 * MSS, MSS);
	/* A router on the path takes 1400 bytes (RFC 1191 §6.1): what no
	 * longer fits is resent cut at 1360, segment by segment. */
	t_frag_needed(c.h, SK_IPPROTO_TCP, SK_IPV4_HLEN + 8, una, 1400);
	uint32_t high = una;
	while (h_pending(c.h) > 0) {
		struct h_tcp re = pop_data(&c);
		cr_expect_leq(re.r.payload_len, 1360);
		cr_expect_eq(re.off.gso_size, 0, "a resend is never a super-frame");
		high = re.r.seq + (uint32_t)re.r.payload_len;
	}
	cr_assert_gt(high, una);
	/* Everything acknowledged; new data leaves in super-frames cut at
	 * the new MSS. */
	peer_ack(&c, seq_of(&c, c.queued));
	h_expect_nothing(c.h);
	stream_send(&c, 10 * 1360);
	struct h_tcp next = pop_data(&c);
	cr_expect_eq(next.r.seq, seq_of(&c, c.queued - 10 * 1360));
	cr_expect_eq(next.off.gso_size, 1360);
	cr_expect_eq(next.r.payload_len % 1360, 0);
	cr_expect_geq(next.r.payload_len, 2 * 1360);
	h_free(c.h);
}

Test(tcp_tso, without_the_capability_every_frame_fits_the_mtu)
{
	struct conn c = warm(NULL);

	cr_assert_eq(sk_get_stats(c.h->st)->tcp_tx_super_frames, 0);
	stream_send(&c, 65536);
	size_t frames = 0;
	while (h_pending(c.h) > 0) {
		struct h_tcp seg = pop_data(&c);
		cr_expect_leq(seg.r.payload_len, MSS);
		cr_expect_eq(seg.off.gso_size, 0);
		cr_expect_eq(seg.off.csum_start, 0, "a checksum left to a device that has none");
		frames++;
	}
	cr_expect_eq(frames, 45);
	h_free(c.h);
}

Test(tcp_tso, checksum_offload_alone_leaves_the_pseudo_header_sum)
{
	struct conn c = warm(csum_device);

	stream_send(&c, 3000);
	struct h_frame f = h_pop_frame(c.h);
	const uint8_t *tcp = f.data + SK_ETH_HLEN + SK_IPV4_HLEN;
	size_t l4 = f.len - SK_ETH_HLEN - SK_IPV4_HLEN;
	uint16_t want = (uint16_t)~sk_csum_finish(
	    sk_csum_pseudo(H_OUR_IP, H_PEER_IP, SK_IPPROTO_TCP, (uint32_t)l4));

	cr_expect_eq(f.off.gso_size, 0);
	cr_expect_eq(f.off.csum_start, SK_ETH_HLEN + SK_IPV4_HLEN);
	cr_expect_eq(sk_rd16(tcp + 16), want,
	             "the field holds the pseudo-header sum (Linux "
	             "CHECKSUM_PARTIAL)");
	cr_expect_eq(l4, 20 + MSS);
	free(f.data);
	h_free(c.h);
}

Test(tcp_tso, a_frame_queued_for_arp_leaves_with_its_checksum_done)
{
	struct harness *h = h_new(gso_device);
	int s = sk_socket(h->st);

	cr_assert_eq(sk_connect(h->st, s, T_OTHER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	/* The SYN waits for ARP; the reply releases it through the plain
	 * path, so it must already be complete. */
	struct h_frame req = h_pop_frame(h);
	free(req.data);
	h_expect_nothing(h);
	t_arp_reply_from(h, H_PEER_MAC, T_OTHER_IP);
	cr_assert_eq(h_pending(h), 1);
	cr_expect_eq(h->frames[0].off.csum_start, 0, "released by the plain xmit");
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN); /* checks the checksum */
	cr_expect_eq(syn.dst, T_OTHER_IP);
	h_free(h);
}

static int no_xmit(void *ctx, const uint8_t *f, size_t len)
{
	(void)ctx, (void)f, (void)len;
	return 0;
}

static int no_xmit_offload(void *ctx, const uint8_t *f, size_t len, const struct sk_tx_offload *off)
{
	(void)off;
	return no_xmit(ctx, f, len);
}

Test(tcp_tso, offloads_are_refused_without_a_device_that_takes_them)
{
	struct sk_config cfg;
	const struct sk_link_ops plain = {.xmit = no_xmit};

	sk_config_defaults(&cfg);
	memcpy(cfg.mac, H_OUR_MAC, 6);
	cfg.addr = H_OUR_IP;
	gso_device(&cfg);
	cr_expect_null(sk_stack_new(&cfg, &plain, NULL, NULL), "tso_max needs xmit_offload");
	cfg.tso_max = 0;
	cr_expect_null(sk_stack_new(&cfg, &plain, NULL, NULL), "so does tx_csum_offload");
	const struct sk_link_ops both = {.xmit = no_xmit, .xmit_offload = no_xmit_offload};
	cfg.tx_csum_offload = false;
	cfg.tso_max = SK_TSO_MAX;
	cr_expect_null(sk_stack_new(&cfg, &both, NULL, NULL),
	               "super-frames need the checksum offload");
	cfg.tso_max = SK_TSO_MAX + 1;
	cfg.tx_csum_offload = true;
	cr_expect_null(sk_stack_new(&cfg, &both, NULL, NULL), "above 64 KiB of IPv4");
	cfg.tso_max = SK_TSO_MAX;
	struct sk_stack *st = sk_stack_new(&cfg, &both, NULL, NULL);
	cr_expect_not_null(st, "a device that takes both");
	sk_stack_free(st);
}
