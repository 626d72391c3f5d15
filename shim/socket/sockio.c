/* Blocking semantics over the non-blocking core (see sockio.h). */
#include "sockio.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../iomux/epoll.h"
#include "../runtime/locks.h"
#include "../shared/shm_stack.h"
#include "../runtime/runtime.h"
#include "../iomux/wait.h"

static sk_time_t deadline_of(int64_t timeout_us)
{
	return timeout_us > 0 ? shim_now_us() + (sk_time_t)timeout_us : SK_TIME_NEVER;
}

/* Under the lock on entry and on return: sleep until o's socket may have
 * changed. 0 = look again, -EAGAIN = timed out, -EINTR. A thread waiting for
 * data, a connection or a handshake runs to completion (rt_wait), and spins
 * first as long as the larger of SO_BUSY_POLL and SYNACK_BUSY_POLL_US says;
 * a writer waiting for send space sleeps until woken, without spinning (nor
 * does Linux's tcp_sendmsg busy-poll): the ACKs that make the space are best
 * taken by the runtime thread on the other CPU while this one copies. */
static int wait_on(struct shim_ofd *o, sk_time_t deadline, bool run_to_completion, bool exclusive)
{
	struct shim_waiter w;
	int sock = o->sock;
	int r = exclusive ? wait_register_exclusive(&w, &sock) : wait_register(&w, &sock, 1, false);

	if (r < 0)
		return r;
	rt_unlock();
	r = run_to_completion ? rt_wait(&w, deadline, atomic_load(&o->busy_poll_us))
	                      : wait_sleep(&w, deadline);
	rt_lock();
	wait_unregister(&w);
	if (r == -EINTR && deadline == SK_TIME_NEVER && wait_restartable())
		r = 0;
	return r;
}

static int block_on(struct shim_ofd *o, sk_time_t deadline, bool run_to_completion)
{
	return wait_on(o, deadline, run_to_completion, false);
}

bool sockio_deliver_own(struct sk_stack *st)
{
	shim_assert_stack_locked();
	return sk_run_loopback(st, shim_now_us());
}

int sockio_usable(struct shim_ofd *o, int fd)
{
	(void)fd;
	if (o->closed)
		return -EBADF;
	return 0;
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t t = 0;

	for (int i = 0; i < cnt; i++)
		t += iov[i].iov_len;
	return t;
}

/* Peek: one contiguous copy (peeking segment by segment would return the
 * same bytes into each). */
static ssize_t peek_iov(struct sk_stack *st, int sock, const struct iovec *iov, int cnt,
                        sk_time_t now)
{
	size_t total = iov_total(iov, cnt), off = 0;
	uint8_t *buf;
	ssize_t r;

	if (cnt == 1)
		return sk_recv(st, sock, iov[0].iov_base, iov[0].iov_len, SK_MSG_PEEK, now);
	buf = malloc(total ? total : 1);
	if (!buf)
		return -ENOMEM;
	r = sk_recv(st, sock, buf, total, SK_MSG_PEEK, now);
	for (int i = 0; r > 0 && i < cnt && off < (size_t)r; i++) {
		size_t n = iov[i].iov_len < (size_t)r - off ? iov[i].iov_len : (size_t)r - off;

		memcpy(iov[i].iov_base, buf + off, n);
		off += n;
	}
	free(buf);
	return r;
}

/* Receive into (rx) or send from iov, from byte `skip` on, one core call
 * per segment. Receiving stops before asking core again when nothing more
 * is queued, so a pending error is never consumed after data was copied
 * (it is reported by the next call, as Linux does). */
static ssize_t walk_iov(struct sk_stack *st, int sock, const struct iovec *iov, int cnt,
                        size_t skip, bool rx, int sflags, sk_time_t now)
{
	ssize_t done = 0;

	for (int i = 0; i < cnt; i++) {
		uint8_t *base = iov[i].iov_base;
		size_t len = iov[i].iov_len;
		ssize_t r;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		base += skip;
		len -= skip;
		skip = 0;
		if (rx && done > 0 && sk_rx_queued(st, sock) == 0)
			break;
		r = rx ? sk_recv(st, sock, base, len, 0, now)
		       : sk_sendmsg(st, sock, base, len, sflags, now);
		if (r <= 0)
			return done > 0 ? done : r;
		done += r;
		if ((size_t)r < len)
			break;
	}
	return done;
}

