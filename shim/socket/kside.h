/* The kernel's side of a listener on every address (docs/architecture.md,
 * "Listening on every address").
 *
 * A socket bound to INADDR_ANY or :: (or listening unbound) listens on
 * every address of the host. synack serves the one it owns, on its
 * interface; the kernel owns the others (loopback, its other interfaces,
 * IPv6 for a dual-stack socket). So the placeholder, a real kernel socket
 * of the program's family, is bound to the same port on the kernel's side
 * (with the program's options: it got them while pending) and listens too:
 * accept() takes connections from both queues, turn about, so neither
 * starves; a kernel connection is handed to the program as the plain kernel
 * socket it is. poll/select and epoll watch both (intercept_poll.c,
 * epoll.c). A kernel-side bind that fails with EADDRINUSE fails the
 * program's bind, as the kernel would have refused the port.
 */
#ifndef SYNACK_SHIM_KSIDE_H
#define SYNACK_SHIM_KSIDE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../../core/stack.h"
#include "../fd/fdtable.h"

/* Does o listen on every address, and not only on synack's interface
 * (SO_BINDTODEVICE)? */
bool kside_wanted(const struct shim_ofd *o);

/* Bind the placeholder fd of o to `port` on the kernel's side (0.0.0.0,
 * ::, or ::ffff:0.0.0.0 as the program bound). 0 or -errno. */
int kside_bind(struct shim_ofd *o, int fd, uint16_t port);

/* o listens in core now (port known): the placeholder listens too (bound
 * first if listen() bound the socket). A failure is logged, never fatal:
 * synack's side works without it. */
void kside_listen(struct shim_ofd *o, int fd, int backlog);

/* accept() on a listener with a kernel side: the next connection of
 * either queue, waiting as o's mode and SO_RCVTIMEO say. Returns a core
 * socket (peer filled), KSIDE_KERNEL with *kfd a kernel connection
 * (accept4(flags), the kernel filled addr/len), or -errno. */
#define KSIDE_KERNEL (-10000)
int kside_accept(struct shim_ofd *o, int fd, int flags, struct sk_endpoint *peer, int *kfd,
                 struct sockaddr *addr, socklen_t *len);

#endif
