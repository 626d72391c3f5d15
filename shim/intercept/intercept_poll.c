/* poll/ppoll/select/pselect over any mix of synack and kernel fds
 * (design brief §5): synack readiness comes from core exactly as Linux's
 * tcp_poll would report it; the kernel fds are polled by the kernel; an
 * offloaded socket's placeholder is never polled (an unconnected TCP
 * socket polls POLLOUT|POLLHUP: false events).
 *
 * Split the set; if anything is ready or the timeout is zero, poll the
 * kernel fds with timeout 0 and merge; otherwise register as waiter on the
 * synack sockets (under the stack lock, after computing their readiness:
 * no lost wake-up), ppoll the kernel fds plus this thread's eventfd, and
 * look again. poll is never restarted after a signal (EINTR), as on Linux.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "../iomux/epoll.h"
#include "intercept.h"
#include "../iomux/wait.h"

_Static_assert(SK_POLLIN == POLLIN && SK_POLLPRI == POLLPRI && SK_POLLOUT == POLLOUT &&
                   SK_POLLERR == POLLERR && SK_POLLHUP == POLLHUP && SK_POLLRDNORM == POLLRDNORM &&
                   SK_POLLWRNORM == POLLWRNORM && SK_POLLRDHUP == POLLRDHUP,
               "core's poll bits are Linux's");

#define SMALL 32

struct split {
	nfds_t n;               /* entries of the caller's array */
	int nsk;                /* synack entries */
	nfds_t nk;              /* kernel entries */
	int *socks;             /* [nsk] core sockets */
	nfds_t *sk_idx;         /* [nsk] index in the caller's array */
	struct shim_ofd **ofds; /* [nsk] references */
	struct pollfd *k; /* [nk + 2] kernel entries, room for the packet socket and the eventfd */
	nfds_t *k_idx;    /* [nk] */
	/* [nk] the entry is the kernel side of a synack listener (kside.h),
	 * whose answer joins the synack one of the same caller entry */
	bool *k_side;
};

/* 1: at least one synack socket (split filled), 0: none, -errno. */
static int split_fds(struct pollfd *fds, nfds_t n, struct split *s)
{
	int nsk = 0;

	memset(s, 0, sizeof(*s));
	for (nfds_t i = 0; i < n; i++)
		if (fds[i].fd >= 0 && fdt_maybe_tracked(fds[i].fd))
			nsk++;
	if (nsk == 0)
		return 0;
	s->n = n;
	s->socks = calloc((size_t)nsk, sizeof(int));
	s->sk_idx = calloc((size_t)nsk, sizeof(nfds_t));
	s->ofds = calloc((size_t)nsk, sizeof(*s->ofds));
	/* A listener with a kernel side takes a synack and a kernel entry;
	 * the waits need two more (rt_wait_ppoll). */
	s->k = calloc(n + (nfds_t)nsk + 2, sizeof(struct pollfd));
	s->k_idx = calloc(n + (nfds_t)nsk + 1, sizeof(nfds_t));
	s->k_side = calloc(n + (nfds_t)nsk + 1, sizeof(bool));
	if (!s->socks || !s->sk_idx || !s->ofds || !s->k || !s->k_idx || !s->k_side)
		return -ENOMEM;
	for (nfds_t i = 0; i < n; i++) {
		long err = 0;
		struct shim_ofd *o = fds[i].fd >= 0 && fdt_maybe_tracked(fds[i].fd)
		                         ? shim_synack_ofd(fds[i].fd, &err)
		                         : NULL;

		if (o) {
			s->socks[s->nsk] = o->sock;
			s->ofds[s->nsk] = o;
			s->sk_idx[s->nsk++] = i;
			if (o->kside_listening) {
				/* Its kernel side has connections to accept
				 * when the placeholder polls readable. */
				s->k[s->nk] = fds[i];
				s->k[s->nk].events &= POLLIN | POLLRDNORM;
				s->k_side[s->nk] = true;
				s->k_idx[s->nk++] = i;
			}
		} else {
			/* Pending sockets are answered by their placeholder:
			 * an unconnected kernel TCP socket is exactly what
			 * they are. */
			s->k[s->nk] = fds[i];
			s->k_idx[s->nk++] = i;
		}
	}
	return s->nsk > 0;
}