/* MSG_TRUNC on a stream socket (Linux tcp_recvmsg): the bytes are consumed
 * (or, with MSG_PEEK, counted) but not copied to the caller. They go
 * through a scratch buffer of at most this size: a larger request is a
 * short read, which a stream allows. */
#define TRUNC_SCRATCH_MAX (1024 * 1024)

static ssize_t recv_discard(struct shim_ofd *o, const struct iovec *iov, int iovcnt, int flags)
{
	size_t total = iov_total(iov, iovcnt);
	struct iovec scratch;
	ssize_t r;

	scratch.iov_len = total < TRUNC_SCRATCH_MAX ? total : TRUNC_SCRATCH_MAX;
	scratch.iov_base = malloc(scratch.iov_len ? scratch.iov_len : 1);
	if (!scratch.iov_base)
		return -ENOMEM;
	r = sockio_recv(o, &scratch, 1, flags & ~MSG_TRUNC);
	free(scratch.iov_base);
	return r;
}

/* Has a receive that copied `copied` of `total` bytes got what it waits
 * for? Linux tcp_recvmsg waits for sock_rcvlowat: len with MSG_WAITALL,
 * else min(SO_RCVLOWAT, len); it stops early at an error, EOF or shutdown,
 * left for the next call. */
static bool recv_enough(struct sk_stack *st, int sock, int flags, size_t copied, size_t total)
{
	int lowat = 1;

	if (!(flags & MSG_WAITALL))
		sk_getopt(st, sock, SK_OPT_RCVLOWAT, &lowat);
	return copied >= total || (!(flags & MSG_WAITALL) && copied >= (size_t)lowat) ||
	       (sk_rx_queued(st, sock) == 0 &&
	        (sk_poll(st, sock) & (SK_POLLERR | SK_POLLHUP | SK_POLLRDHUP)));
}

/* Sleep as block_on, lending core the part of iov from byte `skip` on that
 * lies in one segment, so that data arriving meanwhile lands there with one
 * copy less (sk_recv_direct_begin). *placed: the bytes it got. */
static int block_on_direct(struct sk_stack *st, struct shim_ofd *o, const struct iovec *iov,
                           int cnt, size_t skip, sk_time_t deadline, size_t *placed)
{
	int i = 0, r;
	bool lent;

	while (i < cnt && skip >= iov[i].iov_len)
		skip -= iov[i++].iov_len;
	lent = i < cnt && sk_recv_direct_begin(st, o->sock, (uint8_t *)iov[i].iov_base + skip,
	                                       iov[i].iov_len - skip) == 0;
	r = block_on(o, deadline, true);
	/* A socket closed meanwhile is not ours to ask (sk_close took the
	 * buffer back). */
	*placed = lent && !o->closed ? sk_recv_direct_end(st, o->sock, shim_now_us()) : 0;
	return r;
}

