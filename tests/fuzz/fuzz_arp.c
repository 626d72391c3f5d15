/* libFuzzer harness: the ARP parser (core/arp.c, RFC 826) and the Ethernet
 * header (core/ethernet.c). The input is an Ethernet frame. An ARP packet
 * that parses must emit and parse again to the same fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/arp.h"
#include "../../core/ethernet.h"

#define CHECK(c)                                                                   \
	do {                                                                       \
		if (!(c)) {                                                        \
			fprintf(stderr, "fuzz_arp: %s\n", #c);                     \
			abort();                                                   \
		}                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sk_eth_repr eth;
	struct sk_arp_repr arp, arp2;
	uint8_t out[SK_ARP_LEN];

	if (sk_eth_parse(data, size, &eth) != 0) {
		CHECK(size < SK_ETH_HLEN);
		return 0;
	}
	sk_eth_is_unicast(eth.src);
	int r = sk_arp_parse(data + SK_ETH_HLEN, size - SK_ETH_HLEN, &arp);
	if (r != 0)
		return 0;
	CHECK(size - SK_ETH_HLEN >= SK_ARP_LEN);
	CHECK(arp.op == SK_ARP_REQUEST || arp.op == SK_ARP_REPLY);
	sk_arp_emit(&arp, out);
	CHECK(sk_arp_parse(out, sizeof(out), &arp2) == 0);
	CHECK(arp2.op == arp.op && arp2.spa == arp.spa && arp2.tpa == arp.tpa);
	CHECK(memcmp(arp2.sha, arp.sha, 6) == 0 && memcmp(arp2.tha, arp.tha, 6) == 0);
	return 0;
}
