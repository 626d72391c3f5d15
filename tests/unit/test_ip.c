/* IPv4 input checks, ICMP and the stack's configuration, through the public
 * API on the harness's capture link (RFC 791, RFC 792, RFC 1122 §3.2). */
#include "l3_frames.h"

#include <stdio.h>

/* ---- frames fed with a checked header field changed ---- */

#define ECHO_FRAME_MAX 128

/* An echo request from the peer to `dst`, with seq 7; returns the length. */
static size_t echo_frame(uint8_t *f, uint32_t dst)
{
	uint8_t m[64];
	size_t n = t_icmp(m, SK_ICMP_ECHO_REQUEST, 0x1234, 7, "synack ping", 11);
	return t_ip_frame(f, H_PEER_MAC, H_PEER_IP, dst, SK_IPPROTO_ICMP, m, n);
}

/* Recompute the IPv4 header checksum after a test changed a field. */
static void fix_ip_csum(uint8_t *f)
{
	uint8_t *ip = f + SK_ETH_HLEN;
	size_t hlen = (size_t)(ip[0] & 0x0f) * 4;
	sk_wr16(ip + 10, 0);
	sk_wr16(ip + 10, sk_csum_finish(sk_csum_add(0, ip, hlen)));
}

Test(ipv4_input, echo_request_answered_with_exact_bytes)
{
	struct harness *h = h_new(NULL);
	uint8_t f[ECHO_FRAME_MAX];
	h_input(h, f, echo_frame(f, H_OUR_IP), 0);

	uint8_t want[SK_ETH_HLEN + SK_IPV4_HLEN + SK_ICMP_HLEN + 11] = {
	    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, /* to the peer */
	    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* from us */
	    0x08, 0x00,                         /* IPv4 */
	    0x45, 0x00, 0x00, 0x27,             /* v4, IHL 5, total 39 */
	    0x00, 0x00, 0x40, 0x00,             /* id (copied below), DF */
	    0x40, 0x01, 0x00, 0x00,             /* TTL 64, ICMP, csum below */
	    0x0a, 0x4d, 0x00, 0x01,             /* from 10.77.0.1 */
	    0x0a, 0x4d, 0x00, 0x02,             /* to 10.77.0.2 */
	    0x00, 0x00, 0x00, 0x00,             /* echo reply, csum below */
	    0x12, 0x34, 0x00, 0x07,             /* the request's id and seq */
	    's',  'y',  'n',  'a',  'c',  'k',  ' ', 'p', 'i', 'n', 'g',
	};
	struct h_frame out = h_pop_frame(h);
	cr_assert_eq(out.len, sizeof(want));
	/* The identification is ours to choose (RFC 6864): take it as sent,
	 * then every other byte, checksums included, must match. */
	memcpy(want + 18, out.data + 18, 2);
	fix_ip_csum(want);
	uint8_t *icmp = want + SK_ETH_HLEN + SK_IPV4_HLEN;
	sk_wr16(icmp + 2, sk_csum_finish(sk_csum_add(0, icmp, SK_ICMP_HLEN + 11)));
	cr_assert_arr_eq(out.data, want, sizeof(want));
	free(out.data);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->icmp_echo_replies, 1);
	h_free(h);
}

Test(ipv4_input, trailing_link_padding_not_echoed)
{
	struct harness *h = h_new(NULL);
	uint8_t m[16], f[60] = {0};
	size_t n = t_icmp(m, SK_ICMP_ECHO_REQUEST, 1, 9, "ab", 2);
	size_t len = t_ip_frame(f, H_PEER_MAC, H_PEER_IP, H_OUR_IP, SK_IPPROTO_ICMP, m, n);
	cr_assert_lt(len, sizeof(f));
	memset(f + len, 0xee, sizeof(f) - len); /* padding that is not zero */
	h_input(h, f, sizeof(f), 0);

	struct h_frame out = h_pop_frame(h);
	cr_assert_eq(out.len, len, "the reply is as long as the request, not the frame");
	cr_assert_eq(out.data[len - 2], 'a');
	cr_assert_eq(out.data[len - 1], 'b');
	free(out.data);
	h_free(h);
}

Test(ipv4_input, echo_with_bad_icmp_checksum_dropped_unless_trusted)
{
	struct harness *h = h_new(NULL);
	uint8_t f[ECHO_FRAME_MAX];
	size_t len = echo_frame(f, H_OUR_IP);
	f[len - 1] ^= 0x20;
	h_input(h, f, len, 0);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->icmp_drop, 1);

	/* SK_RX_CSUM_TRUSTED: the link vouches for the L4 checksum. */
	h_input(h, f, len, SK_RX_CSUM_TRUSTED);
	t_expect_echo_reply(h, H_PEER_MAC, H_PEER_IP, 7);
	h_free(h);
}