static void split_free(struct split *s)
{
	for (int i = 0; i < s->nsk; i++)
		ofd_put(s->ofds[i]);
	free(s->socks);
	free(s->sk_idx);
	free(s->ofds);
	free(s->k);
	free(s->k_idx);
	free(s->k_side);
}

/* Under the stack lock: fill revents of the synack entries; count ready. */
static int synack_ready(struct sk_stack *st, struct pollfd *fds, const struct split *s)
{
	int ready = 0;

	for (int i = 0; i < s->nsk; i++) {
		struct pollfd *p = &fds[s->sk_idx[i]];
		unsigned ev = s->ofds[i]->closed ? POLLNVAL : sk_poll(st, s->socks[i]);

		/* POLLERR, POLLHUP (and POLLNVAL) are reported whatever was
		 * asked; POLLRDHUP only on request. */
		p->revents = (short)(ev & ((unsigned)(unsigned short)p->events | POLLERR | POLLHUP |
		                           POLLNVAL));
		if (p->revents)
			ready++;
	}
	return ready;
}

static int merge_kernel(struct pollfd *fds, const struct split *s)
{
	int ready = 0;

	for (nfds_t i = 0; i < s->nk; i++) {
		struct pollfd *p = &fds[s->k_idx[i]];

		if (s->k_side[i]) {
			/* Counted once, whichever side is ready. */
			if (!p->revents && s->k[i].revents)
				ready++;
			p->revents |= s->k[i].revents;
			continue;
		}
		p->revents = s->k[i].revents;
		if (p->revents)
			ready++;
	}
	return ready;
}

static int poll_mixed(struct pollfd *fds, struct split *s, sk_time_t deadline,
                      const sigset_t *sigmask)
{
	bool final = deadline != SK_TIME_NEVER && shim_now_us() >= deadline;

	for (;;) {
		struct shim_waiter w;
		struct sk_stack *st = rt_lock();
		int ready, r;
		bool woken = false;

		/* What has arrived first, as epoll_wait does (runtime.h): an
		 * event loop on poll() or select() takes in its own frames. */
		rt_poll_inline();
		ready = synack_ready(st, fds, s);

		if (ready > 0 || final) {
			rt_unlock();
			r = s->nk ? REAL(ppoll)(s->k, s->nk, &(struct timespec){0, 0}, sigmask) : 0;
			if (r < 0)
				return -errno;
			return ready + merge_kernel(fds, s);
		}
		r = wait_register(&w, s->socks, s->nsk, false);
		rt_unlock();
		if (r < 0)
			return r;
		r = rt_wait_ppoll(&w, s->k, s->nk, deadline, sigmask, &woken);
		rt_lock();
		wait_unregister(&w);
		rt_unlock();
		if (r < 0)
			return r;
		/* Kernel fd ready or time is up: one last non-blocking look
		 * at everything, so the answer is complete. */
		if (r > 0 || (deadline != SK_TIME_NEVER && shim_now_us() >= deadline))
			final = true;
	}
}

static sk_time_t deadline_ms(int timeout)
{
	return timeout < 0 ? SK_TIME_NEVER : shim_now_us() + (sk_time_t)timeout * 1000u;
}

static sk_time_t deadline_ts(const struct timespec *ts)
{
	if (!ts)
		return SK_TIME_NEVER;
	return shim_now_us() + (sk_time_t)ts->tv_sec * 1000000u + (sk_time_t)ts->tv_nsec / 1000u;
}

static int poll_any(struct pollfd *fds, nfds_t n, sk_time_t deadline, const sigset_t *sigmask,
                    int *handled)
{
	struct split s;
	int r;

	*handled = 0;
	if (shim_inside() || !fds)
		return 0;
	shim_epoll_refresh(); /* some fds may be our epfds */
	r = split_fds(fds, n, &s);
	if (r == 0) {
		split_free(&s); /* only pending sockets: the kernel answers */
		return 0;
	}
	*handled = 1;
	if (r > 0)
		r = poll_mixed(fds, &s, deadline, sigmask);
	split_free(&s);
	return (int)shim_ret(r);
}

SHIM_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	int handled, r = poll_any(fds, n, deadline_ms(timeout), NULL, &handled);

	return handled ? r : REAL(poll)(fds, n, timeout);
}

