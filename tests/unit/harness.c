/* Segment-level test harness: see harness.h. */
#include "harness.h"

#include <assert.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/arp.h"
#include "../../core/byteorder.h"
#include "../../core/ethernet.h"
#include "../../core/ipv4.h"
#include "../../core/link.h"
#include "../../netdev/netdev.h"

const uint8_t H_OUR_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
const uint8_t H_PEER_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

static int capture_xmit(void *ctx, const uint8_t *frame, size_t len)
{
	struct harness *h = ctx;

	cr_assert(h->nframes < H_MAX_FRAMES, "harness: more than %d frames emitted", H_MAX_FRAMES);
	cr_assert(len <= H_FRAME_MAX);
	uint8_t *copy = malloc(len);
	cr_assert(copy);
	memcpy(copy, frame, len);
	h->frames[h->nframes++] = (struct h_frame){copy, len, {0}};
	return h->xmit_error ? -h->xmit_error : 0;
}

/* The device gathers a super-frame's payload from off->frags: so does the
 * capture, which keeps the frame whole (frags cleared). */
static int capture_xmit_offload(void *ctx, const uint8_t *frame, size_t len,
                                const struct sk_tx_offload *off)
{
	struct harness *h = ctx;
	static uint8_t whole[H_FRAME_MAX];
	size_t n = netdev_gather(whole, sizeof(whole), frame, len, off);

	cr_assert_leq(n, sizeof(whole));
	int rc = capture_xmit(ctx, whole, n);
	struct h_frame *f = &h->frames[h->nframes - 1];

	f->off = *off;
	f->off.nfrags = 0;
	return rc;
}

static void capture_wake(void *ctx, int sock)
{
	struct harness *h = ctx;

	if (sock >= 0 && sock < 64)
		h->wakes[sock]++;
}

static void capture_state(void *ctx, const struct sk_state_change *ev)
{
	struct harness *h = ctx;

	cr_assert(h->nevents < H_MAX_EVENTS);
	h->events[h->nevents++] = *ev;
}

static void capture_log(void *ctx, enum sk_log_level level, const char *msg)
{
	(void)ctx;
	if (level <= SK_LOG_WARN)
		cr_log_info("stack log %d: %s", level, msg);
}

/* The peer announces itself with an ARP request for our address: RFC 826's
 * merge rule puts it in our cache, and the reply we emit is discarded. */
static void teach_peer_mac(struct harness *h)
{
	uint8_t frame[SK_ETH_HLEN + SK_ARP_LEN];
	struct sk_eth_repr eth = {.ethertype = SK_ETHERTYPE_ARP};
	memcpy(eth.dst, sk_eth_broadcast, 6);
	memcpy(eth.src, H_PEER_MAC, 6);
	sk_eth_emit(&eth, frame);
	struct sk_arp_repr arp = {.op = SK_ARP_REQUEST, .spa = H_PEER_IP, .tpa = H_OUR_IP};
	memcpy(arp.sha, H_PEER_MAC, 6);
	sk_arp_emit(&arp, frame + SK_ETH_HLEN);
	h_input(h, frame, sizeof(frame), 0);
	h_clear(h);
}

struct harness *h_new(void (*cfg_tweak)(struct sk_config *cfg))
{
	struct harness *h = calloc(1, sizeof(*h));
	cr_assert(h);
	sk_config_defaults(&h->cfg);
	memcpy(h->cfg.mac, H_OUR_MAC, 6);
	h->cfg.addr = H_OUR_IP;
	h->cfg.prefix_len = 24;
	h->cfg.mtu = 1500;
	for (int i = 0; i < 16; i++)
		h->cfg.isn_key[i] = (uint8_t)(i * 7 + 1);
	h->cfg.rng_seed = 42;
	if (cfg_tweak)
		cfg_tweak(&h->cfg);

	const struct sk_link_ops link = {.xmit = capture_xmit,
	                                 .xmit_offload = capture_xmit_offload};
	const struct sk_hooks hooks = {
	    .ctx = h, .wake = capture_wake, .state_change = capture_state, .log = capture_log};
	h->now = SK_SEC(1);
	h->st = sk_stack_new(&h->cfg, &link, h, &hooks);
	cr_assert(h->st, "sk_stack_new failed");
	teach_peer_mac(h);
	return h;
}