Test(ipv4_input, bad_header_checksum_dropped_even_when_l4_trusted)
{
	struct harness *h = h_new(NULL);
	uint8_t f[ECHO_FRAME_MAX];
	size_t len = echo_frame(f, H_OUR_IP);
	f[SK_ETH_HLEN + 8] = 63; /* TTL changed, checksum not */
	h_input(h, f, len, SK_RX_CSUM_TRUSTED);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->ip_drop_bad_csum, 1);
	cr_assert_eq(sk_get_stats(h->st)->icmp_rx, 0);
	h_free(h);
}

/* Feed the echo frame with byte `off` of the IP header set to `val` (and
 * the header checksum fixed), expect silence and one more bad header. */
static void expect_drop(size_t off, uint8_t val, size_t trim, bool truncated)
{
	struct harness *h = h_new(NULL);
	uint8_t f[ECHO_FRAME_MAX];
	size_t len = echo_frame(f, H_OUR_IP);
	f[SK_ETH_HLEN + off] = val;
	fix_ip_csum(f);
	h_input(h, f, len - trim, 0);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->ip_drop_bad_header, !truncated);
	cr_assert_eq(sk_get_stats(h->st)->ip_drop_truncated, truncated);
	cr_assert_eq(sk_get_stats(h->st)->icmp_rx, 0);
	h_free(h);
}

static void expect_bad_header(size_t off, uint8_t val, size_t trim)
{
	expect_drop(off, val, trim, false);
}

Test(ipv4_input, bad_version_dropped)
{
	expect_bad_header(0, 0x65, 0);
}

Test(ipv4_input, ihl_below_five_dropped)
{
	expect_bad_header(0, 0x44, 0);
}

Test(ipv4_input, total_length_beyond_frame_dropped)
{
	/* The frame lost its last byte on the way; the header still claims
	 * 39 bytes: counted as truncated. */
	expect_drop(8, 64, 1, true);
}

Test(ipv4_input, total_length_below_header_dropped)
{
	expect_bad_header(3, 19, 0);
}

Test(ipv4_input, martian_sources_dropped)
{
	expect_bad_header(12, 127, 0); /* 127.77.0.2 */
	expect_bad_header(12, 224, 0); /* multicast */
	expect_bad_header(15, 1, 0);   /* our own address */
}

Test(ipv4_input, fragments_dropped_and_counted)
{
	struct harness *h = h_new(NULL);
	uint8_t f[ECHO_FRAME_MAX];
	size_t len = echo_frame(f, H_OUR_IP);
	f[SK_ETH_HLEN + 6] = 0x20; /* MF, offset 0: a first fragment */
	fix_ip_csum(f);
	h_input(h, f, len, 0);
	f[SK_ETH_HLEN + 6] = 0x00;
	f[SK_ETH_HLEN + 7] = 0xb9; /* offset 185 * 8: a last fragment */
	fix_ip_csum(f);
	h_input(h, f, len, 0);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->ip_drop_fragment, 2);
	cr_assert_eq(sk_get_stats(h->st)->icmp_rx, 0);
	h_free(h);
}

Test(ipv4_input, other_destination_address_dropped)
{
	struct harness *h = h_new(NULL);
	uint8_t f[ECHO_FRAME_MAX];
	h_input(h, f, echo_frame(f, 0x0a4d0009u), 0);
	h_input(h, f, echo_frame(f, 0x0a4d00ffu), 0); /* subnet broadcast */
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->ip_drop_not_ours, 2);
	h_free(h);
}

Test(ethernet_input, frames_for_other_macs_dropped_broadcast_accepted)
{
	struct harness *h = h_new(NULL);
	uint8_t f[ECHO_FRAME_MAX];
	size_t len = echo_frame(f, H_OUR_IP);
	f[5] = 0x09; /* another host's MAC */
	h_input(h, f, len, 0);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->rx_drop_not_ours, 1);

	memcpy(f, sk_eth_broadcast, 6);
	h_input(h, f, len, 0);
	t_expect_echo_reply(h, H_PEER_MAC, H_PEER_IP, 7);
	h_free(h);
}

