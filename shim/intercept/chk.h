/* Prototypes of the _FORTIFY_SOURCE entry points glibc exports but only
 * declares under fortification: the shim defines them whatever its own
 * build flags are. */
#ifndef SYNACK_SHIM_CHK_H
#define SYNACK_SHIM_CHK_H

#include <poll.h>
#include <signal.h>
#include <time.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *addr,
                       socklen_t *addrlen);
int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *ts, const sigset_t *ss,
                size_t fdslen);
void __chk_fail(void) __attribute__((noreturn));

#endif
