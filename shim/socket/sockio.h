/* Calls on an offloaded socket with Linux's blocking semantics: the core
 * calls are non-blocking; here a blocking socket sleeps (wait.h) until the
 * stack wakes it, honouring O_NONBLOCK/MSG_DONTWAIT, SO_RCVTIMEO/
 * SO_SNDTIMEO, signals, and close() from another thread.
 *
 * All return -errno on failure; the intercept_* wrappers set errno.
 * EINTR policy: a call with a timeout fails with EINTR (as Linux does for
 * socket timeouts); without one it restarts when every installed handler
 * has SA_RESTART, and fails with EINTR otherwise (see wait_restartable).
 * connect() always fails with EINTR and goes on in the background, as on
 * Linux (a second connect() then answers EALREADY).
 */
#ifndef SYNACK_SHIM_SOCKIO_H
#define SYNACK_SHIM_SOCKIO_H

#include <sys/types.h>
#include <sys/uio.h>

#include "../../core/stack.h"
#include "../fd/fdtable.h"

/* Is o usable? 0, or -EBADF (closed meanwhile). */
int sockio_usable(struct shim_ofd *o, int fd);

/* MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_TRUNC (consume without copying,
 * as Linux tcp_recvmsg); other flags as Linux ignores them. */
ssize_t sockio_recv(struct shim_ofd *o, const struct iovec *iov, int iovcnt, int flags);
/* MSG_DONTWAIT, MSG_NOSIGNAL (else SIGPIPE with EPIPE), MSG_MORE (core's
 * SK_MSG_MORE: hold the partial tail like TCP_CORK for this call). A blocking send
 * returns only when everything is queued, or with what was queued before a
 * timeout, signal or error. */
ssize_t sockio_send(struct shim_ofd *o, const struct iovec *iov, int iovcnt, int flags);
int sockio_connect(struct shim_ofd *o, uint32_t addr, uint16_t port);
/* The accepted core socket, or -errno. */
int sockio_accept(struct shim_ofd *o, struct sk_endpoint *peer, bool nonblock);

/* Under the lock, before releasing it after a call that may have sent:
 * packets to our own address (core/loopback.c) wait for a timer run, and
 * left to the runtime thread each would cost a wake-up of it before the one
 * of the receiving thread. Delivered by the thread that sent them (as the
 * run-to-completion poller processes frames, runtime.c), a connection to
 * ourselves costs one wake-up per direction, as on the kernel's loopback.
 * Only those packets: a timer due meanwhile is left to the threads that
 * read the device first (a retransmission timer run before the ACK waiting
 * in the packet socket would resend for nothing). True when there were
 * some: a wake-up they caused came before any waiter of this thread
 * registered, so the caller looks again before sleeping. */
bool sockio_deliver_own(struct sk_stack *st);

/* The descriptions of sockets (fdtable.h): a synack socket's last close
 * makes blocked users return EBADF (after SO_LINGER's wait, when this is
 * the last process holding it); its release lets go of the core socket
 * (sockio_core_close) once the last in-flight user is done. A pending
 * socket has nothing of synack's. */
extern const struct shim_ofd_ops sockio_synack_ops, sockio_pending_ops;

/* Under the lock: this process lets go of sock; sk_close when it was the
 * last process holding it (shared/shm_stack.h), as the kernel closes a
 * file only at the last close of its description. */
void sockio_core_close(struct sk_stack *st, int sock);

#endif