Test(ethernet_input, short_frames_and_unknown_types_counted)
{
	struct harness *h = h_new(NULL);
	uint8_t f[ECHO_FRAME_MAX];
	size_t len = echo_frame(f, H_OUR_IP);
	h_input(h, f, SK_ETH_HLEN - 1, 0);
	h_input(h, f, SK_ETH_HLEN + 10, 0); /* IPv4 type, half a header */
	f[12] = 0x86;                       /* IPv6 */
	f[13] = 0xdd;
	h_input(h, f, len, 0);
	h_expect_nothing(h);
	const struct sk_stats *s = sk_get_stats(h->st);
	cr_assert_eq(s->rx_drop_short, 1);
	cr_assert_eq(s->ip_drop_bad_header, 1);
	cr_assert_eq(s->rx_drop_ethertype, 1);
	cr_assert_eq(s->rx_frames, 4); /* the harness's ARP, and these three */
	h_free(h);
}

Test(ipv4_input, unknown_protocol_counted)
{
	struct harness *h = h_new(NULL);
	uint8_t udp[8] = {0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00};
	uint8_t f[ECHO_FRAME_MAX];
	h_input(h, f, t_ip_frame(f, H_PEER_MAC, H_PEER_IP, H_OUR_IP, SK_IPPROTO_UDP, udp, 8), 0);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->ip_drop_proto, 1);
	h_free(h);
}

Test(ipv4_input, header_with_options_accepted)
{
	struct harness *h = h_new(NULL);
	uint8_t f[ECHO_FRAME_MAX];
	size_t len = echo_frame(f, H_OUR_IP);
	uint8_t *ip = f + SK_ETH_HLEN;
	/* Insert one word of NOP options between header and payload. */
	memmove(ip + 24, ip + 20, len - SK_ETH_HLEN - 20);
	memset(ip + 20, 1, 4);
	ip[0] = 0x46;
	sk_wr16(ip + 2, (uint16_t)(len - SK_ETH_HLEN + 4));
	fix_ip_csum(f);
	h_input(h, f, len + 4, 0);
	t_expect_echo_reply(h, H_PEER_MAC, H_PEER_IP, 7);
	h_free(h);
}

/* ---- the hand-off to TCP ---- */

#define GSO_PAYLOAD 30000

Test(ipv4_input, gso_super_frame_beyond_the_mtu_reaches_tcp)
{
	/* A veth peer with GSO hands us one IPv4 packet of 30 KB in one
	 * frame: valid, just larger than the MTU. */
	struct harness *h = h_new(NULL);
	uint32_t our_isn;
	int s = h_established(h, 1000, &our_isn);
	static uint8_t data[GSO_PAYLOAD];
	memset(data, 'g', sizeof(data));
	struct sk_tcp_repr seg = h_seg(SK_TCP_ACK | SK_TCP_PSH, 1001, our_isn + 1);
	seg.payload = data;
	seg.payload_len = sizeof(data);
	h_send(h, seg);
	cr_assert_eq(sk_rx_queued(h->st, s), GSO_PAYLOAD);
	cr_assert_eq(sk_get_stats(h->st)->ip_drop_bad_header, 0);
	h_free(h);
}

Test(ipv4_input, unfilled_tcp_checksum_accepted_only_when_trusted)
{
	/* AF_PACKET's TP_STATUS_CSUMNOTREADY: a local peer left the TCP
	 * checksum for the NIC to fill. */
	struct harness *h = h_new(NULL);
	uint32_t our_isn;
	int s = h_established(h, 1000, &our_isn);
	struct sk_tcp_repr seg = h_seg(SK_TCP_ACK | SK_TCP_PSH, 1001, our_isn + 1);
	seg.payload = (const uint8_t *)"abcd";
	seg.payload_len = 4;
	static uint8_t f[H_FRAME_MAX];
	size_t len = h_build(f, H_PEER_IP, H_OUR_IP, &seg);
	f[SK_ETH_HLEN + SK_IPV4_HLEN + 16] ^= 0x5a; /* not the right checksum */

	h_input(h, f, len, 0);
	cr_assert_eq(sk_rx_queued(h->st, s), 0);
	cr_assert_eq(sk_get_stats(h->st)->tcp_drop_bad_csum, 1);
	h_input(h, f, len, SK_RX_CSUM_TRUSTED);
	cr_assert_eq(sk_rx_queued(h->st, s), 4);
	h_free(h);
}

/* ---- ICMP ---- */

static void mtu_1500(struct sk_config *cfg)
{
	cfg->mtu = 1500;
}

