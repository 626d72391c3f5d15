/* Transmit path of the IPv4 layer: route (on-link or gateway), header,
 * and the hand-off to ARP, which puts the frame on the link. */
#include <errno.h>
#include <string.h>

#include "arp_cache.h"
#include "checksum.h"
#include "link.h"
#include "stack_impl.h"

#define IP_TTL 64 /* RFC 1700 / Linux ip_default_ttl */

uint32_t sk_ip_next_hop(const struct sk_stack *st, uint32_t dst)
{
	if (dst == st->cfg.addr || sk_ipv4_is_martian(dst))
		return 0;
	if (sk_ipv4_same_subnet(dst, st->cfg.addr, st->cfg.prefix_len))
		return dst;
	return st->cfg.gateway;
}

bool sk_ip_route_ok(const struct sk_stack *st, uint32_t dst)
{
	return sk_loop_is_ours(st, dst) || sk_ip_next_hop(st, dst) != 0;
}

bool sk_ip_tx_direct(struct sk_stack *st, uint32_t dst)
{
	uint32_t hop = sk_ip_next_hop(st, dst);

	return sk_loop_is_ours(st, dst) || (hop && sk_arp_resolved(st, hop));
}

int sk_ip_tx_send(struct sk_stack *st, uint32_t dst, uint8_t proto, size_t l4_len,
                  const struct sk_tx_offload *off, sk_time_t now)
{
	return sk_ip_tx_send_tos(st, dst, proto, l4_len, 0, 0, off, now);
}

int sk_ip_tx_send_tos(struct sk_stack *st, uint32_t dst, uint8_t proto, size_t l4_len, uint8_t tos,
                      uint8_t ttl, const struct sk_tx_offload *off, sk_time_t now)
{
	return sk_ip_tx_send_to(st, dst, proto, l4_len, tos, ttl, off, NULL, now);
}

const uint8_t *sk_rx_sender_mac(const struct sk_stack *st, uint32_t addr)
{
	if (!st->rx.mac || st->rx.ip_src != addr || sk_ip_next_hop(st, addr) != addr ||
	    !sk_eth_is_unicast(st->rx.mac) || memcmp(st->rx.mac, st->cfg.mac, SK_ETH_ALEN) == 0)
		return NULL;
	return st->rx.mac;
}

int sk_ip_tx_send_to(struct sk_stack *st, uint32_t dst, uint8_t proto, size_t l4_len, uint8_t tos,
                     uint8_t ttl, const struct sk_tx_offload *off, const uint8_t *mac,
                     sk_time_t now)
{
	/* A super-frame is cut to the MTU by the device (gso_size); only its
	 * IPv4 total length must fit 16 bits. */
	size_t max = off && off->gso_size ? SK_IPV4_MAX_LEN : st->cfg.mtu;

	if (l4_len + SK_IPV4_HLEN > max)
		return -EMSGSIZE;
	bool ours = sk_loop_is_ours(st, dst);
	uint32_t hop = sk_ip_next_hop(st, dst);
	if (!hop && !ours)
		return -ENETUNREACH;

	/* RFC 1191: DF on everything, so a too-small path answers with
	 * "fragmentation needed" instead of fragmenting. We never fragment
	 * either: TCP sizes segments to the MTU. */
	struct sk_ipv4_repr ip = {
	    .src = st->cfg.addr,
	    .dst = dst,
	    .proto = proto,
	    .ttl = ttl ? ttl : IP_TTL,
	    .tos = tos,
	    .id = st->ip_id++,
	    .df = true,
	    .payload_len = (uint16_t)l4_len,
	};
	sk_ipv4_emit(&ip, st->txbuf + SK_ETH_HLEN);
	if (ours)
		return sk_loop_send(st, st->txbuf + SK_ETH_HLEN,
		                    SK_IPV4_HLEN + l4_len - sk_tx_frags_len(off), off, now);
	/* A payload in frags is not in the buffer (sk_tx_offload.nfrags). */
	return sk_arp_output_to(st, hop, st->txbuf, SK_L4_OFFSET + l4_len - sk_tx_frags_len(off), off,
	                        hop == dst ? mac : NULL, now);
}

int sk_link_xmit(struct sk_stack *st, const uint8_t *frame, size_t len,
                 const struct sk_tx_offload *off)
{
	/* sk_stack_new accepted offloads only with xmit_offload set. */
	int err = off ? st->link.xmit_offload(st->link_ctx, frame, len, off)
	              : st->link.xmit(st->link_ctx, frame, len);

	if (err < 0) {
		st->stats.tx_errors++;
		return err;
	}
	st->stats.tx_frames++;
	st->stats.tx_bytes += len;
	return 0;
}

void sk_tx_finish_csum(uint8_t *frame, size_t len, const struct sk_tx_offload *off)
{
	size_t at = (size_t)off->csum_start + off->csum_offset;

	if (off->csum_start >= len || at + 2 > len)
		return;
	/* The field holds the pseudo-header sum: summing the L4 bytes with it
	 * in place gives the whole sum (RFC 1071 §2: what a device does for
	 * NEEDS_CSUM). */
	uint16_t c = sk_csum_finish(sk_csum_add(0, frame + off->csum_start, len - off->csum_start));

	frame[at] = (uint8_t)(c >> 8);
	frame[at + 1] = (uint8_t)c;
}
