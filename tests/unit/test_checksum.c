/* sk_csum_add (core/checksum.c) against the definition, csum_ref.h: RFC
 * 1071 §1, 16-bit big-endian words one by one, an odd last byte padded with
 * zero, carries folded back in.
 *
 * What must agree is the one's-complement value: the fold to 16 bits with
 * end-around carries. It decides sk_csum_finish and every later chained
 * call, and it tells the two zeros apart (0 only for all-zero input, 0xffff
 * for a non-zero sum that cancels), so comparing it compares everything a
 * caller can observe. Inputs are every length 0..2000 at every alignment
 * of an 8-byte load, 64 KiB (a GSO segment) at every alignment, running
 * sums chained from earlier calls, and data made to carry out of every
 * accumulator. The random bytes come from a fixed-seed generator: every
 * run checks the same inputs. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "../../core/checksum.h"
#include "csum_ref.h"

static uint16_t fold16(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffffu) + (s >> 16);
	return (uint16_t)s;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, good enough to vary bytes and sums. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static void fill_random(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(rnd() >> 56);
}

/* Running sums a caller may pass in: zero, the largest, ones near the
 * carries, a pseudo-header sum, and random ones. */
static uint32_t start_sum(unsigned i)
{
	static const uint32_t fixed[] = {0, 0xffffffffu, 0xffffu, 0x10000u, 0xfffeffffu, 0x1c0a8u};

	return i < sizeof(fixed) / sizeof(fixed[0]) ? fixed[i] : (uint32_t)rnd();
}

static void check(uint32_t sum, const uint8_t *p, size_t len, const char *what)
{
	uint32_t got = sk_csum_add(sum, p, len), want = csum_ref_add(sum, p, len);

	cr_assert_eq(fold16(got), fold16(want),
	             "%s: len %zu, address %% 8 = %u, sum 0x%08x: 0x%04x, reference 0x%04x", what,
	             len, (unsigned)((uintptr_t)p % 8), sum, fold16(got), fold16(want));
	cr_assert_eq(sk_csum_finish(got), sk_csum_finish(want));
}

Test(checksum_wide, rfc1071_numerical_example)
{
	/* RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2, at any
	 * alignment and after a zero prefix of even length. */
	static const uint8_t v[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint8_t buf[32];

	for (unsigned off = 0; off < 16; off++) {
		memset(buf, 0, sizeof(buf));
		memcpy(buf + off, v, sizeof(v));
		cr_assert_eq(fold16(sk_csum_add(0, buf + off, sizeof(v))), 0xddf2, "offset %u",
		             off);
		cr_assert_eq(sk_csum_finish(sk_csum_add(0, buf + off, sizeof(v))), 0x220d);
		if (off % 2 == 0)
			cr_assert_eq(fold16(sk_csum_add(0, buf, off + sizeof(v))), 0xddf2);
	}
}

Test(checksum_wide, known_vectors)
{
	/* An IPv4 header whose checksum is 0xb861 (the classic example), the
	 * same header with it filled in (verifies to 0), and the two zeros. */
	uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
	                 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	static uint8_t zeros[4096], ones[4096];

	cr_assert_eq(sk_csum_finish(sk_csum_add(0, h, sizeof(h))), 0xb861);
	h[10] = 0xb8;
	h[11] = 0x61;
	cr_assert_eq(sk_csum_finish(sk_csum_add(0, h, sizeof(h))), 0);
	memset(ones, 0xff, sizeof(ones));
	for (size_t len = 0; len <= 64; len++) {
		/* +0: nothing but zero bytes and a zero sum. */
		cr_assert_eq(sk_csum_add(0, zeros, len), 0);
		cr_assert_eq(sk_csum_finish(sk_csum_add(0, zeros, len)), 0xffff);
		/* -0: 0xffff words cancel to 0xffff, never to 0. */
		if (len >= 2)
			cr_assert_eq(fold16(sk_csum_add(0, ones, len & ~(size_t)1)), 0xffff);
	}
	cr_assert_eq(fold16(sk_csum_add(0, ones, sizeof(ones))), 0xffff);
	cr_assert_eq(fold16(sk_csum_add(0xffffu, zeros, sizeof(zeros))), 0xffff);
}

Test(checksum_wide, every_length_to_2000_every_alignment)
{
	static uint8_t buf[2000 + 16];

	for (size_t len = 0; len <= 2000; len++)
		for (unsigned off = 0; off < 8; off++) {
			fill_random(buf + off, len);
			check(start_sum(len % 9), buf + off, len, "random");
		}
}

Test(checksum_wide, gso_sized_buffers_every_alignment)
{
	static uint8_t buf[65536 + 16];

	fill_random(buf, sizeof(buf));
	for (unsigned off = 0; off < 8; off++)
		for (size_t len = 65528; len <= 65536; len++)
			for (unsigned s = 0; s < 3; s++)
				check(start_sum(s), buf + off, len, "64 KiB");
}

Test(checksum_wide, carries_out_of_every_accumulator)
{
	/* Bytes near 0xff make every 64-bit addition carry: the deferred
	 * carries are what is checked here. */
	static uint8_t buf[65536 + 16];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(0xf0 | (rnd() >> 60));
	for (unsigned off = 0; off < 8; off++) {
		check(0xffffffffu, buf + off, 65536, "near 0xff");
		check(0, buf + off, 65535, "near 0xff");
		for (size_t len = 0; len < 80; len++)
			check(start_sum(len % 9), buf + off, len, "near 0xff");
	}
	memset(buf, 0xff, sizeof(buf));
	for (unsigned off = 0; off < 8; off++)
		for (size_t len = 65520; len <= 65536; len++)
			check(start_sum(len % 3), buf + off, len, "all 0xff");
}

Test(checksum_wide, chained_calls)
{
	/* A running sum carried through several calls (pseudo-header, header,
	 * payload): the same as the reference chained the same way, and, when
	 * every part but the last has even length, the same as one call. */
	static uint8_t buf[4096 + 8];

	for (unsigned round = 0; round < 2000; round++) {
		size_t len = (size_t)(rnd() % 4096), a = (size_t)(rnd() % (len + 1)), b;
		unsigned off = (unsigned)(rnd() % 8);
		uint32_t sum = start_sum(round % 9), got, want;

		b = a + (size_t)(rnd() % (len - a + 1));
		fill_random(buf + off, len);
		got = sk_csum_add(sk_csum_add(sk_csum_add(sum, buf + off, a), buf + off + a, b - a),
		                  buf + off + b, len - b);
		want = csum_ref_add(
		    csum_ref_add(csum_ref_add(sum, buf + off, a), buf + off + a, b - a),
		    buf + off + b, len - b);
		cr_assert_eq(fold16(got), fold16(want), "round %u: split %zu/%zu/%zu", round, a,
		             b - a, len - b);
		if (a % 2 == 0 && b % 2 == 0)
			cr_assert_eq(fold16(got), fold16(csum_ref_add(sum, buf + off, len)));
	}
}
