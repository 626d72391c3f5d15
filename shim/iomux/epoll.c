/* epoll over synack sockets (see epoll.h). */
#include "epoll.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../fd/internal_fd.h"
#include "../intercept/real.h"
#include "../runtime/locks.h"
#include "../runtime/runtime.h"
#include "../shared/shm_stack.h"
#include "wait.h"

/* data.u64 of our eventfd's registration in the kernel epoll: how we
 * recognise it among the kernel's events ("SYNACKEV"). */
#define EFD_MARK 0x53594e41434b4556ull

struct ep_item {
	struct shim_ofd *o; /* not referenced: removed on its release */
	int fd, sock;
	uint32_t events; /* interest, as given (EPOLLET, EPOLLONESHOT...) */
	epoll_data_t data;
	bool queued;   /* on the ready list */
	bool disabled; /* ONESHOT fired, waiting for MOD */
	/* A listener with a kernel side (kside.h): the kernel epoll watches
	 * its placeholder too, under the same event and data. */
	bool kside;
	struct ep_item *next_ready;
};

struct ep_inst {
	int efd; /* internal eventfd, registered in the kernel epoll */
	int epfd;
	bool efd_signalled;
	struct ep_item **items;
	int nitems, cap;
	/* Singly linked via next_ready, FIFO as Linux's: a new ready item and
	 * a reported LT item go to the tail (none is starved when maxevents
	 * is smaller than the list). ready_tail: &last->next_ready, or
	 * &ready when empty (NULL until first use: the same). */
	struct ep_item *ready, **ready_tail;
	struct ep_inst *next; /* all instances, for wakes */
	/* The kside items, whose events the kernel may report as well. */
	struct ep_item **kitems;
	int nkitems, kcap;
	/* The last wait filled the caller's array with synack items without
	 * asking the kernel: the next one asks the kernel first, so kernel fds
	 * are never starved by always-ready LT sockets (Linux moves a
	 * reported LT item to the tail of its ready list). */
	atomic_bool kernel_first;
};

static struct ep_inst *instances; /* under the stack lock */
/* How many instances have their eventfd signalled: read without the lock
 * as a hint, so shim_epoll_refresh() costs nothing when none has. */
static atomic_int signalled;

static void efd_signal(struct ep_inst *in)
{
	uint64_t one = 1;

	if (!in->efd_signalled) {
		(void)!REAL(write)(in->efd, &one, sizeof(one));
		in->efd_signalled = true;
		atomic_fetch_add(&signalled, 1);
	}
}

static void efd_clear(struct ep_inst *in)
{
	uint64_t v;

	if (in->efd_signalled) {
		(void)!REAL(read)(in->efd, &v, sizeof(v));
		in->efd_signalled = false;
		atomic_fetch_sub(&signalled, 1);
	}
}

/* After items were unlinked: find the tail again (lists are short). */
static void retail(struct ep_inst *in)
{
	struct ep_item **p = &in->ready;

	while (*p)
		p = &(*p)->next_ready;
	in->ready_tail = p;
}

static void enqueue(struct ep_inst *in, struct ep_item *it)
{
	if (it->queued || it->disabled)
		return;
	if (!in->ready_tail || !in->ready)
		in->ready_tail = &in->ready;
	it->queued = true;
	it->next_ready = NULL;
	*in->ready_tail = it;
	in->ready_tail = &it->next_ready;
	efd_signal(in);
}

static void dequeue(struct ep_inst *in, struct ep_item *it)
{
	for (struct ep_item **p = &in->ready; *p; p = &(*p)->next_ready) {
		if (*p == it) {
			*p = it->next_ready;
			break;
		}
	}
	it->queued = false;
	retail(in);
	if (!in->ready)
		efd_clear(in);
}

void shim_epoll_wake(int sock)
{
	shim_assert_stack_locked();
	for (struct ep_inst *in = instances; in; in = in->next)
		for (int i = 0; i < in->nitems; i++)
			if (in->items[i]->sock == sock)
				enqueue(in, in->items[i]);
}

