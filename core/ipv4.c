/* IPv4 header parsing and building (RFC 791). */
#include "ipv4.h"

#include <errno.h>

#include "byteorder.h"
#include "checksum.h"

#define IPV4_FLAG_DF   0x4000
#define IPV4_FLAG_MF   0x2000
#define IPV4_FRAG_MASK 0x1fff

int sk_ipv4_parse(const uint8_t *pkt, size_t len, bool verify_csum, struct sk_ipv4_repr *out)
{
	if (len < SK_IPV4_HLEN)
		return -EINVAL;
	/* RFC 791 §3.1: version 4, IHL in 32-bit words, at least 5. */
	if (pkt[0] >> 4 != 4)
		return -EINVAL;
	size_t hlen = (size_t)(pkt[0] & 0x0f) * 4;
	if (hlen < SK_IPV4_HLEN || hlen > len)
		return -EINVAL;
	/* RFC 791 §3.1: total length covers header and data. Anything after
	 * it is link padding (Ethernet pads to 60 bytes) and is ignored;
	 * a total length beyond what we received is a truncated packet. */
	size_t total = sk_rd16(pkt + 2);
	if (total < hlen)
		return -EINVAL;
	if (total > len)
		return -EMSGSIZE;
	/* RFC 1071: the checksum over a correct header, itself included, is
	 * 0xffff before complementing, hence 0 after. */
	if (verify_csum && sk_csum_finish(sk_csum_add(0, pkt, hlen)) != 0)
		return -EBADMSG;

	uint16_t frag = sk_rd16(pkt + 6);
	out->tos = pkt[1];
	out->id = sk_rd16(pkt + 4);
	out->df = (frag & IPV4_FLAG_DF) != 0;
	out->mf = (frag & IPV4_FLAG_MF) != 0;
	out->frag_offset = (uint16_t)((frag & IPV4_FRAG_MASK) * 8);
	out->ttl = pkt[8];
	out->proto = pkt[9];
	out->src = sk_rd32(pkt + 12);
	out->dst = sk_rd32(pkt + 16);
	out->hdr_len = (uint16_t)hlen;
	out->payload_len = (uint16_t)(total - hlen);
	return 0;
}

void sk_ipv4_emit(const struct sk_ipv4_repr *ip, uint8_t *pkt)
{
	pkt[0] = 0x45; /* version 4, IHL 5: we never send options */
	pkt[1] = ip->tos;
	sk_wr16(pkt + 2, (uint16_t)(SK_IPV4_HLEN + ip->payload_len));
	sk_wr16(pkt + 4, ip->id);
	/* We never fragment what we send (RFC 1191 path MTU discovery needs
	 * DF); the offset and MF are always zero. */
	sk_wr16(pkt + 6, ip->df ? IPV4_FLAG_DF : 0);
	pkt[8] = ip->ttl;
	pkt[9] = ip->proto;
	sk_wr16(pkt + 10, 0);
	sk_wr32(pkt + 12, ip->src);
	sk_wr32(pkt + 16, ip->dst);
	sk_wr16(pkt + 10, sk_csum_finish(sk_csum_add(0, pkt, SK_IPV4_HLEN)));
}

bool sk_ipv4_same_subnet(uint32_t a, uint32_t b, uint8_t prefix_len)
{
	if (prefix_len == 0)
		return true;
	if (prefix_len > 32)
		prefix_len = 32;
	uint32_t mask = prefix_len == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix_len);
	return (a & mask) == (b & mask);
}

bool sk_ipv4_is_martian(uint32_t addr)
{
	uint32_t first = addr >> 24;

	return first == 0 || first == 127 || first >= 224;
}
