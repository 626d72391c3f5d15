/* A bounded byte ring: the per-connection send and receive buffers.
 *
 * The send ring holds the bytes from SND.UNA on (unacknowledged, then not
 * yet sent); the receive ring holds in-order bytes not yet read. Segments
 * are copied straight between a ring and the frame buffer (one copy each
 * way), so the ring offers offset-based peek and discard rather than a
 * segment queue. Capacity is any size (not only powers of two): it comes
 * from SO_SNDBUF/SO_RCVBUF. */
#ifndef SYNACK_CORE_RINGBUF_H
#define SYNACK_CORE_RINGBUF_H

#include <stddef.h>
#include <stdint.h>

#include "rel.h"

struct sk_tx_frag;
struct sk_mem_ops;

/* The storage is a self-relative pointer (rel.h): a ring may live in memory
 * that processes map at different addresses, and must not be copied. The
 * calls that allocate take the memory to use (sk_mem_ops, stack.h). */
struct sk_ringbuf {
	sk_rel buf; /* NULL until reserved (sk_ringbuf_init); sk_ringbuf_data */
	size_t cap;
	size_t head; /* index of the oldest byte */
	size_t len;  /* bytes stored */
};

/* An empty ring of capacity `cap` whose storage is allocated only when
 * first needed (sk_ringbuf_reserve): a connection that never carries data
 * in one direction never holds that buffer (docs/security.md). Until then
 * every call below works (space() is cap) except the writes, which store
 * nothing. */
void sk_ringbuf_init(struct sk_ringbuf *rb, size_t cap);
/* Allocate the storage of an initialised ring if it has none: 0 or
 * -ENOMEM. */
int sk_ringbuf_reserve(struct sk_ringbuf *rb, const struct sk_mem_ops *mem);
/* init + reserve: `cap` bytes now (0 or -ENOMEM). An unallocated ring
 * ({0}) has capacity 0 and is valid for every call below. */
int sk_ringbuf_alloc(struct sk_ringbuf *rb, size_t cap, const struct sk_mem_ops *mem);
/* Free the storage; the ring is {0} again (capacity 0). */
void sk_ringbuf_release(struct sk_ringbuf *rb, const struct sk_mem_ops *mem);

/* The storage, NULL while none is reserved. */
static inline uint8_t *sk_ringbuf_data(const struct sk_ringbuf *rb)
{
	return (uint8_t *)sk_rel_get(&rb->buf);
}

static inline size_t sk_ringbuf_len(const struct sk_ringbuf *rb)
{
	return rb->len;
}
static inline size_t sk_ringbuf_space(const struct sk_ringbuf *rb)
{
	return rb->cap - rb->len;
}

/* Enlarge the ring to `cap` bytes (receive autotuning; never on the
 * per-segment path: it reallocates). The first `span` bytes from the
 * oldest (span >= len: the readable bytes and any stored past them by
 * write_at) keep their offsets; the rest of the free space is undefined.
 * A ring without storage only changes its capacity. 0, -EINVAL (cap smaller than now, or span beyond it) or -ENOMEM (the
 * ring is unchanged). */
int sk_ringbuf_grow(struct sk_ringbuf *rb, size_t cap, size_t span, const struct sk_mem_ops *mem);

/* Append up to n bytes; returns how many fitted. */
size_t sk_ringbuf_write(struct sk_ringbuf *rb, const void *src, size_t n);

/* Store up to n bytes `off` bytes past the newest one, in the free space,
 * without making them readable (out-of-order TCP data waiting for a hole
 * to fill); returns how many fitted. */
size_t sk_ringbuf_write_at(struct sk_ringbuf *rb, size_t off, const void *src, size_t n);

/* Make the next n bytes of free space readable, as stored there by
 * write_at; returns the count (at most the free space). */
size_t sk_ringbuf_commit(struct sk_ringbuf *rb, size_t n);

/* Copy up to n bytes starting `off` bytes after the oldest, without
 * consuming them; returns the count copied. */
size_t sk_ringbuf_peek(const struct sk_ringbuf *rb, size_t off, void *dst, size_t n);

/* Where up to n bytes starting `off` bytes after the oldest are stored: at
 * most two pieces (the ring wraps), written to out; returns how many. */
unsigned sk_ringbuf_spans(const struct sk_ringbuf *rb, size_t off, size_t n,
                          struct sk_tx_frag *out);

/* Drop up to n of the oldest bytes; returns the count dropped. */
size_t sk_ringbuf_discard(struct sk_ringbuf *rb, size_t n);

/* peek(0) then discard: the receive path's copy out. */
size_t sk_ringbuf_read(struct sk_ringbuf *rb, void *dst, size_t n);

#endif
