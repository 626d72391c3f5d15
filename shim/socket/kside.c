/* The kernel's side of a listener on every address (see kside.h). */
#include "kside.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>

#include "../iomux/epoll.h"
#include "../runtime/locks.h"
#include "../runtime/log.h"
#include "../intercept/real.h"
#include "../runtime/runtime.h"
#include "../iomux/wait.h"

bool kside_wanted(const struct shim_ofd *o)
{
	return o->bound_any && !o->opts.bound_dev[0];
}

int kside_bind(struct shim_ofd *o, int fd, uint16_t port)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	const struct sockaddr *sa = (const struct sockaddr *)&sin;
	socklen_t len = sizeof(sin);

	if (o->family == AF_INET6) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		if (o->v4_any_mapped) {
			sin6.sin6_addr.s6_addr[10] = 0xff;
			sin6.sin6_addr.s6_addr[11] = 0xff;
		}
		sa = (const struct sockaddr *)&sin6;
		len = sizeof(sin6);
	} else {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
	}
	if (REAL(bind)(fd, sa, len) < 0)
		return -errno;
	o->kside_bound = true;
	return 0;
}

void kside_listen(struct shim_ofd *o, int fd, int backlog)
{
	struct sk_endpoint ep;
	int r = 0;

	if (!kside_wanted(o))
		return;
	if (!o->kside_bound) {
		/* listen() picked the port: the kernel's side follows. */
		r = sk_getsockname(rt_lock(), o->sock, &ep);
		rt_unlock();
		if (r == 0)
			r = kside_bind(o, fd, ep.port);
	}
	if (r == 0 && REAL(listen)(fd, backlog) < 0)
		r = -errno;
	if (r < 0) {
		shim_log(SK_LOG_WARN,
		         "fd %d: the port cannot listen on the kernel's side too (%s): connections "
		         "the kernel receives (loopback, its other interfaces) will not reach this "
		         "listener, only those to synack's address",
		         fd, strerror(-r));
		return;
	}
	if (!o->kside_listening) {
		o->kside_listening = true;
		shim_epoll_kside_attach(o);
	}
}

/* A connection from the kernel's queue without blocking: its fd, -EAGAIN,
 * or -errno. One thread at a time looks and takes, so a connection another
 * thread took between the two never leaves this one blocked in the kernel's
 * accept (the placeholder may be a blocking socket). */
static int kernel_take(struct shim_ofd *o, int fd, int flags, struct sockaddr *addr,
                       socklen_t *len)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r = -EAGAIN;

	shim_mutex_lock(&o->kside_lock, SHIM_LOCK_KSIDE);
	if (REAL(poll)(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
		r = REAL(accept4)(fd, addr, len, flags);
		if (r < 0)
			r = -errno;
	}
	shim_mutex_unlock(&o->kside_lock, SHIM_LOCK_KSIDE);
	return r;
}

static int synack_take(struct shim_ofd *o, struct sk_endpoint *peer)
{
	struct sk_stack *st = rt_lock();
	int r = o->closed ? -EBADF : sk_accept(st, o->sock, peer);

	rt_unlock();
	return r;
}

#define LOOK_AGAIN INT_MIN

/* Sleep until the core listener or the kernel's queue may have a
 * connection: LOOK_AGAIN, or -EAGAIN (SO_RCVTIMEO ran out), -EINTR,
 * -EBADF; a core connection that came meanwhile is returned (>= 0). */
static int wait_both(struct shim_ofd *o, int fd, sk_time_t deadline, struct sk_endpoint *peer)
{
	struct pollfd p[2] = {{.fd = fd, .events = POLLIN}};
	struct shim_waiter w;
	struct sk_stack *st = rt_lock();
	bool woken = false;
	int r = o->closed ? -EBADF : sk_accept(st, o->sock, peer);

	if (r != -EAGAIN) {
		rt_unlock();
		return r;
	}
	/* Registered under the lock after looking: no wake-up is lost. */
	r = wait_register(&w, &o->sock, 1, false);
	rt_unlock();
	if (r < 0)
		return r;
	r = wait_ppoll(&w, p, 1, deadline, NULL, &woken);
	rt_lock();
	wait_unregister(&w);
	rt_unlock();
	if (r == -EINTR && deadline == SK_TIME_NEVER && wait_restartable())
		r = 0;
	if (r == 0 && !woken && deadline != SK_TIME_NEVER && shim_now_us() >= deadline)
		return -EAGAIN;
	return r < 0 ? r : LOOK_AGAIN;
}

int kside_accept(struct shim_ofd *o, int fd, int flags, struct sk_endpoint *peer, int *kfd,
                 struct sockaddr *addr, socklen_t *len)
{
	sk_time_t deadline =
	    o->rcvtimeo_us > 0 ? shim_now_us() + (sk_time_t)o->rcvtimeo_us : SK_TIME_NEVER;

	for (;;) {
		/* Turn about: with both queues full, connections alternate. */
		bool kernel_first = atomic_fetch_add(&o->accept_turn, 1) & 1;
		int r;

		for (int i = 0; i < 2; i++) {
			if ((i == 0) == kernel_first) {
				r = kernel_take(o, fd, flags, addr, len);
				if (r >= 0) {
					*kfd = r;
					return KSIDE_KERNEL;
				}
			} else {
				r = synack_take(o, peer);
				if (r >= 0)
					return r;
			}
			if (r != -EAGAIN)
				return r;
		}
		if (o->nonblock)
			return -EAGAIN;
		r = wait_both(o, fd, deadline, peer);
		if (r != LOOK_AGAIN)
			return r;
	}
}
