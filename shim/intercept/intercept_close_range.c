/* close_range / closefrom: daemons close every fd above 2 before doing
 * their work; that must neither close synack's internal fds (the packet
 * socket, the loop's) nor leave stale table entries behind. The kernel
 * call is split around internal fds, and each tracked fd in the range is
 * closed as close() would (the last fd of a connection closes it). */
#include <linux/close_range.h>

#include "intercept.h"
#include "../socket/sockio.h"

/* Close [lo, hi] in the kernel, skipping internal fds. */
static int kernel_close_range(unsigned lo, unsigned hi, int flags)
{
	unsigned cap = (unsigned)fdt_capacity(), start = lo;

	for (unsigned fd = lo; fd <= hi && fd < cap; fd++) {
		if (!fdt_is_internal((int)fd))
			continue;
		if (fd > start && REAL(close_range)(start, fd - 1, flags) < 0)
			return -1;
		start = fd + 1;
		if (fd == hi)
			return 0;
	}
	return start <= hi ? REAL(close_range)(start, hi, flags) : 0;
}

/* Forget the tracked fds of a range the kernel just closed. */
static void forget_range(unsigned lo, unsigned hi)
{
	unsigned cap = (unsigned)fdt_capacity();

	for (unsigned fd = lo; fd <= hi && fd < cap; fd++) {
		bool last = false;
		struct shim_ofd *o;

		if (!fdt_maybe_tracked((int)fd) || fdt_is_internal((int)fd))
			continue;
		o = fdt_remove((int)fd, &last);
		if (o) {
			if (last)
				ofd_last_close(o);
			ofd_put(o);
		}
	}
}

SHIM_EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
	int r;

	if (shim_inside() || lo > hi || (flags & ~(CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE)))
		return REAL(close_range)(lo, hi, flags); /* the kernel's errno */
	/* Forget first, as close() detaches before closing: once the kernel
	 * frees a number another thread may get it and must find it free. */
	if (!(flags & CLOSE_RANGE_CLOEXEC))
		forget_range(lo, hi);
	r = kernel_close_range(lo, hi, flags);
	return r;
}

SHIM_EXPORT void closefrom(int lowfd)
{
	/* glibc's closefrom calls close_range internally, past our wrapper. */
	if (lowfd < 0)
		lowfd = 0;
	close_range((unsigned)lowfd, ~0u, 0);
}
