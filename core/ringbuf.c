/* Byte ring buffer; see ringbuf.h. */
#include "ringbuf.h"

#include <errno.h>
#include <string.h>

#include "stack_impl.h"

void sk_ringbuf_init(struct sk_ringbuf *rb, size_t cap)
{
	*rb = (struct sk_ringbuf){.cap = cap};
}

/* A ring of capacity 0 still gets a byte: "reserved" is "has storage". */
static size_t storage(size_t cap)
{
	return cap ? cap : 1;
}

int sk_ringbuf_reserve(struct sk_ringbuf *rb, const struct sk_mem_ops *mem)
{
	if (rb->buf)
		return 0;
	uint8_t *b = sk_mem_alloc_uninit(mem, storage(rb->cap));

	sk_rel_set(&rb->buf, b);
	return b ? 0 : -ENOMEM;
}

int sk_ringbuf_alloc(struct sk_ringbuf *rb, size_t cap, const struct sk_mem_ops *mem)
{
	sk_ringbuf_init(rb, cap);
	return sk_ringbuf_reserve(rb, mem);
}

void sk_ringbuf_release(struct sk_ringbuf *rb, const struct sk_mem_ops *mem)
{
	sk_mem_free(mem, sk_ringbuf_data(rb), storage(rb->cap));
	*rb = (struct sk_ringbuf){0};
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

int sk_ringbuf_grow(struct sk_ringbuf *rb, size_t cap, size_t span, const struct sk_mem_ops *mem)
{
	if (cap < rb->cap || span < rb->len || span > rb->cap)
		return -EINVAL;
	if (cap == rb->cap)
		return 0;
	if (!rb->buf) {
		rb->cap = cap; /* nothing stored (span <= cap was 0) */
		return 0;
	}
	size_t old = rb->cap;
	uint8_t *b = sk_mem_realloc(mem, sk_ringbuf_data(rb), storage(old), cap);

	if (!b)
		return -ENOMEM;
	sk_rel_set(&rb->buf, b);
	rb->cap = cap;
	if (rb->head + span <= old)
		return 0; /* the live bytes do not wrap: offsets hold as they are */
	/* The live bytes run [head, old) then wrap to [0, w). */
	size_t w = rb->head + span - old, tail = old - rb->head;

	if (w <= cap - old) {
		/* The wrapped part fits in the new room: it follows on. */
		memcpy(b + old, b, w);
	} else {
		/* Else the part before the wrap moves to the new end, so the
		 * wrapped part stays at [0, w); new_head >= w (span <= old). */
		size_t new_head = cap - tail;

		memmove(b + new_head, b + rb->head, tail);
		rb->head = new_head;
	}
	return 0;
}

/* Physical index of logical offset `off` (off <= cap). */
static size_t wrap(const struct sk_ringbuf *rb, size_t off)
{
	size_t i = rb->head + off;

	return i >= rb->cap ? i - rb->cap : i;
}

size_t sk_ringbuf_write_at(struct sk_ringbuf *rb, size_t off, const void *src, size_t n)
{
	size_t space = sk_ringbuf_space(rb);

	if (off >= space || !rb->buf)
		return 0;
	n = min_sz(n, space - off);
	if (n == 0)
		return 0;
	size_t at = wrap(rb, rb->len + off);
	size_t first = min_sz(n, rb->cap - at);

	uint8_t *buf = sk_ringbuf_data(rb);

	memcpy(buf + at, src, first);
	memcpy(buf, (const uint8_t *)src + first, n - first);
	return n;
}

size_t sk_ringbuf_commit(struct sk_ringbuf *rb, size_t n)
{
	n = rb->buf ? min_sz(n, sk_ringbuf_space(rb)) : 0;
	rb->len += n;
	return n;
}

size_t sk_ringbuf_write(struct sk_ringbuf *rb, const void *src, size_t n)
{
	return sk_ringbuf_commit(rb, sk_ringbuf_write_at(rb, 0, src, n));
}

size_t sk_ringbuf_peek(const struct sk_ringbuf *rb, size_t off, void *dst, size_t n)
{
	if (off >= rb->len)
		return 0;
	n = min_sz(n, rb->len - off);
	size_t start = wrap(rb, off);
	size_t first = min_sz(n, rb->cap - start);

	const uint8_t *buf = sk_ringbuf_data(rb);

	memcpy(dst, buf + start, first);
	memcpy((uint8_t *)dst + first, buf, n - first);
	return n;
}

unsigned sk_ringbuf_spans(const struct sk_ringbuf *rb, size_t off, size_t n, struct sk_tx_frag *out)
{
	if (off >= rb->len || n == 0)
		return 0;
	n = min_sz(n, rb->len - off);
	size_t start = wrap(rb, off);
	size_t first = min_sz(n, rb->cap - start);

	const uint8_t *buf = sk_ringbuf_data(rb);

	out[0] = (struct sk_tx_frag){buf + start, first};
	if (first == n)
		return 1;
	out[1] = (struct sk_tx_frag){buf, n - first};
	return 2;
}

size_t sk_ringbuf_discard(struct sk_ringbuf *rb, size_t n)
{
	n = min_sz(n, rb->len);
	/* Never re-centre an emptied ring: bytes stored past the tail by
	 * write_at must stay where they are. */
	rb->head = wrap(rb, n);
	rb->len -= n;
	return n;
}

size_t sk_ringbuf_read(struct sk_ringbuf *rb, void *dst, size_t n)
{
	return sk_ringbuf_discard(rb, sk_ringbuf_peek(rb, 0, dst, n));
}