Test(icmp, echo_too_large_for_our_mtu_unanswered)
{
	/* A 3000-byte echo in one frame (a peer with a larger MTU, or GSO):
	 * IP accepts it, but we never fragment, so no reply fits. */
	struct harness *h = h_new(mtu_1500);
	static uint8_t data[3000], m[3100], f[3200];
	size_t n = t_icmp(m, SK_ICMP_ECHO_REQUEST, 1, 1, data, sizeof(data));
	h_input(h, f, t_ip_frame(f, H_PEER_MAC, H_PEER_IP, H_OUR_IP, SK_IPPROTO_ICMP, m, n), 0);
	h_expect_nothing(h);
	const struct sk_stats *s = sk_get_stats(h->st);
	cr_assert_eq(s->icmp_rx, 1);
	cr_assert_eq(s->icmp_drop, 1);
	cr_assert_eq(s->ip_drop_bad_header, 0);

	/* The largest that fits is answered: 1500 - 20 bytes of ICMP. */
	n = t_icmp(m, SK_ICMP_ECHO_REQUEST, 1, 2, data, 1500 - 20 - SK_ICMP_HLEN);
	h_input(h, f, t_ip_frame(f, H_PEER_MAC, H_PEER_IP, H_OUR_IP, SK_IPPROTO_ICMP, m, n), 0);
	t_expect_echo_reply(h, H_PEER_MAC, H_PEER_IP, 2);
	h_free(h);
}

Test(icmp, truncated_message_and_echo_replies_dropped)
{
	struct harness *h = h_new(NULL);
	uint8_t m[16], f[ECHO_FRAME_MAX];
	h_input(h, f, t_ip_frame(f, H_PEER_MAC, H_PEER_IP, H_OUR_IP, SK_IPPROTO_ICMP, m, 4), 0);
	size_t n = t_icmp(m, SK_ICMP_ECHO_REPLY, 1, 1, "x", 1);
	h_input(h, f, t_ip_frame(f, H_PEER_MAC, H_PEER_IP, H_OUR_IP, SK_IPPROTO_ICMP, m, n), 0);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->icmp_drop, 2);
	h_free(h);
}

/* A "fragmentation needed" from a router quoting `quote_len` bytes of
 * a datagram we sent (IP header + TCP ports and sequence) with `proto`. */
static void feed_frag_needed(struct harness *h, uint8_t proto, size_t quote_len)
{
	t_frag_needed(h, proto, quote_len, 12345, 1400);
}

Test(icmp, destination_unreachable_quoting_tcp_passed_on)
{
	struct harness *h = h_new(NULL);
	feed_frag_needed(h, SK_IPPROTO_TCP, SK_IPV4_HLEN + 8);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->icmp_rx, 1);
	cr_assert_eq(sk_get_stats(h->st)->icmp_drop, 0);
	h_free(h);
}

Test(icmp, destination_unreachable_with_short_or_foreign_quote_dropped)
{
	struct harness *h = h_new(NULL);
	feed_frag_needed(h, SK_IPPROTO_TCP, SK_IPV4_HLEN + 7); /* RFC 792 wants 8 */
	feed_frag_needed(h, SK_IPPROTO_UDP, SK_IPV4_HLEN + 8);
	feed_frag_needed(h, SK_IPPROTO_TCP, 12);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->icmp_drop, 3);
	h_free(h);
}

/* ---- routing ---- */

Test(routing, off_link_without_gateway_unreachable)
{
	struct harness *h = h_new(NULL);
	t_ping_from(h, H_PEER_MAC, 0x08080808u, 1);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->icmp_drop, 1);
	h_free(h);
}

static void with_gateway(struct sk_config *cfg)
{
	cfg->gateway = 0x0a4d00feu; /* 10.77.0.254 */
}

Test(routing, off_link_goes_through_the_gateway)
{
	struct harness *h = h_new(with_gateway);
	const uint8_t gw_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0xfe};
	t_ping_from(h, gw_mac, 0x08080808u, 1);
	t_expect_arp(h, SK_ARP_REQUEST, sk_eth_broadcast, 0x0a4d00feu);
	t_arp_reply_from(h, gw_mac, 0x0a4d00feu);
	t_expect_echo_reply(h, gw_mac, 0x08080808u, 1);

	/* On-link destinations still go direct. */
	t_ping_from(h, H_PEER_MAC, H_PEER_IP, 2);
	t_expect_echo_reply(h, H_PEER_MAC, H_PEER_IP, 2);
	h_free(h);
}

