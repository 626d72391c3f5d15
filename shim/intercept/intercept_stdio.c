/* fdopen on a synack socket. glibc's stdio reads and writes a FILE through
 * its own internal syscalls, which no preload sees: a FILE from the real
 * fdopen would talk to the placeholder (an unconnected kernel socket). So
 * a socket synack tracks (offloaded, or still pending: it may be offloaded
 * later) gets a FILE from fopencookie whose read, write and close are
 * synack's own read, write and close wrappers: fgets, fprintf, fread,
 * fwrite, fflush and fclose all reach the connection. fileno() answers
 * the socket's fd (the FILE's public _fileno field is set to it), so
 * programs that poll fileno(f) keep working; seeking fails with ESPIPE's
 * stdio equivalent (no seek function), as on a socket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intercept.h"

struct sock_cookie {
	int fd;
};

static ssize_t ck_read(void *c, char *buf, size_t n)
{
	return read(((struct sock_cookie *)c)->fd, buf, n);
}

/* stdio treats a short count as an error for a cookie file: write it all
 * (a blocking socket takes it in one call anyway). */
static ssize_t ck_write(void *c, const char *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(((struct sock_cookie *)c)->fd, buf + done, n - done);

		if (w < 0)
			return done ? (ssize_t)done : -1;
		done += (size_t)w;
	}
	return (ssize_t)done;
}

static int ck_close(void *c)
{
	int fd = ((struct sock_cookie *)c)->fd;

	free(c);
	return close(fd); /* the wrapper: last reference = FIN, as close() */
}

/* fdopen's mode check (glibc _IO_new_fdopen): r, w or a, then any of + b
 * e x m; the access asked must be one the fd was opened for. */
static int check_mode(int fd, const char *mode, bool *cloexec)
{
	int fl = REAL(fcntl)(fd, F_GETFL), acc;
	bool rd, wr;

	if (fl < 0)
		return -errno;
	switch (mode[0]) {
	case 'r':
		rd = true, wr = false;
		break;
	case 'w':
	case 'a':
		rd = false, wr = true;
		break;
	default:
		return -EINVAL;
	}
	*cloexec = false;
	for (const char *m = mode + 1; *m; m++) {
		if (*m == '+')
			rd = wr = true;
		else if (*m == 'e')
			*cloexec = true;
	}
	acc = fl & O_ACCMODE;
	if ((rd && acc == O_WRONLY) || (wr && acc == O_RDONLY))
		return -EINVAL;
	return 0;
}

SHIM_EXPORT FILE *fdopen(int fd, const char *mode)
{
	static const cookie_io_functions_t io = {
	    .read = ck_read, .write = ck_write, .seek = NULL, .close = ck_close};
	struct sock_cookie *c;
	struct shim_ofd *o;
	bool tracked, cloexec = false;
	FILE *f;
	int r;

	if (shim_bypass(fd) || !mode || !(o = fdt_get(fd)))
		return REAL(fdopen)(fd, mode);
	tracked = ofd_ops(o)->stream;
	ofd_put(o);
	if (!tracked)
		return REAL(fdopen)(fd, mode);
	r = check_mode(fd, mode, &cloexec);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	/* fopencookie takes r/w/a[+] like fopen; "e", "x", "m" mean nothing
	 * to it ("e" is applied to the fd below, as glibc's fdopen does). */
	char m[4] = {mode[0], '\0', '\0', '\0'};
	if (strchr(mode, '+'))
		m[1] = '+';
	f = fopencookie(c, m, io);
	if (!f) {
		free(c);
		return NULL;
	}
	f->_fileno = fd;
	if (cloexec)
		REAL(fcntl)(fd, F_SETFD, REAL(fcntl)(fd, F_GETFD) | FD_CLOEXEC);
	return f;
}