void h_free(struct harness *h)
{
	if (!h)
		return;
	h_clear(h);
	sk_stack_free(h->st);
	free(h);
}

void h_advance_to(struct harness *h, sk_time_t t)
{
	cr_assert(t >= h->now, "harness: time cannot go backwards");
	for (;;) {
		sk_time_t d = sk_next_deadline(h->st);
		if (d == SK_TIME_NEVER || d > t)
			break;
		if (d > h->now)
			h->now = d;
		sk_run_timers(h->st, h->now);
		if (h->auto_arp)
			h_answer_arp(h);
	}
	h->now = t;
	sk_run_timers(h->st, h->now);
	if (h->auto_arp)
		h_answer_arp(h);
}

void h_answer_arp(struct harness *h)
{
	bool asked = false;
	size_t keep = 0;

	for (size_t i = 0; i < h->nframes; i++) {
		struct h_frame f = h->frames[i];
		struct sk_eth_repr eth;
		if (sk_eth_parse(f.data, f.len, &eth) == 0 && eth.ethertype == SK_ETHERTYPE_ARP) {
			struct sk_arp_repr arp;
			if (sk_arp_parse(f.data + SK_ETH_HLEN, f.len - SK_ETH_HLEN, &arp) == 0 &&
			    arp.op == SK_ARP_REQUEST && arp.tpa == H_PEER_IP)
				asked = true;
			free(f.data);
			continue;
		}
		h->frames[keep++] = f;
	}
	h->nframes = keep;
	if (!asked)
		return;
	uint8_t frame[SK_ETH_HLEN + SK_ARP_LEN];
	struct sk_eth_repr eth = {.ethertype = SK_ETHERTYPE_ARP};
	memcpy(eth.dst, H_OUR_MAC, 6);
	memcpy(eth.src, H_PEER_MAC, 6);
	sk_eth_emit(&eth, frame);
	struct sk_arp_repr arp = {.op = SK_ARP_REPLY, .spa = H_PEER_IP, .tpa = H_OUR_IP};
	memcpy(arp.sha, H_PEER_MAC, 6);
	memcpy(arp.tha, H_OUR_MAC, 6);
	sk_arp_emit(&arp, frame + SK_ETH_HLEN);
	h_input(h, frame, sizeof(frame), 0);
}

void h_advance(struct harness *h, sk_time_t dt)
{
	h_advance_to(h, h->now + dt);
}

void h_input(struct harness *h, const uint8_t *frame, size_t len, unsigned rx_flags)
{
	sk_input(h->st, frame, len, rx_flags, h->now);
}

struct sk_tcp_repr h_seg(uint8_t flags, uint32_t seq, uint32_t ack)
{
	return (struct sk_tcp_repr){
	    .src_port = H_PEER_PORT,
	    .dst_port = H_OUR_PORT,
	    .seq = seq,
	    .ack = ack,
	    .flags = flags,
	    .window = 64240,
	    .mss = -1,
	    .wscale = -1,
	};
}

struct sk_tcp_repr h_data(uint32_t seq, uint32_t ack, const void *p, size_t n)
{
	struct sk_tcp_repr r = h_seg(SK_TCP_ACK | SK_TCP_PSH, seq, ack);

	r.payload = p;
	r.payload_len = n;
	return r;
}

size_t h_build(uint8_t *frame, uint32_t src_ip, uint32_t dst_ip, const struct sk_tcp_repr *seg)
{
	struct sk_eth_repr eth = {.ethertype = SK_ETHERTYPE_IPV4};
	memcpy(eth.dst, H_OUR_MAC, 6);
	memcpy(eth.src, H_PEER_MAC, 6);
	sk_eth_emit(&eth, frame);

	uint8_t *tcp = frame + SK_ETH_HLEN + SK_IPV4_HLEN;
	size_t hlen = sk_tcp_emit(seg, tcp);
	if (seg->payload_len)
		memcpy(tcp + hlen, seg->payload, seg->payload_len);
	size_t l4 = hlen + seg->payload_len;
	sk_tcp_set_checksum(tcp, l4, src_ip, dst_ip);

	struct sk_ipv4_repr ip = {
	    .src = src_ip,
	    .dst = dst_ip,
	    .proto = SK_IPPROTO_TCP,
	    .ttl = 64,
	    .df = true,
	    .payload_len = (uint16_t)l4,
	};
	sk_ipv4_emit(&ip, frame + SK_ETH_HLEN);
	return SK_ETH_HLEN + SK_IPV4_HLEN + l4;
}

