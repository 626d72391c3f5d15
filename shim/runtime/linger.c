/* Exit (design brief §6): the program's sockets close as the kernel closes
 * a dying process's files, and what they queued still reaches the peer.
 *
 * Every synack fd this process still has is closed: the connections no
 * other process holds close (FIN after the queued data, exactly what the
 * kernel would do). Other processes using the stack carry on with the
 * rest, the closing ones included: this process just leaves. The last
 * process waits, bounded by SYNACK_LINGER_MS (default 2000), until the
 * stack is quiescent: queued data and FINs acknowledged, the peer's FIN in
 * (FIN_WAIT_2), and TIME_WAIT when it ends within the budget (a short
 * SYNACK_MSL_MS), so the connection's life is complete in the trace. What
 * is still closing after that (TIME_WAIT with the default MSL) is left to
 * the keeper (shared/keeper.h), which finishes it after the program is
 * gone, as the kernel would; the program does not wait for it. Nor does it
 * wait for its packet socket's release: the keeper, or else a closer
 * (closer.h), holds the last reference of it.
 *
 * This runs as a destructor, not an atexit handler: glibc runs shared
 * objects' destructors after every atexit handler, so a program's own
 * atexit code can still use its sockets. _exit() and _Exit() run it too
 * (intercept_exit.c): the kernel closes the files of a process that leaves
 * that way as well, and a process must not leave with its runtime thread
 * in the middle of the shared stack (its lock would die with it, and what
 * that thread had half done, a segment sent but not yet recorded, with
 * it). Only fatal signals skip it; the other processes of the stack then
 * drop this one's sockets when they see it gone (shm_sweep).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../../core/stack.h"
#include "../../netdev/netdev.h"
#include "../fd/fdtable.h"
#include "../intercept/real.h"
#include "closer.h"
#include "runtime.h"
#include "../shared/keeper.h"
#include "../shared/shm_stack.h"
#include "../socket/sockio.h"
#include "stats.h"
#include "../iomux/wait.h"

/* Wake up at least this often while lingering: a safety net, the stack's
 * wake-ups are what normally end the wait. */
#define LINGER_SLICE_US 50000u

struct fd_batch {
	int n;
	int fds[1024];
};

static void collect(int fd, struct shim_ofd *o, void *arg)
{
	struct fd_batch *b = arg;

	if (ofd_core_sock(o) >= 0 &&
	    b->n < (int)(sizeof(b->fds) / sizeof(b->fds[0])))
		b->fds[b->n++] = fd;
}

static void close_all(void)
{
	static struct fd_batch batch;

	do {
		batch.n = 0;
		fdt_foreach(collect, &batch);
		for (int i = 0; i < batch.n; i++) {
			bool last = false;
			struct shim_ofd *o = fdt_remove(batch.fds[i], &last);

			if (!o)
				continue;
			if (last)
				ofd_last_close(o);
			ofd_put(o);
		}
	} while (batch.n == (int)(sizeof(batch.fds) / sizeof(batch.fds[0])));
}

/* Under the stack lock: is there anything left worth waiting for? */
static bool busy(struct sk_stack *st, sk_time_t deadline)
{
	bool finwait2 = false, timewait = sk_time_wait_count(st) > 0;

	if (!sk_quiescent(st))
		return true;
	/* Orphaned connections too (sk_sock_view, not sk_sock_state). */
	for (int s = sk_next_socket(st, -1); s >= 0; s = sk_next_socket(st, s)) {
		struct sk_sock_view v;

		if (sk_sock_view(st, s, &v) < 0)
			continue;
		finwait2 |= v.info.state == SK_TCP_FIN_WAIT_2;
		timewait |= v.info.state == SK_TCP_TIME_WAIT;
	}
	return finwait2 || (timewait && sk_next_deadline(st) <= deadline);
}

static void wait_quiescent(sk_time_t deadline)
{
	struct sk_stack *st = rt_lock();

	while (busy(st, deadline)) {
		struct shim_waiter w;
		sk_time_t now = shim_now_us(), until;

		if (now >= deadline || wait_register(&w, NULL, 0, true) < 0)
			break;
		until = now + LINGER_SLICE_US < deadline ? now + LINGER_SLICE_US : deadline;
		rt_unlock();
		/* As a blocking recv() does: this thread takes the frames (the
		 * peer's ACK of our FIN, its FIN) itself, rather than waiting
		 * for the runtime thread, parked while the program polled, to
		 * look again (up to 1 ms later: docs/architecture.md "Threads"). */
		rt_wait(&w, until, 0);
		st = rt_lock();
		wait_unregister(&w);
	}
	rt_unlock();
}

static bool stack_empty(void)
{
	bool empty = shm_arena_empty(rt_lock());

	rt_unlock();
	return empty;
}

/* The keeper's bound: every closing state ends well within it (TIME_WAIT
 * 2 MSL, FIN_WAIT_2 the fin timeout, LAST_ACK and FIN_WAIT_1 the
 * retransmission limit). */
static sk_time_t keeper_give_up(const struct shim_config *cfg)
{
	return shim_now_us() + SK_MS(2u * cfg->msl_ms + cfg->fin_timeout_ms) + SK_SEC(120);
}

/* The packet socket this process holds, if any: its stack's, or the one
 * `synack run` handed down to a program that never started the stack
 * (/bin/true), still open and still a packet socket. */
static int packet_socket(const struct shim_config *cfg)
{
	int domain = -1;
	socklen_t len = sizeof(domain);

	if (rt_running())
		return rt_device() ? rt_device()->fd : -1;
	if (cfg->packet_fd < 0 ||
	    getsockopt(cfg->packet_fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
	    domain != AF_PACKET)
		return -1;
	return cfg->packet_fd;
}

void shim_exit_close(void)
{
	static atomic_bool done;
	const struct shim_config *cfg = shim_config();
	bool last, kept = false;

	if (atomic_exchange(&done, true))
		return;

	if (!rt_running()) {
		/* The program's close of it must not be the last: closer.h. */
		(void)shim_close_later(packet_socket(cfg));
		return;
	}
	close_all();
	if (shm_stack_detach_begin(&last)) {
		if (last)
			wait_quiescent(shim_now_us() + (sk_time_t)cfg->linger_ms * 1000u);
		rt_trace_take();
		rt_sync_capture();
		shim_stats_write();
		rt_stop_thread();
		if (last && !stack_empty())
			kept = shm_keeper_start(keeper_give_up(cfg));
		shm_stack_leave(true);
	}
	/* The keeper holds the packet socket; otherwise a closer takes it. */
	if (!kept)
		(void)shim_close_later(packet_socket(cfg));
}

__attribute__((destructor)) static void shim_linger(void)
{
	shim_exit_close();
}
