/* Per socket across the processes of a shared stack: holders, interest,
 * wake-ups, the trace's owner (see shm_stack.h, shm_self.h). */
#include "shm_stack.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../fd/internal_fd.h"
#include "../intercept/real.h"
#include "../runtime/locks.h"
#include "../runtime/log.h"
#include "shm_self.h"

/* ---- the wake sockets ---------------------------------------------- */

static socklen_t wake_addr(struct sockaddr_un *a, const struct shm_header *h, int slot,
                           uint64_t token)
{
	int n;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	/* Abstract (sun_path[0] = 0): gone with the socket, nothing to clean
	 * up; per network namespace, as the stack is. */
	n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "synack-wake-%016llx-%d-%llu",
	             (unsigned long long)h->stack_id, slot, (unsigned long long)token);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* Bind this process's wake socket (again after fork or exec: the address
 * names the slot and the attach). Not fatal: without it, this process is
 * woken by its own runtime's checks only... so say so. */
void shm_open_wake_sockets(void)
{
	struct sockaddr_un a;
	socklen_t len = wake_addr(&a, shm_me.hdr, shm_me.slot, shm_me.token);
	int fd;

	if (shm_me.wake_fd >= 0)
		shim_internal_close(shm_me.wake_fd);
	if (shm_me.send_fd >= 0)
		shim_internal_close(shm_me.send_fd);
	shm_me.wake_fd = shm_me.send_fd = -1;
	fd = REAL(socket)(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, len) < 0) {
		shim_log(SK_LOG_WARN, "stack %s: cannot bind the wake socket: %s", shm_me.name,
		         strerror(errno));
		REAL(close)(fd);
		fd = -1;
	}
	shm_me.wake_fd = shim_internal_adopt(fd);
	fd = REAL(socket)(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	shm_me.send_fd = shim_internal_adopt(fd);
}

int shm_wake_fd(void)
{
	return shm_me.wake_fd;
}

void shm_signal_slot(int slot)
{
	struct shm_proc *p = &shm_me.hdr->procs[slot];
	struct sockaddr_un a;
	socklen_t len;
	char one = 1;

	if (p->wake_signaled || shm_me.send_fd < 0)
		return;
	p->wake_signaled = 1;
	len = wake_addr(&a, shm_me.hdr, slot, p->token);
	/* ECONNREFUSED: the process has no wake socket yet (a fork child that
	 * has not used synack) or any more: the next wake-up tries again (a
	 * flag left set would silence every later one). EAGAIN: a datagram is
	 * queued already, it will look. */
	if (sendto(shm_me.send_fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a,
	           len) < 0 &&
	    errno != EAGAIN)
		p->wake_signaled = 0;
}

static void wake_slot(int slot, int sock)
{
	struct shm_proc *p = &shm_me.hdr->procs[slot];

	if (p->wake_tail - p->wake_head < SHM_WAKE_RING)
		shm_me.hdr->rings[slot].wake[p->wake_tail++ % SHM_WAKE_RING] = (uint32_t)sock;
	else
		p->wake_overflow = 1;
	shm_signal_slot(slot);
}

static bool slot_wakeable(int slot)
{
	return slot != shm_me.slot && shm_me.hdr->procs[slot].state == SHM_PROC_LIVE;
}

/* EPOLLEXCLUSIVE (epoll_ctl(2)): of the processes whose only interest in
 * sock is exclusive, one is woken, in turn; none when this process, which
 * is awake, has such an interest itself (its own epoll sets were just
 * told). Linux wakes one waiting instance the same way. */
static void wake_one_exclusive(struct shm_sock *s, int sock)
{
	int n = 0, pick, seen = 0;

	if (mask_test(s->excl, shm_me.slot))
		return;
	for (int slot = 0; slot < SHM_MAX_PROCS; slot++)
		n += mask_test(s->excl, slot) && !mask_test(s->interest, slot) &&
		     slot_wakeable(slot);
	if (n == 0)
		return;
	pick = (int)(s->excl_turn++ % (uint32_t)n);
	for (int slot = 0; slot < SHM_MAX_PROCS; slot++) {
		if (!mask_test(s->excl, slot) || mask_test(s->interest, slot) ||
		    !slot_wakeable(slot))
			continue;
		if (seen++ == pick) {
			wake_slot(slot, sock);
			return;
		}
	}
}

