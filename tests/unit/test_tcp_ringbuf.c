/* The byte ring behind every TCP send and receive buffer, and the SipHash
 * that keys ISNs and the connection table. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../core/ringbuf.h"
#include "../../core/siphash.h"
#include "../../core/stack.h"

/* The rings of these tests live in the C library's heap. */
#define M (&sk_mem_libc)

Test(tcp_ringbuf, empty_ring_reads_nothing)
{
	struct sk_ringbuf rb;
	uint8_t b[4];

	cr_assert_eq(sk_ringbuf_alloc(&rb, 8, M), 0);
	cr_expect_eq(sk_ringbuf_len(&rb), 0);
	cr_expect_eq(sk_ringbuf_space(&rb), 8);
	cr_expect_eq(sk_ringbuf_read(&rb, b, 4), 0);
	cr_expect_eq(sk_ringbuf_peek(&rb, 0, b, 4), 0);
	cr_expect_eq(sk_ringbuf_discard(&rb, 4), 0);
	sk_ringbuf_release(&rb, M);
}

Test(tcp_ringbuf, write_stops_at_capacity)
{
	struct sk_ringbuf rb;

	cr_assert_eq(sk_ringbuf_alloc(&rb, 5, M), 0);
	cr_expect_eq(sk_ringbuf_write(&rb, "abcdefgh", 8), 5);
	cr_expect_eq(sk_ringbuf_space(&rb), 0);
	cr_expect_eq(sk_ringbuf_write(&rb, "x", 1), 0);
	sk_ringbuf_release(&rb, M);
}

Test(tcp_ringbuf, data_wraps_around_the_end_intact)
{
	struct sk_ringbuf rb;
	char out[8] = {0};

	cr_assert_eq(sk_ringbuf_alloc(&rb, 7, M), 0);
	sk_ringbuf_write(&rb, "01234", 5);
	cr_expect_eq(sk_ringbuf_read(&rb, out, 4), 4);
	cr_expect_arr_eq(out, "0123", 4);
	/* Tail at 5: "abcde" occupies 5,6,0,1,2. */
	cr_expect_eq(sk_ringbuf_write(&rb, "abcde", 5), 5);
	cr_expect_eq(sk_ringbuf_len(&rb), 6);
	cr_expect_eq(sk_ringbuf_peek(&rb, 2, out, 8), 4);
	cr_expect_arr_eq(out, "bcde", 4);
	cr_expect_eq(sk_ringbuf_read(&rb, out, 8), 6);
	cr_expect_arr_eq(out, "4abcde", 6);
	sk_ringbuf_release(&rb, M);
}

Test(tcp_ringbuf, peek_beyond_the_end_copies_nothing)
{
	struct sk_ringbuf rb;
	char out[4];

	cr_assert_eq(sk_ringbuf_alloc(&rb, 4, M), 0);
	sk_ringbuf_write(&rb, "ab", 2);
	cr_expect_eq(sk_ringbuf_peek(&rb, 2, out, 4), 0);
	cr_expect_eq(sk_ringbuf_peek(&rb, 1, out, 4), 1);
	cr_expect_eq(out[0], 'b');
	sk_ringbuf_release(&rb, M);
}

Test(tcp_ringbuf, discard_drops_the_oldest_bytes)
{
	struct sk_ringbuf rb;
	char out[4];

	cr_assert_eq(sk_ringbuf_alloc(&rb, 4, M), 0);
	sk_ringbuf_write(&rb, "wxyz", 4);
	cr_expect_eq(sk_ringbuf_discard(&rb, 3), 3);
	cr_expect_eq(sk_ringbuf_read(&rb, out, 4), 1);
	cr_expect_eq(out[0], 'z');
	cr_expect_eq(sk_ringbuf_discard(&rb, 9), 0);
	sk_ringbuf_release(&rb, M);
}

Test(tcp_ringbuf, unallocated_ring_is_empty_and_full)
{
	struct sk_ringbuf rb = {0};
	char c;

	cr_expect_eq(sk_ringbuf_write(&rb, "a", 1), 0);
	cr_expect_eq(sk_ringbuf_read(&rb, &c, 1), 0);
	sk_ringbuf_release(&rb, M);
}

