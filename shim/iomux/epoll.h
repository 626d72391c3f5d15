/* epoll over synack sockets (design brief §5).
 *
 * The program's epfd stays a real kernel epoll. For each epfd that has
 * synack sockets in its interest list we keep, under the stack lock, those
 * items and a ready list, plus one internal eventfd registered in the
 * kernel epoll that is readable while the ready list is non-empty. So an
 * epfd nested in another epoll or in poll() works, and one socket may sit
 * in several epoll sets. Kernel fds in the same epfd stay the kernel's.
 *
 * The stack's wake hook may not call back into the stack, so a wake only
 * queues the item as a candidate; epoll_wait computes the real readiness
 * (sk_poll) when it harvests: LT items stay queued while ready, ET items
 * leave the queue once reported, ONESHOT items are disabled until
 * EPOLL_CTL_MOD.
 */
#ifndef SYNACK_SHIM_EPOLL_H
#define SYNACK_SHIM_EPOLL_H

#include <signal.h>
#include <sys/epoll.h>

#include "../fd/fdtable.h"

/* epoll_ctl for a synack socket `o` (referenced by the caller) on epfd.
 * Returns 0 or -errno, with the kernel's errno rules. */
int shim_epoll_ctl(int epfd, int op, int fd, struct shim_ofd *o, struct epoll_event *ev);

/* epoll_wait on an epfd we track (ep: its description). Returns the count
 * or -errno. */
int shim_epoll_wait(struct shim_ofd *ep, int epfd, struct epoll_event *events, int max, int timeout,
                    const sigset_t *sigmask);

/* Wake hook: sock's readiness may have changed (under the stack lock). */
void shim_epoll_wake(int sock);
/* Has this process epoll sets with synack sockets? (under the stack lock) */
bool shim_epoll_in_use(void);
/* Does an epoll set of this process watch sock with EPOLLEXCLUSIVE?
 * (under the stack lock) */
bool shim_epoll_watches_exclusive(int sock);
/* Every item of every instance (under the stack lock). */
void shim_epoll_wake_all(void);

/* Not under the lock: before the kernel looks at epfds (poll/select on
 * them, or an epoll they are nested in), drop from every ready list the
 * synack items that are no longer ready, so an epfd polls readable exactly
 * when epoll_wait on it would report an event. */
void shim_epoll_refresh(void);

/* A synack socket's description is going away: drop it from every epoll
 * set (Linux removes an item when its file is released). Under the stack
 * lock. */
void shim_epoll_forget(struct shim_ofd *o);

/* o, offloaded, goes back to the kernel (kside.h: a socket bound on
 * every address whose first connect is the kernel's): its items in
 * synack's sets become registrations of its placeholder in the kernel
 * epolls. Not under the lock. */
void shim_epoll_return(struct shim_ofd *o);

/* Release of an epoll description (fdtable release callback). */
void shim_epoll_release(struct shim_ofd *ep);
/* An epoll description (fdtable.h): released by shim_epoll_release. */
extern const struct shim_ofd_ops shim_epoll_ops;

/* A pending (undecided) socket was added to, changed in or removed from a
 * kernel epoll set (the kernel accepted it): remember that. */
void shim_epoll_note_pending(struct shim_ofd *o, int epfd, int op, int fd,
                             const struct epoll_event *ev);

/* o was just offloaded: take its registrations out of the kernel epoll
 * sets (the kernel would watch the placeholder) into synack's. */
void shim_epoll_adopt_pending(struct shim_ofd *o);

/* o became a listener with a kernel side (kside.h): the kernel epolls
 * it is in watch its placeholder too, under the same event and data (its
 * two sides' events are merged into one by epoll_wait). Not under the
 * lock. */
void shim_epoll_kside_attach(struct shim_ofd *o);

/* fork child: the instances are the parent's (their eventfds are closed
 * with the other internal fds). */
void shim_epoll_after_fork_child(void);

/* fork: the registration lock is taken before fork, released after. */
void shim_epoll_fork_lock(void);
void shim_epoll_fork_unlock(void);

#endif