bool shim_epoll_in_use(void)
{
	shim_assert_stack_locked();
	return instances != NULL;
}

bool shim_epoll_watches_exclusive(int sock)
{
	for (struct ep_inst *in = instances; in; in = in->next)
		for (int i = 0; i < in->nitems; i++)
			if (in->items[i]->sock == sock && (in->items[i]->events & EPOLLEXCLUSIVE))
				return true;
	return false;
}

void shim_epoll_wake_all(void)
{
	shim_assert_stack_locked();
	for (struct ep_inst *in = instances; in; in = in->next)
		for (int i = 0; i < in->nitems; i++)
			enqueue(in, in->items[i]);
}

static void kside_unlist(struct ep_inst *in, struct ep_item *it)
{
	for (int i = 0; i < in->nkitems; i++) {
		if (in->kitems[i] == it) {
			in->kitems[i] = in->kitems[--in->nkitems];
			return;
		}
	}
}

static void remove_at(struct ep_inst *in, int i)
{
	struct ep_item *it = in->items[i];

	if (it->queued)
		dequeue(in, it);
	if (it->kside)
		kside_unlist(in, it);
	in->items[i] = in->items[--in->nitems];
	free(it);
}

void shim_epoll_forget(struct shim_ofd *o)
{
	for (struct ep_inst *in = instances; in; in = in->next)
		for (int i = in->nitems - 1; i >= 0; i--)
			if (in->items[i]->o == o)
				remove_at(in, i);
}

void shim_epoll_return(struct shim_ofd *o)
{
	rt_lock();
	for (struct ep_inst *in = instances; in; in = in->next) {
		for (int i = in->nitems - 1; i >= 0; i--) {
			struct ep_item *it = in->items[i];
			struct epoll_event ev = {.events = it->events, .data = it->data};

			if (it->o != o)
				continue;
			if (!it->kside)
				(void)REAL(epoll_ctl)(in->epfd, EPOLL_CTL_ADD, it->fd, &ev);
			remove_at(in, i);
		}
	}
	rt_unlock();
}

struct shim_epreg {
	int epfd, fd;
	struct epoll_event ev;
};

/* Pending registrations change rarely: one lock for all of them. */
static pthread_mutex_t epreg_lock = PTHREAD_MUTEX_INITIALIZER;

void shim_epoll_note_pending(struct shim_ofd *o, int epfd, int op, int fd,
                             const struct epoll_event *ev)
{
	int i;

	shim_mutex_lock(&epreg_lock, SHIM_LOCK_EPREG);
	for (i = 0; i < o->nepregs; i++)
		if (o->epregs[i].epfd == epfd && o->epregs[i].fd == fd)
			break;
	if (op == EPOLL_CTL_DEL && i < o->nepregs) {
		o->epregs[i] = o->epregs[--o->nepregs];
	} else if (op == EPOLL_CTL_MOD && i < o->nepregs) {
		o->epregs[i].ev = *ev;
	} else if (op == EPOLL_CTL_ADD) {
		struct shim_epreg *n = realloc(o->epregs, (size_t)(o->nepregs + 1) * sizeof(*n));

		if (n) {
			o->epregs = n;
			o->epregs[o->nepregs++] = (struct shim_epreg){epfd, fd, *ev};
		}
	}
	shim_mutex_unlock(&epreg_lock, SHIM_LOCK_EPREG);
}

void shim_epoll_adopt_pending(struct shim_ofd *o)
{
	shim_mutex_lock(&epreg_lock, SHIM_LOCK_EPREG);
	for (int i = 0; i < o->nepregs; i++) {
		struct shim_epreg *e = &o->epregs[i];

		REAL(epoll_ctl)(e->epfd, EPOLL_CTL_DEL, e->fd, NULL);
		shim_epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->fd, o, &e->ev);
	}
	free(o->epregs);
	o->epregs = NULL;
	o->nepregs = 0;
	shim_mutex_unlock(&epreg_lock, SHIM_LOCK_EPREG);
}