void h_send_from(struct harness *h, uint32_t src_ip, struct sk_tcp_repr seg)
{
	static_assert(H_FRAME_MAX >= SK_ETH_HLEN + 65535, "room for a GSO super-frame");
	uint8_t *frame = malloc(H_FRAME_MAX);
	cr_assert(frame);
	cr_assert(seg.payload_len <= H_FRAME_MAX - SK_ETH_HLEN - SK_IPV4_HLEN - SK_TCP_MAX_HLEN);
	size_t len = h_build(frame, src_ip, H_OUR_IP, &seg);
	h_input(h, frame, len, 0);
	free(frame);
}

void h_send(struct harness *h, struct sk_tcp_repr seg)
{
	h_send_from(h, H_PEER_IP, seg);
}

size_t h_pending(const struct harness *h)
{
	return h->nframes;
}

struct h_frame h_pop_frame(struct harness *h)
{
	cr_assert(h->nframes > 0, "expected a frame from the stack, got none");
	struct h_frame f = h->frames[0];
	memmove(h->frames, h->frames + 1, (h->nframes - 1) * sizeof(h->frames[0]));
	h->nframes--;
	return f;
}

static char *flags_str(uint8_t f, char *buf)
{
	static const char names[] = "FSRPAUEC";
	int n = 0;
	for (int i = 0; i < 8; i++)
		if (f & (1u << i))
			buf[n++] = names[i];
	buf[n] = 0;
	return buf;
}

/* The TCP header length a segment states (data offset). */
static size_t tcp_doff(const uint8_t *seg)
{
	return (size_t)(seg[12] >> 4) * 4;
}

struct h_tcp h_expect_tcp(struct harness *h, uint8_t flags)
{
	struct h_frame f = h_pop_frame(h);
	struct h_tcp out;
	memset(&out.r, 0, sizeof(out.r));

	struct sk_eth_repr eth;
	cr_assert_eq(sk_eth_parse(f.data, f.len, &eth), 0);
	cr_assert_eq(eth.ethertype, SK_ETHERTYPE_IPV4, "expected IPv4, got ethertype %#x",
	             eth.ethertype);
	cr_assert_arr_eq(eth.dst, H_PEER_MAC, 6, "frame not addressed to the peer's MAC");
	cr_assert_arr_eq(eth.src, H_OUR_MAC, 6);

	struct sk_ipv4_repr ip;
	const uint8_t *pkt = f.data + SK_ETH_HLEN;
	cr_assert_eq(sk_ipv4_parse(pkt, f.len - SK_ETH_HLEN, true, &ip), 0, "bad IPv4 header");
	cr_assert_eq(ip.proto, SK_IPPROTO_TCP);
	cr_assert(ip.df, "DF must be set on everything we send");
	if (f.off.gso_size) {
		cr_assert(h->cfg.tso_max, "a super-frame from a stack without tso_max");
		cr_assert_eq(f.off.hdr_len, f.len - ip.payload_len + tcp_doff(pkt + ip.hdr_len),
		             "hdr_len is not the Ethernet + IPv4 + TCP headers");
		cr_assert_leq(ip.hdr_len + tcp_doff(pkt + ip.hdr_len) + f.off.gso_size, h->cfg.mtu,
		              "segments cut from the super-frame exceed the MTU");
	} else {
		cr_assert_leq(ip.hdr_len + ip.payload_len, h->cfg.mtu,
		              "packet larger than the MTU");
	}
	if (f.off.csum_start) {
		cr_assert(h->cfg.tx_csum_offload,
		          "checksum left to a device that does not offload");
		cr_assert_eq(f.off.csum_start, SK_ETH_HLEN + ip.hdr_len);
		cr_assert_eq(f.off.csum_offset, SK_TCP_CSUM_OFFSET);
		sk_tx_finish_csum(f.data, f.len, &f.off); /* what the device does */
	}

