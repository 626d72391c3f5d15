/* syscall(): programs (and runtimes such as Go's cgo glue, or libuv's
 * fallbacks) that issue the socket system calls by number instead of
 * through their libc names. Those numbers are routed to the interposed
 * wrappers, which apply the same fast path (untracked fd, inside synack:
 * straight to the kernel); every other number goes to the real syscall().
 *
 * Arguments are read as six longs, as glibc's own syscall() does: the
 * x86-64/aarch64 calling conventions pass them in registers, so reading
 * more than the caller supplied is harmless there. */
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "intercept.h"

/* The kernel's ppoll/pselect6 take a sigset size; glibc's wrappers pass
 * _NSIG/8. Anything else is EINVAL on Linux. */
#define KERNEL_SIGSET_SIZE (_NSIG / 8)

/* pselect6's sixth argument: {const sigset_t *ss; size_t ss_len}. */
struct pselect6_sig {
	const sigset_t *ss;
	size_t ss_len;
};

/* Dispatch a socket-related number to its wrapper. *handled is false for
 * numbers that are not ours. */
static long route(long n, long a[6], bool *handled)
{
	*handled = true;
	switch (n) {
	case SYS_socket:
		return socket((int)a[0], (int)a[1], (int)a[2]);
	case SYS_bind:
		return bind((int)a[0], (const struct sockaddr *)a[1], (socklen_t)a[2]);
	case SYS_listen:
		return listen((int)a[0], (int)a[1]);
	case SYS_connect:
		return connect((int)a[0], (const struct sockaddr *)a[1], (socklen_t)a[2]);
	case SYS_accept:
		return accept((int)a[0], (struct sockaddr *)a[1], (socklen_t *)a[2]);
	case SYS_accept4:
		return accept4((int)a[0], (struct sockaddr *)a[1], (socklen_t *)a[2], (int)a[3]);
	case SYS_sendto:
		return sendto((int)a[0], (const void *)a[1], (size_t)a[2], (int)a[3],
		              (const struct sockaddr *)a[4], (socklen_t)a[5]);
	case SYS_recvfrom:
		return recvfrom((int)a[0], (void *)a[1], (size_t)a[2], (int)a[3],
		                (struct sockaddr *)a[4], (socklen_t *)a[5]);
	case SYS_sendmsg:
		return sendmsg((int)a[0], (const struct msghdr *)a[1], (int)a[2]);
	case SYS_recvmsg:
		return recvmsg((int)a[0], (struct msghdr *)a[1], (int)a[2]);
	case SYS_sendmmsg:
		return sendmmsg((int)a[0], (struct mmsghdr *)a[1], (unsigned int)a[2], (int)a[3]);
	case SYS_recvmmsg:
		return recvmmsg((int)a[0], (struct mmsghdr *)a[1], (unsigned int)a[2], (int)a[3],
		                (struct timespec *)a[4]);
	case SYS_shutdown:
		return shutdown((int)a[0], (int)a[1]);
	case SYS_getsockname:
		return getsockname((int)a[0], (struct sockaddr *)a[1], (socklen_t *)a[2]);
	case SYS_getpeername:
		return getpeername((int)a[0], (struct sockaddr *)a[1], (socklen_t *)a[2]);
	case SYS_setsockopt:
		return setsockopt((int)a[0], (int)a[1], (int)a[2], (const void *)a[3],
		                  (socklen_t)a[4]);
	case SYS_getsockopt:
		return getsockopt((int)a[0], (int)a[1], (int)a[2], (void *)a[3], (socklen_t *)a[4]);
	case SYS_close:
		return close((int)a[0]);
	case SYS_close_range:
		return close_range((unsigned int)a[0], (unsigned int)a[1], (int)a[2]);
	case SYS_read:
		return read((int)a[0], (void *)a[1], (size_t)a[2]);
	case SYS_write:
		return write((int)a[0], (const void *)a[1], (size_t)a[2]);
	case SYS_readv:
		return readv((int)a[0], (const struct iovec *)a[1], (int)a[2]);
	case SYS_writev:
		return writev((int)a[0], (const struct iovec *)a[1], (int)a[2]);
	case SYS_sendfile:
		return sendfile64((int)a[0], (int)a[1], (off64_t *)a[2], (size_t)a[3]);
	case SYS_splice:
		return splice((int)a[0], (loff_t *)a[1], (int)a[2], (loff_t *)a[3], (size_t)a[4],
		              (unsigned)a[5]);
	case SYS_ioctl:
		return ioctl((int)a[0], (unsigned long)a[1], (void *)a[2]);
	case SYS_fcntl:
		return fcntl((int)a[0], (int)a[1], a[2]);
	case SYS_dup:
		return dup((int)a[0]);
#ifdef SYS_dup2
	case SYS_dup2:
		return dup2((int)a[0], (int)a[1]);
#endif
	case SYS_dup3:
		return dup3((int)a[0], (int)a[1], (int)a[2]);
#ifdef SYS_poll
	case SYS_poll:
		return poll((struct pollfd *)a[0], (nfds_t)a[1], (int)a[2]);
#endif
	case SYS_ppoll:
		if (a[3] && (size_t)a[4] != KERNEL_SIGSET_SIZE)
			return shim_ret(-EINVAL);
		return ppoll((struct pollfd *)a[0], (nfds_t)a[1], (const struct timespec *)a[2],
		             (const sigset_t *)a[3]);
#ifdef SYS_select
	case SYS_select:
		return select((int)a[0], (fd_set *)a[1], (fd_set *)a[2], (fd_set *)a[3],
		              (struct timeval *)a[4]);
#endif
	case SYS_pselect6: {
		const struct pselect6_sig *sig = (const struct pselect6_sig *)a[5];

		if (sig && sig->ss && sig->ss_len != KERNEL_SIGSET_SIZE)
			return shim_ret(-EINVAL);
		return pselect((int)a[0], (fd_set *)a[1], (fd_set *)a[2], (fd_set *)a[3],
		               (const struct timespec *)a[4], sig ? sig->ss : NULL);
	}
#ifdef SYS_epoll_wait
	case SYS_epoll_wait:
		return epoll_wait((int)a[0], (struct epoll_event *)a[1], (int)a[2], (int)a[3]);
#endif
	case SYS_epoll_pwait:
		if (a[4] && (size_t)a[5] != KERNEL_SIGSET_SIZE)
			return shim_ret(-EINVAL);
		return epoll_pwait((int)a[0], (struct epoll_event *)a[1], (int)a[2], (int)a[3],
		                   (const sigset_t *)a[4]);
	case SYS_epoll_ctl:
		return epoll_ctl((int)a[0], (int)a[1], (int)a[2], (struct epoll_event *)a[3]);
#ifdef SYS_epoll_create
	case SYS_epoll_create:
		return epoll_create((int)a[0]);
#endif
	case SYS_epoll_create1:
		return epoll_create1((int)a[0]);
	case SYS_eventfd2:
		return eventfd((unsigned int)a[0], (int)a[1]);
#ifdef SYS_pipe
	case SYS_pipe:
		return pipe((int *)a[0]);
#endif
	case SYS_pipe2:
		return pipe2((int *)a[0], (int)a[1]);
	}
	*handled = false;
	return 0;
}

SHIM_EXPORT long syscall(long n, ...)
{
	long a[6];
	bool handled;
	va_list ap;
	long r;

	va_start(ap, n);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!shim_inside()) {
		r = route(n, a, &handled);
		if (handled)
			return r;
	}
	return REAL(syscall)(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}
