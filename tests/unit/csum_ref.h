/* The Internet checksum as RFC 1071 §1 defines it: 16-bit big-endian words
 * summed one by one, an odd last byte padded with zero, the carries folded
 * back in at the end. It is what core/checksum.c computed before it summed
 * 8 bytes at a time: the reference of tests/unit/test_checksum.c and the
 * baseline of bench/csum_bench.c. */
#ifndef SYNACK_TESTS_CSUM_REF_H
#define SYNACK_TESTS_CSUM_REF_H

#include <stddef.h>
#include <stdint.h>

/* A 64-bit accumulator cannot overflow below 2^48 words. */
static inline uint32_t csum_ref_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = sum;

	for (; len >= 2; p += 2, len -= 2)
		acc += (uint32_t)p[0] << 8 | p[1];
	if (len)
		acc += (uint32_t)p[0] << 8;
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

#endif
