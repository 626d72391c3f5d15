/* The locks of the shim (taken through locks.h, which checks their order in
 * sanitizer builds):
 *
 *   rank               lock                         guards
 *   SHIM_LOCK_EPREG    epoll.c epreg_lock           a pending socket's registrations in
 *                                                   kernel epoll sets (moved to synack's
 *                                                   at offload)
 *   SHIM_LOCK_START    runtime.c rt.start_lock      starting the runtime; a fork child's
 *                                                   restart of its runtime thread
 *   SHIM_LOCK_STACK    shared/shm_stack.c hdr->lock the stack and everything in the shared
 *                                                   region (process-shared, robust); the
 *                                                   waiter lists and epoll instances of
 *                                                   this process (wait.c, epoll.c)
 *   SHIM_LOCK_FDTABLE  fdtable.c lock               the fd table's slots
 *   SHIM_LOCK_KSIDE    fdtable.h o->kside_lock      one thread at a time taking from a
 *                                                   listener's kernel-side queue (kside.c)
 *
 * A thread holding a lock takes only locks of a higher rank (the order
 * fork's prepare handler takes them in: runtime.c). Every lock is taken
 * inside the entry guard (entry.h): the program's signals wait while it is
 * held, so a handler's socket call never deadlocks on a lock its own thread
 * holds.
 */

/* The process-wide synack runtime: configuration, this process's device and
 * its view of the interface's shared stack (shared/shm_stack.h), and the
 * runtime thread running the libev loop (docs/architecture.md "Threads").
 *
 * Initialisation is in two steps. shim_init() (constructor, and lazily from
 * every wrapper) resolves the real functions, reads the configuration and
 * sizes the fd table: cheap, no thread, no fd. rt_start() runs on the first
 * socket that is offloaded: it opens the device, attaches to the stack (or
 * creates it) and starts the runtime thread; it is safe when two threads race into it, and a failure
 * (bad configuration, no interface, no CAP_NET_RAW) is reported once on
 * stderr and then answered with ENETDOWN.
 *
 * Application threads call core between rt_lock() and rt_unlock() and
 * transmit directly; rt_unlock() kicks the loop (ev_async) when the call
 * moved the earliest deadline earlier. Only the runtime thread touches
 * libev watchers.
 */
#ifndef SYNACK_SHIM_RUNTIME_H
#define SYNACK_SHIM_RUNTIME_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../core/stack.h"
#include "config.h"

/* Idempotent, thread-safe, cheap after the first call. */
void shim_init(void);
const struct shim_config *shim_config(void);

/* Start the runtime if needed: 0, or -ENETDOWN when synack cannot run
 * (the reason was printed once). */
int rt_start(void);

/* Take / release the stack lock (raises "inside synack" meanwhile).
 * rt_lock returns the stack; only valid after rt_start succeeded. */
struct sk_stack *rt_lock(void);
void rt_unlock(void);

struct pollfd;
struct shim_waiter;

/* Not under the lock: sleep as wait_sleep (wait.h), running to completion
 * when it can: if no other thread does, this one also waits on the packet
 * socket and processes the frames that arrive itself (so a reply wakes it
 * once, not the runtime thread and then it), while the runtime thread
 * parks its own watcher. It looks at the packet socket without sleeping
 * for the first busy_poll_us µs (the socket's SO_BUSY_POLL), or
 * SYNACK_BUSY_POLL_US if that is longer. 0 woken, -EAGAIN timed out,
 * -EINTR. */
int rt_wait(const struct shim_waiter *w, sk_time_t deadline, uint32_t busy_poll_us);

/* wait_ppoll (wait.h) running to completion as rt_wait does: fds must have
 * room for n + 2 entries (the packet socket's and the eventfd's). For
 * poll()/select() over synack sockets and kernel fds at once. w NULL: no
 * eventfd (rt_ppoll). */
