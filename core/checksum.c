/* The Internet checksum (RFC 1071) and the IPv4 pseudo-header sum. */
#include "checksum.h"

#include <string.h>

/* One's-complement addition of two 64-bit words: the carry out of bit 63
 * comes back in at bit 0 (the end-around carry). */
static inline uint64_t add_eac(uint64_t a, uint64_t b)
{
	uint64_t s = a + b;

	return s + (s < b);
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v)); /* any alignment: compiles to one load */
	return v;
}

/* The one's-complement sum of `len` bytes in the host's byte order, in 64
 * bits (RFC 1071 §2(C), parallel summation: a 64-bit one's-complement sum
 * folds to the 16-bit one). Two accumulators, and their carries counted
 * apart and added back once at the end (RFC 1071 §2, "deferred carries"),
 * so no iteration waits on the previous one's carry. Each wrap of an
 * accumulator dropped 2^64, which is 1 modulo 2^64 - 1: the count of
 * wraps is what to add back. */
static uint64_t sum_native(const uint8_t *p, size_t len)
{
	uint64_t a = 0, b = 0, ca = 0, cb = 0;

	while (len >= 32) {
		uint64_t x = load64(p), y = load64(p + 8);

		a += x;
		ca += a < x;
		b += y;
		cb += b < y;
		x = load64(p + 16);
		y = load64(p + 24);
		a += x;
		ca += a < x;
		b += y;
		cb += b < y;
		p += 32;
		len -= 32;
	}
	a = add_eac(add_eac(a, b), ca + cb);
	for (; len >= 8; p += 8, len -= 8)
		a = add_eac(a, load64(p));
	/* The tail pieces start at even offsets, so the 16-bit words keep
	 * their pairing of bytes. An odd last byte is the first byte of a word
	 * whose second byte is zero (RFC 1071 §1, [Z,0]). */
	if (len & 4) {
		uint32_t t;

		memcpy(&t, p, 4);
		a = add_eac(a, t);
		p += 4;
	}
	if (len & 2) {
		uint16_t t;

		memcpy(&t, p, 2);
		a = add_eac(a, t);
		p += 2;
	}
	if (len & 1) {
		const uint8_t pad[2] = {p[0], 0};
		uint16_t t;

		memcpy(&t, pad, 2);
		a = add_eac(a, t);
	}
	return a;
}

/* Fold to 32 bits with end-around carries, as the running sum is kept. */
static inline uint32_t fold32(uint64_t x)
{
	x = (x & 0xffffffffu) + (x >> 32);
	x = (x & 0xffffffffu) + (x >> 32);
	return (uint32_t)x;
}

/* RFC 1071: the 16-bit one's-complement sum of the bytes, as big-endian
 * words, added to `sum`. Eight bytes at a time: the data is summed in the
 * host's byte order and the folded 16-bit result swapped back on a
 * little-endian host, which RFC 1071 §2(B) (byte order independence) makes
 * exact: swapping the bytes of every word swaps the bytes of the sum.
 *
 * The result is a one's-complement value in 32 bits, not folded: what it
 * means is its fold to 16 bits (sk_csum_finish), and that is the same as
 * summing the 16-bit words one by one would give, for every input,
 * including which of the two zeros (0 only when `sum` and every byte are
 * 0). The 32 bits themselves may be a different representative. A chained
 * call continues the same byte stream when the earlier parts had even
 * lengths; a part of odd length is padded as if it ended the stream. */
uint32_t sk_csum_add(uint32_t sum, const void *data, size_t len)
{
	uint32_t d = fold32(sum_native(data, len));
	uint16_t w;

	d = (d & 0xffffu) + (d >> 16);
	d = (d & 0xffffu) + (d >> 16);
	w = (uint16_t)d;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	w = __builtin_bswap16(w);
#elif !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__
#error "sk_csum_add needs to know the host's byte order"
#endif
	return fold32((uint64_t)sum + w);
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