	const uint8_t *seg = pkt + ip.hdr_len;
	cr_assert(sk_tcp_checksum_ok(seg, ip.payload_len, ip.src, ip.dst), "bad TCP checksum");
	cr_assert_eq(sk_tcp_parse(seg, ip.payload_len, &out.r), 0, "unparsable TCP segment");
	char want[9], got[9];
	cr_assert_eq(out.r.flags, flags,
	             "expected TCP flags [%s], got [%s] (seq %u ack %u len %zu)",
	             flags_str(flags, want), flags_str(out.r.flags, got), out.r.seq, out.r.ack,
	             out.r.payload_len);
	memcpy(out.payload, out.r.payload, out.r.payload_len);
	out.r.payload = out.payload;
	out.src = ip.src;
	out.dst = ip.dst;
	out.off = f.off;
	out.frame_len = f.len;
	free(f.data);
	return out;
}

void h_expect_nothing(struct harness *h)
{
	if (h->nframes == 0)
		return;
	struct h_frame f = h->frames[0];
	char got[9] = "?";
	struct sk_ipv4_repr ip;
	struct sk_tcp_repr r;
	if (f.len > SK_ETH_HLEN &&
	    sk_ipv4_parse(f.data + SK_ETH_HLEN, f.len - SK_ETH_HLEN, false, &ip) == 0 &&
	    ip.proto == SK_IPPROTO_TCP &&
	    sk_tcp_parse(f.data + SK_ETH_HLEN + ip.hdr_len, ip.payload_len, &r) == 0)
		flags_str(r.flags, got);
	cr_assert_fail("expected no frame, but the stack emitted %zu (first: %zu bytes, TCP [%s])",
	               h->nframes, f.len, got);
}

void h_clear(struct harness *h)
{
	for (size_t i = 0; i < h->nframes; i++)
		free(h->frames[i].data);
	h->nframes = 0;
}

int h_connect(struct harness *h)
{
	int s = sk_socket(h->st);
	cr_assert_geq(s, 0);
	cr_assert_eq(sk_bind(h->st, s, 0, H_OUR_PORT), 0);
	cr_assert_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	cr_assert_eq(sk_sock_state(h->st, s), SK_TCP_SYN_SENT);
	return s;
}

int h_established(struct harness *h, uint32_t peer_isn, uint32_t *our_isn)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	struct sk_tcp_repr synack = h_seg(SK_TCP_SYN | SK_TCP_ACK, peer_isn, syn.r.seq + 1);
	synack.mss = 1460;
	h_send(h, synack);
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_assert_eq(ack.r.seq, syn.r.seq + 1);
	cr_assert_eq(ack.r.ack, peer_isn + 1);
	cr_assert_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	h_expect_nothing(h);
	if (our_isn)
		*our_isn = syn.r.seq;
	return s;
}

struct harness *h_new_established(uint32_t peer_isn, uint32_t *our_isn, int *sock)
{
	struct harness *h = h_new(NULL);

	h->auto_arp = true;
	*sock = h_established(h, peer_isn, our_isn);
	return h;
}

int h_listen(struct harness *h, int backlog)
{
	int s = sk_socket(h->st);
	cr_assert_geq(s, 0);
	cr_assert_eq(sk_bind(h->st, s, 0, H_OUR_PORT), 0);
	cr_assert_eq(sk_listen(h->st, s, backlog, h->now), 0);
	cr_assert_eq(sk_sock_state(h->st, s), SK_TCP_LISTEN);
	return s;
}

const struct sk_state_change *h_last_event(const struct harness *h, int sock)
{
	for (size_t i = h->nevents; i-- > 0;)
		if (h->events[i].sock == sock)
			return &h->events[i];
	return NULL;
}