void shm_wake_others(int sock)
{
	struct shm_sock *s;

	shim_assert_stack_locked();
	if (!shm_me.hdr || sock < 0 || (uint32_t)sock >= shm_me.hdr->max_sockets)
		return;
	s = &socks()[sock];
	for (int w = 0; w < SHM_MASK_WORDS; w++) {
		uint64_t bits = s->interest[w];

		while (bits) {
			int slot = w * 64 + __builtin_ctzll(bits);

			bits &= bits - 1;
			if (slot_wakeable(slot))
				wake_slot(slot, sock);
		}
	}
	if (mask_empty(s->excl))
		return;
	/* A new connection on a listener: one of the exclusive ones; an
	 * error, a shutdown, a close: every one (as wait.c does locally). */
	if ((sk_poll(stack_of(shm_me.hdr), sock) & ~(SK_POLLRDNORM | SK_POLLWRNORM)) == SK_POLLIN) {
		wake_one_exclusive(s, sock);
		return;
	}
	for (int slot = 0; slot < SHM_MAX_PROCS; slot++)
		if (mask_test(s->excl, slot) && !mask_test(s->interest, slot) &&
		    slot_wakeable(slot))
			wake_slot(slot, sock);
}

void shm_wake_take(void (*one)(int sock), void (*all)(void))
{
	struct shm_proc *p;
	char buf[64];

	shim_assert_stack_locked();
	if (!shm_me.hdr || shm_me.slot < 0)
		return;
	while (shm_me.wake_fd >= 0 &&
	       REAL(recv)(shm_me.wake_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	p = &shm_me.hdr->procs[shm_me.slot];
	p->wake_signaled = 0;
	if (p->wake_overflow) {
		p->wake_overflow = 0;
		p->wake_head = p->wake_tail;
		all();
		return;
	}
	while (p->wake_head != p->wake_tail)
		one((int)shm_me.hdr->rings[shm_me.slot].wake[p->wake_head++ % SHM_WAKE_RING]);
}

/* ---- holders and interest ------------------------------------------ */

void shm_sock_take(int sock)
{
	shim_assert_stack_locked();
	if (shm_me.hdr && sock >= 0 && (uint32_t)sock < shm_me.hdr->max_sockets) {
		mask_set(socks()[sock].refs, shm_me.slot);
		socks()[sock].owner_plus1 = shm_me.slot + 1;
	}
}

bool shm_orphans_mine(void)
{
	int first_live = -1;

	shim_assert_stack_locked();
	if (!shm_me.hdr)
		return true;
	for (int i = 0; i < SHM_MAX_PROCS && first_live < 0; i++)
		if (shm_me.hdr->procs[i].state != SHM_PROC_FREE && !shm_me.hdr->procs[i].keeper)
			first_live = i;
	return first_live == shm_me.slot;
}

bool shm_sock_mine(int sock)
{
	int owner;

	shim_assert_stack_locked();
	if (!shm_me.hdr || sock < 0 || (uint32_t)sock >= shm_me.hdr->max_sockets)
		return true;
	owner = socks()[sock].owner_plus1 - 1;
	if (owner >= 0 && shm_me.hdr->procs[owner].state != SHM_PROC_FREE)
		return owner == shm_me.slot;
	/* Nobody's any more (its process left): the first process answers. */
	return shm_orphans_mine();
}

/* ---- the trace of state changes ------------------------------------ */

bool shm_trace_route(struct sk_stack *st, const struct sk_state_change *ev)
{
	struct shm_sock *s;
	struct shm_proc *p;
	struct shm_trace_ev *t;
	int owner;

	shim_assert_stack_locked();
	if (!shm_me.hdr || ev->sock < 0 || (uint32_t)ev->sock >= shm_me.hdr->max_sockets)
		return false;
	s = &socks()[ev->sock];
	if (ev->from == SK_TCP_LISTEN) {
		int parent = sk_sock_parent(st, ev->sock);

		/* A new passive connection: its listener's process owns it until
		 * one accepts it (the slot may hold a stale owner). */
		if (parent >= 0 && (uint32_t)parent < shm_me.hdr->max_sockets)
			s->owner_plus1 = socks()[parent].owner_plus1;
	}
	owner = s->owner_plus1 - 1;
	if (owner < 0 || owner == shm_me.slot)
		return false;
	p = &shm_me.hdr->procs[owner];
	if (p->state == SHM_PROC_FREE)
		return false;
	if (!p->trace_states)
		return true; /* its owner does not trace; nor does this process for it */
	if (p->trace_tail - p->trace_head >= SHM_TRACE_RING) {
		p->trace_head++;
		p->trace_lost++;
	}
	t = &shm_me.hdr->rings[owner].trace[p->trace_tail++ % SHM_TRACE_RING];
	t->ev = *ev;
	snprintf(t->cause, sizeof(t->cause), "%s", ev->cause ? ev->cause : "");
	t->ev.cause = NULL;
	shm_signal_slot(owner);
	return true;
}

void shm_trace_take(void (*print)(const struct sk_state_change *ev))
{
	struct shm_proc *p;

	shim_assert_stack_locked();
	if (!shm_me.hdr || shm_me.slot < 0)
		return;
	p = &shm_me.hdr->procs[shm_me.slot];
	if (p->trace_lost) {
		shim_log(SK_LOG_WARN,
		         "trace: %u state change(s) of this process's connections lost",
		         p->trace_lost);
		p->trace_lost = 0;
	}
	while (p->trace_head != p->trace_tail) {
		struct shm_trace_ev *t =
		    &shm_me.hdr->rings[shm_me.slot].trace[p->trace_head++ % SHM_TRACE_RING];
		struct sk_state_change ev = t->ev;

		ev.cause = t->cause;
		print(&ev);
	}
}

bool shm_sock_drop(int sock)
{
	struct shm_sock *s;

	shim_assert_stack_locked();
	if (!shm_me.hdr || sock < 0 || (uint32_t)sock >= shm_me.hdr->max_sockets)
		return true;
	s = &socks()[sock];
	mask_clear(s->refs, shm_me.slot);
	mask_clear(s->interest, shm_me.slot);
	mask_clear(s->excl, shm_me.slot);
	return mask_empty(s->refs);
}

bool shm_sock_sole(int sock)
{
	struct shm_sock *s;
	uint64_t copy[SHM_MASK_WORDS];

	shim_assert_stack_locked();
	if (!shm_me.hdr || sock < 0 || (uint32_t)sock >= shm_me.hdr->max_sockets)
		return true;
	s = &socks()[sock];
	memcpy(copy, s->refs, sizeof(copy));
	mask_clear(copy, shm_me.slot);
	return mask_empty(copy);
}

void shm_sock_interest_exclusive(int sock)
{
	shim_assert_stack_locked();
	if (shm_me.hdr && sock >= 0 && (uint32_t)sock < shm_me.hdr->max_sockets)
		mask_set(socks()[sock].excl, shm_me.slot);
}

void shm_sock_uninterest_exclusive(int sock)
{
	shim_assert_stack_locked();
	if (shm_me.hdr && sock >= 0 && (uint32_t)sock < shm_me.hdr->max_sockets)
		mask_clear(socks()[sock].excl, shm_me.slot);
}

void shm_sock_interest(int sock)
{
	shim_assert_stack_locked();
	if (shm_me.hdr && sock >= 0 && (uint32_t)sock < shm_me.hdr->max_sockets)
		mask_set(socks()[sock].interest, shm_me.slot);
}
