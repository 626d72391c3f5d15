/* epoll_ctl / epoll_wait / epoll_pwait / epoll_pwait2: synack sockets are
 * watched by epoll.c, everything else by the kernel epoll (brief §5). */
#include <limits.h>

#include "../iomux/epoll.h"
#include "intercept.h"

SHIM_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct shim_ofd *o;
	long err;
	int r;

	if (shim_bypass(fd))
		return REAL(epoll_ctl)(epfd, op, fd, ev);
	o = fdt_get(fd);
	if (o && o->kind == SHIM_OFD_PENDING) {
		/* Undecided: the placeholder is the socket for now; the
		 * registration moves to synack's sets if it is offloaded. */
		r = REAL(epoll_ctl)(epfd, op, fd, ev);
		if (r == 0)
			shim_epoll_note_pending(o, epfd, op, fd, ev);
		ofd_put(o);
		return r;
	}
	if (o)
		ofd_put(o);
	o = shim_synack_ofd(fd, &err);
	if (!o)
		return err ? (int)shim_ret(err) : REAL(epoll_ctl)(epfd, op, fd, ev);
	r = shim_epoll_ctl(epfd, op, fd, o, ev);
	ofd_put(o);
	return (int)shim_ret(r);
}

/* Our instance behind epfd (referenced), or NULL: the kernel's alone. */
static struct shim_ofd *instance_of(int epfd)
{
	struct shim_ofd *ep;

	if (shim_bypass(epfd) || !(ep = fdt_get(epfd)))
		return NULL;
	if (ep->kind != SHIM_OFD_EPOLL || ep->gen != shim_fork_gen()) {
		ofd_put(ep);
		return NULL;
	}
	return ep;
}

static int wait_common(int epfd, struct epoll_event *events, int max, int timeout,
                       const sigset_t *sigmask)
{
	struct shim_ofd *ep = instance_of(epfd);
	int r;

	if (!ep) {
		shim_epoll_refresh(); /* our epfds may be nested in this one */
		return REAL(epoll_pwait)(epfd, events, max, timeout, sigmask);
	}
	r = shim_epoll_wait(ep, epfd, events, max, timeout, sigmask);
	ofd_put(ep);
	return (int)shim_ret(r);
}

SHIM_EXPORT int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout)
{
	return wait_common(epfd, events, max, timeout, NULL);
}

SHIM_EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout,
                            const sigset_t *sigmask)
{
	return wait_common(epfd, events, max, timeout, sigmask);
}

SHIM_EXPORT int epoll_pwait2(int epfd, struct epoll_event *events, int max,
                             const struct timespec *ts, const sigset_t *sigmask)
{
	struct shim_ofd *ep = instance_of(epfd);
	long long ms;
	int r;

	if (!ep) {
		shim_epoll_refresh(); /* our epfds may be nested in this one */
		return REAL(epoll_pwait2)(epfd, events, max, ts, sigmask);
	}
	if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)) {
		ofd_put(ep);
		return (int)shim_ret(-EINVAL);
	}
	/* Millisecond resolution over synack sockets: round up, never wake
	 * before the caller's time. */
	ms = ts ? (long long)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000 : -1;
	r = shim_epoll_wait(ep, epfd, events, max, ms > INT_MAX ? INT_MAX : (int)ms, sigmask);
	ofd_put(ep);
	return (int)shim_ret(r);
}
