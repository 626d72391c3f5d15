/* open/open64/openat/openat64: only to purge stale table entries. A
 * program can close a socket by a path we never see (fclose() of an
 * fdopen()ed socket closes inside libc, syscall(SYS_close)...); the number
 * then comes back from open() and must not still mean a synack socket. */

/* Define open itself, not open64 under another name (glibc redirects open
 * to open64 when _FILE_OFFSET_BITS=64, which meson sets). */
#undef _FILE_OFFSET_BITS
#include <fcntl.h>
#include <stdarg.h>

#include "intercept.h"

/* The mode argument exists only with O_CREAT or O_TMPFILE. */
static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t) : 0;
}

SHIM_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return shim_new_fd(REAL(open)(path, flags, mode));
}

SHIM_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return shim_new_fd(REAL(openat)(dirfd, path, flags, mode));
}

/* On 64-bit glibc the *64 variants are the same functions. */
SHIM_EXPORT int open64(const char *path, int flags, ...) __attribute__((alias("open")));
SHIM_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
    __attribute__((alias("openat")));