SHIM_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
                      const sigset_t *sigmask)
{
	int handled, r;

	if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000))
		return (int)shim_ret(-EINVAL);
	r = poll_any(fds, n, deadline_ts(ts), sigmask, &handled);
	return handled ? r : REAL(ppoll)(fds, n, ts, sigmask);
}

SHIM_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return poll(fds, n, timeout);
}

SHIM_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
                            const sigset_t *sigmask, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		__chk_fail();
	return ppoll(fds, n, ts, sigmask);
}

/* select as poll, with Linux's mapping of poll bits to the three sets
 * (fs/select.c POLLIN_SET, POLLOUT_SET, POLLEX_SET). */
static int select_any(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, sk_time_t deadline,
                      const sigset_t *sigmask, int *handled)
{
	struct pollfd *p;
	int n = 0, tracked = 0, r, count = 0;

	*handled = 0;
	if (shim_inside() || nfds <= 0)
		return 0;
	if (nfds > FD_SETSIZE)
		nfds = FD_SETSIZE;
	for (int fd = 0; fd < nfds; fd++)
		if (((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) ||
		     (ex && FD_ISSET(fd, ex))) &&
		    fdt_maybe_tracked(fd))
			tracked++;
	if (!tracked)
		return 0;
	*handled = 1;
	p = calloc((size_t)nfds, sizeof(*p));
	if (!p)
		return (int)shim_ret(-ENOMEM);
	for (int fd = 0; fd < nfds; fd++) {
		short ev = (short)((rd && FD_ISSET(fd, rd) ? POLLIN : 0) |
		                   (wr && FD_ISSET(fd, wr) ? POLLOUT : 0) |
		                   (ex && FD_ISSET(fd, ex) ? POLLPRI : 0));

		if (ev)
			p[n++] = (struct pollfd){.fd = fd, .events = ev};
	}
	r = poll_any(p, (nfds_t)n, deadline, sigmask, handled);
	if (!*handled) {
		free(p);
		return 0;
	}
	if (r >= 0) {
		for (int i = 0; i < n; i++)
			if (p[i].revents & POLLNVAL)
				r = (int)shim_ret(-EBADF);
	}
	if (r >= 0) {
		if (rd)
			FD_ZERO(rd);
		if (wr)
			FD_ZERO(wr);
		if (ex)
			FD_ZERO(ex);
		for (int i = 0; i < n; i++) {
			short re = p[i].revents, ev = p[i].events;

			if ((ev & POLLIN) && (re & (POLLIN | POLLRDNORM | POLLHUP | POLLERR))) {
				FD_SET(p[i].fd, rd);
				count++;
			}
			if ((ev & POLLOUT) && (re & (POLLOUT | POLLWRNORM | POLLERR))) {
				FD_SET(p[i].fd, wr);
				count++;
			}
			if ((ev & POLLPRI) && (re & POLLPRI)) {
				FD_SET(p[i].fd, ex);
				count++;
			}
		}
		r = count;
	}
	free(p);
	return r;
}

SHIM_EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	sk_time_t deadline = SK_TIME_NEVER;
	int handled, r;

	if (tv) {
		if (tv->tv_sec < 0 || tv->tv_usec < 0)
			return (int)shim_ret(-EINVAL);
		deadline =
		    shim_now_us() + (sk_time_t)tv->tv_sec * 1000000u + (sk_time_t)tv->tv_usec;
	}
	r = select_any(nfds, rd, wr, ex, deadline, NULL, &handled);
	if (!handled)
		return REAL(select)(nfds, rd, wr, ex, tv);
	if (tv) {
		/* Linux writes back the time not slept. */
		sk_time_t now = shim_now_us(), left = deadline > now ? deadline - now : 0;

		tv->tv_sec = (time_t)(left / 1000000u);
		tv->tv_usec = (suseconds_t)(left % 1000000u);
	}
	return r;
}

SHIM_EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
                        const sigset_t *sigmask)
{
	int handled, r = select_any(nfds, rd, wr, ex, deadline_ts(ts), sigmask, &handled);

	return handled ? r : REAL(pselect)(nfds, rd, wr, ex, ts, sigmask);
}
