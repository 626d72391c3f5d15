/* ARP for IPv4 over Ethernet (RFC 826): the wire format only. The
 * neighbour cache is arp_cache.h. */
#ifndef SYNACK_CORE_ARP_H
#define SYNACK_CORE_ARP_H

#include <stddef.h>
#include <stdint.h>

#include "ethernet.h"

/* hrd(2) pro(2) hln(1) pln(1) op(2) sha(6) spa(4) tha(6) tpa(4) */
#define SK_ARP_LEN     28
#define SK_ARP_REQUEST 1
#define SK_ARP_REPLY   2

struct sk_arp_repr {
	uint16_t op;
	uint8_t sha[SK_ETH_ALEN]; /* sender hardware address */
	uint32_t spa;             /* sender protocol address, host byte order */
	uint8_t tha[SK_ETH_ALEN]; /* target hardware address */
	uint32_t tpa;             /* target protocol address, host byte order */
};

/* Accepts only Ethernet/IPv4 ARP (hrd 1, pro 0x0800, hln 6, pln 4); bytes
 * after the 28 (link padding) are ignored. 0, or -EINVAL for a short or
 * foreign packet, -EOPNOTSUPP for an opcode other than request/reply. */
int sk_arp_parse(const uint8_t *pkt, size_t len, struct sk_arp_repr *out);

/* Writes SK_ARP_LEN bytes. */
void sk_arp_emit(const struct sk_arp_repr *arp, uint8_t *pkt);

#endif
