/* One stack in shared memory for every process on an interface
 * (docs/architecture.md "One stack, many processes").
 *
 * The stack's whole state lives in one POSIX shared memory object per
 * user, network namespace and interface (/dev/shm/synack-u<uid>-n<netns>-
 * <iface>, mode 0600, or SYNACK_STACK's name), mapped by every process
 * that uses the interface, at whatever address its mmap returns: core keeps
 * no absolute pointer in it (core/rel.h) and allocates from the region's
 * heap (shim/shared/heap.h). A process-shared robust mutex in the header is
 * the stack lock.
 *
 * What the kernel keeps per open file description across processes is
 * kept here per core socket: which processes hold it (a bit per process
 * slot). A process sets its bit when it gets a socket (socket + offload,
 * accept, fork, exec) and clears it when its last fd for the socket goes;
 * the connection is closed (sk_close: FIN, or RST with unread data) only
 * when no bit is left, wherever the last close happened. A process that
 * dies without closing (kill -9, _exit) is found by the others (its pid
 * is gone, or is a zombie or another process now: /proc/<pid>/stat's start
 * time) and its bits are dropped the same way.
 *
 * Readiness crosses processes through the same masks: a process that
 * sleeps on a socket, or has it in an epoll set, sets its interest bit; the
 * process whose call made the socket ready (it holds the lock) queues the
 * socket on each interested process's wake ring and sends that process one
 * datagram on its wake socket (an abstract unix socket in the network
 * namespace) when the ring was idle; that process's runtime thread then
 * wakes its own waiters.
 *
 * Everything here runs under the stack lock unless it says otherwise.
 */
#ifndef SYNACK_SHIM_SHARED_SHM_STACK_H
#define SYNACK_SHIM_SHARED_SHM_STACK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../core/stack.h"

struct shim_config;
struct netdev;

/* Processes that may use one stack at once. */
#define SHM_MAX_PROCS 256
/* How often a runtime looks for processes that died without leaving. */
#define SHM_SWEEP_US SK_MS(250)

/* Take the stack lock and bind the stack to this process; recovers the
 * stack when the previous holder died holding it. Returns the stack. */
struct sk_stack *shm_stack_lock(void);
void shm_stack_unlock(void);
/* Is the calling thread the lock's holder? (assertions) */
bool shm_stack_locked_by_me(void);

/* The socket's holders (the kernel's open file description count across
 * processes). take: this process holds sock now. drop: it no longer does;
 * true when nobody does any more (the caller closes it). sole: this
 * process is the only holder. */
void shm_sock_take(int sock);
bool shm_sock_drop(int sock);
bool shm_sock_sole(int sock);

/* Is sock this process's to report (synack ss, the trace)? Its owner's:
 * whoever took it last, or for a connection not accepted yet its
 * listener's; a socket whose owner left is the first process's. */
bool shm_sock_mine(int sock);
/* Is what no process owns (sockets whose owner left, the TIME_WAIT
 * table) this process's to report? The first live process's. */
bool shm_orphans_mine(void);

/* This process sleeps on sock or watches it (epoll): wake it when another
 * process makes sock ready. */
void shm_sock_interest(int sock);
/* The same for an EPOLLEXCLUSIVE epoll item: of the processes with only
 * such an interest, one is woken (shm_wake_others). */
void shm_sock_interest_exclusive(int sock);
/* This process no longer waits on sock exclusively (wait.c). */
void shm_sock_uninterest_exclusive(int sock);

/* The wake hook's cross-process part: queue sock for every other
 * interested process. */
void shm_wake_others(int sock);

/* The trace (SYNACK_TRACE=states) reports a process's own connections,
 * whichever process's call changed their state. route: the state change
 * ev was made here; false: print it here (the socket is this process's,
 * or nobody's); true: it went to its owner's queue (or its owner does not
 * trace). take: print what other processes queued for this one. */
bool shm_trace_route(struct sk_stack *st, const struct sk_state_change *ev);
void shm_trace_take(void (*print)(const struct sk_state_change *ev));

