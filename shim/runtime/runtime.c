/* The runtime: stack, lock, device, runtime thread (see runtime.h). */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <ev.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>

#include "../../netdev/netdev.h"
#include "backtrace.h"
#include "../iomux/epoll.h"
#include "../shared/exec_handover.h"
#include "../fd/fdtable.h"
#include "../fd/internal_fd.h"
#include "locks.h"
#include "log.h"
#include "packet_filter.h"
#include "query.h"
#include "../shared/keeper.h"
#include "../shared/shm_stack.h"
#include "../intercept/entry.h"
#include "../intercept/real.h"
#include "../socket/sockio.h"
#include "trace.h"
#include "../iomux/wait.h"

/* Frames taken from the device per recv_batch, and batches per wake-up
 * before letting the loop breathe (timers, async). */
#define RX_BATCH            32
#define RX_BATCHES_PER_WAKE 8

/* How often a parked runtime thread looks whether a thread still polls the
 * device: the longest a frame can wait when the poller left and nobody
 * else reads the packet socket (a poller that leaves while other threads
 * sleep unparks it at once: rt_wait). */
#define RT_PARK_CHECK SK_MS(1)
/* While one poller stays blocked, the checks back off up to this: an idle
 * program blocked in recv() costs the runtime thread a few wake-ups per
 * second, not a thousand. A poller leaving a wait longer than
 * RT_PARK_CHECK unparks the runtime thread at once (rt_wait), so the
 * back-off never delays a frame. */
#define RT_PARK_CHECK_MAX SK_MS(128)
/* An idle process leaves the packet socket to another that took in frames
 * this recently (park_or_unpark); one that stopped (SIGSTOP, a debugger)
 * or died is not relied on for longer. */
#define RT_READER_FRESH SK_MS(200)

enum rt_state { RT_IDLE, RT_RUNNING, RT_FAILED };

static struct {
	pthread_mutex_t start_lock; /* serialises rt_start */
	_Atomic int state;
	struct sk_stack *st;
	struct netdev *dev;
	struct ev_loop *loop;
	ev_io io;
	ev_io wake_io;     /* other processes' wake-ups (shm_stack.h) */
	int watch_fd;      /* epoll instance io watches the packet socket through */
	ev_timer timer;
	ev_timer sweep;    /* processes gone without leaving (shm_sweep) */
	ev_async async;
	/* A fork child: the stack and the packet socket are inherited, the
	 * runtime thread is not; the first use starts a new one. */
	_Atomic bool restart;
	/* rt_stop_thread: the runtime thread leaves its loop. */
	_Atomic bool stopping;
	sk_time_t armed; /* deadline the timer is (about to be) armed at; under lock */
	sk_time_t epoch; /* start time, for the trace */
	pthread_t thread;
	/* Run to completion (rt_wait): 1 while an application thread sleeping
	 * in a blocking call also waits on the packet socket and processes
	 * what arrives itself. The runtime thread then parks its watcher on
	 * the packet socket (parked, its own flag: only it touches watchers)
	 * and looks again after park_check (rearm). */
	_Atomic int poller;
	_Atomic bool parked;
	_Atomic unsigned poll_session; /* bumped by every poller that takes over */
	unsigned checked_session;      /* the session the last check saw (runtime thread) */
	_Atomic sk_time_t park_check;  /* the check's interval now, RT_PARK_CHECK.._MAX */
	/* When an application thread last took in the device's frames on its
	 * way through epoll_wait (rt_poll_inline): while that is recent the
	 * runtime thread stays parked too. */
	_Atomic sk_time_t inline_at;
} rt = {
    .start_lock = PTHREAD_MUTEX_INITIALIZER,
    .watch_fd = -1,
    .armed = SK_TIME_NEVER,
    .park_check = RT_PARK_CHECK,
};

static struct shim_config config;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static _Atomic unsigned fork_gen;
/* This process, as of the library's start or its last fork(): a child of
 * vfork() or of posix_spawn's clone runs on our memory without atfork
 * handlers and has another pid (rt_own_process). */
static pid_t own_pid;

static const char *env_lookup(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
}

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void do_init(void)
{
	shim_enter();
	real_init();
	shim_config_parse(&config, env_lookup, NULL);
	shim_log_set_level(config.log_level);
	fdt_init((const struct shim_ofd_ops *const[SHIM_OFD__KINDS]){
	    [SHIM_OFD_PENDING] = &sockio_pending_ops,
	    [SHIM_OFD_SYNACK] = &sockio_synack_ops,
	    [SHIM_OFD_EPOLL] = &shim_epoll_ops,
	});
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	own_pid = getpid();
	/* Handlers installed before us (another library's constructor) wait
	 * for synack's sections to end too (sigguard.h). */
	shim_sig_adopt(REAL(sigaction));
	shim_leave();
}

