/* One stack in shared memory for every process on an interface (see
 * shm_stack.h). */
#include "shm_stack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../../netdev/netdev.h"
#include "../runtime/config.h"
#include "../fd/internal_fd.h"
#include "../runtime/locks.h"
#include "../runtime/log.h"
#include "../intercept/real.h"
#include "heap.h"
#include "shm_layout.h"

/* This process's view of the stack. */
static struct {
	struct shm_header *hdr; /* NULL: not attached */
	size_t size;
	int slot;
	uint64_t token; /* sk_stack_bind's owner: this attach of this image */
	struct sk_link_ops link;
	void *link_ctx;
	struct sk_hooks hooks;
	struct sk_mem_ops mem;
	struct netdev *dev;
	int wake_fd;       /* bound to our wake address (internal) */
	int send_fd;       /* unbound, for waking the others (internal) */
	char name[96];     /* shm_open name */
	pthread_t holder;  /* the thread holding the lock, when held */
	bool held;
	int fork_slot;     /* the child's slot reserved by shm_fork_prepare */
	bool fork_keeper;  /* the next fork's child is the keeper (keeper.c) */
	bool trace_states; /* SYNACK_TRACE=states (shm_trace_route) */
	int lock_fd;       /* the object, flock(LOCK_SH) while attached */
	sk_time_t next_sweep;
} me = {.slot = -1, .wake_fd = -1, .send_fd = -1, .fork_slot = -1, .lock_fd = -1};

int shm_lock_fd(void)
{
	return me.lock_fd;
}

static bool still_named(int fd);
static bool flocked_layout(int fd);

/* exec: the old image's lock fd (exec_handover.c), so that the stack is
 * never without a holder between the two images. Checked to be ours. */
static int inherited_lock_fd(void)
{
	const char *v = getenv("SYNACK_SHM_FD");
	int fd = v ? atoi(v) : -1;

	if (fd < 0 || !still_named(fd))
		return -1;
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

const char *shm_stack_name(void)
{
	return me.name;
}

struct shm_header *shm_header(void)
{
	return me.hdr;
}

int shm_my_slot(void)
{
	return me.slot;
}

/* ---- small helpers ------------------------------------------------- */

static sk_time_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (sk_time_t)ts.tv_sec * 1000000u + (sk_time_t)ts.tv_nsec / 1000u;
}

static struct shm_sock *socks(void)
{
	return (struct shm_sock *)((char *)me.hdr + me.hdr->socks_off);
}

static struct sk_stack *stack_of(struct shm_header *h)
{
	return (struct sk_stack *)((char *)h + h->stack_off);
}

/* The process's start time in clock ticks since boot (/proc/<pid>/stat
 * field 22), 0 when there is no such process or it is a zombie: a slot
 * whose pid is gone, dead, or reused by another process (another start
 * time) is free again. */
uint64_t shm_proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long start = 0;
	ssize_t n;
	int fd;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = REAL(open)(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = REAL(read)(fd, buf, sizeof(buf) - 1);
	REAL(close)(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) S ppid ...": comm may hold spaces and ')' itself. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return 0;
	p += 2;
	if (*p == 'Z' || *p == 'X' || *p == 'x')
		return 0;
	/* Field 3 is the state; the start time is field 22. */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p || sscanf(p, "%llu", &start) != 1)
		return 0;
	return start;
}

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
static void open_wake_sockets(void)
{
	struct sockaddr_un a;
	socklen_t len = wake_addr(&a, me.hdr, me.slot, me.token);
	int fd;

	if (me.wake_fd >= 0)
		shim_internal_close(me.wake_fd);
	if (me.send_fd >= 0)
		shim_internal_close(me.send_fd);
	me.wake_fd = me.send_fd = -1;
	fd = REAL(socket)(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, len) < 0) {
		shim_log(SK_LOG_WARN, "stack %s: cannot bind the wake socket: %s", me.name,
		         strerror(errno));
		REAL(close)(fd);
		fd = -1;
	}
	me.wake_fd = shim_internal_adopt(fd);
	fd = REAL(socket)(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	me.send_fd = shim_internal_adopt(fd);
}

int shm_wake_fd(void)
{
	return me.wake_fd;
}

static bool mask_test(const uint64_t *m, int slot)
{
	return (m[slot / 64] >> (slot % 64)) & 1u;
}
static void mask_set(uint64_t *m, int slot)
{
	m[slot / 64] |= (uint64_t)1 << (slot % 64);
}
static void mask_clear(uint64_t *m, int slot)
{
	m[slot / 64] &= ~((uint64_t)1 << (slot % 64));
}
static bool mask_empty(const uint64_t *m)
{
	for (int i = 0; i < SHM_MASK_WORDS; i++)
		if (m[i])
			return false;
	return true;
}

static void signal_slot(int slot)
{
	struct shm_proc *p = &me.hdr->procs[slot];
	struct sockaddr_un a;
	socklen_t len;
	char one = 1;

	if (p->wake_signaled || me.send_fd < 0)
		return;
	p->wake_signaled = 1;
	len = wake_addr(&a, me.hdr, slot, p->token);
	/* ECONNREFUSED: the process has no runtime yet (a fork child that has
	 * not used synack); it takes its ring when it starts. EAGAIN: a
	 * datagram is queued already. */
	(void)sendto(me.send_fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a, len);
}

