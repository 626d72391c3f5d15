/* An allocator for one block of memory that several processes map, each at
 * its own address (a shared stack: docs/architecture.md, "The stack's
 * memory"). Pure C: no syscalls, no globals; the caller maps the block and
 * serialises the calls (the stack's lock). All its bookkeeping lives inside
 * the block as offsets from `base`, so any mapping may call it.
 *
 * Layout: [heap header][reserved_head bytes for the caller][blocks...].
 * Blocks are powers of two from 64 bytes, 64-byte aligned from base, one
 * free list per size (segregated fits), taken from the high-water mark
 * when their list is empty: alloc and free are O(1). The caller passes the
 * size back to free and realloc (struct sk_mem_ops does), so blocks carry
 * no header. Every offset read from the block is bounds-checked: a damaged
 * free list makes alloc fail (NULL), it never leads outside the block. */
#ifndef SYNACK_SHIM_SHARED_HEAP_H
#define SYNACK_SHIM_SHARED_HEAP_H

#include <stddef.h>

#include "stack.h"

#define SHM_HEAP_ALIGN 64u

/* Lay a heap out over [base, base + size), which must be zero-filled
 * (see shm_heap_alloc): 0, or -1 when the block cannot
 * hold the header, reserved_head bytes and one block. base must be
 * SHM_HEAP_ALIGN-aligned in every mapping (a page-aligned mmap is). */
int shm_heap_init(void *base, size_t size, size_t reserved_head);
/* The caller's reserved_head bytes (NULL when base holds no heap). */
void *shm_heap_reserved(void *base);

/* n bytes, zero-filled, SHM_HEAP_ALIGN-aligned; NULL when the block is
 * full (or its bookkeeping damaged). Memory never handed out before is not
 * written (its pages stay untouched): the block given to shm_heap_init
 * must be zero-filled, as a new shared memory object or memfd is. */
void *shm_heap_alloc(void *base, size_t n);
/* The same with the contents undefined (sk_mem_ops.alloc_uninit). */
void *shm_heap_alloc_uninit(void *base, size_t n);
/* Resize p (old bytes) to n: p itself when both round to the same block,
 * else a new block with the first min(old, n) bytes, p freed. NULL: no
 * room, p is unchanged. p NULL: shm_heap_alloc. */
void *shm_heap_realloc(void *base, void *p, size_t old, size_t n);
/* Give back p, allocated with n bytes. A pointer outside the block or not
 * one of its block starts is ignored. */
void shm_heap_free(void *base, void *p, size_t n);
/* Bytes in allocated blocks, and bytes that can still be allocated
 * (the free lists and what lies above the high-water mark). */
void shm_heap_stats(void *base, size_t *used, size_t *free_bytes);
/* Bytes on the free lists alone (blocks freed and not handed out again). */
size_t shm_heap_freed(void *base);

/* struct sk_mem_ops over a heap, ctx = base: pass
 * shm_heap_mem_ops(base) to sk_stack_new_in or sk_stack_bind. */
struct sk_mem_ops shm_heap_mem_ops(void *base);

#endif