ssize_t sockio_recv(struct shim_ofd *o, const struct iovec *iov, int iovcnt, int flags)
{
	size_t total = iov_total(iov, iovcnt), copied = 0;
	bool nonblock = o->nonblock || (flags & MSG_DONTWAIT);
	sk_time_t deadline = deadline_of(o->rcvtimeo_us);
	struct sk_stack *st;
	ssize_t r;

	if (flags & MSG_OOB)
		return -EINVAL; /* no urgent data, as Linux answers without it */
	if (flags & MSG_ERRQUEUE)
		return -EAGAIN;
	if (flags & MSG_TRUNC)
		return recv_discard(o, iov, iovcnt, flags);
	st = rt_lock();
	for (;;) {
		size_t placed = 0;

		if (o->closed) {
			r = -EBADF;
			break;
		}
		if (flags & MSG_PEEK)
			r = peek_iov(st, o->sock, iov, iovcnt, shim_now_us());
		else
			r = walk_iov(st, o->sock, iov, iovcnt, copied, true, 0, shim_now_us());
		if (r > 0) {
			copied += (size_t)r;
			if ((flags & MSG_PEEK) || recv_enough(st, o->sock, flags, copied, total))
				break;
			continue;
		}
		if (r != -EAGAIN || nonblock || total == 0)
			break;
		if (flags & MSG_PEEK)
			r = block_on(o, deadline, true);
		else
			r = block_on_direct(st, o, iov, iovcnt, copied, deadline, &placed);
		copied += placed;
		if (r < 0 || (placed > 0 && recv_enough(st, o->sock, flags, copied, total)))
			break;
	}
	sockio_deliver_own(st); /* a window update */
	rt_unlock();
	return copied > 0 ? (ssize_t)copied : r;
}

ssize_t sockio_send(struct shim_ofd *o, const struct iovec *iov, int iovcnt, int flags)
{
	size_t total = iov_total(iov, iovcnt), sent = 0;
	bool nonblock = o->nonblock || (flags & MSG_DONTWAIT);
	sk_time_t deadline = deadline_of(o->sndtimeo_us);
	struct sk_stack *st;
	ssize_t r = 0;

	if (flags & MSG_FASTOPEN)
		return -EOPNOTSUPP; /* tcp_sendmsg_fastopen, net.ipv4.tcp_fastopen = 0 */
	st = rt_lock();
	while (sent < total) {
		if (o->closed) {
			r = -EBADF;
			break;
		}
		/* MSG_MORE is core's SK_MSG_MORE (Linux tcp_sendmsg): the
		 * partial segment this call leaves waits for the next send, an
		 * uncork or 200 ms. */
		r = walk_iov(st, o->sock, iov, iovcnt, sent, false,
		             (flags & MSG_MORE) ? SK_MSG_MORE : 0, shim_now_us());
		if (r > 0) {
			sent += (size_t)r;
			continue;
		}
		if (r != -EAGAIN || nonblock)
			break;
		/* What the call queued for ourselves may free space at once
		 * (its ACKs): look again before sleeping, as a wake-up it
		 * caused came before this thread waited. */
		if (sockio_deliver_own(st))
			continue;
		r = block_on(o, deadline, false);
		if (r < 0)
			break;
	}
	sockio_deliver_own(st);
	rt_unlock();
	if (sent > 0)
		return (ssize_t)sent;
	/* Linux raises SIGPIPE on the calling thread for a stream socket
	 * that cannot send any more, unless MSG_NOSIGNAL. */
	if (r == -EPIPE && !(flags & MSG_NOSIGNAL))
		raise(SIGPIPE);
	return r;
}

int sockio_connect(struct shim_ofd *o, uint32_t addr, uint16_t port)
{
	sk_time_t deadline = deadline_of(o->sndtimeo_us);
	struct sk_stack *st = rt_lock();
	int r = sk_connect(st, o->sock, addr, port, shim_now_us());

	/* Linux inet_stream_connect: the first connect after a non-blocking
	 * (or interrupted) one whose handshake has completed returns 0 (the
	 * socket moves SS_CONNECTING -> SS_CONNECTED); only later calls get
	 * EISCONN. */
	if (r == -EISCONN && o->connecting)
		r = 0;
	if (r == -EINPROGRESS)
		sockio_deliver_own(st); /* a SYN to ourselves: answered at once */
	while (r == -EINPROGRESS && !o->nonblock) {
		unsigned ev = sk_poll(st, o->sock);

		if (o->closed) {
			r = -EBADF;
			break;
		}
		if (ev & (SK_POLLOUT | SK_POLLERR | SK_POLLHUP)) {
			/* Settled: connect's answer, as Linux's after its wait
			 * (0, or the error taken and the socket disconnected). */
			r = sk_connect(st, o->sock, addr, port, shim_now_us());
			break;
		}
		r = block_on(o, deadline, true);
		if (r == 0)
			r = -EINPROGRESS; /* look again */
		else if (r == -EAGAIN)
			r = -EINPROGRESS; /* SO_SNDTIMEO expired: Linux says EINPROGRESS */
		else if (r == -EINTR)
			break; /* never restarted; the handshake goes on */
		if (r == -EINPROGRESS && deadline != SK_TIME_NEVER && shim_now_us() >= deadline)
			break;
	}
	o->connecting = r == -EINPROGRESS || r == -EALREADY || r == -EINTR;
	rt_unlock();
	return r;
}

