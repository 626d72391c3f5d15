/* Ethernet II framing (IEEE 802.3 with the DIX type field). */
#include "ethernet.h"

#include <errno.h>
#include <string.h>

#include "byteorder.h"

const uint8_t sk_eth_broadcast[SK_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

int sk_eth_parse(const uint8_t *frame, size_t len, struct sk_eth_repr *out)
{
	if (len < SK_ETH_HLEN)
		return -EINVAL;
	memcpy(out->dst, frame, SK_ETH_ALEN);
	memcpy(out->src, frame + SK_ETH_ALEN, SK_ETH_ALEN);
	out->ethertype = sk_rd16(frame + 2 * SK_ETH_ALEN);
	return 0;
}

bool sk_eth_is_unicast(const uint8_t mac[SK_ETH_ALEN])
{
	static const uint8_t zero[SK_ETH_ALEN];

	/* IEEE 802: the group bit is the least significant bit of the first
	 * octet; broadcast is a group address too. */
	return !(mac[0] & 1) && memcmp(mac, zero, SK_ETH_ALEN) != 0;
}

void sk_eth_emit(const struct sk_eth_repr *eth, uint8_t *frame)
{
	memcpy(frame, eth->dst, SK_ETH_ALEN);
	memcpy(frame + SK_ETH_ALEN, eth->src, SK_ETH_ALEN);
	sk_wr16(frame + 2 * SK_ETH_ALEN, eth->ethertype);
}