void shim_init(void)
{
	pthread_once(&init_once, do_init);
}

__attribute__((constructor)) static void shim_constructor(void)
{
	shim_init();
	/* An exec'd image takes over the sockets its old self passed on
	 * (exec_handover.c), before main reads from them. */
	exec_handover_adopt();
}

const struct shim_config *shim_config(void)
{
	shim_init();
	return &config;
}

bool rt_own_process(void)
{
	return own_pid == getpid();
}

unsigned shim_fork_gen(void)
{
	return fork_gen;
}

/* ---- the loop (runtime thread only) -------------------------------- */

static void rearm(void)
{
	sk_time_t d = sk_next_deadline(rt.st), rx = netdev_next_rx_time(rt.dev), now;

	if (rx < d)
		d = rx;
	ev_now_update(rt.loop);
	now = shim_now_us();
	if (rt.parked && now + rt.park_check < d)
		d = now + rt.park_check;
	rt.armed = d;
	ev_timer_stop(rt.loop, &rt.timer);
	if (d == SK_TIME_NEVER)
		return;
	ev_timer_set(&rt.timer, d > now ? (double)(d - now) / 1e6 : 0., 0.);
	ev_timer_start(rt.loop, &rt.timer);
}

static unsigned rx_errors;

/* Feed what the device has; under the lock. */
/* Frames fed to the stack by the runtime thread and by application threads
 * running to completion (rt_wait); under the lock. */
static struct rt_frame_counts frame_counts;

static void drain_device(sk_time_t now)
{
	struct netdev_frame frames[RX_BATCH];
	bool app = !pthread_equal(pthread_self(), rt.thread);

	for (int b = 0; b < RX_BATCHES_PER_WAKE; b++) {
		int n = netdev_recv_batch(rt.dev, frames, RX_BATCH, now);

		/* A device error may repeat at every wake-up: say it a few
		 * times, not forever. */
		if (n < 0 && n != -EAGAIN && n != -EINTR && rx_errors++ < 5)
			shim_log(SK_LOG_WARN, "receiving from %s failed: %s", rt.dev->name,
			         strerror(-n));
		for (int i = 0; i < n; i++)
			sk_input(rt.st, frames[i].data, frames[i].len, frames[i].flags, now);
		if (n > 0) {
			*(app ? &frame_counts.by_app : &frame_counts.by_runtime) += (uint64_t)n;
			shm_reader_read(now);
		}
		/* The replies (ACKs) to this batch leave in one sendmmsg. */
		netdev_flush(rt.dev);
		if (n < RX_BATCH)
			break;
	}
}

/* Park (a thread polls the device) or unpark (none does any more) the
 * watcher on the packet socket; under the lock. True when it was parked
 * and is not any more: frames may be waiting. */
static bool park_or_unpark(void)
{
	sk_time_t now = shim_now_us();
	bool blocked = atomic_load(&rt.poller) != 0;
	bool wants = wait_sleepers() > 0 || shim_epoll_in_use();
	/* A process that neither waits in synack nor has epoll sets (a
	 * pre-forked server's master) leaves the frames to one that does
	 * and is taking them in, rather than take them in for it and wake
	 * it (docs/architecture.md "One stack, many processes"). */
	bool idle = !wants && shm_reader_elsewhere(now, RT_READER_FRESH);
	bool polled = blocked || idle || now - atomic_load(&rt.inline_at) < RT_PARK_CHECK;
	unsigned session = atomic_load(&rt.poll_session);

	shm_reader_set(wants);
	/* The same poller still blocked since the last look, or idle: look
	 * less often; a new one, or threads that only pass through
	 * epoll_wait: as often as at first (they may stop calling at any
	 * time). */
	if ((blocked && rt.parked && session == rt.checked_session) || (idle && rt.parked))
		rt.park_check =
		    rt.park_check * 2 < RT_PARK_CHECK_MAX ? rt.park_check * 2 : RT_PARK_CHECK_MAX;
	else
		rt.park_check = RT_PARK_CHECK;
	rt.checked_session = session;
	if (polled && !rt.parked) {
		ev_io_stop(rt.loop, &rt.io);
		rt.parked = true;
	} else if (!polled && rt.parked) {
		ev_io_start(rt.loop, &rt.io);
		rt.parked = false;
		return true;
	}
	return false;
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	sk_time_t now;

	(void)loop, (void)w, (void)revents;
	shm_stack_lock();
	now = shim_now_us();
	drain_device(now);
	if (sk_next_deadline(rt.st) <= now)
		sk_run_timers(rt.st, now);
	netdev_flush(rt.dev);
	(void)park_or_unpark();
	rearm();
	shm_stack_unlock();
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	sk_time_t now;
	bool unparked;

	(void)loop, (void)w, (void)revents;
	shm_stack_lock();
	now = shim_now_us();
	unparked = park_or_unpark();
	/* What arrived is taken in before the timers run: on a loaded
	 * machine the ACK that makes a retransmission needless may have waited
	 * in the packet socket as long as the timer did (the kernel's TCP
	 * processes it in softirq, before its timer). One non-blocking read
	 * when there is nothing. */
	if (unparked || sk_next_deadline(rt.st) <= now || netdev_next_rx_time(rt.dev) <= now)
		drain_device(now);
	if (sk_next_deadline(rt.st) <= now)
		sk_run_timers(rt.st, now);
	netdev_flush(rt.dev);
	rearm();
	shm_stack_unlock();
}

