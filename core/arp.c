/* ARP packet format (RFC 826, "Packet format"). */
#include "arp.h"

#include <errno.h>
#include <string.h>

#include "byteorder.h"

#define ARP_HRD_ETHERNET 1 /* RFC 826: ares_hrd$Ethernet */
#define ARP_PLN_IPV4     4

int sk_arp_parse(const uint8_t *pkt, size_t len, struct sk_arp_repr *out)
{
	if (len < SK_ARP_LEN)
		return -EINVAL;
	/* RFC 826 "Packet Reception": a hardware or protocol type we do not
	 * speak is discarded. The lengths are checked too, so the fixed
	 * offsets below are the real ones. */
	if (sk_rd16(pkt) != ARP_HRD_ETHERNET || sk_rd16(pkt + 2) != SK_ETHERTYPE_IPV4 ||
	    pkt[4] != SK_ETH_ALEN || pkt[5] != ARP_PLN_IPV4)
		return -EINVAL;
	out->op = sk_rd16(pkt + 6);
	if (out->op != SK_ARP_REQUEST && out->op != SK_ARP_REPLY)
		return -EOPNOTSUPP;
	memcpy(out->sha, pkt + 8, SK_ETH_ALEN);
	out->spa = sk_rd32(pkt + 14);
	memcpy(out->tha, pkt + 18, SK_ETH_ALEN);
	out->tpa = sk_rd32(pkt + 24);
	return 0;
}

void sk_arp_emit(const struct sk_arp_repr *arp, uint8_t *pkt)
{
	sk_wr16(pkt, ARP_HRD_ETHERNET);
	sk_wr16(pkt + 2, SK_ETHERTYPE_IPV4);
	pkt[4] = SK_ETH_ALEN;
	pkt[5] = ARP_PLN_IPV4;
	sk_wr16(pkt + 6, arp->op);
	memcpy(pkt + 8, arp->sha, SK_ETH_ALEN);
	sk_wr32(pkt + 14, arp->spa);
	memcpy(pkt + 18, arp->tha, SK_ETH_ALEN);
	sk_wr32(pkt + 24, arp->tpa);
}
