/* The fd table: program fd -> refcounted open file description (design
 * brief §3).
 *
 * The program's fd for a synack socket is a real kernel socket (the
 * placeholder); the table says what that number means to us. Like the
 * kernel's, a description is shared by every fd dup'ed from it, and the
 * connection closes only when the last fd goes. A description also counts
 * in-flight users (a thread blocked in recv holds one), so it is released
 * only when nobody uses it any more; close() from another thread marks it
 * closed and wakes such users rather than pulling the socket from under
 * them.
 *
 * Lookups of untracked fds (the common case: files, pipes) take no lock.
 * Internal fds (packet socket, libev's, eventfds) are marked so that the
 * program cannot close or dup2 onto them.
 */
#ifndef SYNACK_SHIM_FDTABLE_H
#define SYNACK_SHIM_FDTABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../core/stack.h"

enum shim_ofd_kind {
	/* AF_INET or AF_INET6 stream socket not yet bound/connected/listening: the
	 * offload decision is still open and the placeholder answers for it
	 * (options are applied to it and recorded). */
	SHIM_OFD_PENDING,
	/* Offloaded: `sock` is a core socket. */
	SHIM_OFD_SYNACK,
	/* A kernel epoll instance with synack sockets in its interest list. */
	SHIM_OFD_EPOLL,
	SHIM_OFD__KINDS
};

/* Options recorded for the core socket (set while pending, replayed at
 * offload). */
struct shim_opts {
	int value[SK_OPT__COUNT];
	uint32_t set_mask; /* bit i: value[i] was set */
	int linger_onoff, linger_secs;
	/* First option set while pending that synack does not implement:
	 * reported when the socket is offloaded (never silently dropped). */
	int unsupported_level, unsupported_name;
	/* IP_BIND_ADDRESS_NO_PORT: bind() to port 0 leaves the port to
	 * connect() (the shim's; core sees no bind). */
	bool bind_no_port;
	/* SO_BINDTODEVICE accepted by the placeholder while pending ("" =
	 * none): another device than synack's keeps the socket the kernel's. */
	char bound_dev[16];
};

struct shim_epreg; /* epoll.c */

struct shim_ofd {
	atomic_int refs; /* fd slots + in-flight users */
	int nfds;        /* fd slots; under the table lock */
	enum shim_ofd_kind kind;
	int sock;     /* core socket (SHIM_OFD_SYNACK), else -1 */
	unsigned gen; /* SHIM_OFD_EPOLL: fork generation of its creator (shim_fork_gen) */
	atomic_bool nonblock;
	atomic_bool closed;               /* the last fd was closed; users return EBADF */
	bool connecting; /* a connect returned EINPROGRESS/EALREADY/EINTR (Linux SS_CONNECTING) */
	int64_t rcvtimeo_us, sndtimeo_us; /* SO_RCVTIMEO/SO_SNDTIMEO, 0 = none */
	/* SO_BUSY_POLL (µs) as the placeholder keeps it, which validates it
	 * and answers getsockopt (shim/socket/opts.h): how long a blocking
	 * wait on the socket spins first (runtime.h rt_wait). */
	atomic_uint busy_poll_us;
	/* bind() with IP_BIND_ADDRESS_NO_PORT and port 0: the address
	 * getsockname reports until connect() picks the port. */
	bool noport_bound;
	uint32_t noport_addr;
	struct shim_opts opts;
	/* AF_INET, or AF_INET6: an IPv6 socket whose IPv4 traffic synack
	 * carries under IPv4-mapped addresses (shim/socket/sockaddr.h). */
	int family;
	/* AF_INET6 bound to ::ffff:0.0.0.0 (IPv4 only) rather than :: (dual
	 * stack): getsockname says which, as Linux. */
	bool v4_any_mapped;
	/* Bound to every address (INADDR_ANY, ::, or listening unbound): the
	 * placeholder serves the kernel's side of the port too (kside.h). */
	bool bound_any;
	/* kside.h: the placeholder is bound to the port on the kernel's side,
	 * and listens there; accept takes turns between the two queues, and
	 * one thread at a time takes from the kernel's (kside_lock). */
	bool kside_bound;
	atomic_bool kside_listening;
	atomic_uint accept_turn;
	pthread_mutex_t kside_lock;
	void *epoll; /* SHIM_OFD_EPOLL: the instance (epoll.c) */
	/* SHIM_OFD_PENDING: its registrations in kernel epoll sets, moved
	 * into synack's when it is offloaded (epoll.c). Freed with o. */
	struct shim_epreg *epregs;
	int nepregs;
};

