/* sendfile / sendfile64 to an offloaded socket (nginx's `sendfile on`).
 *
 * The kernel cannot splice a file into a socket it does not run, so the
 * bytes go through a bounded buffer: pread() from the file (with the real
 * libc call: the file is not ours), sockio_send() to the connection. Reads
 * are positional even when offset is NULL, and the file position is set
 * afterwards to exactly the bytes the socket took: a non-blocking socket
 * that takes only part of a chunk loses nothing, the next call resumes
 * where the stream stopped (as Linux's sendfile leaves the position).
 *
 * An offloaded socket as in_fd (socket-to-file sendfile) is refused with
 * EINVAL: the kernel would need the data, which it never saw. */
/* Define sendfile itself, not sendfile64 under another name (glibc
 * redirects sendfile to sendfile64 when _FILE_OFFSET_BITS=64). */
#undef _FILE_OFFSET_BITS
#include <limits.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "intercept.h"
#include "../socket/sockio.h"

/* Bytes read from the file per sockio_send: large enough for the send
 * buffer to fill in a few calls, small enough to live on the heap briefly. */
#define SENDFILE_CHUNK (256 * 1024)

/* Linux caps one sendfile at MAX_RW_COUNT (INT_MAX rounded down to a page). */
#define SENDFILE_MAX ((size_t)INT_MAX & ~(size_t)4095)

/* The copy loop. pos: the file offset to start at; *moved: bytes the
 * socket accepted. Returns 0 or -errno (the error of the first step that
 * failed; the caller reports it only when nothing moved). */
static long copy_out(struct shim_ofd *o, int in_fd, off64_t pos, size_t count, size_t *moved)
{
	size_t cap = count < SENDFILE_CHUNK ? count : SENDFILE_CHUNK;
	uint8_t *buf = malloc(cap ? cap : 1);
	long r = 0;

	*moved = 0;
	if (!buf)
		return -ENOMEM;
	while (*moved < count) {
		size_t want = count - *moved < cap ? count - *moved : cap;
		ssize_t n = pread64(in_fd, buf, want, pos + (off64_t)*moved), s;
		struct iovec iov;

		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break; /* end of file */
		iov.iov_base = buf;
		iov.iov_len = (size_t)n;
		s = sockio_send(o, &iov, 1, 0);
		if (s < 0) {
			r = s;
			break;
		}
		*moved += (size_t)s;
		if (s < n)
			break; /* the non-blocking socket is full */
	}
	free(buf);
	return r;
}

static ssize_t do_sendfile(int out_fd, int in_fd, off64_t *offset, size_t count)
{
	struct shim_ofd *o, *in;
	off64_t pos;
	size_t moved;
	long err, r;

	o = shim_offloaded(out_fd, &err);
	if (!o) {
		if (err)
			return shim_ret(err);
		in = shim_offloaded(in_fd, &err);
		if (in) {
			ofd_put(in);
			return shim_ret(-EINVAL);
		}
		if (err)
			return shim_ret(err);
		return REAL(sendfile64)(out_fd, in_fd, offset, count);
	}
	if (count > SENDFILE_MAX)
		count = SENDFILE_MAX;
	if (offset) {
		if (*offset < 0) {
			ofd_put(o);
			return shim_ret(-EINVAL);
		}
		pos = *offset;
	} else {
		pos = lseek64(in_fd, 0, SEEK_CUR);
		if (pos < 0) {
			/* A pipe or another unseekable file: Linux's sendfile
			 * needs a file it can read at an offset too. */
			r = errno == ESPIPE ? -EINVAL : -errno;
			ofd_put(o);
			return shim_ret(r);
		}
	}
	r = copy_out(o, in_fd, pos, count, &moved);
	ofd_put(o);
	if (offset)
		*offset = pos + (off64_t)moved;
	else if (moved > 0)
		lseek64(in_fd, pos + (off64_t)moved, SEEK_SET);
	if (moved > 0)
		return (ssize_t)moved;
	return shim_ret(r);
}

SHIM_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	off64_t off;
	ssize_t r;

	if (!offset)
		return do_sendfile(out_fd, in_fd, NULL, count);
	off = *offset;
	r = do_sendfile(out_fd, in_fd, &off, count);
	*offset = (off_t)off;
	return r;
}

SHIM_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
	return do_sendfile(out_fd, in_fd, offset, count);
}
