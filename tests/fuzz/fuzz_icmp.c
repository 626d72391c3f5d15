/* libFuzzer harness: ICMP (core/icmp.c, core/tcp_icmp.c) on a stack with live
 * connections (world.h). Input: a mode byte, then the ICMP message that
 * sk_icmp_input gets as the payload of an IPv4 packet from the peer.
 *   mode bit 0   the link vouched for the checksum (SK_RX_CSUM_TRUSTED)
 *   mode bit 1   the harness writes a correct ICMP checksum
 *   mode bit 2   the quoted IPv4/TCP headers (bytes 8.. of the message) are made those of
 *                connection (mode >> 3) % W_NCONN, its sequence number SND.UNA plus the
 *                quoted sequence number's low byte, so errors reach the connection
 */
#include <stdlib.h>
#include <string.h>

#include "../../core/byteorder.h"
#include "../../core/checksum.h"
#include "../../core/icmp.h"
#include "../../core/ipv4.h"
#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	uint8_t mode = data[0];
	size_t len = size - 1;
	uint8_t *msg = malloc(len ? len : 1);
	struct world *w = w_new();

	memcpy(msg, data + 1, len);
	if ((mode & 4) && len >= 8 + 20 + 8) {
		int ci = (mode >> 3) % W_NCONN;
		uint8_t *q = msg + 8;
		size_t ihl = (size_t)(q[0] & 0x0f) * 4;

		w_sync(w, ci);
		if (ihl < 20 || len < 8 + ihl + 8)
			ihl = 20;
		q[0] = (uint8_t)(0x40 | ihl / 4);
		q[9] = SK_IPPROTO_TCP;
		sk_wr32(q + 12, W_OUR_IP);
		sk_wr32(q + 16, W_PEER_IP);
		sk_wr16(q + ihl, w->c[ci].lport);
		sk_wr16(q + ihl + 2, w->c[ci].rport);
		sk_wr32(q + ihl + 4, w->c[ci].snd_una + q[ihl + 7]);
	}
	if ((mode & 2) && len >= 4) {
		sk_wr16(msg + 2, 0);
		sk_wr16(msg + 2, sk_csum_finish(sk_csum_add(0, msg, len)));
	}
	struct sk_ipv4_repr ip = {.src = W_PEER_IP,
	                          .dst = W_OUR_IP,
	                          .proto = SK_IPPROTO_ICMP,
	                          .ttl = 64,
	                          .hdr_len = 20,
	                          .payload_len = (uint16_t)len};
	sk_icmp_input(w->st, &ip, msg, len, mode & 1, w->now);
	w_advance(w, SK_SEC(2)); /* what the error left armed runs */
	free(msg);
	w_free(w);
	return 0;
}