void shim_epoll_fork_lock(void)
{
	shim_mutex_lock(&epreg_lock, SHIM_LOCK_EPREG);
}

void shim_epoll_fork_unlock(void)
{
	shim_mutex_unlock(&epreg_lock, SHIM_LOCK_EPREG);
}

void shim_epoll_after_fork_child(void)
{
	instances = NULL;
	atomic_store(&signalled, 0);
}

const struct shim_ofd_ops shim_epoll_ops = {.name = "epoll", .release = shim_epoll_release};

void shim_epoll_release(struct shim_ofd *ep)
{
	struct ep_inst *in = ep->epoll;

	if (!in)
		return;
	if (ep->gen != shim_fork_gen()) {
		/* The parent's: its eventfd was closed with the internal fds
		 * at fork, and the number may be the program's by now. */
		free(in->items);
		free(in->kitems);
		free(in);
		ep->epoll = NULL;
		return;
	}
	if (rt_running()) {
		rt_lock();
		for (struct ep_inst **p = &instances; *p; p = &(*p)->next) {
			if (*p == in) {
				*p = in->next;
				break;
			}
		}
		if (in->efd_signalled)
			atomic_fetch_sub(&signalled, 1);
		rt_unlock();
	}
	while (in->nitems > 0)
		free(in->items[--in->nitems]);
	free(in->items);
	free(in->kitems);
	shim_internal_close(in->efd);
	free(in);
	ep->epoll = NULL;
}

/* Is epfd a kernel epoll? (Its /proc link names the eventpoll inode.) */
static int check_epoll_fd(int epfd)
{
	char path[64], target[64];
	ssize_t n;

	if (REAL(fcntl)(epfd, F_GETFD) < 0)
		return -EBADF;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", epfd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -EINVAL;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventpoll]") == 0 ? 0 : -EINVAL;
}

