/* The packet socket's last reference, away from the exiting program.
 *
 * Closing the last reference of an AF_PACKET socket waits for an RCU grace
 * period (packet_release in the kernel's net/packet/af_packet.c calls
 * synchronize_net), 5 to 15 ms here, bound or not. At exit the kernel closes
 * a process's files before its parent's wait() returns, so every
 * short-lived program would pay it: `synack run -- /bin/true` took 15 ms
 * instead of 1 (docs/performance.md "Start and exit"). The kernel's own
 * sockets have no such cost. So at exit a child takes a reference of the
 * packet socket and drops it only after the program is gone: the program's
 * close is not the last one, and the child's exit, which nobody waits for,
 * pays the grace period.
 *
 * The child ("synack-close") runs none of the program's code. It is made
 * with a bare clone(2) that shares the program's memory (CLONE_VM: no page
 * table is copied, 0.05 ms where a fork of curl took 0.4) and nothing
 * else: no atfork handler runs, and it has its own copy of the fd table,
 * in which it closes every fd but the packet socket and a pidfd of the
 * program (a pipe the program's parent reads to its end must see that end:
 * `$(...)`, a test harness). It starts with every signal blocked (SIGKILL
 * still ends it), in a session of its own, in "/". It waits until the
 * pidfd is readable, which is when every thread of the program has exited
 * and so the program's files are closed, at most CLOSER_WAIT_S, and exits.
 * As it shares the program's memory and thread pointer, it makes raw
 * system calls only: no libc state, none of synack's (close_range is
 * synack's own wrapper in this library, over the program's fd table); of
 * libc's syscall() only errno would be written, on a failure, and none of
 * these calls fails. It
 * has no exit signal: the program's wait() never sees it (a "clone" child,
 * wait(2) __WCLONE). Once the program is gone it is the child of init or
 * of the nearest subreaper, which reaps it (reparenting gives it SIGCHLD,
 * kernel/exit.c reparent_leader). Its exit frees the program's memory,
 * which the program's own exit then no longer waits for either.
 *
 * When the keeper (shared/keeper.h) starts, it holds the packet socket and
 * no closer is needed: the keeper's own exit pays, later, unwaited for.
 */
#include "closer.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* The rest of the program's exit (other libraries' destructors, the
 * kernel closing its files) takes milliseconds: past this the closer lets
 * go and the program pays for the close, if it ever exits. */
#define CLOSER_WAIT_S 10
/* The closer's own stack (it shares the program's memory): a few frames
 * of system calls. Never unmapped: the memory goes with the last of the
 * program and the closer. */
#define CLOSER_STACK (64u << 10)

void shim_close_all_but(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo < 0) /* one fd to keep, or none */
		lo = hi;
	if (hi < 0) {
		(void)syscall(SYS_close_range, 0u, ~0u, 0u);
		return;
	}
	if (lo > 0)
		(void)syscall(SYS_close_range, 0u, (unsigned)lo - 1, 0u);
	if (hi > lo + 1)
		(void)syscall(SYS_close_range, (unsigned)lo + 1, (unsigned)hi - 1, 0u);
	(void)syscall(SYS_close_range, (unsigned)hi + 1, ~0u, 0u);
}

struct closer {
	int fd, pidfd;
};

static int closer_main(void *arg)
{
	const struct closer *c = arg;
	struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
	struct timespec limit = {.tv_sec = CLOSER_WAIT_S};

	(void)syscall(SYS_prctl, PR_SET_NAME, "synack-close", 0L, 0L, 0L);
	(void)syscall(SYS_setsid);
	shim_close_all_but(c->fd, c->pidfd);
	(void)syscall(SYS_chdir, "/");
	(void)syscall(SYS_ppoll, &p, 1L, &limit, NULL, 0L);
	return 0; /* clone's exit: the packet socket's last reference goes here */
}

bool shim_close_later(int fd)
{
	sigset_t all, old;
	struct closer *c;
	char *stack;
	int pidfd, pid, e;

	if (fd < 0)
		return false;
	pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd < 0) {
		shim_log(SK_LOG_DEBUG, "no pidfd (%s): this process closes the packet socket itself",
		         strerror(errno));
		return false;
	}
	stack = mmap(NULL, CLOSER_STACK, PROT_READ | PROT_WRITE,
	             MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		(void)syscall(SYS_close, pidfd);
		return false;
	}
	/* Its arguments at the bottom of its stack: this frame is gone by
	 * the time it reads them. */
	c = (struct closer *)stack;
	c->fd = fd;
	c->pidfd = pidfd;
	/* It starts with every signal blocked: no handler of the program's
	 * ever runs in it, on memory it shares. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = clone(closer_main, stack + CLOSER_STACK, CLONE_VM, c);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void)syscall(SYS_close, pidfd);
	if (pid < 0) {
		munmap(stack, CLOSER_STACK);
		shim_log(SK_LOG_DEBUG, "cannot start the packet socket's closer (%s)", strerror(e));
		return false;
	}
	return true;
}