static void wake_slot(int slot, int sock)
{
	struct shm_proc *p = &me.hdr->procs[slot];

	if (p->wake_tail - p->wake_head < SHM_WAKE_RING)
		p->wake_ring[p->wake_tail++ % SHM_WAKE_RING] = (uint32_t)sock;
	else
		p->wake_overflow = 1;
	signal_slot(slot);
}

static bool slot_wakeable(int slot)
{
	return slot != me.slot && me.hdr->procs[slot].state == SHM_PROC_LIVE;
}

/* EPOLLEXCLUSIVE (epoll_ctl(2)): of the processes whose only interest in
 * sock is exclusive, one is woken, in turn; none when this process, which
 * is awake, has such an interest itself (its own epoll sets were just
 * told). Linux wakes one waiting instance the same way. */
static void wake_one_exclusive(struct shm_sock *s, int sock)
{
	int n = 0, pick, seen = 0;

	if (mask_test(s->excl, me.slot))
		return;
	for (int slot = 0; slot < SHM_MAX_PROCS; slot++)
		n += mask_test(s->excl, slot) && !mask_test(s->interest, slot) && slot_wakeable(slot);
	if (n == 0)
		return;
	pick = (int)(s->excl_turn++ % (uint32_t)n);
	for (int slot = 0; slot < SHM_MAX_PROCS; slot++) {
		if (!mask_test(s->excl, slot) || mask_test(s->interest, slot) || !slot_wakeable(slot))
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
	if (!me.hdr || sock < 0 || (uint32_t)sock >= me.hdr->max_sockets)
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
	if ((sk_poll(stack_of(me.hdr), sock) & ~(SK_POLLRDNORM | SK_POLLWRNORM)) == SK_POLLIN) {
		wake_one_exclusive(s, sock);
		return;
	}
	for (int slot = 0; slot < SHM_MAX_PROCS; slot++)
		if (mask_test(s->excl, slot) && !mask_test(s->interest, slot) && slot_wakeable(slot))
			wake_slot(slot, sock);
}

void shm_wake_take(void (*one)(int sock), void (*all)(void))
{
	struct shm_proc *p;
	char buf[64];

	shim_assert_stack_locked();
	if (!me.hdr || me.slot < 0)
		return;
	while (me.wake_fd >= 0 && REAL(recv)(me.wake_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	p = &me.hdr->procs[me.slot];
	p->wake_signaled = 0;
	if (p->wake_overflow) {
		p->wake_overflow = 0;
		p->wake_head = p->wake_tail;
		all();
		return;
	}
	while (p->wake_head != p->wake_tail)
		one((int)p->wake_ring[p->wake_head++ % SHM_WAKE_RING]);
}

/* ---- holders and interest ------------------------------------------ */

void shm_sock_take(int sock)
{
	shim_assert_stack_locked();
	if (me.hdr && sock >= 0 && (uint32_t)sock < me.hdr->max_sockets) {
		mask_set(socks()[sock].refs, me.slot);
		socks()[sock].owner_plus1 = me.slot + 1;
	}
}

bool shm_sock_mine(int sock)
{
	int owner, first_live = -1;

	shim_assert_stack_locked();
	if (!me.hdr || sock < 0 || (uint32_t)sock >= me.hdr->max_sockets)
		return true;
	owner = socks()[sock].owner_plus1 - 1;
	if (owner >= 0 && me.hdr->procs[owner].state != SHM_PROC_FREE)
		return owner == me.slot;
	/* Nobody's any more (its process left): the first process answers. */
	for (int i = 0; i < SHM_MAX_PROCS && first_live < 0; i++)
		if (me.hdr->procs[i].state != SHM_PROC_FREE && !me.hdr->procs[i].keeper)
			first_live = i;
	return first_live == me.slot;
}

/* ---- the trace of state changes ------------------------------------ */

bool shm_trace_route(struct sk_stack *st, const struct sk_state_change *ev)
{
	struct shm_sock *s;
	struct shm_proc *p;
	struct shm_trace_ev *t;
	int owner;

	shim_assert_stack_locked();
	if (!me.hdr || ev->sock < 0 || (uint32_t)ev->sock >= me.hdr->max_sockets)
		return false;
	s = &socks()[ev->sock];
	if (ev->from == SK_TCP_LISTEN) {
		struct sk_sock_view v;

		/* A new passive connection: its listener's process owns it until
		 * one accepts it (the slot may hold a stale owner). */
		if (sk_sock_view(st, ev->sock, &v) == 0 && v.parent >= 0 &&
		    (uint32_t)v.parent < me.hdr->max_sockets)
			s->owner_plus1 = socks()[v.parent].owner_plus1;
	}
	owner = s->owner_plus1 - 1;
	if (owner < 0 || owner == me.slot)
		return false;
	p = &me.hdr->procs[owner];
	if (p->state == SHM_PROC_FREE)
		return false;
	if (!p->trace_states)
		return true; /* its owner does not trace; nor does this process for it */
	if (p->trace_tail - p->trace_head >= SHM_TRACE_RING) {
		p->trace_head++;
		p->trace_lost++;
	}
	t = &p->trace[p->trace_tail++ % SHM_TRACE_RING];
	t->ev = *ev;
	snprintf(t->cause, sizeof(t->cause), "%s", ev->cause ? ev->cause : "");
	t->ev.cause = NULL;
	signal_slot(owner);
	return true;
}

void shm_trace_take(void (*print)(const struct sk_state_change *ev))
{
	struct shm_proc *p;

	shim_assert_stack_locked();
	if (!me.hdr || me.slot < 0)
		return;
	p = &me.hdr->procs[me.slot];
	if (p->trace_lost) {
		shim_log(SK_LOG_WARN, "trace: %u state change(s) of this process's connections lost",
		         p->trace_lost);
		p->trace_lost = 0;
	}
	while (p->trace_head != p->trace_tail) {
		struct shm_trace_ev *t = &p->trace[p->trace_head++ % SHM_TRACE_RING];
		struct sk_state_change ev = t->ev;

		ev.cause = t->cause;
		print(&ev);
	}
}

bool shm_sock_drop(int sock)
{
	struct shm_sock *s;

	shim_assert_stack_locked();
	if (!me.hdr || sock < 0 || (uint32_t)sock >= me.hdr->max_sockets)
		return true;
	s = &socks()[sock];
	mask_clear(s->refs, me.slot);
	mask_clear(s->interest, me.slot);
	mask_clear(s->excl, me.slot);
	return mask_empty(s->refs);
}

bool shm_sock_sole(int sock)
{
	struct shm_sock *s;
	uint64_t copy[SHM_MASK_WORDS];

	shim_assert_stack_locked();
	if (!me.hdr || sock < 0 || (uint32_t)sock >= me.hdr->max_sockets)
		return true;
	s = &socks()[sock];
	memcpy(copy, s->refs, sizeof(copy));
	mask_clear(copy, me.slot);
	return mask_empty(copy);
}

void shm_sock_interest_exclusive(int sock)
{
	shim_assert_stack_locked();
	if (me.hdr && sock >= 0 && (uint32_t)sock < me.hdr->max_sockets)
		mask_set(socks()[sock].excl, me.slot);
}

void shm_sock_uninterest_exclusive(int sock)
{
	shim_assert_stack_locked();
	if (me.hdr && sock >= 0 && (uint32_t)sock < me.hdr->max_sockets)
		mask_clear(socks()[sock].excl, me.slot);
}

void shm_sock_interest(int sock)
{
	shim_assert_stack_locked();
	if (me.hdr && sock >= 0 && (uint32_t)sock < me.hdr->max_sockets)
		mask_set(socks()[sock].interest, me.slot);
}

/* ---- process slots ------------------------------------------------- */

unsigned shm_live_procs_except(uint64_t token)
{
	unsigned n = 0;

	for (int i = 0; me.hdr && i < SHM_MAX_PROCS; i++) {
		const struct shm_proc *p = &me.hdr->procs[i];

		n += p->state != SHM_PROC_FREE && !p->keeper && (token == 0 || p->token != token);
	}
	return n;
}

unsigned shm_live_procs(void)
{
	return shm_live_procs_except(0);
}

uint64_t shm_my_token(void)
{
	return me.token;
}

static int slot_alloc(void)
{
	struct shm_header *h = me.hdr;

	for (int i = 0; i < SHM_MAX_PROCS; i++) {
		struct shm_proc *p = &h->procs[i];

		if (p->state == SHM_PROC_FREE) {
			memset(p, 0, sizeof(*p));
			p->token = ++h->next_token;
			h->procs_gen++;
			return i;
		}
	}
	return -1;
}

/* Drop everything slot holds, closing the sockets nobody else holds as the
 * kernel closes a dead process's files; free the slot. */
static void slot_release(struct sk_stack *st, int slot, const char *why)
{
	struct shm_header *h = me.hdr;
	struct shm_sock *s = socks();
	unsigned closed = 0;
	sk_time_t now = now_us();

	for (uint32_t i = 0; i < h->max_sockets; i++) {
		mask_clear(s[i].interest, slot);
		mask_clear(s[i].excl, slot);
		if (!mask_test(s[i].refs, slot))
			continue;
		mask_clear(s[i].refs, slot);
		if (mask_empty(s[i].refs)) {
			sk_close(st, (int)i, now);
			closed++;
		}
	}
	if (why)
		shim_log(SK_LOG_INFO, "stack %s: process %d %s; %u connection(s) it alone held closed",
		         me.name, (int)h->procs[slot].pid, why, closed);
	memset(&h->procs[slot], 0, sizeof(h->procs[slot]));
	h->procs_gen++;
}

/* A FORKING slot whose fork never returned (the program forked by a path
 * we did not see): its parent records the pid, so a slot still without one
 * after this long is abandoned. Only a fork() bypassing our wrapper gets
 * here; the bound is generous. */
#define SHM_FORK_CLAIM_US SK_MS(30000)

static bool slot_dead(struct shm_proc *p, sk_time_t now)
{
	uint64_t start;

	if (p->state == SHM_PROC_FORKING && p->pid == 0)
		return now - p->reserved_at > SHM_FORK_CLAIM_US;
	if (p->pid <= 0)
		return false;
	start = shm_proc_start_time(p->pid);
	if (start == 0)
		return true;
	if (p->start_time == 0)
		p->start_time = start; /* recorded by the first who looks */
	return start != p->start_time;
}

static void sweep(struct sk_stack *st, bool all)
{
	struct shm_header *h = me.hdr;
	sk_time_t now = now_us();

	if (!all && now < me.next_sweep)
		return;
	me.next_sweep = now + SHM_SWEEP_US;
	for (int i = 0; i < SHM_MAX_PROCS; i++) {
		struct shm_proc *p = &h->procs[i];

		if (i == me.slot || p->state == SHM_PROC_FREE || !slot_dead(p, now))
			continue;
		slot_release(st, i, p->keeper ? "(keeper) is gone" : "is gone");
	}
}

void shm_sweep(void)
{
	shim_assert_stack_locked();
	if (me.hdr)
		sweep(stack_of(me.hdr), false);
}

/* ---- the lock ------------------------------------------------------ */

static void bind_me(struct sk_stack *st)
{
	struct shm_header *h = me.hdr;

	if (h->bound_token == me.token)
		return;
	sk_stack_bind(st, &me.link, me.link_ctx, &me.hooks, &me.mem, (uint32_t)me.token);
	if (me.dev)
		sk_stack_bind_device(st, me.dev->gso_max, me.dev->gso_max_segs, me.dev->tx_csum);
	h->bound_token = me.token;
}

/* The holder died: whatever it was doing is half done. The derived
 * indexes are rebuilt from the socket arena and what cannot be rebuilt is
 * checked (sk_stack_repair); then the dead process's slot is released. A
 * stack that cannot be made consistent is declared broken: no process
 * attaches to it any more, and every one says so. */
static void recover(struct sk_stack *st)
{
	char why[160] = "";

	atomic_fetch_add(&me.hdr->recoveries, 1);
	me.hdr->bound_token = 0; /* the dead process's bindings */
	bind_me(st);
	if (sk_stack_repair(st, why, sizeof(why)) < 0) {
		snprintf(me.hdr->broken_why, sizeof(me.hdr->broken_why), "%s", why);
		atomic_store(&me.hdr->state, SHM_BROKEN);
		shim_log(SK_LOG_ERROR,
		         "stack %s is broken: a process died holding its lock and the state it "
		         "left is inconsistent (%s); restart the programs using %s",
		         me.name, why, me.name);
	} else {
		shim_log(SK_LOG_WARN,
		         "stack %s: a process died holding the stack lock; the stack was "
		         "checked and repaired",
		         me.name);
	}
	sweep(st, true);
}

struct sk_stack *shm_stack_lock(void)
{
	struct shm_header *h = me.hdr;
	struct sk_stack *st = stack_of(h);
	int r;

	shim_lock_note_taken(SHIM_LOCK_STACK);
	r = pthread_mutex_lock(&h->lock);
	if (r == EOWNERDEAD) {
		me.holder = pthread_self();
		me.held = true;
		recover(st);
		pthread_mutex_consistent(&h->lock);
	} else {
		me.holder = pthread_self();
		me.held = true;
	}
	bind_me(st);
	return st;
}

void shm_stack_unlock(void)
{
	me.held = false;
	pthread_mutex_unlock(&me.hdr->lock);
	shim_lock_note_released(SHIM_LOCK_STACK);
}

bool shm_stack_locked_by_me(void)
{
	return me.held && pthread_equal(me.holder, pthread_self());
}

/* ---- the stack's memory ---------------------------------------------- */

/* Blocks this large (a connection's rings) give their pages back to the
 * system when freed, as the C library's free() of a large block does
 * (munmap): a punched hole in the shared object, zero when touched again.
 * The first page holds the heap's free-list link. */
#define SHM_RELEASE_MIN (128u << 10)

static void mem_free(void *ctx, void *p, size_t n)
{
	if (n >= SHM_RELEASE_MIN) {
		uintptr_t lo = ((uintptr_t)p + 4096u + 4095u) & ~(uintptr_t)4095u;
		uintptr_t hi = ((uintptr_t)p + n) & ~(uintptr_t)4095u;

		if (hi > lo)
			(void)madvise((void *)lo, hi - lo, MADV_REMOVE);
	}
	shm_heap_free(ctx, p, n);
}

static struct sk_mem_ops region_mem(void *heap)
{
	struct sk_mem_ops m = shm_heap_mem_ops(heap);

	m.free = mem_free;
	return m;
}

/* ---- attach -------------------------------------------------------- */

static unsigned long long netns_inode(void)
{
	struct stat sb;

	return stat("/proc/self/ns/net", &sb) == 0 ? (unsigned long long)sb.st_ino : 0;
}

static void make_name(const struct shim_config *cfg)
{
	const char *o = cfg->stack;

	if (o[0])
		snprintf(me.name, sizeof(me.name), "/synack-u%u-%s", (unsigned)getuid(), o);
	else
		snprintf(me.name, sizeof(me.name), "/synack-u%u-n%llu-%s", (unsigned)getuid(),
		         netns_inode(), cfg->iface);
}

/* The region's size: enough virtual space for every socket's buffers at
 * their default size (pages are only used when touched), within what
 * /dev/shm can hold. */
static size_t region_size(const struct sk_config *sc)
{
	uint64_t want = SHM_REGION_MIN + (uint64_t)sc->max_sockets * (sc->rcvbuf + sc->sndbuf) * 2u;
	struct statvfs vfs;

	if (want > SHM_REGION_MAX)
		want = SHM_REGION_MAX;
	if (statvfs("/dev/shm", &vfs) == 0) {
		uint64_t room = (uint64_t)vfs.f_bavail * vfs.f_frsize;

		if (want > room && room > SHM_REGION_MIN)
			want = room;
	}
	return (size_t)want;
}

static int create_region(int fd, const struct sk_config *sc, const struct shim_config *cfg)
{
	size_t size = region_size(sc), off;
	struct shm_header *h;
	pthread_mutexattr_t ma;
	struct sk_stack *st;

	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;
	h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return -errno;
	me.hdr = h;
	me.size = size;
	h->magic = SHM_MAGIC;
	h->version = SHM_VERSION;
	h->region_size = size;
	h->creator_pid = getpid();
	h->max_sockets = sc->max_sockets;
	h->addr = cfg->addr;
	h->prefix_len = cfg->prefix_len;
	h->gateway = cfg->gateway;
	if (getrandom(&h->stack_id, sizeof(h->stack_id), 0) != sizeof(h->stack_id))
		h->stack_id = (uint64_t)now_us() ^ (uint64_t)getpid() << 32;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&h->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	off = (sizeof(*h) + 63) & ~(size_t)63;
	h->socks_off = off;
	off += ((size_t)sc->max_sockets * sizeof(struct shm_sock) + 4095) & ~(size_t)4095;
	h->heap_off = off;
	if (shm_heap_init((char *)h + off, size - off, 0) < 0)
		return -ENOMEM;
	me.mem = region_mem((char *)h + off);
	st = sk_stack_new_in(sc, &me.link, me.link_ctx, &me.hooks, &me.mem);
	if (!st)
		return -ENOMEM;
	h->stack_off = (uint64_t)((char *)st - (char *)h);
	return 0;
}

/* Map an existing region and wait (bounded) for its creator to finish. */
static int map_region(int fd)
{
	struct stat sb;
	struct shm_header *h;

	for (int tries = 0; tries < 500; tries++) {
		if (fstat(fd, &sb) < 0)
			return -errno;
		if ((size_t)sb.st_size >= sizeof(*h))
			break;
		usleep(10000);
	}
	if ((size_t)sb.st_size < sizeof(*h))
		return -EAGAIN;
	if (sb.st_uid != getuid())
		return -EACCES;
	h = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return -errno;
	for (int tries = 0; tries < 500 && atomic_load(&h->state) == SHM_INIT; tries++)
		usleep(10000);
	/* A creator that died before the stack was ready left a husk. */
	if (atomic_load(&h->state) == SHM_INIT && h->magic == SHM_MAGIC &&
	    shm_proc_start_time(h->creator_pid) == 0) {
		munmap(h, (size_t)sb.st_size);
		shm_unlink(me.name);
		return -EAGAIN;
	}
	if (h->magic != SHM_MAGIC || h->version != SHM_VERSION ||
	    h->region_size != (uint64_t)sb.st_size || atomic_load(&h->state) == SHM_INIT) {
		munmap(h, (size_t)sb.st_size);
		return -EPROTO;
	}
	me.hdr = h;
	me.size = (size_t)sb.st_size;
	me.mem = region_mem((char *)h + h->heap_off);
	return 0;
}

static void unmap(void)
{
	if (me.hdr)
		munmap(me.hdr, me.size);
	me.hdr = NULL;
	if (me.lock_fd >= 0)
		shim_internal_close(me.lock_fd);
	me.lock_fd = -1;
}

/* A process joining a running stack must agree on what identifies it; the
 * tunables are the first process's. */
static int check_identity(const struct shim_config *cfg)
{
	struct shm_header *h = me.hdr;

	if (h->addr == cfg->addr && h->prefix_len == cfg->prefix_len && h->gateway == cfg->gateway)
		return 0;
	shim_log(SK_LOG_ERROR,
	         "stack %s already runs on %s with address %u.%u.%u.%u/%u, not "
	         "SYNACK_ADDR=%u.%u.%u.%u/%u (or another SYNACK_GATEWAY): give every program on "
	         "an interface the same address, or SYNACK_STACK=<name> for a separate stack",
	         me.name, cfg->iface, h->addr >> 24, (h->addr >> 16) & 255, (h->addr >> 8) & 255,
	         h->addr & 255, h->prefix_len, cfg->addr >> 24, (cfg->addr >> 16) & 255,
	         (cfg->addr >> 8) & 255, cfg->addr & 255, cfg->prefix_len);
	return -EADDRINUSE;
}

/* Join this process's packet socket to the stack's fanout group, so that
 * each frame reaches one process only (netdev_afpacket_fanout). The
 * creator picks the group; a socket inherited from a process of the stack
 * (fork, exec, synack run) is in it already. */
static int join_fanout(bool created)
{
	char err[256] = "";
	int r = -EINVAL;

	if (!created) {
		r = netdev_afpacket_fanout(me.dev, me.hdr->fanout_id, err, sizeof(err));
		if (r == 0 || r == -EALREADY)
			return 0;
		shim_log(SK_LOG_ERROR,
		         "stack %s: %s — without it every process would process every frame; is "
		         "another program holding that packet fanout group on %s?",
		         me.name, err, me.dev->name);
		return r;
	}
	for (int tries = 0; tries < 16; tries++) {
		uint16_t id = 0;

		if (getrandom(&id, sizeof(id), 0) != sizeof(id) || id == 0)
			continue;
		r = netdev_afpacket_fanout(me.dev, id, err, sizeof(err));
		if (r == 0 || r == -EALREADY) {
			me.hdr->fanout_id = id;
			return 0;
		}
		if (r != -EINVAL && r != -EADDRINUSE)
			break;
	}
	shim_log(SK_LOG_ERROR, "stack %s: %s", me.name, err);
	return r;
}

/* One attempt: open (or create) the object, take a slot. -EAGAIN: the
 * object went away under us (its last process removed it): try again. */
static int try_attach(const struct sk_config *sc, const struct shim_config *cfg, int want_slot,
                      uint64_t want_token)
{
	int fd = inherited_lock_fd(), r;
	bool created = false;
	struct sk_stack *st;

	if (fd < 0) {
		fd = shm_open(me.name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		created = fd >= 0;
		if (fd < 0 && errno == EEXIST)
			fd = shm_open(me.name, O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0)
			return errno == ENOENT ? -EAGAIN : -errno;
		/* Held for this process's life (remove_stale_stacks). */
		if (flock(fd, LOCK_SH) < 0 || !still_named(fd)) {
			REAL(close)(fd);
			return -EAGAIN;
		}
	}
	r = created ? create_region(fd, sc, cfg) : map_region(fd);
	if (r < 0) {
		if (created) {
			shm_unlink(me.name);
			unmap();
		}
		if (r == -EPROTO)
			shim_log(SK_LOG_ERROR,
			         "the stack %s was made by another version of synack (%s): let its "
			         "programs finish first; if none runs any more, remove /dev/shm%s",
			         me.name,
			         flocked_layout(fd) ? "still in use" : "too old to tell whether in use",
			         me.name);
		REAL(close)(fd);
		return r;
	}
	if (me.lock_fd >= 0)
		shim_internal_close(me.lock_fd);
	me.lock_fd = shim_internal_adopt(fd);
	if (!created && (r = check_identity(cfg)) < 0) {
		unmap();
		return r;
	}
	unsetenv("SYNACK_SHM_FD");
	st = shm_stack_lock();
	if (atomic_load(&me.hdr->state) == SHM_REMOVED) {
		shm_stack_unlock();
		unmap();
		return -EAGAIN;
	}
	if (atomic_load(&me.hdr->state) == SHM_BROKEN) {
		shim_log(SK_LOG_ERROR, "stack %s is broken (%s): remove it (synack check says how)",
		         me.name, me.hdr->broken_why);
		shm_stack_unlock();
		unmap();
		return -ENETDOWN;
	}
	sweep(st, true);
	if (want_slot >= 0 && want_slot < SHM_MAX_PROCS &&
	    me.hdr->procs[want_slot].token == want_token &&
	    me.hdr->procs[want_slot].pid == getpid()) {
		/* exec: the new image takes its old self's slot and sockets. */
		me.slot = want_slot;
		me.hdr->procs[want_slot].token = ++me.hdr->next_token;
		me.hdr->procs_gen++;
	} else {
		me.slot = slot_alloc();
	}
	if (me.slot < 0) {
		shm_stack_unlock();
		unmap();
		shim_log(SK_LOG_ERROR, "stack %s: %d processes use it already (the most it takes)",
		         me.name, SHM_MAX_PROCS);
		return -EMFILE;
	}
	me.hdr->procs[me.slot].pid = getpid();
	me.hdr->procs[me.slot].start_time = shm_proc_start_time(getpid());
	me.hdr->procs[me.slot].state = SHM_PROC_LIVE;
	me.trace_states = cfg->trace_states;
	me.hdr->procs[me.slot].trace_states = me.trace_states;
	me.token = me.hdr->procs[me.slot].token;
	me.hdr->bound_token = 0;
	bind_me(st);
	if ((r = join_fanout(created)) < 0) {
		slot_release(st, me.slot, NULL);
		me.slot = -1;
		if (created) {
			atomic_store(&me.hdr->state, SHM_REMOVED);
			shm_unlink(me.name);
		}
		shm_stack_unlock();
		unmap();
		return r == -EAGAIN ? -EIO : r;
	}
	if (created)
		atomic_store(&me.hdr->state, SHM_READY);
	shm_stack_unlock();
	shim_log(SK_LOG_INFO, "stack %s: %s (slot %d)", me.name, created ? "created" : "attached",
	         me.slot);
	return 0;
}

/* Stacks of this user that no process holds any more (killed: no
 * destructor ran), often in a network namespace that is gone too: no
 * process will ever run them again, and their pages stay in /dev/shm. The
 * connections such a stack holds died with their processes, as when the
 * last process of a stack is killed: a new process starts a new stack.
 * Whether a process holds a stack is the kernel's to say: every process
 * attached keeps a shared flock on the object (me.lock_fd, inherited by
 * fork children and the keeper, passed across exec), released when it
 * dies however it dies; an exclusive lock granted at once means nobody
 * does. Whatever the layout version that made the object. Looked for
 * whenever a process attaches, our own name included (a namespace's inode
 * number is reused once it is gone, and with it the name). */

static bool flocked_layout(int fd)
{
	struct {
		uint64_t magic;
		uint32_t version;
	} head;

	return pread(fd, &head, sizeof(head), 0) == (ssize_t)sizeof(head) &&
	       head.magic == SHM_MAGIC && head.version >= SHM_VERSION_FLOCK;
}

/* Another user's stack on this interface sees the same frames and resets
 * the connections it does not know, ours among them (and ours its): say
 * so while it runs. Its object (mode 0600) opens for root only: then a
 * stale one is removed like ours; for anyone else it can only be seen. */
static const char *after_uid(const char *name) /* "synack-u<uid>-REST" -> "-REST" */
{
	const char *dash = strchr(name, '-');

	return dash ? strchr(dash + 1, '-') : NULL;
}

static void other_user(const char *name)
{
	const char *suffix = after_uid(me.name + 1), *theirs = after_uid(name);
	char path[300];
	int fd;

	if (!suffix || !theirs || strncmp(name, "synack-u", 8) || strcmp(theirs, suffix) != 0)
		return;
	snprintf(path, sizeof(path), "/%s", name);
	fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd >= 0 && flocked_layout(fd) && flock(fd, LOCK_EX | LOCK_NB) == 0) {
		shm_unlink(path);
		REAL(close)(fd);
		return;
	}
	if (fd >= 0)
		REAL(close)(fd);
	shim_log(SK_LOG_WARN,
	         "/dev/shm%s: another user's synack stack on this interface: the two stacks see "
	         "each other's frames and reset each other's connections while both run — run "
	         "every program on an interface as one user",
	         path);
}

static void remove_stale_stacks(void)
{
	char prefix[32], path[300];
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	int n = snprintf(prefix, sizeof(prefix), "synack-u%u-", (unsigned)getuid());

	while (d && (e = readdir(d))) {
		int fd;

		if (strncmp(e->d_name, prefix, (size_t)n)) {
			other_user(e->d_name);
			continue;
		}
		snprintf(path, sizeof(path), "/%s", e->d_name);
		fd = shm_open(path, O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0)
			continue;
		if (flocked_layout(fd) && flock(fd, LOCK_EX | LOCK_NB) == 0) {
			shm_unlink(path);
			shim_log(SK_LOG_INFO, "removed the stack %s: no process uses it any more", path);
		}
		REAL(close)(fd);
	}
	if (d)
		closedir(d);
}

/* Does fd still hold the object named me.name? (A remover may have
 * unlinked it between our open and our lock.) */
static bool still_named(int fd)
{
	char path[160];
	struct stat a, b;

	snprintf(path, sizeof(path), "/dev/shm%s", me.name);
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/* Not under the lock, after attaching: a keeper (keeper.c) still reading
 * frames would take some of ours (the fanout group spreads flows over its
 * packet socket too) and report their state changes to nobody. It leaves
 * when it sees us: tell it at once, and wait for it, boundedly (it only
 * finishes the frames it has). */
static void wait_keepers_gone(void)
{
	for (int tries = 0; tries < 2000; tries++) {
		bool any = false;

		shm_stack_lock();
		for (int i = 0; i < SHM_MAX_PROCS; i++) {
			if (me.hdr->procs[i].state == SHM_PROC_FREE || !me.hdr->procs[i].keeper)
				continue;
			any = true;
			signal_slot(i);
		}
		shm_stack_unlock();
		if (!any)
			return;
		usleep(tries < 100 ? 1000 : 5000);
	}
	shim_log(SK_LOG_WARN, "stack %s: the keeper did not leave; carrying on beside it", me.name);
}

int shm_stack_attach_as(const struct shim_config *cfg, const struct sk_link_ops *link,
                        struct netdev *dev, const struct sk_hooks *hooks,
                        const struct sk_config *sc, int want_slot, uint64_t want_token)
{
	int r = -EAGAIN;

	make_name(cfg);
	remove_stale_stacks();
	me.dev = dev;
	me.link = *link;
	me.link_ctx = dev;
	me.hooks = *hooks;
	for (int tries = 0; tries < 20 && r == -EAGAIN; tries++)
		r = try_attach(sc, cfg, want_slot, want_token);
	if (r < 0) {
		if (r != -EADDRINUSE && r != -ENETDOWN && r != -EMFILE)
			shim_log(SK_LOG_ERROR, "cannot attach to the stack %s in /dev/shm: %s", me.name,
			         strerror(-r));
		return r;
	}
	open_wake_sockets();
	shim_locks_stack_check(shm_stack_locked_by_me);
	wait_keepers_gone();
	return 0;
}

struct sk_stack *shm_stack(void)
{
	return me.hdr ? stack_of(me.hdr) : NULL;
}

/* ---- fork ---------------------------------------------------------- */

void shm_fork_next_is_keeper(void)
{
	me.fork_keeper = true;
}

void shm_fork_prepare(void)
{
	struct shm_sock *s;
	int child;

	shim_assert_stack_locked();
	me.fork_slot = -1;
	if (!me.hdr)
		return;
	child = slot_alloc();
	if (child < 0) {
		shim_log(SK_LOG_ERROR,
		         "stack %s: no process slot left for a fork child: it will not be able to "
		         "use the sockets it inherits",
		         me.name);
		return;
	}
	me.hdr->procs[child].state = SHM_PROC_FORKING;
	me.hdr->procs[child].keeper = me.fork_keeper;
	me.fork_keeper = false;
	me.hdr->procs[child].reserved_at = now_us();
	s = socks();
	/* The child holds every socket the parent holds, as a forked child
	 * holds every open file description of its parent. */
	for (uint32_t i = 0; i < me.hdr->max_sockets; i++)
		if (mask_test(s[i].refs, me.slot))
			mask_set(s[i].refs, child);
	me.fork_slot = child;
}

void shm_fork_parent(pid_t pid)
{
	struct shm_proc *p;

	if (!me.hdr || me.fork_slot < 0)
		return;
	shm_stack_lock();
	p = &me.hdr->procs[me.fork_slot];
	if (pid > 0) {
		p->pid = pid;
		p->state = SHM_PROC_LIVE;
	} else {
		slot_release(stack_of(me.hdr), me.fork_slot, NULL);
	}
	me.fork_slot = -1;
	shm_stack_unlock();
}

void shm_fork_child(void)
{
	struct shm_proc *p;

	if (!me.hdr)
		return;
	/* The parent's thread holds the lock (robust: its owner is a thread
	 * of the parent); the parent releases it. */
	me.held = false;
	if (me.fork_slot < 0) {
		/* No slot: this child cannot use the stack. */
		me.hdr = NULL;
		return;
	}
	me.slot = me.fork_slot;
	me.fork_slot = -1;
	p = &me.hdr->procs[me.slot];
	/* Written by the parent too, once fork returns there. */
	__atomic_store_n(&p->pid, getpid(), __ATOMIC_RELEASE);
	me.token = p->token;
	/* The parent's wake sockets stay the parent's. */
	me.wake_fd = me.send_fd = -1;
}

/* The child's part that needs the lock, on its first use of the stack. */
void shm_child_started(void)
{
	struct shm_proc *p;

	if (!me.hdr || me.slot < 0)
		return;
	p = &me.hdr->procs[me.slot];
	p->pid = getpid();
	p->start_time = shm_proc_start_time(getpid());
	p->state = SHM_PROC_LIVE;
	p->trace_head = p->trace_tail = p->trace_lost = 0;
	p->trace_states = me.trace_states && !p->keeper;
	open_wake_sockets();
}

/* ---- exec ---------------------------------------------------------- */

int shm_exec_slot_env(char *buf, size_t n)
{
	if (!me.hdr || me.slot < 0)
		return -1;
	return snprintf(buf, n, "SYNACK_SHM_SLOT=%d:%llu", me.slot, (unsigned long long)me.token);
}

/* The new image took the slot: sockets its old self held whose fds did not
 * survive the exec (close-on-exec) are dropped; `keep` lists the ones that
 * did. */
void shm_exec_adopt(const int *keep, int nkeep)
{
	struct sk_stack *st;
	struct shm_sock *s;

	if (!me.hdr)
		return;
	st = shm_stack_lock();
	s = socks();
	for (uint32_t i = 0; i < me.hdr->max_sockets; i++) {
		bool kept = false;

		if (!mask_test(s[i].refs, me.slot))
			continue;
		for (int k = 0; k < nkeep && !kept; k++)
			kept = keep[k] == (int)i;
		if (kept)
			continue;
		if (shm_sock_drop((int)i))
			sk_close(st, (int)i, now_us());
	}
	shm_stack_unlock();
}

/* ---- detach -------------------------------------------------------- */

bool shm_stack_detach_begin(bool *last)
{
	*last = false;
	if (!me.hdr || me.slot < 0)
		return false;
	shm_stack_lock();
	sweep(stack_of(me.hdr), true);
	*last = shm_live_procs() <= 1;
	shm_stack_unlock();
	return true;
}

/* Under the lock: nothing is left in the arena (no connection, no
 * listener, no orphan): the stack can go. */
bool shm_arena_empty(struct sk_stack *st)
{
	return sk_next_socket(st, -1) < 0;
}

void shm_stack_leave(bool remove_if_empty)
{
	struct sk_stack *st;

	if (!me.hdr || me.slot < 0)
		return;
	st = shm_stack_lock();
	slot_release(st, me.slot, NULL);
	me.slot = -1;
	if (remove_if_empty && shm_live_procs() == 0 && shm_arena_empty(st)) {
		atomic_store(&me.hdr->state, SHM_REMOVED);
		shm_unlink(me.name);
	}
	shm_stack_unlock();
}
