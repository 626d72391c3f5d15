/* One stack in shared memory for every process on an interface: the lock, its
 * recovery, leaving (see shm_stack.h, shm_self.h). */
#include "shm_stack.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../netdev/netdev.h"
#include "../intercept/real.h"
#include "../runtime/locks.h"
#include "../runtime/log.h"
#include "shm_self.h"

struct shm_self shm_me = {.slot = -1, .wake_fd = -1, .send_fd = -1, .fork_slot = -1, .lock_fd = -1};

int shm_lock_fd(void)
{
	return shm_me.lock_fd;
}

const char *shm_stack_name(void)
{
	return shm_me.name;
}

struct shm_header *shm_header(void)
{
	return shm_me.hdr;
}

int shm_my_slot(void)
{
	return shm_me.slot;
}

/* ---- process slots ------------------------------------------------- */

void shm_reader_set(bool reads)
{
	shim_assert_stack_locked();
	if (shm_me.hdr && shm_me.slot >= 0)
		shm_me.hdr->procs[shm_me.slot].reads = reads;
}

void shm_reader_read(sk_time_t now)
{
	if (shm_me.hdr && shm_me.slot >= 0)
		shm_me.hdr->procs[shm_me.slot].read_at = now;
}

bool shm_reader_elsewhere(sk_time_t now, sk_time_t fresh)
{
	shim_assert_stack_locked();
	for (int i = 0; shm_me.hdr && i < SHM_MAX_PROCS; i++) {
		const struct shm_proc *p = &shm_me.hdr->procs[i];

		if (i != shm_me.slot && p->state == SHM_PROC_LIVE && !p->keeper && p->reads &&
		    p->read_at + fresh > now)
			return true;
	}
	return false;
}

unsigned shm_live_procs_except(uint64_t token)
{
	unsigned n = 0;

	for (int i = 0; shm_me.hdr && i < SHM_MAX_PROCS; i++) {
		const struct shm_proc *p = &shm_me.hdr->procs[i];

		n += p->state != SHM_PROC_FREE && !p->keeper && (token == 0 || p->token != token);
	}
	return n;
}

unsigned shm_live_procs(void)
{
	return shm_live_procs_except(0);
}

uint64_t shm_my_token(void)
{
	return shm_me.token;
}

/* ---- the lock ------------------------------------------------------ */

void shm_bind_me(struct sk_stack *st)
{
	struct shm_header *h = shm_me.hdr;

	if (h->bound_token == shm_me.token)
		return;
	sk_stack_bind(st, &shm_me.link, shm_me.link_ctx, &shm_me.hooks, &shm_me.mem,
	              (uint32_t)shm_me.token);
	if (shm_me.dev)
		sk_stack_bind_device(st, shm_me.dev->gso_max, shm_me.dev->gso_max_segs,
		                     shm_me.dev->tx_csum);
	h->bound_token = shm_me.token;
}

/* The holder died: whatever it was doing is half done. The derived
 * indexes are rebuilt from the socket arena and what cannot be rebuilt is
 * checked (sk_stack_repair); then the dead process's slot is released. A
 * stack that cannot be made consistent is declared broken: no process
 * attaches to it any more, and every one says so. */
static void recover(struct sk_stack *st)
{
	char why[160] = "";

	atomic_fetch_add(&shm_me.hdr->recoveries, 1);
	shm_me.hdr->bound_token = 0; /* the dead process's bindings */
	shm_bind_me(st);
	if (sk_stack_repair(st, why, sizeof(why)) < 0) {
		snprintf(shm_me.hdr->broken_why, sizeof(shm_me.hdr->broken_why), "%s", why);
		atomic_store(&shm_me.hdr->state, SHM_BROKEN);
		shim_log(SK_LOG_ERROR,
		         "stack %s is broken: a process died holding its lock and the state it "
		         "left is inconsistent (%s); restart the programs using %s",
		         shm_me.name, why, shm_me.name);
	} else {
		shim_log(SK_LOG_WARN,
		         "stack %s: a process died holding the stack lock; the stack was "
		         "checked and repaired",
		         shm_me.name);
	}
	shm_sweep_now(st, true);
}

/* Spin a little before sleeping on the lock. A holder keeps it for one
 * call into core, microseconds, and on the other CPU is usually about to
 * let go: sleeping on the futex instead costs a context switch at each
 * end, the waker's as much as the sleeper's (a profile of nginx under
 * synack: 13 % of its samples in futex waits for this lock while its
 * runtime thread took in frames; docs/performance.md). glibc spins for
 * PTHREAD_MUTEX_ADAPTIVE_NP mutexes only, and a robust one cannot be
 * adaptive; the kernel's own mutexes spin while their owner runs. Reads,
 * then one try when the lock looks free: the line is not bounced between
 * CPUs while it is held. About 10 µs at most. */
#define SHM_LOCK_SPINS 256

static int lock_spinning(pthread_mutex_t *m)
{
	for (int i = 0; i < SHM_LOCK_SPINS; i++) {
		if (__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 0) {
			int r = pthread_mutex_trylock(m);

			if (r != EBUSY)
				return r;
		}
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
	return pthread_mutex_lock(m);
}

struct sk_stack *shm_stack_lock(void)
{
	struct shm_header *h = shm_me.hdr;
	struct sk_stack *st = stack_of(h);
	int r;

	shim_lock_note_taken(SHIM_LOCK_STACK);
	r = lock_spinning(&h->lock);
	if (r == EOWNERDEAD) {
		shm_me.holder = pthread_self();
		shm_me.held = true;
		recover(st);
		pthread_mutex_consistent(&h->lock);
	} else {
		shm_me.holder = pthread_self();
		shm_me.held = true;
	}
	shm_bind_me(st);
	return st;
}

void shm_stack_unlock(void)
{
	shm_me.held = false;
	pthread_mutex_unlock(&shm_me.hdr->lock);
	shim_lock_note_released(SHIM_LOCK_STACK);
}

bool shm_stack_locked_by_me(void)
{
	return shm_me.held && pthread_equal(shm_me.holder, pthread_self());
}

struct sk_stack *shm_stack(void)
{
	return shm_me.hdr ? stack_of(shm_me.hdr) : NULL;
}

/* ---- detach -------------------------------------------------------- */

bool shm_stack_detach_begin(bool *last)
{
	*last = false;
	if (!shm_me.hdr || shm_me.slot < 0)
		return false;
	shm_stack_lock();
	shm_sweep_now(stack_of(shm_me.hdr), true);
	*last = shm_live_procs() <= 1;
	shm_stack_unlock();
	return true;
}

/* Under the lock: nothing is left in the arena (no connection, no
 * listener, no orphan): the stack can go. */
bool shm_arena_empty(struct sk_stack *st)
{
	return sk_next_socket(st, -1) < 0 && sk_time_wait_count(st) == 0;
}

void shm_stack_leave(bool remove_if_empty)
{
	struct sk_stack *st;

	if (!shm_me.hdr || shm_me.slot < 0)
		return;
	st = shm_stack_lock();
	shm_slot_release(st, shm_me.slot, NULL);
	shm_me.slot = -1;
	if (remove_if_empty && shm_live_procs() == 0 && shm_arena_empty(st)) {
		atomic_store(&shm_me.hdr->state, SHM_REMOVED);
		shm_unlink(shm_me.name);
	}
	shm_stack_unlock();
}
