/* Self-relative pointers: a pointer stored as the distance from the field
 * that holds it, 0 meaning NULL (the "based pointer" of shared-memory
 * allocators). The stack's state may live in one region that several
 * processes map at different addresses (docs/architecture.md, "The stack's
 * memory"): an absolute pointer into the region is right only in the
 * process that stored it, an offset from its own field is right in every
 * mapping. A field must not be copied to another address (a struct copy):
 * the copy points elsewhere. Loads are one add: cheap on the per-segment
 * path. Integer arithmetic, not pointer arithmetic, since the field and its
 * target are different objects (C11 6.5.6). */
#ifndef SYNACK_CORE_REL_H
#define SYNACK_CORE_REL_H

#include <stdint.h>

typedef intptr_t sk_rel;

static inline void *sk_rel_get(const sk_rel *field)
{
	return *field ? (void *)((uintptr_t)field + (uintptr_t)*field) : NULL;
}

/* The same for a field known to be set (a part every stack has): no NULL
 * branch for the compiler to follow into the caller. */
static inline void *sk_rel_get_set(const sk_rel *field)
{
	return (void *)((uintptr_t)field + (uintptr_t)*field);
}

static inline void sk_rel_set(sk_rel *field, const void *p)
{
	*field = p ? (sk_rel)((uintptr_t)p - (uintptr_t)field) : 0;
}

#endif