static void async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w, (void)revents;
	if (atomic_load(&rt.stopping)) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	shm_stack_lock();
	if (park_or_unpark())
		drain_device(shim_now_us());
	netdev_flush(rt.dev);
	rearm();
	shm_stack_unlock();
}

static void print_state(const struct sk_state_change *ev);

static void local_wake(int sock)
{
	wait_wake(sock);
	shim_epoll_wake(sock);
}

static void local_wake_all(void)
{
	wait_wake_all();
	shim_epoll_wake_all();
}

/* Other processes made sockets ready that threads of this one wait on. */
static void wake_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	shm_stack_lock();
	shm_wake_take(local_wake, local_wake_all);
	shm_trace_take(print_state);
	netdev_flush(rt.dev);
	rearm();
	shm_stack_unlock();
}

/* Look for processes that died without leaving the stack, while others
 * use it; and re-arm: another process may have moved the earliest
 * deadline (it kicks its own loop, not ours, and may be gone). */
static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	if (shm_live_procs() <= 1)
		return;
	shm_stack_lock();
	shm_sweep();
	rearm();
	shm_stack_unlock();
}

static void *runtime_main(void *arg)
{
	(void)arg;
	/* Everything this thread calls is synack's own business. */
	shim_inside_depth = 1;
	ev_run(rt.loop, 0);
	return NULL;
}

/* ---- hooks --------------------------------------------------------- */

static void hook_wake(void *ctx, int sock)
{
	(void)ctx;
	wait_wake(sock);
	shim_epoll_wake(sock);
	shm_wake_others(sock);
}

static void print_state(const struct sk_state_change *ev)
{
	char line[256];
	size_t n = shim_trace_format(line, sizeof(line), ev, rt.epoch);

	shim_log_raw(line, n);
}

static void hook_state(void *ctx, const struct sk_state_change *ev)
{
	(void)ctx;
	/* The exit linger waits on state changes of orphaned connections,
	 * which need not wake anyone else. */
	wait_wake(ev->sock);
	/* The trace is of this process's own connections: another process's
	 * go to it (shm_trace_route). */
	if (shm_trace_route(rt.st, ev) || !config.trace_states)
		return;
	print_state(ev);
}

static void hook_log(void *ctx, enum sk_log_level level, const char *msg)
{
	(void)ctx;
	shim_log(level, "%s", msg);
}

/* ---- start --------------------------------------------------------- */

static struct netdev *open_device(void)
{
	char err[256] = "";
	int pfd = config.packet_fd;
	struct netdev *dev;

	if (pfd >= 0) {
		pfd = shim_internal_adopt(pfd);
		/* The descriptor is ours now (close-on-exec, never shared: two
		 * readers would split the frames). A program this one execs must
		 * not take the stale number for its own packet socket: it opens
		 * its own (docs/architecture.md "fork and exit"). Nor must a
		 * fork child starting its own stack: the number may be one of
		 * its sockets by then. */
		unsetenv("SYNACK_PACKET_FD");
		config.packet_fd = -1;
	}
	const struct netdev_afpacket_opts opts = {.offload = config.offload};

