/* libFuzzer harness: the TCP header and option parser (core/tcp_wire.c,
 * RFC 9293 §3.1, RFC 7323, RFC 2018). The input is a segment. A parse that
 * succeeds must describe the input (header inside it, payload its tail,
 * at most 4 SACK blocks, window scale at most 14), and emitting what was
 * parsed and parsing that again must give the same header and options
 * (SACK blocks cut to what fits the 40 option bytes, as emit does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/tcp_wire.h"

#define CHECK(c)                                                                   \
	do {                                                                       \
		if (!(c)) {                                                        \
			fprintf(stderr, "fuzz_tcp_options: %s\n", #c);             \
			abort();                                                   \
		}                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sk_tcp_repr r, r2;
	uint8_t out[SK_TCP_MAX_HLEN];

	if (sk_tcp_parse(data, size, &r) != 0)
		return 0;
	size_t hlen = (size_t)(data[12] >> 4) * 4;
	CHECK(hlen >= SK_TCP_HLEN && hlen <= size);
	CHECK(r.payload == data + hlen && r.payload_len == size - hlen);
	CHECK(r.sack_count <= SK_TCP_MAX_SACK);
	CHECK(r.wscale >= -1 && r.wscale <= 14);
	CHECK(r.mss >= -1 && r.mss <= 65535);

	size_t elen = sk_tcp_header_len(&r);
	CHECK(elen >= SK_TCP_HLEN && elen <= SK_TCP_MAX_HLEN && elen % 4 == 0);
	CHECK(sk_tcp_emit(&r, out) == elen);
	CHECK(sk_tcp_parse(out, elen, &r2) == 0);
	CHECK(r2.src_port == r.src_port && r2.dst_port == r.dst_port);
	CHECK(r2.seq == r.seq && r2.ack == r.ack && r2.flags == r.flags);
	CHECK(r2.window == r.window && r2.urgent == r.urgent);
	CHECK(r2.mss == r.mss && r2.wscale == r.wscale);
	CHECK(r2.sack_permitted == r.sack_permitted);
	CHECK(r2.has_timestamp == r.has_timestamp);
	if (r.has_timestamp)
		CHECK(r2.ts_val == r.ts_val && r2.ts_ecr == r.ts_ecr);
	CHECK(r2.sack_count <= r.sack_count);
	for (int i = 0; i < r2.sack_count; i++)
		CHECK(r2.sack[i].left == r.sack[i].left && r2.sack[i].right == r.sack[i].right);
	CHECK(r2.payload_len == 0);
	return 0;
}
