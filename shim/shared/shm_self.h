/* What the files of shim/shared/ share about this process's view of the
 * stack (internal: shm_stack.h is the interface). The files:
 *   shm_stack.c   the lock, its recovery, leaving
 *   shm_attach.c  naming, creating or mapping the region, stale stacks
 *   shm_procs.c   process slots: liveness and sweeping, fork, exec
 *   shm_socks.c   per socket across processes: holders, interest, wakes,
 *                 the trace's owner
 */
#ifndef SYNACK_SHIM_SHARED_SHM_SELF_H
#define SYNACK_SHIM_SHARED_SHM_SELF_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "../../core/stack.h"
#include "shm_layout.h"

struct netdev;

/* This process's view of the stack. */
struct shm_self {
	struct shm_header *hdr; /* NULL: not attached */
	size_t size;
	int slot;
	uint64_t token; /* sk_stack_bind's owner: this attach of this image */
	struct sk_link_ops link;
	void *link_ctx;
	struct sk_hooks hooks;
	struct sk_mem_ops mem;
	struct netdev *dev;
	int wake_fd;      /* bound to our wake address (internal) */
	int send_fd;      /* unbound, for waking the others (internal) */
	char name[96];    /* shm_open name */
	pthread_t holder; /* the thread holding the lock, when held */
	bool held;
	int fork_slot;     /* the child's slot reserved by shm_fork_prepare */
	bool fork_keeper;  /* the next fork's child is the keeper (keeper.c) */
	bool trace_states; /* SYNACK_TRACE=states (shm_trace_route) */
	int lock_fd;       /* the object, flock(LOCK_SH) while attached */
	sk_time_t next_sweep;
};
extern struct shm_self shm_me;

/* ---- small helpers ------------------------------------------------- */

static inline sk_time_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (sk_time_t)ts.tv_sec * 1000000u + (sk_time_t)ts.tv_nsec / 1000u;
}

static inline struct shm_sock *socks(void)
{
	return (struct shm_sock *)((char *)shm_me.hdr + shm_me.hdr->socks_off);
}

static inline struct sk_stack *stack_of(struct shm_header *h)
{
	return (struct sk_stack *)((char *)h + h->stack_off);
}

static inline bool mask_test(const uint64_t *m, int slot)
{
	return (m[slot / 64] >> (slot % 64)) & 1u;
}

static inline void mask_set(uint64_t *m, int slot)
{
	m[slot / 64] |= (uint64_t)1 << (slot % 64);
}

static inline void mask_clear(uint64_t *m, int slot)
{
	m[slot / 64] &= ~((uint64_t)1 << (slot % 64));
}

static inline bool mask_empty(const uint64_t *m)
{
	for (int i = 0; i < SHM_MASK_WORDS; i++)
		if (m[i])
			return false;
	return true;
}

/* Under the lock. */
void shm_bind_me(struct sk_stack *st);
/* A free slot (its token new), or -1. */
int shm_slot_alloc(void);
/* Drop everything slot holds, closing what nobody else holds; free it.
 * why: a log line's end ("is gone"), NULL for none. */
void shm_slot_release(struct sk_stack *st, int slot, const char *why);
/* Release the slots of processes that are gone (all: now, else at most
 * every SHM_SWEEP_US). */
void shm_sweep_now(struct sk_stack *st, bool all);
/* Tell slot's process to look at its wake ring (one datagram). */
void shm_signal_slot(int slot);
/* Not under the lock: bind this process's wake socket (again). */
void shm_open_wake_sockets(void);

#endif
