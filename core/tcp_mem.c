/* Ring memory: the per-connection send and receive rings get their storage
 * when first written, not when the connection is made (a half-open or idle
 * connection holds none), and all of it together stays under
 * sk_config.mem_max, as Linux's tcp_mem bounds the memory of every TCP
 * socket together. What is counted is the rings' capacity, the most they
 * can hold, so the bound is a real ceiling on the process's buffers. */
#include <errno.h>

#include "tcp.h"

static void account(struct sk_stack *st, size_t bytes)
{
	st->stats.tcp_ring_bytes += bytes;
	if (st->stats.tcp_ring_bytes > st->stats.tcp_ring_bytes_peak)
		st->stats.tcp_ring_bytes_peak = st->stats.tcp_ring_bytes;
}

bool tcp_mem_room(struct sk_stack *st, size_t more)
{
	uint64_t max = st->cfg.mem_max;

	if (max && (st->stats.tcp_ring_bytes > max || more > max - st->stats.tcp_ring_bytes)) {
		st->stats.tcp_mem_refused++;
		return false;
	}
	return true;
}

int tcp_ring_reserve(struct sk_stack *st, struct sk_ringbuf *rb)
{
	if (rb->buf)
		return 0;
	if (!tcp_mem_room(st, rb->cap))
		return -ENOBUFS;
	if (sk_ringbuf_reserve(rb, &st->mem) < 0)
		return -ENOBUFS;
	account(st, rb->cap);
	return 0;
}

int tcp_ring_grow(struct sk_stack *st, struct sk_ringbuf *rb, size_t cap, size_t span)
{
	size_t old = rb->cap;

	if (rb->buf && cap > old && !tcp_mem_room(st, cap - old))
		return -ENOBUFS;
	int err = sk_ringbuf_grow(rb, cap, span, &st->mem);

	if (err == 0 && rb->buf)
		account(st, rb->cap - old);
	return err;
}

void tcp_ring_release(struct sk_stack *st, struct sk_ringbuf *rb)
{
	if (rb->buf)
		st->stats.tcp_ring_bytes -= rb->cap;
	sk_ringbuf_release(rb, &st->mem);
}
