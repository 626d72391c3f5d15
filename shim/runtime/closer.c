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
 * The child ("synack-close") runs none of the program's code: it is made
 * with a bare clone (no atfork handler, the program's or synack's, runs),
 * every signal blocked (SIGKILL still ends it), no fd but the packet socket
 * and a pidfd of the program (a pipe the program's parent reads to its end
 * must see that end: `$(...)`, a test harness), in a session of its own,
 * in "/". It waits until the pidfd is readable, which is when every thread
 * of the program has exited and so the program's files are closed, at
 * most CLOSER_WAIT_S, and exits. It has no exit signal: the program's
 * wait() never sees it (it is a "clone" child, wait(2) __WCLONE). Once the
 * program is gone it is the child of init or of the nearest subreaper,
 * which reaps it (reparenting gives it SIGCHLD, kernel/exit.c
 * reparent_leader).
 *
 * When the keeper (shared/keeper.h) starts, it holds the packet socket and
 * no closer is needed: the keeper's own exit pays, later, unwaited for.
 */
#include "closer.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../intercept/entry.h"
#include "../intercept/real.h"
#include "log.h"

/* The rest of the program's exit (other libraries' destructors, the
 * kernel closing its files) takes milliseconds: past this the closer lets
 * go and the program pays for the close, if it ever exits. */
#define CLOSER_WAIT_S 10

void shim_close_all_but(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo < 0) /* one fd to keep, or none */
		lo = hi;
	if (hi < 0) {
		(void)close_range(0, ~0u, 0);
		return;
	}
	if (lo > 0)
		(void)close_range(0, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		(void)close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	(void)close_range((unsigned)hi + 1, ~0u, 0);
}

static _Noreturn void closer_main(int fd, int pidfd)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	struct timespec limit = {.tv_sec = CLOSER_WAIT_S};
	sigset_t all;

	shim_inside_depth = 1; /* everything from here is synack's own */
	sigfillset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, NULL);
	(void)prctl(PR_SET_NAME, "synack-close", 0, 0, 0);
	(void)setsid();
	shim_close_all_but(fd, pidfd);
	if (chdir("/") < 0) {
		/* nothing to do: the closer opens no path */
	}
	while (REAL(ppoll)(&p, 1, &limit, NULL) < 0 && errno == EINTR)
		;
	_exit(0); /* the packet socket's last reference goes here */
}

bool shim_close_later(int fd)
{
	int pidfd;
	long pid;

	if (fd < 0)
		return false;
	pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd < 0) {
		shim_log(SK_LOG_DEBUG, "no pidfd (%s): this process closes the packet socket itself",
		         strerror(errno));
		return false;
	}
	/* fork(2) without its atfork handlers, and no exit signal. */
	pid = syscall(SYS_clone, 0L, NULL, NULL, NULL, 0L);
	if (pid == 0)
		closer_main(fd, pidfd);
	REAL(close)(pidfd);
	if (pid < 0) {
		shim_log(SK_LOG_DEBUG, "cannot fork the packet socket's closer (%s)",
		         strerror(errno));
		return false;
	}
	return true;
}
