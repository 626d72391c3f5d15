/* Transmit path of the IPv4 layer: route (on-link or gateway), header,
 * and the hand-off to ARP, which puts the frame on the link. */
#include <errno.h>

#include "arp_cache.h"
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
	return sk_ip_next_hop(st, dst) != 0;
}

int sk_ip_tx_send(struct sk_stack *st, uint32_t dst, uint8_t proto, size_t l4_len, sk_time_t now)
{
	return sk_ip_tx_send_tos(st, dst, proto, l4_len, 0, 0, now);
}

int sk_ip_tx_send_tos(struct sk_stack *st, uint32_t dst, uint8_t proto, size_t l4_len, uint8_t tos,
                      uint8_t ttl, sk_time_t now)
{
	if (l4_len + SK_IPV4_HLEN > st->cfg.mtu)
		return -EMSGSIZE;
	uint32_t hop = sk_ip_next_hop(st, dst);
	if (!hop)
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
	return sk_arp_output(st, hop, st->txbuf, SK_L4_OFFSET + l4_len, now);
}

int sk_link_xmit(struct sk_stack *st, const uint8_t *frame, size_t len)
{
	int err = st->link.xmit(st->link_ctx, frame, len);

	if (err < 0) {
		st->stats.tx_errors++;
		return err;
	}
	st->stats.tx_frames++;
	st->stats.tx_bytes += len;
	return 0;
}
