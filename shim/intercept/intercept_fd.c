/* The fd lifecycle: close, dup/dup2/dup3, fcntl/fcntl64, ioctl, and the
 * other fd-creating calls we see (eventfd, pipe, pipe2, epoll_create):
 * references on shared descriptions, stale entries purged, internal fds
 * protected (design brief §3). */
/* Define fcntl itself, not fcntl64 under another name (glibc redirects fcntl
 * to fcntl64 when _FILE_OFFSET_BITS=64, which meson sets). */
#undef _FILE_OFFSET_BITS
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#include "intercept.h"
#include "../runtime/log.h"
#include "../socket/sockio.h"

/* Drop one fd's reference on a description it no longer names. */
static void drop_slot(struct shim_ofd *o, bool last)
{
	if (last)
		ofd_last_close(o);
	ofd_put(o);
}

SHIM_EXPORT int close(int fd)
{
	struct shim_ofd *o;
	bool last = false;
	int r;

	if (shim_inside()) {
		if (fdt_is_internal(fd))
			fdt_purge(fd);
		return REAL(close)(fd);
	}
	if (!fdt_maybe_tracked(fd))
		return REAL(close)(fd);
	if (fdt_is_internal(fd)) {
		/* Not the program's: to it the number is not open. */
		shim_log(SK_LOG_DEBUG, "close(%d) refused: synack's internal fd", fd);
		return (int)shim_ret(-EBADF);
	}
	/* Detach first: once the kernel frees the number another thread may
	 * get it from socket() and must find the slot empty. */
	o = fdt_remove(fd, &last);
	r = REAL(close)(fd);
	if (o)
		drop_slot(o, last);
	return r;
}

/* newfd now names what oldfd names (after a successful kernel dup). */
static int track_dup(int oldfd, int newfd)
{
	struct shim_ofd *o;

	if (newfd < 0)
		return newfd;
	if (shim_inside())
		return shim_new_fd(newfd);
	o = fdt_get(oldfd);
	if (!o) {
		fdt_purge(newfd);
		return newfd;
	}
	if (fdt_install(newfd, o) < 0) {
		shim_log(SK_LOG_ERROR, "dup of synack fd %d to %d is beyond the fd table", oldfd,
		         newfd);
		REAL(close)(newfd);
		ofd_put(o);
		return (int)shim_ret(-EMFILE);
	}
	ofd_put(o);
	return newfd;
}

SHIM_EXPORT int dup(int fd)
{
	return track_dup(fd, REAL(dup)(fd));
}

/* dup2/dup3 onto a tracked number close what was there. */
static int dup_onto(int oldfd, int newfd, int r)
{
	bool last = false;
	struct shim_ofd *stale;

	if (r < 0 || shim_inside())
		return r;
	stale = fdt_remove(newfd, &last);
	if (stale)
		drop_slot(stale, last);
	return track_dup(oldfd, r);
}

SHIM_EXPORT int dup2(int oldfd, int newfd)
{
	if (!shim_inside() && fdt_is_internal(newfd))
		return (int)shim_ret(-EBADF);
	if (oldfd == newfd)
		return REAL(dup2)(oldfd, newfd);
	return dup_onto(oldfd, newfd, REAL(dup2)(oldfd, newfd));
}

SHIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	if (!shim_inside() && fdt_is_internal(newfd))
		return (int)shim_ret(-EBADF);
	if (oldfd == newfd)
		return REAL(dup3)(oldfd, newfd, flags);
	return dup_onto(oldfd, newfd, REAL(dup3)(oldfd, newfd, flags));
}

/* The placeholder mirrors O_NONBLOCK (F_SETFL goes to it too), so F_GETFL
 * needs no help; we only keep our copy in step. */
static int do_fcntl(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	struct shim_ofd *o;
	int r = real(fd, cmd, arg);

	if (r < 0 || shim_bypass(fd))
		return (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) ? shim_new_fd(r) : r;
	switch (cmd) {
	case F_SETFL:
		o = fdt_get(fd);
		if (o) {
			o->nonblock = ((int)(intptr_t)arg & O_NONBLOCK) != 0;
			ofd_put(o);
		}
		return r;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		return track_dup(fd, r);
	default:
		return r;
	}
}

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	/* Like glibc: every fcntl argument fits a pointer-sized slot. */
	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return do_fcntl(REAL(fcntl), fd, cmd, arg);
}

SHIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return do_fcntl(REAL(fcntl64), fd, cmd, arg);
}

SHIM_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	struct shim_ofd *o;
	va_list ap;
	void *arg;
	long err;
	int r = 0, v;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	o = shim_offloaded(fd, &err);
	if (!o) {
		if (err)
			return (int)shim_ret(err);
		r = REAL(ioctl)(fd, req, arg);
		/* A pending socket keeps its copy of O_NONBLOCK in step too:
		 * nginx sets FIONBIO before bind, and the copy is what accept()
		 * decides to block on once the socket is synack's. */
		if (r == 0 && req == FIONBIO && !shim_bypass(fd) && (o = fdt_get(fd))) {
			o->nonblock = *(int *)arg != 0;
			ofd_put(o);
		}
		return r;
	}
	switch (req) {
	case FIONBIO:
		r = REAL(ioctl)(fd, req, arg); /* keep the placeholder in step */
		if (r == 0)
			o->nonblock = *(int *)arg != 0;
		break;
	case SIOCINQ:
	case SIOCOUTQ: {
		struct sk_stack *st = rt_lock();

		if (sk_sock_state(st, o->sock) == SK_TCP_LISTEN)
			r = -EINVAL; /* as Linux answers for a listener */
		else if (req == SIOCINQ)
			v = (int)sk_rx_queued(st, o->sock);
		else
			v = (int)sk_tx_queued(st, o->sock);
		rt_unlock();
		if (r == 0)
			*(int *)arg = v;
		break;
	}
	default:
		r = REAL(ioctl)(fd, req, arg);
		break;
	}
	ofd_put(o);
	return r < 0 && r != -1 ? (int)shim_ret(r) : r;
}

SHIM_EXPORT int eventfd(unsigned int initval, int flags)
{
	return shim_new_fd(REAL(eventfd)(initval, flags));
}

SHIM_EXPORT int pipe(int fds[2])
{
	int r = REAL(pipe)(fds);

	if (r == 0) {
		fds[0] = shim_new_fd(fds[0]);
		fds[1] = shim_new_fd(fds[1]);
	}
	return r;
}

SHIM_EXPORT int pipe2(int fds[2], int flags)
{
	int r = REAL(pipe2)(fds, flags);

	if (r == 0) {
		fds[0] = shim_new_fd(fds[0]);
		fds[1] = shim_new_fd(fds[1]);
	}
	return r;
}

SHIM_EXPORT int epoll_create(int size)
{
	return shim_new_fd(REAL(epoll_create)(size));
}

SHIM_EXPORT int epoll_create1(int flags)
{
	return shim_new_fd(REAL(epoll_create1)(flags));
}
