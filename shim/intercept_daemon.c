/* daemon(): the surviving child keeps the connections (design brief §6,
 * issue 4).
 *
 * glibc's daemon() forks, the parent _exits and the child carries on. Our
 * connections live in the memory of whoever runs the stack, and a plain
 * fork leaves them with the parent (a child using them gets EBADFD). Here
 * the fork hands everything to the child instead: the parent exits
 * holding the shim's locks (its runtime thread can no longer read the
 * packet socket), the child keeps the same stack, device and fork
 * generation and starts a new runtime thread. The rest is glibc's
 * daemon(): setsid, chdir("/"), stdin/stdout/stderr on /dev/null.
 *
 * A program that forks and exits the parent by hand (without daemon())
 * does not hand over: its child gets EBADFD on the inherited sockets. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "intercept.h"
#include "log.h"
#include "runtime.h"

SHIM_EXPORT int daemon(int nochdir, int noclose)
{
	pid_t pid;
	int fd;

	/* Nothing of ours to hand over: glibc's own. */
	if (shim_inside() || !rt_running())
		return REAL(daemon)(nochdir, noclose);
	pid = rt_daemon_fork();
	if (pid < 0) {
		errno = (int)-pid;
		return -1;
	}
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
