/* The data path: read/write, readv/writev, send/sendto/sendmsg/sendmmsg,
 * recv/recvfrom/recvmsg/recvmmsg and their _FORTIFY_SOURCE variants. On an
 * offloaded socket none of them reaches the kernel. */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include "intercept.h"
#include "../socket/offload.h"
#include "../socket/sockaddr.h"
#include "../socket/sockio.h"

/* sendto/sendmsg with MSG_FASTOPEN on a pending socket would make its
 * placeholder connect through the kernel's TCP, past the offload decision.
 * Where synack would carry the connection, answer as Linux with
 * net.ipv4.tcp_fastopen = 0 (tcp_sendmsg_fastopen): EOPNOTSUPP, the socket
 * left unconnected. Elsewhere (loopback...) the kernel answers. */
static long fastopen_refused(int fd, int flags, const struct sockaddr *addr, socklen_t alen)
{
	struct shim_offload_decision d;
	struct shim_ofd *o;
	struct shim_sa sa;
	bool pending;
	int family;

	if (!(flags & MSG_FASTOPEN) || shim_bypass(fd) || !(o = fdt_get(fd)))
		return 0;
	pending = o->kind == SHIM_OFD_PENDING;
	family = o->family;
	ofd_put(o);
	/* An IPv6 destination, or an address the kernel refuses: its answer. */
	if (!pending || shim_sa_parse(family, addr, alen, &sa) < 0 || sa.kind != SHIM_SA_V4)
		return 0;
	shim_offload_decide(shim_config(), SHIM_OP_CONNECT, sa.addr, &d);
	return d.verdict == SHIM_KERNEL ? 0 : -EOPNOTSUPP;
}

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

/* recvmsg on an offloaded socket, without the reference handling. */
static ssize_t msg_recv(struct shim_ofd *o, struct msghdr *msg, int flags)
{
	if (!msg)
		return -EFAULT;
	if (!iov_ok(msg->msg_iov, (int)msg->msg_iovlen))
		return -EINVAL;
	msg->msg_namelen = 0;
	msg->msg_controllen = 0; /* no ancillary data on a synack socket */
	msg->msg_flags = 0;
	return sockio_recv(o, msg->msg_iov, (int)msg->msg_iovlen, flags);
}

static ssize_t msg_send(struct shim_ofd *o, const struct msghdr *msg, int flags)
{
	if (!msg)
		return -EFAULT;
	if (!iov_ok(msg->msg_iov, (int)msg->msg_iovlen))
		return -EINVAL;
	if (msg->msg_controllen > 0)
		return -EOPNOTSUPP; /* ancillary data is not implemented: say so, never drop it */
	return sockio_send(o, msg->msg_iov, (int)msg->msg_iovlen, flags);
}

static ssize_t do_recvmsg(struct shim_ofd *o, struct msghdr *msg, int flags)
{
	ssize_t r = msg_recv(o, msg, flags);

	ofd_put(o);
	return shim_ret(r);
}

static ssize_t do_sendmsg(struct shim_ofd *o, const struct msghdr *msg, int flags)
{
	ssize_t r = msg_send(o, msg, flags);

	ofd_put(o);
	return shim_ret(r);
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
	return do_recvmsg(o, msg, flags);
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

	if (!o && !err)
		err = fastopen_refused(fd, flags, addr, alen);
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

	if (!o && !err && msg)
		err = fastopen_refused(fd, flags, msg->msg_name, msg->msg_namelen);
	if (!o)
		return err ? shim_ret(err) : REAL(sendmsg)(fd, msg, flags);
	return do_sendmsg(o, msg, flags);
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

/* Linux caps vlen at UIO_MAXIOV. */
#define MMSG_MAX 1024

/* As Linux's __sys_sendmmsg: one sendmsg per entry, msg_len filled in;
 * the count of entries sent, or the first entry's error. A short send
 * (non-blocking, buffer full) still counts, and the next entry then fails
 * with EAGAIN, which ends the call. */
SHIM_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	long err;
	struct shim_ofd *o = shim_offloaded(fd, &err);
	unsigned int i;
	ssize_t r = 0;

	if (!o)
		return err ? (int)shim_ret(err) : REAL(sendmmsg)(fd, vec, vlen, flags);
	if (vlen > MMSG_MAX)
		vlen = MMSG_MAX;
	for (i = 0; i < vlen; i++) {
		r = msg_send(o, &vec[i].msg_hdr, flags);
		if (r < 0)
			break;
		vec[i].msg_len = (unsigned int)r;
	}
	ofd_put(o);
	return i > 0 ? (int)i : (int)shim_ret(r);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* As Linux's do_recvmmsg: one recvmsg per entry; MSG_WAITFORONE turns on
 * MSG_DONTWAIT after the first; the timeout is checked after each entry
 * (not while blocked, as on Linux) and *timeout gets what is left. An
 * error after some entries ends the call with their count. */
SHIM_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
                         struct timespec *timeout)
{
	long err;
	struct shim_ofd *o = shim_offloaded(fd, &err);
	int64_t end = 0;
	unsigned int i;
	ssize_t r = 0;

	if (!o)
		return err ? (int)shim_ret(err) : REAL(recvmmsg)(fd, vec, vlen, flags, timeout);
	if (timeout) {
		if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000) {
			ofd_put(o);
			return (int)shim_ret(-EINVAL);
		}
		end = mono_ns() + (int64_t)timeout->tv_sec * 1000000000 + timeout->tv_nsec;
	}
	if (vlen > MMSG_MAX)
		vlen = MMSG_MAX;
	for (i = 0; i < vlen; i++) {
		r = msg_recv(o, &vec[i].msg_hdr, flags & ~MSG_WAITFORONE);
		if (r < 0)
			break;
		vec[i].msg_len = (unsigned int)r;
		if (flags & MSG_WAITFORONE)
			flags |= MSG_DONTWAIT;
		if (timeout) {
			int64_t left = end - mono_ns();

			if (left < 0)
				left = 0;
			timeout->tv_sec = left / 1000000000;
			timeout->tv_nsec = left % 1000000000;
			if (left == 0) {
				i++;
				break;
			}
		}
	}
	ofd_put(o);
	return i > 0 ? (int)i : (int)shim_ret(r);
}
