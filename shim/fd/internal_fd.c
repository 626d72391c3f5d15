/* Internal fd placement (see internal_fd.h). */
#include "internal_fd.h"

#include <fcntl.h>
#include <sys/resource.h>

#include "fdtable.h"
#include "../intercept/real.h"

/* The top quarter of the soft limit (768 with the usual 1024): far above
 * what programs reach, yet below the limit so select() users are unaffected
 * (they never select on our fds anyway). */
static int high_base(void)
{
	struct rlimit rl;
	rlim_t cur = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		cur = rl.rlim_cur;
	if (cur > (rlim_t)fdt_capacity() && fdt_capacity() > 0)
		cur = (rlim_t)fdt_capacity();
	return cur >= 64 ? (int)(cur - cur / 4) : 0;
}

int shim_internal_adopt(int fd)
{
	int moved, base;

	if (fd < 0)
		return fd;
	base = high_base();
	if (fd < base) {
		moved = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, base);
		if (moved >= 0) {
			REAL(close)(fd);
			fd = moved;
		}
	}
	REAL(fcntl)(fd, F_SETFD, FD_CLOEXEC);
	fdt_mark_internal(fd);
	return fd;
}

void shim_internal_close(int fd)
{
	if (fd < 0)
		return;
	fdt_purge(fd);
	REAL(close)(fd);
}
