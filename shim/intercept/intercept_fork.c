/* fork() and daemon() (design brief §6): parent and child share every
 * socket, as with the kernel.
 *
 * The stack lives in shared memory (shared/shm_stack.h); pthread_atfork
 * handlers (runtime.c) give the child its own process slot holding every
 * socket its parent holds, whichever way the program forks (glibc's
 * daemon(), system() and the like fork past our symbols). This wrapper only
 * tells the stack the child's pid as soon as fork returns, so a child that
 * dies at once is noticed at once.
 *
 * daemon() is glibc's sequence written out over that fork: the parent
 * _exits (the surviving child holds the connections; the parent leaves the
 * stack as exit() would, intercept_exit.c), setsid, chdir("/"), stdin/stdout/
 * stderr on /dev/null. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "intercept.h"
#include "../runtime/log.h"
#include "../runtime/runtime.h"

SHIM_EXPORT pid_t fork(void)
{
	if (shim_inside())
		return REAL(fork)();
	return rt_fork();
}

SHIM_EXPORT int daemon(int nochdir, int noclose)
{
	pid_t pid;
	int fd;

	/* Nothing of ours to hand over: glibc's own. */
	if (shim_inside() || !rt_running())
		return REAL(daemon)(nochdir, noclose);
	pid = rt_fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -1;
	if (!nochdir && chdir("/") < 0)
		return -1;
	if (!noclose) {
		struct stat st;

		fd = open("/dev/null", O_RDWR);
		if (fd < 0)
			return -1;
		/* glibc checks that /dev/null is the device, not a file. */
		if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode)) {
			close(fd);
			errno = ENODEV;
			return -1;
		}
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}
