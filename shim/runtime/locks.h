/* The shim's locks, taken through one helper that keeps their order (the
 * table of locks, what each guards and their order: runtime.h). Built with
 * sanitizers (SYNACK_CHECK_LOCKS), the helpers abort with a message when
 * the order is broken or a lock is released by a thread that does not hold
 * it, and shim_assert_stack_locked() checks the "under the stack lock"
 * contracts written in the headers. Without, they cost nothing beyond the
 * lock itself. */
#ifndef SYNACK_SHIM_RUNTIME_LOCKS_H
#define SYNACK_SHIM_RUNTIME_LOCKS_H

#include <pthread.h>
#include <stdbool.h>

enum shim_lock_rank {
	SHIM_LOCK_EPREG = 1,
	SHIM_LOCK_START,
	SHIM_LOCK_STACK,
	SHIM_LOCK_FDTABLE,
	SHIM_LOCK_KSIDE,
};

/* Enter the guard, then take m (of rank r) / release m, then leave. */
void shim_mutex_lock(pthread_mutex_t *m, enum shim_lock_rank r);
void shim_mutex_unlock(pthread_mutex_t *m, enum shim_lock_rank r);

/* Bookkeeping only, for locks taken by other means (the stack's robust
 * mutex, fork's handlers, a fork child that inherits a lock's state). */
void shim_lock_note_taken(enum shim_lock_rank r);
void shim_lock_note_released(enum shim_lock_rank r);
/* A fork child: the parent's threads held what they held; this thread
 * holds what the handlers took. */
void shim_lock_note_reset(unsigned held_mask);

/* How shim_assert_stack_locked() asks (shared/shm_stack.c, once the stack
 * is attached: this file is in the pure library, the stack is not). */
void shim_locks_stack_check(bool (*held_by_me)(void));

#ifdef SYNACK_CHECK_LOCKS
void shim_assert_stack_locked_at(const char *func);
#define shim_assert_stack_locked() shim_assert_stack_locked_at(__func__)
#else
#define shim_assert_stack_locked() ((void)0)
#endif

#endif