Test(tcp_ringbuf, many_random_operations_match_a_model)
{
	struct sk_ringbuf rb;
	static uint8_t model[1 << 16];
	size_t head = 0, tail = 0;
	uint64_t x = 12345;
	uint8_t next = 0;

	cr_assert_eq(sk_ringbuf_alloc(&rb, 1000, M), 0);
	for (int i = 0; i < 20000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		size_t n = (x >> 33) % 700;
		uint8_t buf[700];
		if ((x >> 20) & 1) {
			for (size_t k = 0; k < n; k++)
				buf[k] = (uint8_t)(next + k);
			size_t w = sk_ringbuf_write(&rb, buf, n);
			for (size_t k = 0; k < w; k++)
				model[(tail + k) & 0xffff] = (uint8_t)(next + k);
			tail += w;
			next = (uint8_t)(next + w);
		} else {
			size_t r = sk_ringbuf_read(&rb, buf, n);
			cr_assert_eq(r, n < tail - head ? n : tail - head);
			for (size_t k = 0; k < r; k++)
				cr_assert_eq(buf[k], model[(head + k) & 0xffff]);
			head += r;
		}
		cr_assert_eq(sk_ringbuf_len(&rb), tail - head);
	}
	sk_ringbuf_release(&rb, M);
}

Test(tcp_ringbuf, siphash24_matches_the_reference_vectors)
{
	uint8_t key[16], msg[64];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	/* From the SipHash paper's reference implementation (vectors.h). */
	cr_expect_eq(sk_siphash24(key, msg, 0), 0x726fdb47dd0e0e31ull);
	cr_expect_eq(sk_siphash24(key, msg, 1), 0x74f839c593dc67fdull);
	cr_expect_eq(sk_siphash24(key, msg, 8), 0x93f5f5799a932462ull);
	cr_expect_eq(sk_siphash24(key, msg, 15), 0xa129ca6149be45e5ull);
}

Test(tcp_ringbuf, write_at_stores_past_the_tail_until_committed)
{
	struct sk_ringbuf rb;
	char b[8] = {0};

	cr_assert_eq(sk_ringbuf_alloc(&rb, 8, M), 0);
	cr_expect_eq(sk_ringbuf_write(&rb, "ab", 2), 2);
	cr_expect_eq(sk_ringbuf_write_at(&rb, 2, "ef", 2), 2);
	cr_expect_eq(sk_ringbuf_len(&rb), 2, "held bytes are not readable");
	cr_expect_eq(sk_ringbuf_write_at(&rb, 5, "xyz", 3), 1, "cut at the free space");
	cr_expect_eq(sk_ringbuf_write(&rb, "cd", 2), 2);
	cr_expect_eq(sk_ringbuf_commit(&rb, 2), 2);
	cr_expect_eq(sk_ringbuf_read(&rb, b, 8), 6);
	cr_expect_arr_eq(b, "abcdef", 6);
	sk_ringbuf_release(&rb, M);
}

Test(tcp_ringbuf, emptying_the_ring_keeps_bytes_held_past_the_tail)
{
	struct sk_ringbuf rb;
	char b[4];

	cr_assert_eq(sk_ringbuf_alloc(&rb, 6, M), 0);
	sk_ringbuf_write(&rb, "abcd", 4);
	cr_expect_eq(sk_ringbuf_read(&rb, b, 3), 3);
	cr_expect_eq(sk_ringbuf_write_at(&rb, 1, "xy", 2), 2); /* wraps around the end */
	cr_expect_eq(sk_ringbuf_read(&rb, b, 4), 1);
	cr_expect_eq(sk_ringbuf_write(&rb, "w", 1), 1);
	cr_expect_eq(sk_ringbuf_commit(&rb, 2), 2);
	cr_expect_eq(sk_ringbuf_read(&rb, b, 4), 3);
	cr_expect_arr_eq(b, "wxy", 3);
	sk_ringbuf_release(&rb, M);
}

/* A ring of cap 8 whose 6 live bytes (4 readable, 2 held past the tail)
 * start at physical index 5, so they wrap after 3. */
static void wrapped_ring(struct sk_ringbuf *rb)
{
	uint8_t junk[5];

	cr_assert_eq(sk_ringbuf_alloc(rb, 8, M), 0);
	cr_assert_eq(sk_ringbuf_write(rb, "xxxxx", 5), 5);
	cr_assert_eq(sk_ringbuf_read(rb, junk, 5), 5);
	cr_assert_eq(sk_ringbuf_write(rb, "abcd", 4), 4);
	cr_assert_eq(sk_ringbuf_write_at(rb, 0, "ef", 2), 2);
}

