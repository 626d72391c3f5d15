/* The default memory of a stack (sk_mem_libc, stack.h): the C library's
 * heap. A stack in a shared region gets its memory from the region's owner
 * instead (sk_stack_new_in; shim/shared/heap.c). */
#include <stdlib.h>

#include "stack.h"

static void *libc_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return calloc(1, size);
}

static void *libc_alloc_uninit(void *ctx, size_t size)
{
	(void)ctx;
	return malloc(size);
}

static void *libc_realloc(void *ctx, void *p, size_t old_size, size_t new_size)
{
	(void)ctx;
	(void)old_size;
	return realloc(p, new_size);
}

static void libc_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	(void)size;
	free(p);
}

const struct sk_mem_ops sk_mem_libc = {
    .alloc = libc_alloc,
    .alloc_uninit = libc_alloc_uninit,
    .realloc = libc_realloc,
    .free = libc_free,
};
