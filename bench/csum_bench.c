/* csum_bench: core's sk_csum_add against the 16-bit-word loop it replaced
 * (RFC 1071 §1 as written), on the sizes synack checksums: an IPv4 header,
 * a TCP header with options, one MSS of payload, a 64 KiB GSO segment.
 *
 *   build/bench/csum_bench [ROUNDS]
 *
 * Not a test: the figures depend on the machine and its load. Each size is
 * timed ROUNDS times (default 15) for each function, alternately, and the
 * fastest round of each is reported (the least disturbed by other work).
 * The data sits in the cache, as a segment just received or just built
 * does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../core/checksum.h"
#include "../tests/unit/csum_ref.h"

/* The previous sk_csum_add, one 16-bit big-endian word per iteration; not
 * inlined, as sk_csum_add is not (it lives in the core library). */
static uint32_t __attribute__((noinline)) csum_by_word(uint32_t sum, const void *data, size_t len)
{
	return csum_ref_add(sum, data, len);
}

typedef uint32_t (*csum_fn)(uint32_t, const void *, size_t);

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static volatile uint32_t sink;

/* ns per call of one round of about 64 MiB checksummed. The start address
 * alternates between two alignments, as received frames do. */
static double round_ns(csum_fn f, const uint8_t *buf, size_t len)
{
	long calls = (long)((64u << 20) / (len + 64));
	uint32_t s = 0;
	double t0 = now_ns();

	for (long i = 0; i < calls; i++)
		s += f((uint32_t)i, buf + (i & 1) * 2, len);
	sink = s;
	return (now_ns() - t0) / (double)calls;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {20, 40, 1460, 65536};
	static uint8_t buf[65536 + 8];
	int rounds = argc > 1 ? atoi(argv[1]) : 15;

	if (rounds < 1)
		rounds = 1;
	srand(1);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand();
	printf("%8s %14s %14s %8s\n", "bytes", "by word ns", "sk_csum ns", "speedup");
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		double best_old = 1e30, best_new = 1e30;

		for (int r = 0; r < rounds; r++) {
			double o = round_ns(csum_by_word, buf, sizes[k]);
			double n = round_ns(sk_csum_add, buf, sizes[k]);

			best_old = o < best_old ? o : best_old;
			best_new = n < best_new ? n : best_new;
		}
		printf("%8zu %14.1f %14.1f %7.2fx\n", sizes[k], best_old, best_new,
		       best_old / best_new);
	}
	return 0;
}