static void expect_abcdef(struct sk_ringbuf *rb)
{
	char out[7] = {0};

	cr_expect_eq(sk_ringbuf_commit(rb, 2), 2, "the held bytes are still past the tail");
	cr_expect_eq(sk_ringbuf_read(rb, out, 6), 6);
	cr_expect_str_eq(out, "abcdef");
}

Test(tcp_ringbuf, growing_moves_the_wrapped_part_into_the_new_room)
{
	struct sk_ringbuf rb;

	wrapped_ring(&rb);
	/* 3 bytes wrapped, 8 new: they follow on at the old end. */
	cr_assert_eq(sk_ringbuf_grow(&rb, 16, 6, M), 0);
	cr_expect_eq(rb.cap, 16);
	cr_expect_eq(sk_ringbuf_len(&rb), 4);
	cr_expect_eq(sk_ringbuf_space(&rb), 12);
	expect_abcdef(&rb);
	/* The bigger ring wraps at its new end. */
	char out[16] = {0};
	cr_expect_eq(sk_ringbuf_write(&rb, "0123456789ABCDEF", 16), 16);
	cr_expect_eq(sk_ringbuf_read(&rb, out, 16), 16);
	cr_expect_eq(memcmp(out, "0123456789ABCDEF", 16), 0);
	sk_ringbuf_release(&rb, M);
}

Test(tcp_ringbuf, growing_by_less_than_the_wrapped_part_moves_the_head)
{
	struct sk_ringbuf rb;

	wrapped_ring(&rb);
	/* 3 wrapped, only 2 new: the 3 bytes before the wrap move to the
	 * new end instead. */
	cr_assert_eq(sk_ringbuf_grow(&rb, 10, 6, M), 0);
	cr_expect_eq(rb.head, 7);
	expect_abcdef(&rb);
	sk_ringbuf_release(&rb, M);
}

Test(tcp_ringbuf, growing_an_unwrapped_ring_moves_nothing_and_shrinking_is_refused)
{
	struct sk_ringbuf rb;
	char out[4] = {0};

	cr_assert_eq(sk_ringbuf_alloc(&rb, 8, M), 0);
	sk_ringbuf_write(&rb, "abc", 3);
	cr_expect_eq(sk_ringbuf_grow(&rb, 4, 3, M), -EINVAL, "never smaller");
	cr_expect_eq(sk_ringbuf_grow(&rb, 16, 2, M), -EINVAL, "the span covers the readable bytes");
	cr_expect_eq(sk_ringbuf_grow(&rb, 16, 9, M), -EINVAL, "nor more than the ring");
	cr_assert_eq(sk_ringbuf_grow(&rb, 16, 3, M), 0);
	cr_expect_eq(rb.head, 0);
	cr_expect_eq(sk_ringbuf_read(&rb, out, 3), 3);
	cr_expect_str_eq(out, "abc");
	sk_ringbuf_release(&rb, M);
}

Test(tcp_ringbuf, spans_name_the_stored_bytes_in_at_most_two_pieces)
{
	struct sk_ringbuf rb;
	struct sk_tx_frag f[2];

	cr_assert_eq(sk_ringbuf_alloc(&rb, 8, M), 0);
	sk_ringbuf_write(&rb, "xxxxxx", 6);
	sk_ringbuf_discard(&rb, 6);
	sk_ringbuf_write(&rb, "abcdef", 6); /* "ab" at 6..7, "cdef" at 0..3 */
	cr_assert_eq(sk_ringbuf_spans(&rb, 1, 4, f), 2);
	cr_expect_eq(f[0].data, sk_ringbuf_data(&rb) + 7);
	cr_expect_eq(f[0].len, 1);
	cr_expect_eq(f[1].data, sk_ringbuf_data(&rb));
	cr_expect_eq(f[1].len, 3);
	cr_expect_arr_eq(f[1].data, "cde", 3);
	cr_assert_eq(sk_ringbuf_spans(&rb, 2, 100, f), 1, "capped at what is stored");
	cr_expect_eq(f[0].len, 4);
	cr_expect_arr_eq(f[0].data, "cdef", 4);
	cr_expect_eq(sk_ringbuf_spans(&rb, 6, 1, f), 0, "nothing past the end");
	sk_ringbuf_release(&rb, M);
}
