/* Exit linger (design brief §6): data and FINs queued just before exit()
 * still reach the peer.
 *
 * When a process exits the kernel closes its sockets and keeps sending
 * what they hold; our connections live in this process's memory, so we
 * close every connection the program left open (FIN after the queued data,
 * exactly what the kernel would do) and wait, bounded by SYNACK_LINGER_MS
 * (default 2000), until the stack is quiescent.
 *
 * FIN_WAIT_2 and TIME_WAIT count as quiescent (core's contract), but the
 * kernel would see them through after the process is gone, and we cannot:
 * within the same budget we wait for the peer's FIN (else it would reach a
 * stack that no longer exists and be retransmitted into the void), and for
 * TIME_WAIT when it ends within the budget (a short SYNACK_MSL_MS), so the
 * connection's life is complete in the trace. With the default MSL
 * (TIME_WAIT 60 s) nobody waits for TIME_WAIT.
 *
 * This runs as a destructor, not an atexit handler: glibc runs shared
 * objects' destructors after every atexit handler, so a program's own
 * atexit code can still use its sockets. _exit() and fatal signals skip
 * it, as they would skip any user-space flush.
 */
#include <stdint.h>

#include "../core/stack.h"
#include "fdtable.h"
#include "real.h"
#include "runtime.h"
#include "sockio.h"
#include "stats.h"
#include "wait.h"

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

	if (o->kind == SHIM_OFD_SYNACK && o->gen == shim_fork_gen() &&
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
				sockio_last_close(o);
			ofd_put(o);
		}
	} while (batch.n == (int)(sizeof(batch.fds) / sizeof(batch.fds[0])));
}

/* Under the stack lock: is there anything left worth waiting for? */
static bool busy(struct sk_stack *st, sk_time_t deadline)
{
	return !sk_quiescent(st) || rt_finwait2_count() > 0 ||
	       (rt_timewait_count() > 0 && sk_next_deadline(st) <= deadline);
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
		wait_sleep(&w, until);
		st = rt_lock();
		wait_unregister(&w);
	}
	rt_unlock();
}

__attribute__((destructor)) static void shim_linger(void)
{
	const struct shim_config *cfg;

	if (!rt_running())
		return;
	cfg = shim_config();
	close_all();
	wait_quiescent(shim_now_us() + (sk_time_t)cfg->linger_ms * 1000u);
	rt_sync_capture();
	shim_stats_write();
}
