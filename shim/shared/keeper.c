/* The keeper (see keeper.h). */
#include "keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "../../netdev/netdev.h"
#include "../runtime/log.h"
#include "../intercept/real.h"
#include "../runtime/closer.h"
#include "../runtime/runtime.h"
#include "shm_layout.h"
#include "shm_stack.h"

/* The keeper runs none of the program's code: default signal actions
 * (SIGTERM ends it), nothing blocked, no fd but the packet socket (a pipe
 * the program's parent reads to its end must see that end), in a session
 * of its own (a terminal's or `timeout`'s signals to the program's group
 * are not for it). It keeps the stack's lock fd: it holds the stack. */
static void become_keeper(int keep_fd, int lock_fd)
{
	struct sigaction dfl;
	sigset_t none;
	int null;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	(void)setsid();
	shim_close_all_but(keep_fd, lock_fd);
	null = REAL(open)("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			REAL(close)(null);
	}
	if (chdir("/") < 0) {
		/* nothing to do: the keeper opens no path */
	}
}

bool shm_keeper_start(sk_time_t give_up)
{
	struct netdev *dev = rt_device();
	uint64_t parent = shm_my_token();
	pid_t pid;

	if (!dev || !shm_stack())
		return false;
	shm_fork_next_is_keeper();
	pid = rt_fork();
	if (pid < 0) {
		shim_log(SK_LOG_WARN,
		         "stack %s: cannot fork the keeper (%s): the closing connections stay in "
		         "the stack until the next program attaches",
		         shm_stack_name(), strerror(errno));
		return false;
	}
	if (pid > 0) {
		shim_log(SK_LOG_DEBUG, "stack %s: keeper %d carries the closing connections",
		         shm_stack_name(), (int)pid);
		return true;
	}
	shim_inside_depth = 1; /* everything from here is synack's own */
	become_keeper(dev->fd, shm_lock_fd());
	shm_stack_lock();
	shm_child_started();
	shm_stack_unlock();
	rt_keeper_loop(parent, give_up);
	shm_stack_leave(true);
	_exit(0);
}
