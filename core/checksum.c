/* The Internet checksum (RFC 1071) and the IPv4 pseudo-header sum. */
#include "checksum.h"

#include "byteorder.h"

/* RFC 1071 §4.1: sum 16-bit big-endian words into a 32-bit accumulator and
 * fold the carries at the end. The accumulator is folded whenever it could
 * overflow, so arbitrarily long buffers (64 KiB GSO segments) are safe. An
 * odd trailing byte is the high byte of a word padded with zero (§4.1). */
uint32_t sk_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = sum;

	while (len >= 2) {
		acc += sk_rd16(p);
		p += 2;
		len -= 2;
	}
	if (len)
		acc += (uint32_t)p[0] << 8;
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

uint16_t sk_csum_finish(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)~sum;
}

/* RFC 9293 §3.1: the pseudo-header is source address, destination address,
 * a zero byte, the protocol and the TCP length (header + data). */
uint32_t sk_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint32_t l4_len)
{
	uint64_t acc = 0;

	acc += src >> 16;
	acc += src & 0xffffu;
	acc += dst >> 16;
	acc += dst & 0xffffu;
	acc += proto;
	acc += l4_len >> 16;
	acc += l4_len & 0xffffu;
	return (uint32_t)acc;
}