int rt_wait_ppoll(const struct shim_waiter *w, struct pollfd *fds, unsigned long n,
                  sk_time_t deadline, const sigset_t *sigmask, bool *woken);

/* Not under the lock: ppoll(fds, n) until one is ready or `deadline`
 * (SK_TIME_NEVER: none), running to completion as rt_wait does: fds must
 * have room for n + 1 entries (the packet socket's). Returns ppoll's count
 * over fds[0..n-1], or -errno. For waits on kernel fds whose readiness
 * synack feeds (an epoll instance's eventfd). */
int rt_ppoll(struct pollfd *fds, unsigned long n, sk_time_t deadline, const sigset_t *sigmask);
/* Run to completion for event loops, under the lock: a thread about to
 * collect ready synack sockets in epoll_wait, poll or select first takes in
 * what the packet socket holds (one non-blocking read when it holds
 * nothing), as the kernel's softirq would have by then. A busy event loop
 * seldom blocks (some connection is always ready), so it would never become
 * the poller of rt_wait, and its runtime thread would take in every frame, the two
 * threads handing the stack lock back and forth (docs/performance.md);
 * while such calls keep coming (within RT_PARK_CHECK) the runtime thread
 * stays parked. Nothing when a blocked thread is the poller. */
void rt_poll_inline(void);

/* Before the process goes: frames still batched leave, and a SYNACK_PCAP
 * capture is written out up to now (its buffer would otherwise be lost). */
void rt_sync_capture(void);

/* True once rt_start succeeded (in this process). */
bool rt_running(void);

/* Frames the stack took in, by who read them (under the stack lock). */
struct rt_frame_counts {
	uint64_t by_runtime; /* the runtime thread */
	uint64_t by_app;     /* application threads running to completion (rt_wait) */
};
struct rt_frame_counts rt_frame_counts(void);

/* At exit, before the process leaves the stack: the runtime thread leaves
 * its loop and is joined. Nothing of this process runs the stack after
 * that but the calling thread, and a fork (the keeper) finds no other
 * thread holding one of synack's locks (or, in a sanitizer build, its
 * allocator's lock while waiting for ours). */
void rt_stop_thread(void);

/* Print the state changes of this process's connections that other
 * processes made and queued for it (shm_trace_route): the exit linger's
 * last look, before the process goes. */
void rt_trace_take(void);

/* The program's exit (linger.c): its synack sockets close as the kernel
 * closes a dying process's files, the process leaves the stack, and the
 * last one lingers (SYNACK_LINGER_MS) or leaves a keeper. At exit() (a
 * destructor) and _exit()/_Exit() (intercept_exit.c); once. */
void shim_exit_close(void);

/* Is the calling process the one this memory belongs to? False in a child
 * of vfork() or posix_spawn() (no atfork handler ran there): such a child
 * must not touch synack's state, which is its parent's. */
bool rt_own_process(void);

/* When the stack started (CLOCK_MONOTONIC µs). */
sk_time_t rt_epoch(void);

/* Fork generation: bumped in every child, recorded in each epoll
 * description: a kernel epoll instance is shared across fork, our interest
 * list of it is not (epoll.c). */
unsigned shim_fork_gen(void);

/* fork() as the program calls it: the child gets its own slot in the
 * shared stack holding every socket this process holds (shm_stack.h) and
 * starts its own runtime thread on its first use of synack. */
pid_t rt_fork(void);

/* kernel_addr.c: how the stack transmits: the device, minus RSTs for the
 * kernel's connections when the kernel holds synack's address too. */
extern const struct sk_link_ops shim_link_ops;

/* keeper.c: the loop of the process that carries the stack's closing
 * connections after the last program left (until `give_up`; the program
 * that forked it, named by its attach token, does not count as another
 * program attaching), and the device it reads. */
struct netdev;
void rt_keeper_loop(uint64_t parent, sk_time_t give_up);
struct netdev *rt_device(void);

#endif