	dev = netdev_afpacket_open_opts(config.iface, pfd, &opts, err, sizeof(err));
	if (!dev) {
		shim_log(SK_LOG_ERROR, "%s", err[0] ? err : "cannot open the packet socket");
		return NULL;
	}
	shim_packet_device_opened(dev); /* SYNACK_BPF, SYNACK_STATS */
	if (config.impair)
		dev = netdev_impair_wrap(dev, &config.impair_cfg);
	if (dev && config.pcap[0]) {
		struct netdev *p = netdev_pcap_wrap(dev, config.pcap, err, sizeof(err));

		if (!p) {
			shim_log(SK_LOG_ERROR, "SYNACK_PCAP: %s", err);
			netdev_close(dev);
			return NULL;
		}
		dev = p;
	}
	return dev;
}

/* The key of the TCP timestamp offset is the same for every synack process
 * of this boot (see sk_config.ts_key): a client run again reuses ports
 * towards the same peer, and the peer's TIME_WAIT only lets a reused 4-tuple
 * in when the new SYN's TSval is newer (RFC 6191). TSvals come from
 * CLOCK_MONOTONIC, shared by every process, so with a shared offset they
 * keep increasing across processes. The boot id is readable only on this
 * host, which is all RFC 7323 §5.4 asks (no uptime leaked to the peer).
 * Without it the key stays zero and core falls back to the ISN key. */
static void host_ts_key(uint8_t key[16])
{
	char id[64] = "";
	int fd = REAL(open)("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? REAL(read)(fd, id, sizeof(id) - 1) : -1;

	if (fd >= 0)
		REAL(close)(fd);
	if (n <= 0)
		return;
	/* Fold the text into 16 bytes; a PRF keyed with it follows in core. */
	for (ssize_t i = 0; i < n; i++)
		key[i % 16] = (uint8_t)(key[i % 16] * 31 + (uint8_t)id[i]);
}

/* Attach to the interface's shared stack (shm_stack.h), creating it with
 * this configuration when no process runs it yet. An exec'd image takes
 * over its old self's slot (SYNACK_SHM_SLOT, see exec_env.c). */
static struct sk_stack *make_stack(struct netdev *dev)
{
	static const struct sk_hooks hooks = {
	    .wake = hook_wake, .state_change = hook_state, .log = hook_log};
	struct sk_config sc;
	int slot = -1;
	unsigned long long token = 0;
	const char *inherit = getenv("SYNACK_SHM_SLOT");

	sk_config_defaults(&sc);
	memcpy(sc.mac, dev->mac, sizeof(sc.mac));
	sc.addr = config.addr;
	sc.prefix_len = config.prefix_len;
	sc.gateway = config.gateway;
	sc.mtu = (uint16_t)(config.mtu ? config.mtu : dev->mtu);
	sc.msl_ms = config.msl_ms;
	sc.fin_timeout_ms = config.fin_timeout_ms;
	sc.syn_retries = config.syn_retries;
	shim_config_stack(&config, &sc); /* SYNACK_CC, SYNACK_RCVBUF_MAX, SYNACK_MAX_SOCKETS */
	/* What the device announced (SYNACK_OFFLOAD=0 asked for none). */
	sc.tso_max = dev->gso_max;
	sc.tso_max_segs = dev->gso_max_segs;
	sc.tx_csum_offload = dev->tx_csum;
	/* RFC 6528 / RFC 6056 secrets: never predictable across runs. */
	if (getrandom(sc.isn_key, sizeof(sc.isn_key), 0) != (ssize_t)sizeof(sc.isn_key) ||
	    getrandom(&sc.rng_seed, sizeof(sc.rng_seed), 0) != (ssize_t)sizeof(sc.rng_seed)) {
		shim_log(SK_LOG_ERROR, "getrandom failed: %s", strerror(errno));
		return NULL;
	}
	host_ts_key(sc.ts_key);
	if (inherit && sscanf(inherit, "%d:%llu", &slot, &token) != 2)
		slot = -1;
	if (shm_stack_attach_as(&config, &shim_link_ops, dev, &hooks, &sc, slot, token) < 0)
		return NULL;
	return shm_stack();
}

/* What the loop watches for frames: an epoll instance holding the packet
 * socket with EPOLLEXCLUSIVE. Processes of one fork family share the
 * packet socket (one open file description), and a frame should wake one
 * runtime thread of them, not every one (each would take the stack lock to
 * find the frame gone). The kernel wakes one exclusive epoll instance per
 * event (epoll_ctl(2)); the one woken processes it for the whole stack.
 * Without an instance (EMFILE...), the packet socket itself. */
static int device_watch_fd(void)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
	int ep;

	if (rt.watch_fd >= 0)
		shim_internal_close(rt.watch_fd);
	rt.watch_fd = -1;
	ep = REAL(epoll_create1)(EPOLL_CLOEXEC);
	if (ep < 0)
		return rt.dev->fd;
	if (REAL(epoll_ctl)(ep, EPOLL_CTL_ADD, rt.dev->fd, &ev) < 0) {
		REAL(close)(ep);
		return rt.dev->fd;
	}
	rt.watch_fd = shim_internal_adopt(ep);
	return rt.watch_fd;
}

