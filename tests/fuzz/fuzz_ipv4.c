/* libFuzzer harness: the IPv4 header parser (core/ipv4.c, RFC 791). The
 * first input byte says whether the header checksum is verified; the rest
 * is the packet. A parse that succeeds must describe the input (header and
 * payload inside it); emitting what was parsed (without options) and
 * parsing that again, checksum verified, must give the same fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/ipv4.h"

#define CHECK(c)                                                                   \
	do {                                                                       \
		if (!(c)) {                                                        \
			fprintf(stderr, "fuzz_ipv4: %s\n", #c);                    \
			abort();                                                   \
		}                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sk_ipv4_repr ip, ip2;

	if (size < 1)
		return 0;
	bool verify = data[0] & 1;
	const uint8_t *pkt = data + 1;
	size_t len = size - 1;
	int r = sk_ipv4_parse(pkt, len, verify, &ip);

	CHECK(r == 0 || r == -22 /* EINVAL */ || r == -90 /* EMSGSIZE: truncated */ ||
	      r == -74 /* EBADMSG */);
	CHECK(r != -74 || verify);
	sk_ipv4_is_martian(len >= 4 ? (uint32_t)pkt[0] << 24 | pkt[1] << 16 | pkt[2] << 8 | pkt[3] : 0);
	if (r != 0)
		return 0;
	CHECK(ip.hdr_len >= 20 && ip.hdr_len <= 60 && ip.hdr_len % 4 == 0);
	CHECK((size_t)ip.hdr_len + ip.payload_len <= len);

	/* The header emit writes, then the payload length it announces. */
	uint8_t *buf = calloc(1, SK_IPV4_HLEN + (size_t)ip.payload_len + 1);
	CHECK(buf);
	sk_ipv4_emit(&ip, buf);
	CHECK(sk_ipv4_parse(buf, SK_IPV4_HLEN + (size_t)ip.payload_len, true, &ip2) == 0);
	CHECK(ip2.src == ip.src && ip2.dst == ip.dst && ip2.proto == ip.proto);
	CHECK(ip2.ttl == ip.ttl && ip2.tos == ip.tos && ip2.id == ip.id && ip2.df == ip.df);
	CHECK(ip2.hdr_len == SK_IPV4_HLEN && ip2.payload_len == ip.payload_len);
	free(buf);
	return 0;
}