/* ---- configuration ---- */

Test(config, defaults_as_documented)
{
	struct sk_config c;
	memset(&c, 0xa5, sizeof(c));
	sk_config_defaults(&c);
	cr_assert_eq(c.mtu, 1500);
	cr_assert_eq(c.msl_ms, 30000);
	cr_assert_eq(c.fin_timeout_ms, 60000);
	cr_assert_eq(c.syn_retries, 6);
	cr_assert_eq(c.max_sockets, 4096);
	cr_assert_eq(c.rcvbuf, 256 * 1024);
	cr_assert_eq(c.sndbuf, 256 * 1024);
	cr_assert_eq(c.addr, 0);
	cr_assert_eq(c.gateway, 0);
	cr_assert_arr_eq(c.mac, T_ZERO_MAC, 6);
}

static char last_log[256];

static int drop_xmit(void *ctx, const uint8_t *frame, size_t len)
{
	(void)ctx;
	(void)frame;
	(void)len;
	return 0;
}

static void keep_log(void *ctx, enum sk_log_level level, const char *msg)
{
	(void)ctx;
	cr_assert_eq(level, SK_LOG_ERROR);
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

/* sk_stack_new on the harness's valid config with one change: NULL, and
 * a log line naming the problem. */
static void expect_rejected(void (*tweak)(struct sk_config *), const char *needle)
{
	struct sk_config c;
	sk_config_defaults(&c);
	memcpy(c.mac, H_OUR_MAC, 6);
	c.addr = H_OUR_IP;
	c.prefix_len = 24;
	tweak(&c);
	const struct sk_link_ops link = {.xmit = drop_xmit};
	const struct sk_hooks hooks = {.log = keep_log};
	last_log[0] = 0;
	cr_assert_null(sk_stack_new(&c, &link, NULL, &hooks));
	cr_assert(strstr(last_log, needle), "log \"%s\" does not mention \"%s\"", last_log, needle);
}

static void prefix_0(struct sk_config *c)
{
	c->prefix_len = 0;
}
static void prefix_33(struct sk_config *c)
{
	c->prefix_len = 33;
}
static void mtu_67(struct sk_config *c)
{
	c->mtu = 67;
}
static void mtu_9001(struct sk_config *c)
{
	c->mtu = 9001;
}
static void addr_0(struct sk_config *c)
{
	c->addr = 0;
}
static void addr_loopback(struct sk_config *c)
{
	c->addr = 0x7f000001u;
}
static void no_sockets(struct sk_config *c)
{
	c->max_sockets = 0;
}
static void mac_zero(struct sk_config *c)
{
	memset(c->mac, 0, 6);
}
static void mac_multicast(struct sk_config *c)
{
	c->mac[0] = 0x01;
}
static void gateway_off_link(struct sk_config *c)
{
	c->gateway = 0x0a4e0001u;
}

Test(config, invalid_settings_rejected_with_a_reason)
{
	expect_rejected(prefix_0, "prefix");
	expect_rejected(prefix_33, "prefix");
	expect_rejected(mtu_67, "MTU");
	expect_rejected(mtu_9001, "MTU");
	expect_rejected(addr_0, "address");
	expect_rejected(addr_loopback, "address");
	expect_rejected(no_sockets, "max_sockets");
	expect_rejected(mac_zero, "MAC");
	expect_rejected(mac_multicast, "MAC");
	expect_rejected(gateway_off_link, "gateway");
}

static void mtu_extremes_low(struct sk_config *c)
{
	c->mtu = 68;
}

Test(config, smallest_mtu_accepted)
{
	struct harness *h = h_new(mtu_extremes_low);
	/* 68 - 20 - 8 = 40 bytes of echo data fit; 41 do not. */
	static uint8_t data[41], m[64], f[128];
	size_t n = t_icmp(m, SK_ICMP_ECHO_REQUEST, 1, 1, data, 40);
	h_input(h, f, t_ip_frame(f, H_PEER_MAC, H_PEER_IP, H_OUR_IP, SK_IPPROTO_ICMP, m, n), 0);
	t_expect_echo_reply(h, H_PEER_MAC, H_PEER_IP, 1);
	n = t_icmp(m, SK_ICMP_ECHO_REQUEST, 1, 2, data, 41);
	h_input(h, f, t_ip_frame(f, H_PEER_MAC, H_PEER_IP, H_OUR_IP, SK_IPPROTO_ICMP, m, n), 0);
	h_expect_nothing(h);
	h_free(h);
}