static bool start_loop(void)
{
	sigset_t all, old;
	int err;

	rt.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV | EVFLAG_NOSIGMASK);
	if (!rt.loop) {
		shim_log(SK_LOG_ERROR, "cannot create the event loop (libev)");
		return false;
	}
	ev_io_init(&rt.io, io_cb, device_watch_fd(), EV_READ);
	ev_timer_init(&rt.timer, timer_cb, 0., 0.);
	ev_async_init(&rt.async, async_cb);
	ev_io_start(rt.loop, &rt.io);
	ev_async_start(rt.loop, &rt.async);
	if (shm_wake_fd() >= 0) {
		ev_io_init(&rt.wake_io, wake_cb, shm_wake_fd(), EV_READ);
		ev_io_start(rt.loop, &rt.wake_io);
	}
	ev_timer_init(&rt.sweep, sweep_cb, (double)SHM_SWEEP_US / 1e6, (double)SHM_SWEEP_US / 1e6);
	ev_timer_start(rt.loop, &rt.sweep);
	shim_query_start(rt.loop); /* synack ss, synack stat (query.h) */
	/* The program's signals must never be delivered to our thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&rt.thread, NULL, runtime_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		shim_log(SK_LOG_ERROR, "cannot start the runtime thread: %s", strerror(err));
		return false;
	}
	return true;
}

static bool start(void)
{
	if (!config.valid) {
		shim_log(SK_LOG_ERROR, "%s", config.err);
		return false;
	}
	rt.dev = open_device();
	if (!rt.dev)
		return false;
	rt.st = make_stack(rt.dev);
	if (!rt.st) {
		shim_log(SK_LOG_ERROR, "cannot create the TCP/IP stack on %s", config.iface);
		return false;
	}
	rt.epoch = shim_now_us();
	if (!start_loop())
		return false;
	shim_backtrace_install();
	shim_log(SK_LOG_INFO,
	         "running on %s, MAC %02x:%02x:%02x:%02x:%02x:%02x, MTU %u, offloads: %s",
	         rt.dev->name, rt.dev->mac[0], rt.dev->mac[1], rt.dev->mac[2], rt.dev->mac[3],
	         rt.dev->mac[4], rt.dev->mac[5], rt.dev->mtu,
	         rt.dev->gso_max   ? "TCP super-frames and checksums"
	         : !config.offload ? "none (SYNACK_OFFLOAD=0)"
	                           : "none (the kernel refused PACKET_VNET_HDR)");
	return true;
}

int rt_start(void)
{
	int s = rt.state;

	if (s == RT_RUNNING)
		return 0;
	if (s == RT_FAILED)
		return -ENETDOWN;
	shim_init();
	shim_mutex_lock(&rt.start_lock, SHIM_LOCK_START);
	if (rt.state == RT_IDLE)
		rt.state = start() ? RT_RUNNING : RT_FAILED;
	s = rt.state;
	shim_mutex_unlock(&rt.start_lock, SHIM_LOCK_START);
	return s == RT_RUNNING ? 0 : -ENETDOWN;
}

bool rt_running(void)
{
	return rt.state == RT_RUNNING;
}

/* A fork child's first use of the stack: its slot goes live and it gets
 * its own runtime thread (the parent's did not survive the fork). */
static void restart_child(void)
{
	shim_mutex_lock(&rt.start_lock, SHIM_LOCK_START);
	if (atomic_load(&rt.restart)) {
		shm_stack_lock();
		shm_child_started();
		rt.armed = SK_TIME_NEVER;
		shm_stack_unlock();
		if (!start_loop()) {
			shim_log(SK_LOG_ERROR, "fork child: cannot start the runtime thread");
			rt.state = RT_FAILED;
		}
		atomic_store(&rt.restart, false);
	}
	shim_mutex_unlock(&rt.start_lock, SHIM_LOCK_START);
}