int sockio_accept(struct shim_ofd *o, struct sk_endpoint *peer, bool nonblock)
{
	sk_time_t deadline = deadline_of(o->rcvtimeo_us);
	struct sk_stack *st = rt_lock();
	int r;

	for (;;) {
		if (o->closed) {
			r = -EBADF;
			break;
		}
		r = sk_accept(st, o->sock, peer);
		if (r >= 0)
			shm_sock_take(r); /* this process holds the new connection */
		if (r != -EAGAIN || nonblock)
			break;
		/* One accepting waiter is woken per connection, here and in the
		 * other processes (wait.h). */
		r = wait_on(o, deadline, true, true);
		if (r < 0)
			break;
	}
	rt_unlock();
	return r;
}

#define LINGER_SLICE_US 10000

/* SO_LINGER {1, N>0} on a blocking socket: close() waits (at most N s)
 * until the peer acknowledged what was queued, as Linux does. Under the
 * lock. */
static void linger_on_close(struct sk_stack *st, struct shim_ofd *o)
{
	sk_time_t deadline;

	if (!o->opts.linger_onoff || o->opts.linger_secs <= 0 || o->nonblock)
		return;
	deadline = shim_now_us() + SK_SEC(o->opts.linger_secs);
	/* An ACK wakes the socket only when a writer ran out of space (core's
	 * SOCK_NOSPACE), not when the queue drains: look again every slice. */
	while (sk_tx_queued(st, o->sock) > 0 && shim_now_us() < deadline) {
		sk_time_t slice = shim_now_us() + LINGER_SLICE_US;

		if (block_on(o, slice < deadline ? slice : deadline, false) == -EINTR)
			break;
	}
}

void sockio_core_close(struct sk_stack *st, int sock)
{
	shim_assert_stack_locked();
	if (shm_sock_drop(sock))
		sk_close(st, sock, shim_now_us());
}

static void synack_last_close(struct shim_ofd *o)
{
	struct sk_stack *st;

	if (o->sock < 0 || !rt_running()) {
		o->closed = true;
		return;
	}
	st = rt_lock();
	/* SO_LINGER's wait is the last close's, wherever it happens: a close
	 * in one process of a socket others still hold closes nothing. */
	if (shm_sock_sole(o->sock))
		linger_on_close(st, o);
	o->closed = true;
	wait_wake_every(o->sock);
	rt_unlock();
}

static void synack_release(struct shim_ofd *o)
{
	struct sk_stack *st;

	if (o->sock < 0 || !rt_running())
		return;
	st = rt_lock();
	shim_epoll_forget(o);
	/* The connection closes (FIN, or RST with unread data) only when no
	 * process holds it any more (shared/shm_stack.h). */
	sockio_core_close(st, o->sock);
	sockio_deliver_own(st); /* a FIN to ourselves */
	o->sock = -1;
	rt_unlock();
}

/* A synack socket: its core socket is closed when no process holds it
 * any more. */
const struct shim_ofd_ops sockio_synack_ops = {
    .name = "synack", .last_close = synack_last_close, .release = synack_release, .stream = true};

/* A socket whose offload is not decided yet: the kernel closes its
 * placeholder, nothing of synack's to give back. */
const struct shim_ofd_ops sockio_pending_ops = {.name = "pending", .stream = true};