/* The instance of epfd, created on first use. Under the stack lock. */
static int get_instance(int epfd, struct ep_inst **out)
{
	struct shim_ofd *ep = fdt_get(epfd);
	struct epoll_event reg = {.events = EPOLLIN, .data.u64 = EFD_MARK};
	struct ep_inst *in = NULL;
	int r;

	if (ep && ep->kind == SHIM_OFD_EPOLL && ep->epoll) {
		*out = ep->epoll;
		ofd_put(ep);
		return 0;
	}
	if (ep) {
		ofd_put(ep);
		return -EINVAL; /* a socket is no epoll */
	}
	in = calloc(1, sizeof(*in));
	ep = ofd_new(SHIM_OFD_EPOLL);
	if (!in || !ep) {
		free(in);
		free(ep);
		return -ENOMEM;
	}
	in->epfd = epfd;
	in->efd = shim_internal_adopt(REAL(eventfd)(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (in->efd < 0 || REAL(epoll_ctl)(epfd, EPOLL_CTL_ADD, in->efd, &reg) < 0) {
		r = -errno;
		shim_internal_close(in->efd);
		free(in);
		free(ep);
		return r;
	}
	ep->epoll = in;
	ep->gen = shim_fork_gen();
	fdt_install(epfd, ep);
	in->next = instances;
	instances = in;
	*out = in;
	return 0;
}

static int find(struct ep_inst *in, int fd, struct shim_ofd *o)
{
	for (int i = 0; i < in->nitems; i++)
		if (in->items[i]->fd == fd && in->items[i]->o == o)
			return i;
	return -1;
}

static int add(struct ep_inst *in, int fd, struct shim_ofd *o, const struct epoll_event *ev)
{
	struct ep_item *it;

	if (in->nitems == in->cap) {
		int cap = in->cap ? in->cap * 2 : 8;
		struct ep_item **n = realloc(in->items, (size_t)cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		in->items = n;
		in->cap = cap;
	}
	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->o = o;
	it->fd = fd;
	it->sock = o->sock;
	/* Woken when another process makes it ready; with EPOLLEXCLUSIVE, one
	 * such process of several. */
	if (ev->events & EPOLLEXCLUSIVE)
		shm_sock_interest_exclusive(o->sock);
	else
		shm_sock_interest(o->sock);
	it->events = ev->events;
	it->data = ev->data;
	in->items[in->nitems++] = it;
	enqueue(in, it); /* harvest finds out whether it is ready now */
	return 0;
}

/* Under the stack lock: the kernel epoll watches the item's placeholder
 * too (a listener with a kernel side). */
static void kside_watch(struct ep_inst *in, struct ep_item *it)
{
	struct epoll_event kev = {.events = it->events, .data = it->data};

	if (it->kside)
		return;
	if (in->nkitems == in->kcap) {
		int cap = in->kcap ? in->kcap * 2 : 4;
		struct ep_item **n = realloc(in->kitems, (size_t)cap * sizeof(*n));

		if (!n)
			return;
		in->kitems = n;
		in->kcap = cap;
	}
	if (REAL(epoll_ctl)(in->epfd, EPOLL_CTL_ADD, it->fd, &kev) < 0 && errno != EEXIST)
		return;
	it->kside = true;
	in->kitems[in->nkitems++] = it;
}

void shim_epoll_kside_attach(struct shim_ofd *o)
{
	rt_lock();
	for (struct ep_inst *in = instances; in; in = in->next)
		for (int i = 0; i < in->nitems; i++)
			if (in->items[i]->o == o)
				kside_watch(in, in->items[i]);
	rt_unlock();
}

/* Under the stack lock: a kside item that reported, from either side, with
 * EPOLLONESHOT: both sides wait for EPOLL_CTL_MOD now. */
static void kside_oneshot(struct ep_inst *in, struct ep_item *it)
{
	struct epoll_event off = {.events = 0, .data = it->data};

	if (it->queued)
		dequeue(in, it);
	it->disabled = true;
	(void)REAL(epoll_ctl)(in->epfd, EPOLL_CTL_MOD, it->fd, &off);
}

/* Under the stack lock: one event per kside item in ev[0..n), its two
 * sides' events merged (they carry the same data). Returns the new n. */
static int kside_merge(struct ep_inst *in, struct epoll_event *ev, int n)
{
	for (int k = 0; k < in->nkitems; k++) {
		struct ep_item *it = in->kitems[k];
		int first = -1;

		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 != it->data.u64)
				continue;
			if (first < 0) {
				first = i;
				continue;
			}
			ev[first].events |= ev[i].events;
			memmove(&ev[i], &ev[i + 1], (size_t)(n - i - 1) * sizeof(*ev));
			n--;
			i--;
		}
		if (first >= 0 && (it->events & EPOLLONESHOT))
			kside_oneshot(in, it);
	}
	return n;
}

int shim_epoll_ctl(int epfd, int op, int fd, struct shim_ofd *o, struct epoll_event *ev)
{
	struct shim_ofd *ep;
	struct ep_inst *in = NULL;
	int r, i;

	/* The kernel's order (fs/eventpoll.c): EFAULT copying the event, EBADF,
	 * EINVAL for an epfd that is the fd itself or no epoll, the
	 * EPOLLEXCLUSIVE rules, then the operation. */
	if (op != EPOLL_CTL_DEL && !ev)
		return -EFAULT;
	r = check_epoll_fd(epfd);
	if (r < 0)
		return r;
	if (epfd == fd)
		return -EINVAL;
	if (op != EPOLL_CTL_DEL && (ev->events & EPOLLEXCLUSIVE)) {
		/* Not with MOD; with ADD only beside IN/OUT/ERR/HUP/WAKEUP/ET. */
		if (op == EPOLL_CTL_MOD ||
		    (ev->events & ~(uint32_t)(EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP |
		                              EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE)))
			return -EINVAL;
	}
	if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL)
		return -EINVAL;
	/* A socket entry at a number the kernel says is an epoll is stale:
	 * drop it now, outside the stack lock (its release takes the lock). */
	ep = fdt_get(epfd);
	if (ep) {
		bool stale = ep->kind != SHIM_OFD_EPOLL;

		ofd_put(ep);
		if (stale)
			fdt_purge(epfd);
	}
	rt_lock();
	r = get_instance(epfd, &in);
	if (r == 0) {
		i = find(in, fd, o);
		if (op == EPOLL_CTL_ADD) {
			r = i >= 0 ? -EEXIST : add(in, fd, o, ev);
			if (r == 0 && o->kside_listening)
				kside_watch(in, in->items[in->nitems - 1]);
		} else if (i < 0) {
			r = -ENOENT;
		} else if (op == EPOLL_CTL_DEL) {
			if (in->items[i]->kside)
				(void)REAL(epoll_ctl)(epfd, EPOLL_CTL_DEL, fd, NULL);
			remove_at(in, i);
		} else if (in->items[i]->events & EPOLLEXCLUSIVE) {
			r = -EINVAL; /* an exclusive item cannot be modified */
		} else {
			in->items[i]->events = ev->events;
			in->items[i]->data = ev->data;
			in->items[i]->disabled = false;
			if (in->items[i]->kside)
				(void)REAL(epoll_ctl)(epfd, EPOLL_CTL_MOD, fd, ev);
			enqueue(in, in->items[i]);
		}
	}
	rt_unlock();
	return r;
}