struct sk_stack *rt_lock(void)
{
	/* A handler of the program's signals must not run on top of this
	 * thread's hold of the lock (entry.h). */
	shim_enter();
	if (atomic_load(&rt.restart))
		restart_child();
	return shm_stack_lock();
}

static bool inline_polling(void);

void rt_unlock(void)
{
	/* A call that moved the earliest deadline earlier (a first
	 * retransmission timer, a delayed ACK) must re-arm the loop's timer,
	 * which only the runtime thread may touch. */
	if (rt.st && !pthread_equal(pthread_self(), rt.thread)) {
		sk_time_t d = sk_next_deadline(rt.st);

		if (d < rt.armed && rt.loop && !inline_polling()) {
			rt.armed = d;
			ev_async_send(rt.loop, &rt.async);
		}
	}
	/* Frames the call queued leave now, in one batch: none waits for a
	 * later call. */
	if (rt.dev)
		netdev_flush(rt.dev);
	shm_stack_unlock();
	shim_leave();
}

/* Take the poller's role if nobody has it and running to completion is on. */
static bool poller_claim(void)
{
	int none = 0;

	if (!config.run_to_completion || !rt_running() || !rt.dev || rt.dev->fd < 0 ||
	    !atomic_compare_exchange_strong(&rt.poller, &none, 1))
		return false;
	atomic_fetch_add(&rt.poll_session, 1);
	return true;
}

/* Give it back. Unpark the runtime thread at once rather than at its next
 * check when other threads asleep in synack rely on it now, or when it
 * looks only rarely (this wait was long): frames never wait for a
 * backed-off check. */
static void poller_release(void)
{
	atomic_store(&rt.poller, 0);
	if (rt.parked && (wait_sleepers() > 1 || rt.park_check > RT_PARK_CHECK))
		ev_async_send(rt.loop, &rt.async);
}

void rt_poll_inline(void)
{
	sk_time_t now;

	shim_assert_stack_locked();
	if (!config.run_to_completion || !rt.dev || rt.dev->fd < 0 || atomic_load(&rt.poller) ||
	    pthread_equal(pthread_self(), rt.thread))
		return;
	now = shim_now_us();
	drain_device(now);
	if (sk_next_deadline(rt.st) <= now)
		sk_run_timers(rt.st, now);
	atomic_store(&rt.inline_at, now);
}

/* Threads pass through epoll_wait (rt_poll_inline) and the runtime thread,
 * parked, looks again within RT_PARK_CHECK: either runs a timer that came
 * due in time, without waking the runtime thread for it. */
static bool inline_polling(void)
{
	return rt.parked && !atomic_load(&rt.poller) &&
	       shim_now_us() - atomic_load(&rt.inline_at) < RT_PARK_CHECK;
}

/* Frames are waiting on the packet socket: feed them to the stack here. */
static void poller_process(void)
{
	sk_time_t now;

	rt_lock();
	now = shim_now_us();
	drain_device(now);
	if (sk_next_deadline(rt.st) <= now)
		sk_run_timers(rt.st, now);
	rt_unlock(); /* flushes, kicks the loop if a deadline moved earlier */
}

/* Busy polling (SYNACK_BUSY_POLL_US, OpenOnload's EF_POLL_USEC, Linux's
 * busy_read; per socket SO_BUSY_POLL, busy_us): a poller first looks at the
 * packet socket without sleeping for the larger of the two, so a reply
 * arriving meanwhile costs no wake-up at all. Returns the deadline of the
 * spin (0: none). */
static sk_time_t spin_until(uint32_t busy_us)
{
	uint32_t us = config.busy_poll_us > busy_us ? config.busy_poll_us : busy_us;

	return us ? shim_now_us() + us : 0;
}

/* The deadline of the next ppoll: now (do not sleep) while spinning. */
static sk_time_t ppoll_deadline(sk_time_t spin, sk_time_t deadline, bool *spinning)
{
	sk_time_t now = spin ? shim_now_us() : 0;

	*spinning = spin && now < spin && now < deadline;
	return *spinning ? now : deadline;
}

/* ppoll on fds[0..n-1], and w's eventfd after them when there is a waiter
 * (wait_ppoll). Returns the count over fds[0..n-1], or -errno. */
static int waiter_ppoll(const struct shim_waiter *w, struct pollfd *fds, nfds_t n,
                        sk_time_t deadline, const sigset_t *sigmask, bool *woken)
{
	struct timespec ts;
	int r;

	if (w)
		return wait_ppoll(w, fds, n, deadline, sigmask, woken);
	r = REAL(ppoll)(fds, n, shim_timeout_ts(deadline, &ts), sigmask);
	return r < 0 ? -errno : r;
}

