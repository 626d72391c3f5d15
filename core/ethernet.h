/* Ethernet II framing. */
#ifndef SYNACK_CORE_ETHERNET_H
#define SYNACK_CORE_ETHERNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_ETH_HLEN 14
#define SK_ETH_ALEN 6
#define SK_ETHERTYPE_IPV4 0x0800
#define SK_ETHERTYPE_ARP 0x0806

struct sk_eth_repr {
	uint8_t dst[SK_ETH_ALEN];
	uint8_t src[SK_ETH_ALEN];
	uint16_t ethertype;
};

/* 0, or -EINVAL when the frame is shorter than a header. */
int sk_eth_parse(const uint8_t *frame, size_t len, struct sk_eth_repr *out);
/* Writes SK_ETH_HLEN bytes. */
void sk_eth_emit(const struct sk_eth_repr *eth, uint8_t *frame);

extern const uint8_t sk_eth_broadcast[SK_ETH_ALEN];

/* Nonzero and not a group (multicast/broadcast) address: what a host's
 * own or a neighbour's MAC must be. */
bool sk_eth_is_unicast(const uint8_t mac[SK_ETH_ALEN]);

#endif