/* What a kind of description does where the kinds differ. The table is
 * filled by the runtime (runtime.c: sockio.c and epoll.c implement them;
 * this file is in the pure library and knows none of them). */
struct shim_ofd_ops {
	const char *name; /* "pending", "synack", "epoll": logs */
	/* The last fd of o was closed: make blocked users return EBADF (a
	 * socket's SO_LINGER wait happens here). NULL: nothing to do. */
	void (*last_close)(struct shim_ofd *o);
	/* The last reference went (fds and in-flight users): give back what
	 * o holds. NULL: nothing to give back (a pending socket: the kernel
	 * closed its placeholder). */
	void (*release)(struct shim_ofd *o);
	/* A byte-stream socket to the program (read/write/fdopen go through
	 * synack or its placeholder). */
	bool stream;
};

/* Size the table from RLIMIT_NOFILE and set the ops of each kind (NULL:
 * none). Idempotent. */
void fdt_init(const struct shim_ofd_ops *const ops[SHIM_OFD__KINDS]);

const struct shim_ofd_ops *ofd_ops(const struct shim_ofd *o);

/* The last fd of o is gone (close, dup2 over it, close_range, exit):
 * its kind's last_close. */
void ofd_last_close(struct shim_ofd *o);

/* A live synack socket's core socket (connection or listener: this
 * process holds it), else -1. */
static inline int ofd_core_sock(const struct shim_ofd *o)
{
	return o->kind == SHIM_OFD_SYNACK && !atomic_load(&o->closed) ? o->sock : -1;
}

/* A fresh description (no references yet), or NULL. */
struct shim_ofd *ofd_new(enum shim_ofd_kind kind);

/* Point fd at o (takes a slot reference). A stale entry already at fd is
 * dropped first. -1 when fd is out of the table's range. */
int fdt_install(int fd, struct shim_ofd *o);

/* The description behind fd with an in-flight reference taken, or NULL
 * (not tracked, internal, out of range). Release with ofd_put. */
struct shim_ofd *fdt_get(int fd);
void ofd_get(struct shim_ofd *o);
void ofd_put(struct shim_ofd *o);

/* Detach fd's slot. Returns the description with the slot's reference
 * now owned by the caller (NULL if untracked); *last says whether that was
 * its last fd. */
struct shim_ofd *fdt_remove(int fd, bool *last);

/* Detach every slot pointing at o (a pending socket handed back to the
 * kernel: all its dups are plain kernel sockets now). Drops their
 * references. */
void fdt_forget(struct shim_ofd *o);

/* The kernel just handed out fd (socket, accept, dup...): any entry we
 * still have there is stale (closed behind our back, e.g. close_range or
 * syscall(SYS_close)); drop it. Internal marks are dropped too. */
void fdt_purge(int fd);

/* Cheap check, no lock: may fd be tracked (synack, pending or internal)? */
bool fdt_maybe_tracked(int fd);

void fdt_mark_internal(int fd);
bool fdt_is_internal(int fd);

/* Visit every tracked description once per fd slot (under the table
 * lock: fn must not call back into the table). */
void fdt_foreach(void (*fn)(int fd, struct shim_ofd *o, void *arg), void *arg);
/* Visit every internal fd. */
void fdt_foreach_internal(void (*fn)(int fd, void *arg), void *arg);

/* fork: the table lock is taken before fork and released on both sides. */
void fdt_lock(void);
void fdt_unlock(void);

/* Number of fd slots the table covers (fds at or above it are never
 * tracked). */
int fdt_capacity(void);

#endif