/* Under the stack lock: what epoll_wait would report for `it` now. */
static uint32_t item_events(struct sk_stack *st, const struct ep_item *it)
{
	uint32_t want = it->events | EPOLLERR | EPOLLHUP,
	         ev = sk_poll(st, it->sock) & want & ~(uint32_t)EPOLLPRI;

	if (!(it->events & EPOLLRDHUP))
		ev &= ~(uint32_t)EPOLLRDHUP;
	return ev;
}

/* Under the stack lock: drop the ready-list items that are not ready any
 * more (the program read the data...), so the eventfd is readable exactly
 * when epoll_wait would report something. Linux's ep_eventpoll_poll does
 * the same when an epfd is polled or nested in another epoll. */
static void refresh(struct sk_stack *st, struct ep_inst *in)
{
	for (struct ep_item **p = &in->ready; *p;) {
		struct ep_item *it = *p;

		if (!it->disabled && item_events(st, it)) {
			p = &it->next_ready;
			continue;
		}
		*p = it->next_ready;
		it->queued = false;
	}
	retail(in);
	if (!in->ready)
		efd_clear(in);
}

void shim_epoll_refresh(void)
{
	struct sk_stack *st;

	if (atomic_load(&signalled) == 0 || !rt_running())
		return;
	st = rt_lock();
	for (struct ep_inst *in = instances; in; in = in->next)
		if (in->efd_signalled)
			refresh(st, in);
	rt_unlock();
}

/* Under the stack lock: report ready synack items. */
static int harvest(struct sk_stack *st, struct ep_inst *in, struct epoll_event *events, int max)
{
	struct ep_item *it = in->ready, *next, *again = NULL, **again_tail = &again;
	int n = 0;

	in->ready = NULL;
	/* Rebuild the list: the items not reached because the output is full
	 * keep their place at the head; the reported LT items (still ready)
	 * go to the tail after them, as Linux's ep_send_events does. */
	for (; it; it = next) {
		uint32_t ev;

		next = it->next_ready;
		it->queued = false;
		if (n == max || it->disabled) {
			if (!it->disabled)
				enqueue(in, it);
			continue;
		}
		ev = item_events(st, it);
		if (!ev)
			continue;
		events[n].events = ev;
		events[n].data = it->data;
		n++;
		if (it->events & EPOLLONESHOT)
			it->disabled = true;
		else if (!(it->events & EPOLLET)) {
			/* Kept aside (linked through next_ready: it is
			 * on no list now), queued after the loop. */
			it->next_ready = NULL;
			*again_tail = it;
			again_tail = &it->next_ready;
		}
	}
	for (it = again; it; it = next) {
		next = it->next_ready;
		enqueue(in, it);
	}
	if (!in->ready)
		efd_clear(in);
	return n;
}

