/* Frame builders and checks for the link/IP layer suites (test_arp.c,
 * test_ip.c), on top of the shared harness. */
#ifndef SYNACK_TESTS_L3_FRAMES_H
#define SYNACK_TESTS_L3_FRAMES_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/arp.h"
#include "../../core/byteorder.h"
#include "../../core/checksum.h"
#include "../../core/ethernet.h"
#include "../../core/icmp.h"
#include "../../core/ipv4.h"
#include "harness.h"

/* Another host of the /24, unknown to the stack at start. */
#define T_OTHER_IP 0x0a4d0003u
static const uint8_t T_OTHER_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x03};
static const uint8_t T_ZERO_MAC[6];

static inline size_t t_arp_frame(uint8_t *f, uint16_t op, const uint8_t *eth_dst,
                                 const uint8_t *sha, uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
	struct sk_eth_repr eth = {.ethertype = SK_ETHERTYPE_ARP};
	struct sk_arp_repr arp = {.op = op, .spa = spa, .tpa = tpa};

	memcpy(eth.dst, eth_dst, 6);
	memcpy(eth.src, sha, 6);
	memcpy(arp.sha, sha, 6);
	memcpy(arp.tha, tha, 6);
	sk_eth_emit(&eth, f);
	sk_arp_emit(&arp, f + SK_ETH_HLEN);
	return SK_ETH_HLEN + SK_ARP_LEN;
}

/* `host` (mac, ip) asks who has `tpa`. */
static inline void t_arp_request_from(struct harness *h, const uint8_t *mac, uint32_t ip,
                                      uint32_t tpa)
{
	uint8_t f[SK_ETH_HLEN + SK_ARP_LEN];
	h_input(h, f, t_arp_frame(f, SK_ARP_REQUEST, sk_eth_broadcast, mac, ip, T_ZERO_MAC, tpa),
	        0);
}

/* `host` (mac, ip) answers our request. */
static inline void t_arp_reply_from(struct harness *h, const uint8_t *mac, uint32_t ip)
{
	uint8_t f[SK_ETH_HLEN + SK_ARP_LEN];
	h_input(h, f, t_arp_frame(f, SK_ARP_REPLY, H_OUR_MAC, mac, ip, H_OUR_MAC, H_OUR_IP), 0);
}

/* Ethernet (eth_src -> our MAC) + IPv4 (src -> dst, DF, TTL 64) around
 * `len` bytes of payload. */
static inline size_t t_ip_frame(uint8_t *f, const uint8_t *eth_src, uint32_t src, uint32_t dst,
                                uint8_t proto, const uint8_t *payload, size_t len)
{
	struct sk_eth_repr eth = {.ethertype = SK_ETHERTYPE_IPV4};
	struct sk_ipv4_repr ip = {.src = src,
	                          .dst = dst,
	                          .proto = proto,
	                          .ttl = 64,
	                          .id = 0x4242,
	                          .df = true,
	                          .payload_len = (uint16_t)len};

	memcpy(eth.dst, H_OUR_MAC, 6);
	memcpy(eth.src, eth_src, 6);
	sk_eth_emit(&eth, f);
	sk_ipv4_emit(&ip, f + SK_ETH_HLEN);
	memcpy(f + SK_ETH_HLEN + SK_IPV4_HLEN, payload, len);
	return SK_ETH_HLEN + SK_IPV4_HLEN + len;
}

/* An ICMP message of `type` with id/seq and data, checksummed. */
static inline size_t t_icmp(uint8_t *m, uint8_t type, uint16_t id, uint16_t seq, const void *data,
                            size_t dlen)
{
	m[0] = type;
	m[1] = 0;
	sk_wr16(m + 2, 0);
	sk_wr16(m + 4, id);
	sk_wr16(m + 6, seq);
	memcpy(m + SK_ICMP_HLEN, data, dlen);
	sk_wr16(m + 2, sk_csum_finish(sk_csum_add(0, m, SK_ICMP_HLEN + dlen)));
	return SK_ICMP_HLEN + dlen;
}

/* A router (10.77.0.254) says "fragmentation needed" (RFC 1191 §4: next-hop
 * MTU `mtu`), quoting `quote_len` bytes of a datagram we sent to the peer
 * with `proto`: its IP header and, for TCP, H_OUR_PORT -> H_PEER_PORT at
 * sequence number `seq`. */
