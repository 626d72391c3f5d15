/* Blocking waits (see wait.h). */
#include "wait.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../fd/internal_fd.h"
#include "../intercept/real.h"
#include "../runtime/locks.h"
#include "../shared/shm_stack.h"
#include "epoll.h"

/* Registered waiters; under the stack lock. */
static struct shim_waiter *waiters;
/* How many are on the list (read without the lock by rt_wait). */
static _Atomic unsigned registered;

static _Thread_local int thread_efd = -1;
static pthread_key_t efd_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

sk_time_t shim_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (sk_time_t)ts.tv_sec * 1000000u + (sk_time_t)ts.tv_nsec / 1000u;
}

/* A thread's eventfd goes with the thread. */
static void efd_destructor(void *p)
{
	int fd = (int)(intptr_t)p - 1;

	shim_internal_close(fd);
}

static void make_key(void)
{
	pthread_key_create(&efd_key, efd_destructor);
}

static int this_thread_efd(void)
{
	int fd;

	if (thread_efd >= 0)
		return thread_efd;
	pthread_once(&key_once, make_key);
	fd = REAL(eventfd)(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	fd = shim_internal_adopt(fd);
	thread_efd = fd;
	pthread_setspecific(efd_key, (void *)(intptr_t)(fd + 1));
	return fd;
}

int wait_register(struct shim_waiter *w, const int *socks, int nsocks, bool any)
{
	int fd = this_thread_efd();

	shim_assert_stack_locked();
	if (fd < 0)
		return fd;
	w->efd = fd;
	/* Another process may be the one that makes them ready. */
	for (int i = 0; i < nsocks; i++)
		shm_sock_interest(socks[i]);
	w->socks = socks;
	w->nsocks = nsocks;
	w->any = any;
	w->exclusive = false;
	w->prev = NULL;
	w->next = waiters;
	if (waiters)
		waiters->prev = w;
	waiters = w;
	atomic_fetch_add(&registered, 1);
	return 0;
}

int wait_register_exclusive(struct shim_waiter *w, const int *sock)
{
	int r = wait_register(w, sock, 0, false);

	if (r < 0)
		return r;
	w->socks = sock;
	w->nsocks = 1;
	w->exclusive = true;
	shm_sock_interest_exclusive(*sock);
	return 0;
}

/* Does this process still wait on sock exclusively, other than w? */
static bool exclusive_elsewhere(const struct shim_waiter *w, int sock)
{
	for (const struct shim_waiter *o = waiters; o; o = o->next)
		if (o != w && o->exclusive && o->socks[0] == sock)
			return true;
	return shim_epoll_watches_exclusive(sock);
}

void wait_unregister(struct shim_waiter *w)
{
	shim_assert_stack_locked();
	/* Not sticky: another process's wake-up must go to a process that
	 * waits (shm_wake_others picks among the exclusive ones). */
	if (w->exclusive && !exclusive_elsewhere(w, w->socks[0]))
		shm_sock_uninterest_exclusive(w->socks[0]);
	if (w->prev)
		w->prev->next = w->next;
	else if (waiters == w)
		waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	atomic_fetch_sub(&registered, 1);
}

static void signal_efd(int fd)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already huge: the waiter will wake. */
	(void)!REAL(write)(fd, &one, sizeof(one));
}

/* A wake-up that only says "a connection waits" goes to one exclusive
 * waiter; an error, a shutdown or a close wakes them all (Linux's
 * sk_state_change wakes every waiter). */
static bool only_a_connection(int sock)
{
	const struct sk_stack *st = shm_stack();

	return st && (sk_poll(st, sock) & ~(SK_POLLRDNORM | SK_POLLWRNORM)) == SK_POLLIN;
}

/* one: -1 asks only_a_connection when an exclusive waiter turns up (most
 * wake-ups find none and need not ask), 0 wakes every waiter. */
static void wake(int sock, int one)
{
	const struct shim_waiter *oldest_exclusive = NULL;

	shim_assert_stack_locked();
	for (struct shim_waiter *w = waiters; w; w = w->next) {
		bool hit = w->any;

		for (int i = 0; !hit && i < w->nsocks; i++)
			hit = w->socks[i] == sock;
		if (hit && w->exclusive && !w->any && one < 0)
			one = only_a_connection(sock);
		if (hit && one > 0 && w->exclusive && !w->any)
			oldest_exclusive = w; /* the list is newest first */
		else if (hit)
			signal_efd(w->efd);
	}
	if (oldest_exclusive)
		signal_efd(oldest_exclusive->efd);
}

void wait_wake(int sock)
{
	wake(sock, -1);
}

void wait_wake_every(int sock)
{
	wake(sock, 0);
}

void wait_wake_all(void)
{
	shim_assert_stack_locked();
	for (struct shim_waiter *w = waiters; w; w = w->next)
		signal_efd(w->efd);
}

static void drain(int fd)
{
	uint64_t v;

	(void)!REAL(read)(fd, &v, sizeof(v));
}

struct timespec *shim_timeout_ts(sk_time_t deadline, struct timespec *ts)
{
	sk_time_t now, left;

	if (deadline == SK_TIME_NEVER)
		return NULL;
	now = shim_now_us();
	left = deadline > now ? deadline - now : 0;
	ts->tv_sec = (time_t)(left / 1000000u);
	ts->tv_nsec = (long)(left % 1000000u) * 1000;
	return ts;
}

int wait_ppoll(const struct shim_waiter *w, struct pollfd *fds, nfds_t n, sk_time_t deadline,
               const sigset_t *sigmask, bool *woken)
{
	struct timespec ts;
	int r;

	/* The caller's array has room for the eventfd at fds[n]. */
	fds[n].fd = w->efd;
	fds[n].events = POLLIN;
	fds[n].revents = 0;
	r = REAL(ppoll)(fds, n + 1, shim_timeout_ts(deadline, &ts), sigmask);
	if (r < 0)
		return -errno;
	*woken = fds[n].revents != 0;
	if (*woken) {
		drain(w->efd);
		r--;
	}
	return r;
}

bool wait_consume(const struct shim_waiter *w)
{
	uint64_t v;

	return REAL(read)(w->efd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

unsigned wait_sleepers(void)
{
	return atomic_load(&registered);
}

int wait_sleep(const struct shim_waiter *w, sk_time_t deadline)
{
	struct pollfd pfd[1];
	bool woken = false;
	int r = wait_ppoll(w, pfd, 0, deadline, NULL, &woken);

	if (r < 0)
		return r;
	return woken ? 0 : -EAGAIN;
}

bool wait_restartable(void)
{
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		/* Fault signals come from the faulting instruction and SIGABRT
		 * from abort(): they never interrupt a blocked call, and synack's
		 * own crash reporter handles them without SA_RESTART. */
		if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS ||
		    sig == SIGILL || sig == SIGFPE || sig == SIGABRT || sig == SIGTRAP ||
		    sig == SIGSYS || sigaction(sig, NULL, &sa) != 0)
			continue;
		if (!(sa.sa_flags & SA_SIGINFO) &&
		    (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN))
			continue;
		if (!(sa.sa_flags & SA_RESTART))
			return false;
	}
	return true;
}

void wait_after_fork_child(void)
{
	waiters = NULL;
	registered = 0;
	thread_efd = -1;
	if (key_once == PTHREAD_ONCE_INIT)
		return;
	pthread_setspecific(efd_key, NULL);
}
