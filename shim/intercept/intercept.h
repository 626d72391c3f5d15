/* Helpers shared by the intercept_*.c wrappers. */
#ifndef SYNACK_SHIM_INTERCEPT_H
#define SYNACK_SHIM_INTERCEPT_H

#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "../../core/stack.h"
#include "../fd/fdtable.h"
#include "real.h"
#include "../runtime/runtime.h"

/* The interposed libc entry points are the library's only exported
 * symbols (everything else is built with hidden visibility). */
#define SHIM_EXPORT __attribute__((visibility("default")))

/* Return -1 with errno = -r (r is -errno), or r itself when >= 0. */
static inline long shim_ret(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* Calls made on synack's own behalf, and fds we never tracked, go straight
 * to libc: the lock-free fast path of every wrapper. */
static inline bool shim_bypass(int fd)
{
	return shim_inside() || !fdt_maybe_tracked(fd);
}

/* The offloaded socket behind fd, with a reference (ofd_put it), or NULL:
 * then *err is 0 (not ours: pass through) or -errno (ours but unusable:
 * closed meanwhile, or inherited across fork). */
struct shim_ofd *shim_synack_ofd(int fd, long *err);

/* The same after the lock-free fast path: NULL with *err == 0 for calls
 * made inside synack and for untracked fds too. */
struct shim_ofd *shim_offloaded(int fd, long *err);

/* A call returned a new fd we did not create through the table: drop what
 * we still had at that number, or, inside synack, make it internal.
 * Returns the fd to hand back. */
int shim_new_fd(int fd);

#endif