static inline void t_frag_needed(struct harness *h, uint8_t proto, size_t quote_len, uint32_t seq,
                                 uint16_t mtu)
{
	uint8_t m[SK_ICMP_HLEN + 60] = {SK_ICMP_DEST_UNREACH, SK_ICMP_FRAG_NEEDED};
	struct sk_ipv4_repr q = {.src = H_OUR_IP,
	                         .dst = H_PEER_IP,
	                         .proto = proto,
	                         .ttl = 1,
	                         .df = true,
	                         .payload_len = 1480};
	uint8_t f[128];

	sk_wr16(m + 6, mtu);
	sk_ipv4_emit(&q, m + SK_ICMP_HLEN);
	uint8_t *tcp = m + SK_ICMP_HLEN + SK_IPV4_HLEN;
	sk_wr16(tcp, H_OUR_PORT);
	sk_wr16(tcp + 2, H_PEER_PORT);
	sk_wr32(tcp + 4, seq);
	size_t len = SK_ICMP_HLEN + quote_len;
	sk_wr16(m + 2, sk_csum_finish(sk_csum_add(0, m, len)));
	h_input(h, f, t_ip_frame(f, H_PEER_MAC, 0x0a4d00feu, H_OUR_IP, SK_IPPROTO_ICMP, m, len), 0);
}

/* An echo request from (mac, ip) to us, with `seq` and a fixed text. */
static inline void t_ping_from(struct harness *h, const uint8_t *mac, uint32_t ip, uint16_t seq)
{
	uint8_t m[64], f[128];
	size_t n = t_icmp(m, SK_ICMP_ECHO_REQUEST, 0x1234, seq, "synack ping", 11);
	h_input(h, f, t_ip_frame(f, mac, ip, H_OUR_IP, SK_IPPROTO_ICMP, m, n), 0);
}

/* Pop a frame and check its Ethernet header: from us to eth_dst, of
 * `ethertype`. */
static inline struct h_frame t_pop_eth(struct harness *h, uint16_t ethertype,
                                       const uint8_t *eth_dst)
{
	struct h_frame f = h_pop_frame(h);
	struct sk_eth_repr eth;

	cr_assert_eq(sk_eth_parse(f.data, f.len, &eth), 0);
	cr_assert_eq(eth.ethertype, ethertype, "expected ethertype %#x, got %#x", ethertype,
	             eth.ethertype);
	cr_assert_arr_eq(eth.dst, eth_dst, 6);
	cr_assert_arr_eq(eth.src, H_OUR_MAC, 6);
	return f;
}

/* Pop a frame and check it is an ARP packet of `op` for `tpa`, sent to
 * eth_dst from us. */
static inline void t_expect_arp(struct harness *h, uint16_t op, const uint8_t *eth_dst,
                                uint32_t tpa)
{
	struct h_frame f = t_pop_eth(h, SK_ETHERTYPE_ARP, eth_dst);
	struct sk_arp_repr arp;

	cr_assert_eq(sk_arp_parse(f.data + SK_ETH_HLEN, f.len - SK_ETH_HLEN, &arp), 0);
	cr_assert_eq(arp.op, op);
	cr_assert_eq(arp.tpa, tpa, "ARP for %#x, expected %#x", arp.tpa, tpa);
	cr_assert_eq(arp.spa, H_OUR_IP);
	cr_assert_arr_eq(arp.sha, H_OUR_MAC, 6);
	free(f.data);
}

/* Pop a frame and check it is our echo reply to (eth_dst, dst) with `seq`. */
static inline void t_expect_echo_reply(struct harness *h, const uint8_t *eth_dst, uint32_t dst,
                                       uint16_t seq)
{
	struct h_frame f = t_pop_eth(h, SK_ETHERTYPE_IPV4, eth_dst);
	struct sk_ipv4_repr ip;

	cr_assert_eq(sk_ipv4_parse(f.data + SK_ETH_HLEN, f.len - SK_ETH_HLEN, true, &ip), 0);
	cr_assert_eq(ip.dst, dst);
	cr_assert_eq(ip.proto, SK_IPPROTO_ICMP);
	const uint8_t *m = f.data + SK_ETH_HLEN + ip.hdr_len;
	cr_assert_eq(m[0], SK_ICMP_ECHO_REPLY);
	cr_assert_eq(sk_rd16(m + 6), seq);
	free(f.data);
}

#endif
