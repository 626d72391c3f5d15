/* IPv4 header (RFC 791). */
#ifndef SYNACK_CORE_IPV4_H
#define SYNACK_CORE_IPV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_IPV4_HLEN 20 /* we never send options */
#define SK_IPPROTO_ICMP 1
#define SK_IPPROTO_TCP 6
#define SK_IPPROTO_UDP 17

struct sk_ipv4_repr {
	uint32_t src, dst; /* host byte order */
	uint8_t proto;
	uint8_t ttl;
	uint8_t tos;
	uint16_t id;
	bool df, mf;
	uint16_t frag_offset; /* in bytes */
	uint16_t hdr_len;     /* parsed: 20..60 */
	uint16_t payload_len; /* total length - header length */
};

/* Checks version, IHL, total length against `len` (trailing link padding is
 * ignored), and the header checksum when verify_csum. 0 or -EINVAL
 * (malformed) / -EMSGSIZE (total length beyond `len`: truncated) /
 * -EBADMSG (bad checksum). The payload starts at
 * pkt + out->hdr_len and is out->payload_len long. */
int sk_ipv4_parse(const uint8_t *pkt, size_t len, bool verify_csum, struct sk_ipv4_repr *out);

/* Writes a 20-byte header (no options) with its checksum; uses src, dst,
 * proto, ttl, tos, id, df, payload_len. */
void sk_ipv4_emit(const struct sk_ipv4_repr *ip, uint8_t *pkt);

/* Is `addr` inside addr/prefix_len's network? */
bool sk_ipv4_same_subnet(uint32_t a, uint32_t b, uint8_t prefix_len);

/* An address no host can have (RFC 1122 §3.2.1.3, RFC 6890): 0.0.0.0/8,
 * loopback 127/8, multicast 224/4, reserved 240/4 and broadcast. */
bool sk_ipv4_is_martian(uint32_t addr);

#endif
