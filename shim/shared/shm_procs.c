/* Process slots of a shared stack: liveness and sweeping, fork, exec (see
 * shm_stack.h, shm_self.h). */
#include "shm_stack.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../intercept/real.h"
#include "../runtime/locks.h"
#include "../runtime/log.h"
#include "shm_self.h"

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

int shm_slot_alloc(void)
{
	struct shm_header *h = shm_me.hdr;

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
void shm_slot_release(struct sk_stack *st, int slot, const char *why)
{
	struct shm_header *h = shm_me.hdr;
	struct shm_sock *s = socks();
	unsigned closed = 0;
	sk_time_t now = now_us();

	/* Entries above sk_socket_limit were never used (their pages never
	 * touched); so in every scan below. */
	for (uint32_t i = 0; i < sk_socket_limit(st); i++) {
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
		shim_log(SK_LOG_INFO,
		         "stack %s: process %d %s; %u connection(s) it alone held closed",
		         shm_me.name, (int)h->procs[slot].pid, why, closed);
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

void shm_sweep_now(struct sk_stack *st, bool all)
{
	struct shm_header *h = shm_me.hdr;
	sk_time_t now = now_us();

	if (!all && now < shm_me.next_sweep)
		return;
	shm_me.next_sweep = now + SHM_SWEEP_US;
	for (int i = 0; i < SHM_MAX_PROCS; i++) {
		struct shm_proc *p = &h->procs[i];

		if (i == shm_me.slot || p->state == SHM_PROC_FREE || !slot_dead(p, now))
			continue;
		shm_slot_release(st, i, p->keeper ? "(keeper) is gone" : "is gone");
	}
}

void shm_sweep(void)
{
	shim_assert_stack_locked();
	if (shm_me.hdr)
		shm_sweep_now(stack_of(shm_me.hdr), false);
}

/* ---- fork ---------------------------------------------------------- */

void shm_fork_next_is_keeper(void)
{
	shm_me.fork_keeper = true;
}

void shm_fork_prepare(void)
{
	struct shm_sock *s;
	int child;

	shim_assert_stack_locked();
	shm_me.fork_slot = -1;
	if (!shm_me.hdr)
		return;
	child = shm_slot_alloc();
	if (child < 0) {
		shim_log(SK_LOG_ERROR,
		         "stack %s: no process slot left for a fork child: it will not be able to "
		         "use the sockets it inherits",
		         shm_me.name);
		return;
	}
	shm_me.hdr->procs[child].state = SHM_PROC_FORKING;
	shm_me.hdr->procs[child].keeper = shm_me.fork_keeper;
	shm_me.fork_keeper = false;
	shm_me.hdr->procs[child].reserved_at = now_us();
	s = socks();
	/* The child holds every socket the parent holds, as a forked child
	 * holds every open file description of its parent. */
	for (uint32_t i = 0; i < sk_socket_limit(stack_of(shm_me.hdr)); i++)
		if (mask_test(s[i].refs, shm_me.slot))
			mask_set(s[i].refs, child);
	shm_me.fork_slot = child;
}

void shm_fork_parent(pid_t pid)
{
	struct shm_proc *p;

	if (!shm_me.hdr || shm_me.fork_slot < 0)
		return;
	shm_stack_lock();
	p = &shm_me.hdr->procs[shm_me.fork_slot];
	if (pid > 0) {
		p->pid = pid;
		p->state = SHM_PROC_LIVE;
	} else {
		shm_slot_release(stack_of(shm_me.hdr), shm_me.fork_slot, NULL);
	}
	shm_me.fork_slot = -1;
	shm_stack_unlock();
}

void shm_fork_child(void)
{
	struct shm_proc *p;

	if (!shm_me.hdr)
		return;
	/* The parent's thread holds the lock (robust: its owner is a thread
	 * of the parent); the parent releases it. */
	shm_me.held = false;
	if (shm_me.fork_slot < 0) {
		/* No slot: this child cannot use the stack. */
		shm_me.hdr = NULL;
		return;
	}
	shm_me.slot = shm_me.fork_slot;
	shm_me.fork_slot = -1;
	p = &shm_me.hdr->procs[shm_me.slot];
	/* Written by the parent too, once fork returns there. */
	__atomic_store_n(&p->pid, getpid(), __ATOMIC_RELEASE);
	shm_me.token = p->token;
	/* The parent's wake sockets stay the parent's. */
	shm_me.wake_fd = shm_me.send_fd = -1;
}

/* The child's part that needs the lock, on its first use of the stack. */
void shm_child_started(void)
{
	struct shm_proc *p;

	if (!shm_me.hdr || shm_me.slot < 0)
		return;
	p = &shm_me.hdr->procs[shm_me.slot];
	p->pid = getpid();
	p->start_time = shm_proc_start_time(getpid());
	p->state = SHM_PROC_LIVE;
	p->trace_head = p->trace_tail = p->trace_lost = 0;
	p->trace_states = shm_me.trace_states && !p->keeper;
	shm_open_wake_sockets();
}

/* ---- exec ---------------------------------------------------------- */

int shm_exec_slot_env(char *buf, size_t n)
{
	if (!shm_me.hdr || shm_me.slot < 0)
		return -1;
	return snprintf(buf, n, "SYNACK_SHM_SLOT=%d:%llu", shm_me.slot,
	                (unsigned long long)shm_me.token);
}

/* The new image took the slot: sockets its old self held whose fds did not
 * survive the exec (close-on-exec) are dropped; `keep` lists the ones that
 * did. */
void shm_exec_adopt(const int *keep, int nkeep)
{
	struct sk_stack *st;
	struct shm_sock *s;

	if (!shm_me.hdr)
		return;
	st = shm_stack_lock();
	s = socks();
	for (uint32_t i = 0; i < sk_socket_limit(st); i++) {
		bool kept = false;

		if (!mask_test(s[i].refs, shm_me.slot))
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
