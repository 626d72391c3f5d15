/* Sleeping until a synack socket may have become ready (design brief §5).
 *
 * A thread that must block registers a waiter naming the core sockets it
 * waits on, then sleeps in ppoll on its own eventfd (per thread, created on
 * first use, internal). The stack's wake hook signals the eventfd of every
 * waiter on that socket. Registration, unregistration and wake-ups all run
 * under the stack lock, and a waiter registers BEFORE it releases the lock
 * after finding its socket not ready: a wake-up between the check and the
 * sleep stays pending in the eventfd counter, so none is lost.
 *
 * Never a spin, never a condition variable: signals interrupt the ppoll
 * (EINTR) exactly as they would interrupt a kernel socket call.
 */
#ifndef SYNACK_SHIM_WAIT_H
#define SYNACK_SHIM_WAIT_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>

#include "../../core/sk_time.h"

struct shim_waiter {
	int efd;          /* the waiting thread's eventfd */
	const int *socks; /* core sockets waited on */
	int nsocks;
	bool any; /* woken by every socket (exit linger) */
	/* A blocking accept(): of the exclusive waiters on a socket, one is
	 * woken, the one that waits longest (Linux's prepare_to_wait_exclusive
	 * in inet_csk_wait_for_connect), in this process and across them. */
	bool exclusive;
	struct shim_waiter *prev, *next;
};

/* Under the stack lock. 0, or -errno when this thread has no eventfd
 * (EMFILE...). */
int wait_register(struct shim_waiter *w, const int *socks, int nsocks, bool any);
void wait_unregister(struct shim_waiter *w);
/* wait_register for one socket, as an exclusive waiter (accept). */
int wait_register_exclusive(struct shim_waiter *w, const int *sock);

/* The stack's wake hook (under the stack lock). A listener's new
 * connection wakes one exclusive waiter (accept); anything else all. */
void wait_wake(int sock);
/* Every waiter on sock (its last fd was closed: they return EBADF). */
void wait_wake_every(int sock);
/* Every waiter (another process's wake-ups overflowed: shm_stack.h). */
void wait_wake_all(void);

/* Not under the lock: sleep until woken or `deadline` (CLOCK_MONOTONIC µs,
 * SK_TIME_NEVER = no timeout). 0 woken, -EAGAIN timed out, -EINTR. */
int wait_sleep(const struct shim_waiter *w, sk_time_t deadline);

/* ppoll on fds[0..n-1] plus the waiter's eventfd until one is ready or
 * `deadline`. Returns ppoll's count over fds (the eventfd excluded: it is
 * drained) or -errno. *woken says whether the eventfd fired. */
int wait_ppoll(const struct shim_waiter *w, struct pollfd *fds, nfds_t n, sk_time_t deadline,
               const sigset_t *sigmask, bool *woken);

/* Take a pending wake-up of w without sleeping: true when there was one. */
bool wait_consume(const struct shim_waiter *w);

/* Waiters registered now (any thread; a snapshot). */
unsigned wait_sleepers(void);

/* SA_RESTART semantics: true when every installed signal handler has
 * SA_RESTART, so an interrupted call without a timeout restarts (as the
 * kernel would for whichever signal it was); false when one does not, so
 * the call fails with EINTR. */
bool wait_restartable(void);

/* The time left until `deadline` in *ts, for ppoll; NULL for SK_TIME_NEVER. */
struct timespec *shim_timeout_ts(sk_time_t deadline, struct timespec *ts);

/* Monotonic clock, µs. */
sk_time_t shim_now_us(void);

/* fork child: the waiters belonged to threads that do not exist there, and
 * this thread's eventfd was closed with the other internal fds. */
void wait_after_fork_child(void);

#endif
