/* The lock helpers (see locks.h). */
#include "locks.h"

#include <stdio.h>
#include <stdlib.h>

#include "../intercept/entry.h"

#ifdef SYNACK_CHECK_LOCKS
/* Bit r: this thread holds the lock of rank r. */
static _Thread_local unsigned held;

static void lock_order_failure(const char *what, enum shim_lock_rank r)
{
	fprintf(stderr, "synack: lock order violated: %s rank %d while holding 0x%x (locks.h)\n",
	        what, (int)r, held);
	abort();
}
#endif

void shim_lock_note_taken(enum shim_lock_rank r)
{
#ifdef SYNACK_CHECK_LOCKS
	if (held >> r)
		lock_order_failure("taking", r);
	held |= 1u << r;
#else
	(void)r;
#endif
}

void shim_lock_note_released(enum shim_lock_rank r)
{
#ifdef SYNACK_CHECK_LOCKS
	if (!(held & (1u << r)))
		lock_order_failure("releasing (not held)", r);
	held &= ~(1u << r);
#else
	(void)r;
#endif
}

void shim_lock_note_reset(unsigned held_mask)
{
#ifdef SYNACK_CHECK_LOCKS
	held = held_mask;
#else
	(void)held_mask;
#endif
}

void shim_mutex_lock(pthread_mutex_t *m, enum shim_lock_rank r)
{
	shim_enter();
	shim_lock_note_taken(r);
	pthread_mutex_lock(m);
}

void shim_mutex_unlock(pthread_mutex_t *m, enum shim_lock_rank r)
{
	pthread_mutex_unlock(m);
	shim_lock_note_released(r);
	shim_leave();
}

static bool (*stack_held)(void);

void shim_locks_stack_check(bool (*held_by_me)(void))
{
	stack_held = held_by_me;
}

#ifdef SYNACK_CHECK_LOCKS
void shim_assert_stack_locked_at(const char *func)
{
	if (stack_held && !stack_held()) {
		fprintf(stderr, "synack: %s called without the stack lock (locks.h)\n", func);
		abort();
	}
}
#endif