/* Drop our eventfd's events from the kernel's answer. */
static int strip_mark(struct epoll_event *ev, int n, bool *marked)
{
	int out = 0;

	for (int i = 0; i < n; i++) {
		if (ev[i].data.u64 == EFD_MARK) {
			*marked = true;
			continue;
		}
		ev[out++] = ev[i];
	}
	return out;
}

/* What epoll_wait returns: n events, a kside listener's two sides merged.
 * nkitems is read without the lock as a hint (0: nothing to merge). */
static int finish(struct ep_inst *in, struct epoll_event *events, int n)
{
	if (n <= 0 || !in->nkitems)
		return n;
	rt_lock();
	n = kside_merge(in, events, n);
	rt_unlock();
	return n;
}

int shim_epoll_wait(struct shim_ofd *ep, int epfd, struct epoll_event *events, int max, int timeout,
                    const sigset_t *sigmask)
{
	struct ep_inst *in = ep->epoll;
	sk_time_t deadline = timeout < 0 ? SK_TIME_NEVER : shim_now_us() + SK_MS(timeout);

	if (max <= 0 || max > INT_MAX / (int)sizeof(struct epoll_event))
		return -EINVAL;
	for (;;) {
		int n = 0, k, wait_ms;
		bool marked = false, kernel_first;

		kernel_first = atomic_exchange(&in->kernel_first, false);
		if (kernel_first) {
			shim_epoll_refresh(); /* epfds nested in this one */
			k = REAL(epoll_pwait)(epfd, events, max, 0, NULL);
			if (k < 0)
				return -errno;
			n = strip_mark(events, k, &marked);
			if (k == max && n < max) {
				/* Our eventfd took a slot: the kernel moved it
				 * to the tail, ask once more for the others. */
				k = REAL(epoll_pwait)(epfd, events + n, max - n, 0, NULL);
				if (k > 0)
					n += strip_mark(events + n, k, &marked);
			}
			if (n == max)
				return finish(in, events, n);
		}
		struct sk_stack *st = rt_lock();

		rt_poll_inline();
		k = harvest(st, in, events + n, max - n);
		if (n + k == max && !kernel_first)
			atomic_store(&in->kernel_first, true);
		rt_unlock();
		n += k;
		if (n == max)
			return finish(in, events, n);
		shim_epoll_refresh(); /* epfds nested in this one */
		if (n > 0 || deadline != SK_TIME_NEVER) {
			sk_time_t now = shim_now_us();

			wait_ms =
			    n > 0 || now >= deadline ? 0 : (int)((deadline - now + 999) / 1000);
		} else {
			wait_ms = -1;
		}
		bool slept = false;

		if (wait_ms != 0) {
			/* Sleep in ppoll on the epoll fd itself (readable when it
			 * has events, our eventfd's included), running to
			 * completion: frames for synack sockets are processed
			 * here (rt_ppoll). Then collect without waiting. */
			struct pollfd pfd[2] = {{.fd = epfd, .events = POLLIN}};

			k = rt_ppoll(pfd, 1, deadline, sigmask);
			if (k < 0)
				return n > 0 ? n : k;
			if (k == 0)
				return n; /* the time is up */
			slept = true;
			wait_ms = 0;
		}
		k = REAL(epoll_pwait)(epfd, events + n, max - n, wait_ms, slept ? NULL : sigmask);
		if (k < 0)
			return n > 0 ? finish(in, events, n) : -errno;
		k = strip_mark(events + n, k, &marked);
		if (n + k > 0 || (wait_ms == 0 && !slept))
			return finish(in, events, n + k);
		/* Only our eventfd fired: a synack socket may be ready. */
	}
}
