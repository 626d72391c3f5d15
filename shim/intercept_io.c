/* The data path: read/write, readv/writev, send/sendto/sendmsg,
 * recv/recvfrom/recvmsg and their _FORTIFY_SOURCE variants. On an
 * offloaded socket none of them reaches the kernel. */
#include <limits.h>
#include <string.h>

#include "intercept.h"
#include "sockio.h"

static ssize_t do_recv(struct shim_ofd *o, const struct iovec *iov, int cnt, int flags)
{
	ssize_t r = sockio_recv(o, iov, cnt, flags);

	ofd_put(o);
	return shim_ret(r);
}

static ssize_t do_send(struct shim_ofd *o, const struct iovec *iov, int cnt, int flags)
{
	ssize_t r = sockio_send(o, iov, cnt, flags);

	ofd_put(o);
	return shim_ret(r);
}

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	long err;
	struct shim_ofd *o = shim_offloaded(fd, &err);
	struct iovec iov = {buf, n};

	if (!o)
		return err ? shim_ret(err) : REAL(read)(fd, buf, n);
	return do_recv(o, &iov, 1, 0);
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	long err;
	struct shim_ofd *o = shim_offloaded(fd, &err);
	struct iovec iov = {(void *)buf, n};

	if (!o)
		return err ? shim_ret(err) : REAL(write)(fd, buf, n);
	return do_send(o, &iov, 1, 0);
}

static bool iov_ok(const struct iovec *iov, int cnt)
{
	return cnt >= 0 && cnt <= IOV_MAX && (cnt == 0 || iov);
}

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	long err;
	struct shim_ofd *o = shim_offloaded(fd, &err);

	if (!o)
		return err ? shim_ret(err) : REAL(readv)(fd, iov, cnt);
	if (!iov_ok(iov, cnt)) {
		ofd_put(o);
		return shim_ret(-EINVAL);
	}
	return do_recv(o, iov, cnt, 0);
}

SHIM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	long err;
	struct shim_ofd *o = shim_offloaded(fd, &err);

	if (!o)
		return err ? shim_ret(err) : REAL(writev)(fd, iov, cnt);
	if (!iov_ok(iov, cnt)) {
		ofd_put(o);
		return shim_ret(-EINVAL);
	}
	return do_send(o, iov, cnt, 0);
}

SHIM_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	long err;
	struct shim_ofd *o = shim_offloaded(fd, &err);
	struct iovec iov = {buf, n};

	if (!o)
		return err ? shim_ret(err) : REAL(recv)(fd, buf, n, flags);
	return do_recv(o, &iov, 1, flags);
}

SHIM_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                             socklen_t *alen)
{
	long err;
	struct shim_ofd *o = shim_offloaded(fd, &err);
	struct iovec iov = {buf, n};

	if (!o)
		return err ? shim_ret(err) : REAL(recvfrom)(fd, buf, n, flags, addr, alen);
	/* A connected stream socket reports no source address (Linux sets
	 * the length to 0). */
	if (addr && alen)
		*alen = 0;
	return do_recv(o, &iov, 1, flags);
}

SHIM_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	long err;
	struct shim_ofd *o = shim_offloaded(fd, &err);

	if (!o)
		return err ? shim_ret(err) : REAL(recvmsg)(fd, msg, flags);
	if (!msg || !iov_ok(msg->msg_iov, (int)msg->msg_iovlen)) {
		ofd_put(o);
		return shim_ret(msg ? -EINVAL : -EFAULT);
	}
	msg->msg_namelen = 0;
	msg->msg_controllen = 0; /* no ancillary data on a synack socket */
	msg->msg_flags = 0;
	return do_recv(o, msg->msg_iov, (int)msg->msg_iovlen, flags);
}

SHIM_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	long err;
	struct shim_ofd *o = shim_offloaded(fd, &err);
	struct iovec iov = {(void *)buf, n};

	if (!o)
		return err ? shim_ret(err) : REAL(send)(fd, buf, n, flags);
	return do_send(o, &iov, 1, flags);
}

SHIM_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
                           const struct sockaddr *addr, socklen_t alen)
{
	long err;
	struct shim_ofd *o = shim_offloaded(fd, &err);
	struct iovec iov = {(void *)buf, n};

	if (!o)
		return err ? shim_ret(err) : REAL(sendto)(fd, buf, n, flags, addr, alen);
	/* The destination is ignored on a connected stream socket, as
	 * Linux's tcp_sendmsg ignores msg_name. */
	return do_send(o, &iov, 1, flags);
}

SHIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	long err;
	struct shim_ofd *o = shim_offloaded(fd, &err);

	if (!o)
		return err ? shim_ret(err) : REAL(sendmsg)(fd, msg, flags);
	if (!msg || !iov_ok(msg->msg_iov, (int)msg->msg_iovlen)) {
		ofd_put(o);
		return shim_ret(msg ? -EINVAL : -EFAULT);
	}
	if (msg->msg_controllen > 0) {
		/* Ancillary data is not implemented: say so, never drop it. */
		ofd_put(o);
		return shim_ret(-EOPNOTSUPP);
	}
	return do_send(o, msg->msg_iov, (int)msg->msg_iovlen, flags);
}

SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	if (shim_bypass(fd))
		return REAL(__read_chk)(fd, buf, n, buflen);
	return read(fd, buf, n);
}

SHIM_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (n > buflen)
		__chk_fail();
	if (shim_bypass(fd))
		return REAL(__recv_chk)(fd, buf, n, buflen, flags);
	return recv(fd, buf, n, flags);
}

SHIM_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                                   struct sockaddr *addr, socklen_t *alen)
{
	if (n > buflen)
		__chk_fail();
	if (shim_bypass(fd))
		return REAL(__recvfrom_chk)(fd, buf, n, buflen, flags, addr, alen);
	return recvfrom(fd, buf, n, flags, addr, alen);
}