/* The poller's wait (it holds the role): ppoll on fds[0..n-1], the packet
 * socket (at fds[n]) and the waiter's eventfd if any, frames processed here
 * under the lock, until the waiter is woken (possibly by this thread's own
 * processing), a caller's fd is ready or the deadline. Returns the count
 * over fds[0..n-1], or -errno. */
static int poll_device(const struct shim_waiter *w, struct pollfd *fds, nfds_t n,
                       sk_time_t deadline, const sigset_t *sigmask, bool *woken, uint32_t busy_us)
{
	sk_time_t spin = spin_until(busy_us);

	for (;;) {
		bool spinning, pkt;
		int r;

		fds[n] = (struct pollfd){.fd = rt.dev->fd, .events = POLLIN};
		r = waiter_ppoll(w, fds, n + 1, ppoll_deadline(spin, deadline, &spinning), sigmask,
		                 woken);
		if (r < 0)
			return r;
		pkt = fds[n].revents != 0;
		if (pkt && !(fds[n].revents & POLLIN))
			/* The device is in trouble: the runtime thread reports
			 * it; wait as a thread that does not poll. */
			return *woken ? r - 1 : waiter_ppoll(w, fds, n, deadline, sigmask, woken);
		if (pkt) {
			poller_process();
			*woken = *woken || (w && wait_consume(w));
			r--;
		}
		if (*woken || r > 0 || (r == 0 && !pkt && !spinning))
			return r;
	}
}

/* rt_wait_ppoll, spinning busy_us (or SYNACK_BUSY_POLL_US if longer)
 * first. */
static int wait_polling(const struct shim_waiter *w, struct pollfd *fds, unsigned long n,
                        sk_time_t deadline, const sigset_t *sigmask, bool *woken, uint32_t busy_us)
{
	int r;

	*woken = false;
	if (!poller_claim())
		return waiter_ppoll(w, fds, n, deadline, sigmask, woken);
	r = poll_device(w, fds, n, deadline, sigmask, woken, busy_us);
	poller_release();
	return r;
}

int rt_wait_ppoll(const struct shim_waiter *w, struct pollfd *fds, unsigned long n,
                  sk_time_t deadline, const sigset_t *sigmask, bool *woken)
{
	return wait_polling(w, fds, n, deadline, sigmask, woken, 0);
}

int rt_ppoll(struct pollfd *fds, unsigned long n, sk_time_t deadline, const sigset_t *sigmask)
{
	bool woken;

	return rt_wait_ppoll(NULL, fds, n, deadline, sigmask, &woken);
}

int rt_wait(const struct shim_waiter *w, sk_time_t deadline, uint32_t busy_poll_us)
{
	struct pollfd pfd[2];
	bool woken;
	int r = wait_polling(w, pfd, 0, deadline, NULL, &woken, busy_poll_us);

	if (r < 0)
		return r;
	return woken ? 0 : -EAGAIN;
}

void rt_stop_thread(void)
{
	if (!rt_running() || !rt.loop || atomic_load(&rt.restart) ||
	    pthread_equal(pthread_self(), rt.thread))
		return;
	atomic_store(&rt.stopping, true);
	ev_async_send(rt.loop, &rt.async);
	pthread_join(rt.thread, NULL);
}

void rt_trace_take(void)
{
	if (!rt_running())
		return;
	rt_lock();
	shm_trace_take(print_state);
	rt_unlock();
}

void rt_sync_capture(void)
{
	if (!rt_running())
		return;
	rt_lock();
	netdev_flush(rt.dev);
	(void)netdev_pcap_sync(rt.dev); /* -EINVAL: no capture */
	rt_unlock();
}

struct rt_frame_counts rt_frame_counts(void)
{
	return frame_counts;
}

sk_time_t rt_epoch(void)
{
	return rt.epoch;
}

/* ---- fork (design brief §6) ---------------------------------------- */

/* Lock order: epoll registrations -> start -> stack -> fd table. The child
 * gets a slot of its own in the shared stack holding every socket this
 * process holds (shm_fork_prepare): parent and child both use them, and
 * only the last close anywhere closes a connection. */
static void fork_prepare(void)
{
	shim_epoll_fork_lock();
	shim_mutex_lock(&rt.start_lock, SHIM_LOCK_START);
	if (rt.state == RT_RUNNING) {
		shm_stack_lock();
		shm_fork_prepare();
	}
	fdt_lock();
}

