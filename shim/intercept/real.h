/* The real libc functions behind every wrapper, and the "inside synack" flag.
 *
 * Each real function is resolved with dlsym(RTLD_NEXT) by the constructor
 * AND lazily on first use: another library's constructor may call socket()
 * before ours has run (design brief §2).
 *
 * The thread-local depth counter marks code running on synack's behalf:
 * libev, netdev and the logger call read/close/epoll_wait... which resolve
 * to our own exported wrappers; when the counter is non-zero every wrapper
 * passes straight to the real function. The runtime thread keeps it raised
 * for its whole life; application threads raise it while they hold the
 * stack lock.
 */
#ifndef SYNACK_SHIM_REAL_H
#define SYNACK_SHIM_REAL_H

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <unistd.h>

#include "chk.h"
#include "sigguard.h"

/* Every function a wrapper may pass through to. */
#define REAL_FUNCS(X)                                                                              \
	X(socket)                                                                                  \
	X(bind)                                                                                    \
	X(listen)                                                                                  \
	X(accept)                                                                                  \
	X(accept4)                                                                                 \
	X(connect)                                                                                 \
	X(read)                                                                                    \
	X(write)                                                                                   \
	X(readv)                                                                                   \
	X(writev)                                                                                  \
	X(send)                                                                                    \
	X(sendto)                                                                                  \
	X(sendmsg)                                                                                 \
	X(recv)                                                                                    \
	X(recvfrom)                                                                                \
	X(recvmsg)                                                                                 \
	X(poll)                                                                                    \
	X(ppoll)                                                                                   \
	X(select)                                                                                  \
	X(pselect)                                                                                 \
	X(close)                                                                                   \
	X(shutdown)                                                                                \
	X(fcntl)                                                                                   \
	X(fcntl64)                                                                                 \
	X(ioctl)                                                                                   \
	X(setsockopt)                                                                              \
	X(getsockopt)                                                                              \
	X(getsockname)                                                                             \
	X(getpeername)                                                                             \
	X(dup)                                                                                     \
	X(dup2)                                                                                    \
	X(dup3)                                                                                    \
	X(epoll_create)                                                                            \
	X(epoll_create1)                                                                           \
	X(epoll_ctl)                                                                               \
	X(epoll_wait)                                                                              \
	X(epoll_pwait)                                                                             \
	X(eventfd)                                                                                 \
	X(pipe)                                                                                    \
	X(pipe2)                                                                                   \
	X(__read_chk)                                                                              \
	X(__recv_chk)                                                                              \
	X(__recvfrom_chk)                                                                          \
	X(__poll_chk)                                                                              \
	X(__ppoll_chk)                                                                             \
	X(epoll_pwait2)                                                                            \
	X(open)                                                                                    \
	X(openat)                                                                                  \
	X(close_range)                                                                             \
	X(execve)                                                                                  \
	X(execv)                                                                                   \
	X(execvp)                                                                                  \
	X(execvpe)                                                                                 \
	X(fexecve)                                                                                 \
	X(daemon)                                                                                  \
	X(fork)                                                                                    \
	X(_exit)                                                                                   \
	X(sigaction)                                                                               \
	X(sendfile)                                                                                \
	X(sendfile64)                                                                              \
	X(sendmmsg)                                                                                \
	X(recvmmsg)                                                                                \
	X(fdopen)                                                                                  \
	X(splice)                                                                                  \
	X(posix_spawn)                                                                             \
	X(posix_spawnp)                                                                            \
	X(system)                                                                                  \
	X(popen)                                                                                   \
	X(syscall)

#define REAL_ENUM(name) REAL_IDX_##name,
enum real_idx { REAL_FUNCS(REAL_ENUM) REAL__COUNT };
#undef REAL_ENUM

/* The real function at index idx; resolves it on first use. Aborts with a
 * message if libc does not have it (a broken install, not a runtime case). */
void *real_get(enum real_idx idx);

/* REAL(read)(fd, buf, n): call the next definition of read after ours. */
#define REAL(fn) ((__typeof__(&fn))real_get(REAL_IDX_##fn))

/* Resolve everything now (constructor, and before fork). */
void real_init(void);

/* "Inside synack" depth of the calling thread (see above). */
extern _Thread_local int shim_inside_depth;

static inline bool shim_inside(void)
{
	return shim_inside_depth != 0;
}

#endif
