/* splice, tee, copy_file_range on synack sockets (haproxy splices).
 *
 * The kernel cannot move pages into or out of a connection it does not run,
 * so splice between a pipe and an offloaded socket goes through a bounce
 * buffer and synack's send/recv, with Linux's answers (do_splice):
 *   - one end must be a pipe, else EINVAL; the pipe's offset must be NULL
 *     (ESPIPE), the socket's too (EINVAL); the ends must be open for reading
 *     and writing respectively (EBADF);
 *   - pipe -> socket: nothing is taken from the pipe that the socket did
 *     not accept. The bytes are first copied with tee() into a scratch pipe
 *     (waiting for data as splice does, or EAGAIN with SPLICE_F_NONBLOCK or
 *     an O_NONBLOCK pipe; 0 when it is empty with no writer), sent with
 *     synack's send (blocking or not as the socket is; SPLICE_F_MORE is
 *     MSG_MORE; EPIPE raises SIGPIPE), and then exactly what was sent is
 *     read off the pipe;
 *   - socket -> pipe: splice first waits for room in the pipe
 *     (wait_for_space: EAGAIN with SPLICE_F_NONBLOCK or an O_NONBLOCK pipe,
 *     EPIPE and SIGPIPE without a reader), then for data as the socket's
 *     own blocking mode says (SPLICE_F_NONBLOCK does not make the socket
 *     non-blocking, as tcp_splice_read); the data is peeked, written to the
 *     pipe through a non-blocking description of it (as much as fits), and
 *     exactly that much is consumed from the connection.
 * One caller at a time per socket and pipe is assumed: another thread
 * reading the same pipe or socket between the steps could see bytes twice.
 *
 * tee needs two pipes and copy_file_range two regular files: given a
 * synack socket the kernel fails them on the placeholder exactly as Linux
 * fails a socket (EINVAL), so they are not wrapped. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "intercept.h"
#include "../socket/sockio.h"

/* The most one call moves: the default pipe capacity. */
#define SPLICE_CHUNK (64 * 1024)

static bool is_pipe(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

static int access_mode(int fd)
{
	int fl = REAL(fcntl)(fd, F_GETFL);

	return fl < 0 ? -1 : fl & O_ACCMODE;
}

static bool pipe_nonblock(int fd)
{
	int fl = REAL(fcntl)(fd, F_GETFL);

	return fl >= 0 && (fl & O_NONBLOCK);
}

static size_t chunk(size_t len)
{
	return len < SPLICE_CHUNK ? len : SPLICE_CHUNK;
}

static ssize_t pipe_to_sock(struct shim_ofd *o, int pfd, size_t len, unsigned flags)
{
	size_t n = chunk(len);
	int sp[2], tflags = SPLICE_F_NONBLOCK & flags;
	ssize_t got, sent;
	char *buf;

	if (pipe_nonblock(pfd))
		tflags = SPLICE_F_NONBLOCK;
	buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	if (REAL(pipe2)(sp, O_CLOEXEC) < 0) {
		free(buf);
		return -errno;
	}
	/* Peek: tee leaves the bytes in the caller's pipe. */
	got = tee(pfd, sp[1], n, (unsigned)tflags);
	if (got > 0)
		got = REAL(read)(sp[0], buf, (size_t)got);
	if (got < 0)
		got = -errno;
	REAL(close)(sp[0]);
	REAL(close)(sp[1]);
	if (got <= 0) {
		free(buf);
		return got;
	}
	struct iovec iov = {buf, (size_t)got};
	sent = sockio_send(o, &iov, 1, (flags & SPLICE_F_MORE) ? MSG_MORE : 0);
	/* Take off the pipe exactly what the connection took. */
	for (ssize_t off = 0; sent > 0 && off < sent;) {
		ssize_t r = REAL(read)(pfd, buf, (size_t)(sent - off));

		if (r <= 0)
			break;
		off += r;
	}
	free(buf);
	return sent;
}

static ssize_t sock_to_pipe(struct shim_ofd *o, int pfd, size_t len, unsigned flags)
{
	bool nonblock = (flags & SPLICE_F_NONBLOCK) || pipe_nonblock(pfd);
	struct pollfd p = {.fd = pfd, .events = POLLOUT};
	char path[40], *buf;
	ssize_t got, put;
	int r, wfd;

	/* wait_for_space (a signal ends the wait: EINTR) */
	r = REAL(poll)(&p, 1, nonblock ? 0 : -1);
	if (r < 0)
		return -errno;
	if (p.revents & POLLERR) {
		raise(SIGPIPE);
		return -EPIPE;
	}
	if (!(p.revents & POLLOUT))
		return -EAGAIN;
	buf = malloc(chunk(len));
	if (!buf)
		return -ENOMEM;
	struct iovec iov = {buf, chunk(len)};
	got = sockio_recv(o, &iov, 1, MSG_PEEK);
	if (got <= 0) {
		free(buf);
		return got;
	}
	/* A description of the pipe of our own, non-blocking: a write takes
	 * what fits and never waits, whatever the caller's pipe flags. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
	wfd = REAL(open)(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (wfd < 0) {
		put = errno == ENXIO ? -EPIPE : -errno;
	} else {
		put = REAL(write)(wfd, buf, (size_t)got);
		if (put < 0)
			put = -errno;
		REAL(close)(wfd);
	}
	if (put == -EPIPE)
		raise(SIGPIPE);
	if (put > 0) {
		iov.iov_len = (size_t)put;
		sockio_recv(o, &iov, 1, MSG_DONTWAIT);
	}
	free(buf);
	return put;
}

SHIM_EXPORT ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
                           unsigned int flags)
{
	struct shim_ofd *in, *out;
	long err_in = 0, err_out = 0;
	ssize_t r;

	if (shim_inside() || (!fdt_maybe_tracked(fd_in) && !fdt_maybe_tracked(fd_out)))
		return REAL(splice)(fd_in, off_in, fd_out, off_out, len, flags);
	in = shim_synack_ofd(fd_in, &err_in);
	out = shim_synack_ofd(fd_out, &err_out);
	if (!in && !out && !err_in && !err_out)
		return REAL(splice)(fd_in, off_in, fd_out, off_out, len, flags);
	if (err_in || err_out) {
		r = err_in ? err_in : err_out;
	} else if (access_mode(fd_in) == O_WRONLY || access_mode(fd_out) == O_RDONLY ||
	           access_mode(fd_in) < 0 || access_mode(fd_out) < 0) {
		r = -EBADF;
	} else if (out && is_pipe(fd_in)) {
		r = off_in ? -ESPIPE : off_out ? -EINVAL : len ? pipe_to_sock(out, fd_in, len, flags) : 0;
	} else if (in && is_pipe(fd_out)) {
		r = off_out ? -ESPIPE : off_in ? -EINVAL : len ? sock_to_pipe(in, fd_out, len, flags) : 0;
	} else {
		r = -EINVAL; /* neither end is a pipe */
	}
	if (in)
		ofd_put(in);
	if (out)
		ofd_put(out);
	return shim_ret(r);
}