static void fork_parent(void)
{
	fdt_unlock();
	if (rt.state == RT_RUNNING)
		shm_stack_unlock();
	shim_mutex_unlock(&rt.start_lock, SHIM_LOCK_START);
	shim_epoll_fork_unlock();
}

struct fd_list {
	int n;
	int fds[256];
};

static void collect_internal(int fd, void *arg)
{
	struct fd_list *l = arg;

	if (l->n < (int)(sizeof(l->fds) / sizeof(l->fds[0])))
		l->fds[l->n++] = fd;
}

static void fork_child(void)
{
	static struct fd_list internal;
	int keep = rt.dev ? rt.dev->fd : -1;

	shim_sig_after_fork_child();
	fdt_unlock();
	/* The stack lock is the parent thread's (a robust mutex has an owner):
	 * the parent releases it. */
	shm_fork_child();
	if (rt.state == RT_RUNNING)
		shim_lock_note_released(SHIM_LOCK_STACK);
	shim_mutex_unlock(&rt.start_lock, SHIM_LOCK_START);
	shim_epoll_fork_unlock();
	fork_gen++; /* epoll instances stay the parent's (epoll.c) */
	own_pid = getpid();
	/* The threads are gone, a poller with them. */
	rt.poller = 0;
	rt.parked = false;
	rt.park_check = RT_PARK_CHECK;
	rt.armed = SK_TIME_NEVER;
	rt.watch_fd = -1; /* the parent's epoll instance: closed below */
	wait_after_fork_child();
	shim_epoll_after_fork_child();
	shim_query_stop(); /* the parent's; the child opens its own */
	/* The parent's event loop: its copy here is nobody's (the child starts
	 * a loop of its own on first use): free it, closing its fds (internal:
	 * libev's close() must come from inside to drop their marks). */
	if (rt.loop) {
		shim_inside_depth++;
		ev_loop_destroy(rt.loop);
		shim_inside_depth--;
		rt.loop = NULL;
	}
	/* The eventfds and the wake sockets are the parent's too; the packet
	 * socket is shared (one open file description, frames read by
	 * whichever process reads first, each frame once), and so is the
	 * stack's lock fd (this child holds the stack too). */
	internal.n = 0;
	fdt_foreach_internal(collect_internal, &internal);
	for (int i = 0; i < internal.n; i++)
		if (internal.fds[i] != keep && internal.fds[i] != shm_lock_fd())
			shim_internal_close(internal.fds[i]);
	if (rt.state == RT_RUNNING) {
		if (shm_stack())
			atomic_store(&rt.restart, true);
		else
			rt.state = RT_FAILED; /* no slot was left for this child */
	}
}

pid_t rt_fork(void)
{
	pid_t pid = REAL(fork)();

	if (pid != 0 && rt.state == RT_RUNNING) {
		shim_enter(); /* keeps errno */
		shm_fork_parent(pid);
		shim_leave();
	}
	return pid;
}

/* ---- the keeper (keeper.h) ------------------------------------------ */

/* The keeper's loop: the last process left with connections still
 * closing; carry them to their end as the kernel would after the process
 * is gone, then remove the stack. Ends when the arena is empty, when
 * another process attached (it carries them on), or when the device is
 * gone. Runs in a child of the last process, in its main thread. */
void rt_keeper_loop(uint64_t parent, sk_time_t give_up)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = rt.dev->fd, .events = POLLIN},
		                      {.fd = shm_wake_fd(), .events = POLLIN}};
		struct sk_stack *st = shm_stack_lock();
		sk_time_t now = shim_now_us(), d;
		struct timespec ts;
		bool done;

		drain_device(now);
		if (sk_next_deadline(st) <= now)
			sk_run_timers(st, now);
		netdev_flush(rt.dev);
		shm_sweep();
		shm_wake_take(local_wake, local_wake_all);
		done = shm_arena_empty(st) || shm_live_procs_except(parent) > 0 || now >= give_up;
		d = sk_next_deadline(st);
		shm_stack_unlock();
		if (done)
			return;
		if (d > now + SHM_SWEEP_US)
			d = now + SHM_SWEEP_US;
		if (REAL(ppoll)(p, p[1].fd >= 0 ? 2 : 1, shim_timeout_ts(d, &ts), NULL) > 0 &&
		    (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)))
			return; /* the interface is gone */
	}
}

struct netdev *rt_device(void)
{
	return rt.dev;
}