/* This process's wake socket (runtime thread: readable when other
 * processes queued wakes), -1 before attach. */
int shm_wake_fd(void);
/* Runtime thread, under the lock: take what other processes queued; call
 * one(sock) per socket, or all() when the ring overflowed. */
void shm_wake_take(void (*one)(int sock), void (*all)(void));

/* Under the lock: drop the processes that are gone (their sockets as the
 * kernel would close them). Cheap when every process is alive. */
void shm_sweep(void);
/* Processes attached now (other than keepers); the same but for the
 * attach `token` names (shm_my_token). */
unsigned shm_live_procs(void);
unsigned shm_live_procs_except(uint64_t token);
uint64_t shm_my_token(void);

/* Who takes in frames, under the lock. A process says whether it wants
 * them (it waits in synack or has epoll sets: shm_reader_set) and when it
 * last took some in (shm_reader_read). shm_reader_elsewhere: another live
 * process wants them and took some in within `fresh` of now, so that an
 * idle process may leave the packet socket to it (a frame it took in for
 * another process's connection would cost that process two more wake-ups);
 * one stopped or gone is not counted once `fresh` has passed. */
void shm_reader_set(bool reads);
void shm_reader_read(sk_time_t now);
bool shm_reader_elsewhere(sk_time_t now, sk_time_t fresh);

/* fork (shim/runtime/runtime.c): prepare reserves the child's slot, holding every
 * socket this process holds (under the lock, before fork). parent records
 * the child's pid (or frees the slot when fork failed); child makes the
 * slot its own (no lock: the parent still holds it). */
void shm_fork_prepare(void);
void shm_fork_parent(pid_t pid);
void shm_fork_child(void);
/* A fork child's first use of the stack (under the lock): its slot goes
 * live and it binds its own wake socket. */
void shm_child_started(void);
/* The next fork's child is a keeper (keeper.c): it does not count as a
 * process using the stack. */
void shm_fork_next_is_keeper(void);

/* exec: the environment entries that let the new image take over this
 * process's slot and inherited sockets ("SYNACK_SHM_SLOT=..."), written
 * into buf; the new image calls shm_exec_inherited for each fd it finds
 * there. */
int shm_exec_slot_env(char *buf, size_t n);

/* At exit, after every socket was closed. begin: false when not attached;
 * *last: no other process uses the stack. leave: give up this process's
 * slot; with remove_if_empty, the last process out of an empty arena
 * removes the stack (keeper.c carries a non-empty one). */
bool shm_stack_detach_begin(bool *last);
void shm_stack_leave(bool remove_if_empty);
/* Under the lock: no socket at all is left in the arena, nor a
 * connection in the TIME_WAIT table. */
bool shm_arena_empty(struct sk_stack *st);

/* Not under the lock: attach (shm_stack_attach) taking over the slot an
 * exec'd image held (want_slot/want_token from SYNACK_SHM_SLOT; -1: a new
 * slot); sc: the configuration a new stack gets; link and dev: how this
 * process transmits (bound at every lock: sk_stack_bind). 0, or -errno
 * after one log line saying what is wrong. */
int shm_stack_attach_as(const struct shim_config *cfg, const struct sk_link_ops *link,
                        struct netdev *dev, const struct sk_hooks *hooks,
                        const struct sk_config *sc, int want_slot, uint64_t want_token);
/* The new image, after attach: the sockets it still has fds for (keep);
 * those its old self held and did not pass on are dropped. */
void shm_exec_adopt(const int *keep, int nkeep);
/* The attached stack, or NULL. */
struct sk_stack *shm_stack(void);

/* The shared object, open with a shared flock while this process is
 * attached (kept across fork by the child and the keeper, across exec by
 * the new image: SYNACK_SHM_FD), -1 when not attached. */
int shm_lock_fd(void);

/* The stack's name (for logs and synack check). */
const char *shm_stack_name(void);

#endif
