/* The shared-region allocator; see heap.h. */
#include "heap.h"

#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#define HEAP_MAGIC 0x73796e61636b4850ull /* "synackHP" */
#define MIN_SHIFT  6                     /* 64 bytes, SHM_HEAP_ALIGN */
#define NCLASSES   48                    /* 64 B << 47: beyond any block */

struct heap_hdr {
	uint64_t magic;
	uint64_t size;     /* bytes of the whole block */
	uint64_t reserved; /* offset of the caller's reserved bytes */
	uint64_t start;    /* offset of the first allocatable byte */
	uint64_t top;      /* high-water mark: [start, top) has been handed out */
	uint64_t used;     /* bytes in allocated blocks */
	uint64_t freed;    /* bytes on the free lists */
	/* Heads of the free lists, offsets from base (0: empty); a free
	 * block's first 8 bytes hold the offset of the next one. */
	uint64_t free_head[NCLASSES];
};

static uint64_t align_up(uint64_t n)
{
	return (n + SHM_HEAP_ALIGN - 1) & ~(uint64_t)(SHM_HEAP_ALIGN - 1);
}

/* The header, when it looks like one: every later call trusts only what
 * these checks bound. */
static struct heap_hdr *hdr(void *base)
{
	struct heap_hdr *h = base;

	if (!h || h->magic != HEAP_MAGIC || h->start > h->top || h->top > h->size ||
	    h->start < sizeof(*h))
		return NULL;
	return h;
}

int shm_heap_init(void *base, size_t size, size_t reserved_head)
{
	struct heap_hdr *h = base;
	uint64_t reserved = align_up(sizeof(*h));
	uint64_t start = align_up(reserved + reserved_head);

	if (!base || ((uintptr_t)base % SHM_HEAP_ALIGN) || start < reserved ||
	    start + SHM_HEAP_ALIGN > size)
		return -1;
	memset(h, 0, sizeof(*h));
	h->size = size;
	h->reserved = reserved;
	h->start = h->top = start;
	h->magic = HEAP_MAGIC;
	return 0;
}

void *shm_heap_reserved(void *base)
{
	struct heap_hdr *h = hdr(base);

	return h ? (uint8_t *)base + h->reserved : NULL;
}

/* The class of an n-byte request: blocks of 64 << class bytes. */
static unsigned class_of(size_t n)
{
	if (n <= SHM_HEAP_ALIGN)
		return 0;
	unsigned bits = 64 - (unsigned)__builtin_clzll((unsigned long long)n - 1);

	return bits - MIN_SHIFT;
}

static uint64_t class_size(unsigned c)
{
	return (uint64_t)SHM_HEAP_ALIGN << c;
}

/* Is [off, off + len) a block the heap has handed out? */
static bool block_ok(const struct heap_hdr *h, uint64_t off, uint64_t len)
{
	return off >= h->start && off % SHM_HEAP_ALIGN == 0 && off <= h->top && len <= h->top - off;
}

/* A block of n bytes, its contents as they are: zero when it comes from
 * above the high-water mark (the block was zero-filled when the heap was
 * laid out, and nothing was stored there since), the old contents when it
 * comes from a free list (*fresh says which). */
static void *take(void *base, size_t n, bool *fresh)
{
	struct heap_hdr *h = hdr(base);
	unsigned c = class_of(n);

	if (!h || c >= NCLASSES)
		return NULL;
	uint64_t len = class_size(c), off = h->free_head[c];
	uint8_t *p;

	if (off && block_ok(h, off, len)) {
		uint64_t next;

		p = (uint8_t *)base + off;
		memcpy(&next, p, sizeof(next));
		/* A damaged link ends the list rather than leading out. */
		h->free_head[c] = next && block_ok(h, next, len) ? next : 0;
		h->freed = h->freed >= len ? h->freed - len : 0;
		*fresh = false;
	} else {
		h->free_head[c] = 0; /* empty, or damaged: forgotten */
		if (len > h->size - h->top)
			return NULL;
		p = (uint8_t *)base + h->top;
		h->top += len;
		*fresh = true;
	}
	h->used += len;
	return p;
}

void *shm_heap_alloc(void *base, size_t n)
{
	bool fresh = false;
	void *p = take(base, n, &fresh);

	/* Fresh memory is zero already, and its pages stay untouched. */
	if (p && !fresh)
		memset(p, 0, n);
	return p;
}

void *shm_heap_alloc_uninit(void *base, size_t n)
{
	bool fresh;

	return take(base, n, &fresh);
}

void shm_heap_free(void *base, void *p, size_t n)
{
	struct heap_hdr *h = hdr(base);
	unsigned c = class_of(n);

	if (!h || !p || c >= NCLASSES || (uintptr_t)p < (uintptr_t)base)
		return;
	uint64_t len = class_size(c), off = (uint64_t)((uintptr_t)p - (uintptr_t)base);

	if (!block_ok(h, off, len))
		return;
	memcpy(p, &h->free_head[c], sizeof(uint64_t));
	h->free_head[c] = off;
	h->used = h->used >= len ? h->used - len : 0;
	h->freed += len;
}

size_t shm_heap_freed(void *base)
{
	struct heap_hdr *h = hdr(base);

	return h ? (size_t)h->freed : 0;
}

void *shm_heap_realloc(void *base, void *p, size_t old, size_t n)
{
	if (!p)
		return shm_heap_alloc(base, n);
	if (class_of(old) == class_of(n))
		return p;
	void *q = shm_heap_alloc_uninit(base, n);

	if (!q)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	if (n > old)
		memset((uint8_t *)q + old, 0, n - old);
	shm_heap_free(base, p, old);
	return q;
}

void shm_heap_stats(void *base, size_t *used, size_t *free_bytes)
{
	struct heap_hdr *h = hdr(base);

	*used = h ? (size_t)h->used : 0;
	*free_bytes = h ? (size_t)(h->freed + (h->size - h->top)) : 0;
}

static void *ops_alloc(void *ctx, size_t size)
{
	return shm_heap_alloc(ctx, size);
}

static void *ops_alloc_uninit(void *ctx, size_t size)
{
	return shm_heap_alloc_uninit(ctx, size);
}

static void *ops_realloc(void *ctx, void *p, size_t old_size, size_t new_size)
{
	return shm_heap_realloc(ctx, p, old_size, new_size);
}

static void ops_free(void *ctx, void *p, size_t size)
{
	shm_heap_free(ctx, p, size);
}

struct sk_mem_ops shm_heap_mem_ops(void *base)
{
	return (struct sk_mem_ops){
	    .ctx = base,
	    .alloc = ops_alloc,
	    .alloc_uninit = ops_alloc_uninit,
	    .realloc = ops_realloc,
	    .free = ops_free};
}
