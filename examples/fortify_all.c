/* fortify_all: every socket entry point of issue 4 (item 1) on synack sockets, built with
 * -O2 -D_FORTIFY_SOURCE=2 so that glibc routes read/recv/recvfrom/poll/ppoll through their
 * __*_chk variants and fcntl through fcntl64 (tests/lab/86-fortify.sh checks the binary
 * imports them).
 *
 *   fortify_all PEER_ADDR ECHO_PORT CALLBACK_PORT REFUSED_PORT SELF_ADDR DATAFILE
 *
 * The peer (a kernel program) echoes everything on ECHO_PORT until end of stream; on
 * CALLBACK_PORT it reads a port number line and connects back to SELF_ADDR:port, sends
 * "hello from kernel" and closes; nothing listens on REFUSED_PORT. DATAFILE is sent with
 * sendfile. Each check prints "ok NAME" or "FAIL NAME: detail"; the last line is
 * "FDS n n ..." (every fd that was an offloaded socket, for the strace check). Exit 0 only
 * if every check passed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

static int failures;
static int fds[64], nfds_seen;
static struct sockaddr_in peer_echo, peer_cb, peer_refused, self_any;
static const char *datafile;
/* Lengths the compiler cannot see through, so fortified calls go to __*_chk. */
static volatile size_t vlen = 64;
static volatile nfds_t vnfds = 1;

static void check(int ok, const char *name, const char *fmt, ...)
{
	if (ok) {
		printf("ok   %s\n", name);
	} else {
		va_list ap;

		printf("FAIL %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf(" (errno %s)\n", strerror(errno));
		failures++;
	}
	fflush(stdout);
}

static void remember(int fd)
{
	for (int i = 0; i < nfds_seen; i++)
		if (fds[i] == fd)
			return;
	if (nfds_seen < (int)(sizeof(fds) / sizeof(fds[0])))
		fds[nfds_seen++] = fd;
}

static int tcp_socket(int flags)
{
	int fd = socket(AF_INET, SOCK_STREAM | flags, 0);

	if (fd >= 0)
		remember(fd);
	return fd;
}

static int connect_to(const struct sockaddr_in *a)
{
	int fd = tcp_socket(0);
	struct timeval tv = {.tv_sec = 20};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read exactly n bytes with plain read (fortified when buf's size is known). */
static int read_exact(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int wait_ready(int fd, short ev, int ms)
{
	struct pollfd p[2] = {{.fd = fd, .events = ev}};
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	/* ppoll through __ppoll_chk (p has a known size, the count does not). */
	return ppoll(p, vnfds, &ts, NULL) == 1 && (p[0].revents & ev) ? 0 : -1;
}

static int getint(int fd, int level, int name)
{
	int v = -12345;
	socklen_t l = sizeof(v);

	return getsockopt(fd, level, name, &v, &l) == 0 && l == sizeof(v) ? v : -12345;
}

static int setint(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof(v));
}

static void test_connect_and_options(void)
{
	int s = tcp_socket(SOCK_NONBLOCK | SOCK_CLOEXEC), r, r2;
	struct pollfd p[2] = {{.fd = s, .events = POLLOUT}};
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	check(s >= 0, "socket(SOCK_NONBLOCK|SOCK_CLOEXEC)", "%d", s);
	check(fcntl(s, F_GETFL) & O_NONBLOCK, "fcntl64(F_GETFL) has O_NONBLOCK", "");
	check(fcntl(s, F_GETFD) == FD_CLOEXEC, "fcntl64(F_GETFD) is FD_CLOEXEC", "");
	r = connect(s, (struct sockaddr *)&peer_echo, sizeof(peer_echo));
	check(r == -1 && errno == EINPROGRESS, "non-blocking connect: EINPROGRESS", "r=%d", r);
	r2 = connect(s, (struct sockaddr *)&peer_echo, sizeof(peer_echo));
	/* Linux: EALREADY while the handshake runs; 0 once when it has just completed. */
	check(r2 == 0 || (r2 == -1 && errno == EALREADY), "second connect: EALREADY (or 0 once done)",
	      "r=%d", r2);
	/* poll through __poll_chk. */
	r = poll(p, vnfds, 10000);
	check(r == 1 && (p[0].revents & POLLOUT), "poll (__poll_chk): POLLOUT when connected",
	      "r=%d revents=%#x", r, p[0].revents);
	check(getint(s, SOL_SOCKET, SO_ERROR) == 0, "SO_ERROR is 0 after the connect", "");
	if (r2 != 0) {
		/* Linux inet_stream_connect: the completed handshake is reported once. */
		r = connect(s, (struct sockaddr *)&peer_echo, sizeof(peer_echo));
		check(r == 0, "connect after the handshake completed: 0 once", "r=%d", r);
	}
	r = connect(s, (struct sockaddr *)&peer_echo, sizeof(peer_echo));
	check(r == -1 && errno == EISCONN, "connect on a connected socket: EISCONN", "r=%d", r);

	check(getpeername(s, (struct sockaddr *)&a, &al) == 0 &&
	          a.sin_addr.s_addr == peer_echo.sin_addr.s_addr && a.sin_port == peer_echo.sin_port,
	      "getpeername", "");
	al = sizeof(a);
	check(getsockname(s, (struct sockaddr *)&a, &al) == 0 &&
	          a.sin_addr.s_addr == self_any.sin_addr.s_addr && ntohs(a.sin_port) != 0,
	      "getsockname: our address, an ephemeral port", "");

	check(fcntl(s, F_SETFL, 0) == 0 && !(fcntl(s, F_GETFL) & O_NONBLOCK),
	      "fcntl64(F_SETFL) clears O_NONBLOCK", "");
	int on = 1;
	check(ioctl(s, FIONBIO, &on) == 0 && (fcntl(s, F_GETFL) & O_NONBLOCK), "ioctl(FIONBIO, 1)",
	      "");
	on = 0;
	check(ioctl(s, FIONBIO, &on) == 0 && !(fcntl(s, F_GETFL) & O_NONBLOCK), "ioctl(FIONBIO, 0)",
	      "");
	check(fcntl(s, F_SETFD, 0) == 0 && fcntl(s, F_GETFD) == 0, "fcntl64(F_SETFD, 0)", "");

	check(getint(s, SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "SO_TYPE", "");
	check(getint(s, SOL_SOCKET, SO_DOMAIN) == AF_INET, "SO_DOMAIN", "");
	check(getint(s, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP, "SO_PROTOCOL", "");
	check(getint(s, SOL_SOCKET, SO_ACCEPTCONN) == 0, "SO_ACCEPTCONN 0 on a connection", "");
	static const struct {
		int level, name, value;
		const char *what;
	} roundtrip[] = {
	    {SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR"},
	    {SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT"},
	    {SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
	    {IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY"},
	    {IPPROTO_TCP, TCP_KEEPIDLE, 77, "TCP_KEEPIDLE"},
	    {IPPROTO_TCP, TCP_KEEPINTVL, 9, "TCP_KEEPINTVL"},
	    {IPPROTO_TCP, TCP_KEEPCNT, 4, "TCP_KEEPCNT"},
	    {IPPROTO_TCP, TCP_CORK, 1, "TCP_CORK"},
	    {IPPROTO_TCP, TCP_CORK, 0, "TCP_CORK off"},
	};
	for (unsigned i = 0; i < sizeof(roundtrip) / sizeof(roundtrip[0]); i++) {
		char name[64];
		int got;

		r = setint(s, roundtrip[i].level, roundtrip[i].name, roundtrip[i].value);
		got = getint(s, roundtrip[i].level, roundtrip[i].name);
		snprintf(name, sizeof(name), "setsockopt/getsockopt %s = %d", roundtrip[i].what,
		         roundtrip[i].value);
		check(r == 0 && got == roundtrip[i].value, name, "set %d, got %d", r, got);
	}
	check(setint(s, IPPROTO_TCP, TCP_QUICKACK, 1) == 0, "setsockopt TCP_QUICKACK", "");
	r = getint(s, IPPROTO_TCP, TCP_MAXSEG);
	check(r == 1448, "getsockopt TCP_MAXSEG is 1448 (timestamps on)", "%d", r);
	check(setint(s, SOL_SOCKET, SO_RCVBUF, 65536) == 0 &&
	          getint(s, SOL_SOCKET, SO_RCVBUF) >= 65536,
	      "SO_RCVBUF", "%d", getint(s, SOL_SOCKET, SO_RCVBUF));
	check(setint(s, SOL_SOCKET, SO_SNDBUF, 65536) == 0 &&
	          getint(s, SOL_SOCKET, SO_SNDBUF) >= 65536,
	      "SO_SNDBUF", "%d", getint(s, SOL_SOCKET, SO_SNDBUF));
	struct linger lg = {1, 5}, lg2 = {0, 0};
	socklen_t ll = sizeof(lg2);
	check(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0 &&
	          getsockopt(s, SOL_SOCKET, SO_LINGER, &lg2, &ll) == 0 && lg2.l_onoff == 1 &&
	          lg2.l_linger == 5,
	      "SO_LINGER {1, 5}", "");
	lg.l_onoff = 0;
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	/* 3.5 s: a whole number of jiffies at any HZ, so Linux reads back the same. */
	struct timeval tv = {.tv_sec = 3, .tv_usec = 500000}, tv2;
	socklen_t tl = sizeof(tv2);
	check(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
	          getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv2, &tl) == 0 && tv2.tv_sec == 3 &&
	          tv2.tv_usec == 500000,
	      "SO_RCVTIMEO", "");
	tl = sizeof(tv2);
	check(setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
	          getsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv2, &tl) == 0 && tv2.tv_sec == 3,
	      "SO_SNDTIMEO", "");
	struct tcp_info ti;
	socklen_t til = sizeof(ti);
	memset(&ti, 0xff, sizeof(ti));
	check(getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &til) == 0 && til == sizeof(ti) &&
	          ti.tcpi_state == 1 && ti.tcpi_snd_mss == 1448 && ti.tcpi_rto >= 200000,
	      "TCP_INFO: ESTABLISHED, MSS 1448, RTO >= 200 ms", "state %u mss %u rto %u",
	      ti.tcpi_state, ti.tcpi_snd_mss, ti.tcpi_rto);
	char cc[16] = "";
	socklen_t cl = sizeof(cc);
	check(setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, "reno", 4) == 0 &&
	          getsockopt(s, IPPROTO_TCP, TCP_CONGESTION, cc, &cl) == 0 && strcmp(cc, "reno") == 0,
	      "TCP_CONGESTION reno", "%s", cc);
	close(s);
}

static void test_data(void)
{
	int s = connect_to(&peer_echo), r;
	char buf[64];
	size_t n = vlen;

	check(s >= 0, "blocking connect to the echo server", "");
	if (s < 0)
		return;
	/* write + read (__read_chk: buf has a known size, the length does not). */
	r = (int)write(s, "0123456789abcdef", 16);
	check(r == 16, "write", "%d", r);
	memset(buf, 0, sizeof(buf));
	check(read_exact(s, buf, 16) == 0 && memcmp(buf, "0123456789abcdef", 16) == 0,
	      "read (__read_chk) gets the echo", "");
	(void)n;

	struct iovec wv[3] = {{"ab", 2}, {"cdef", 4}, {"g", 1}};
	r = (int)writev(s, wv, 3);
	check(r == 7, "writev of 3 iovecs", "%d", r);
	char r1[3], r2[4];
	struct iovec rv[2] = {{r1, 3}, {r2, 4}};
	check(wait_ready(s, POLLIN, 5000) == 0, "ppoll (__ppoll_chk): POLLIN when the echo is there",
	      "");
	/* The echo may come in pieces: readv again into what is left of the iovecs. */
	size_t got = 0;
	while (got < 7) {
		struct iovec left[2];
		int cnt = 0;

		if (got < 3)
			left[cnt++] = (struct iovec){r1 + got, 3 - got};
		left[cnt++] = got < 3 ? rv[1] : (struct iovec){r2 + (got - 3), 4 - (got - 3)};
		r = (int)readv(s, left, cnt);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	check(got == 7 && memcmp(r1, "abc", 3) == 0 && memcmp(r2, "defg", 4) == 0,
	      "readv into 2 iovecs", "got %zu", got);

	r = (int)send(s, "peekaboo", 8, MSG_NOSIGNAL);
	check(r == 8, "send(MSG_NOSIGNAL)", "%d", r);
	wait_ready(s, POLLIN, 5000);
	int inq = -1;
	for (int i = 0; i < 500 && (ioctl(s, FIONREAD, &inq) != 0 || inq < 8); i++)
		usleep(10000);
	check(inq == 8, "ioctl(FIONREAD) counts 8 queued bytes", "%d", inq);
	check(ioctl(s, SIOCINQ, &inq) == 0 && inq == 8, "ioctl(SIOCINQ)", "%d", inq);
	memset(buf, 0, sizeof(buf));
	r = (int)recv(s, buf, 4, MSG_PEEK);
	check(r == 4 && memcmp(buf, "peek", 4) == 0, "recv(MSG_PEEK) (__recv_chk)", "%d", r);
	r = (int)recv(s, buf, n < 8 ? n : 8, MSG_WAITALL);
	check(r == 8 && memcmp(buf, "peekaboo", 8) == 0, "recv(MSG_WAITALL) (__recv_chk)", "%d", r);
	r = (int)recv(s, buf, n, MSG_DONTWAIT);
	check(r == -1 && errno == EAGAIN, "recv(MSG_DONTWAIT) with nothing queued: EAGAIN", "%d", r);

	r = (int)sendto(s, "via sendto", 10, 0, NULL, 0);
	check(r == 10, "sendto", "%d", r);
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	/* n - 54 is 10, which the compiler cannot know: __recvfrom_chk. */
	r = (int)recvfrom(s, buf, n - 54, MSG_WAITALL, (struct sockaddr *)&from, &fl);
	check(r == 10 && memcmp(buf, "via sendto", 10) == 0 && fl == 0,
	      "recvfrom(MSG_WAITALL) (__recvfrom_chk), no source address as Linux TCP", "%d fl=%u",
	      r, (unsigned)fl);
	r = (int)send(s, "more", 4, MSG_MORE);
	check(r == 4, "send(MSG_MORE)", "%d", r);
	r = (int)send(s, "!", 1, 0);
	check(r == 1, "send after MSG_MORE pushes", "%d", r);
	check(read_exact(s, buf, 5) == 0 && memcmp(buf, "more!", 5) == 0, "both arrive", "");

	struct iovec mv = {"sendmsg", 7};
	struct msghdr mh = {.msg_iov = &mv, .msg_iovlen = 1};
	r = (int)sendmsg(s, &mh, 0);
	check(r == 7, "sendmsg", "%d", r);
	struct iovec mrv = {buf, 7};
	struct msghdr mr = {.msg_iov = &mrv, .msg_iovlen = 1};
	got = 0;
	r = (int)recvmsg(s, &mr, MSG_WAITALL);
	check(r == 7 && memcmp(buf, "sendmsg", 7) == 0, "recvmsg(MSG_WAITALL)", "%d", r);

	struct iovec a1 = {"mm1", 3}, a2 = {"mm2", 3};
	struct mmsghdr mm[2] = {{.msg_hdr = {.msg_iov = &a1, .msg_iovlen = 1}},
	                        {.msg_hdr = {.msg_iov = &a2, .msg_iovlen = 1}}};
	r = sendmmsg(s, mm, 2, 0);
	check(r == 2 && mm[0].msg_len == 3 && mm[1].msg_len == 3, "sendmmsg of 2", "%d", r);
	char b1[6];
	struct iovec rb = {b1, 6};
	struct mmsghdr rm[1] = {{.msg_hdr = {.msg_iov = &rb, .msg_iovlen = 1}}};
	struct timespec mt = {.tv_sec = 5};
	got = 0;
	while (got < 6) {
		rb.iov_base = b1 + got;
		rb.iov_len = 6 - got;
		r = recvmmsg(s, rm, 1, 0, &mt);
		if (r != 1)
			break;
		got += rm[0].msg_len;
	}
	check(got == 6 && memcmp(b1, "mm1mm2", 6) == 0, "recvmmsg", "%zu", got);

	r = (int)syscall(SYS_write, s, "sys", 3);
	check(r == 3, "syscall(SYS_write)", "%d", r);
	memset(buf, 0, sizeof(buf));
	got = 0;
	while (got < 3) {
		r = (int)syscall(SYS_read, s, buf + got, 3 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	check(got == 3 && memcmp(buf, "sys", 3) == 0, "syscall(SYS_read)", "%zu", got);

	/* sendfile: the file, echoed back byte-exact. */
	int f = open(datafile, O_RDONLY);
	struct stat st;
	fstat(f, &st);
	off_t off = 0;
	size_t flen = (size_t)st.st_size, back = 0;
	char *want = malloc(flen), *echo = malloc(flen);
	ssize_t pr = pread(f, want, flen, 0);
	int ok = pr == (ssize_t)flen;
	while (ok && (size_t)off < flen && back < flen) {
		ssize_t w = sendfile(s, f, &off, flen - (size_t)off < 16384 ? flen - (size_t)off : 16384);
		if (w <= 0) {
			ok = 0;
			break;
		}
		/* Drain what came back so the echo never fills both buffers. */
		while (back < (size_t)off) {
			ssize_t rr = read(s, echo + back, flen - back);
			if (rr <= 0) {
				ok = 0;
				break;
			}
			back += (size_t)rr;
		}
	}
	check(ok && back == flen && memcmp(want, echo, flen) == 0,
	      "sendfile of DATAFILE, echoed byte-exact", "sent %lld, back %zu", (long long)off, back);
	free(want);
	free(echo);
	close(f);

	int outq = -1;
	for (int i = 0; i < 500 && (ioctl(s, SIOCOUTQ, &outq) != 0 || outq != 0); i++)
		usleep(10000);
	check(outq == 0, "ioctl(SIOCOUTQ) reaches 0 once acknowledged", "%d", outq);

	/* dup family: every copy is the same connection. */
	int d1 = dup(s), d2 = dup2(s, 200), d3 = dup3(s, 201, O_CLOEXEC), d4 = fcntl(s, F_DUPFD, 210),
	    d5 = fcntl(s, F_DUPFD_CLOEXEC, 220);
	remember(d1), remember(d2), remember(d3), remember(d4), remember(d5);
	check(d1 >= 0 && d2 == 200 && d3 == 201 && d4 >= 210 && d5 >= 220,
	      "dup, dup2, dup3, F_DUPFD, F_DUPFD_CLOEXEC", "%d %d %d %d %d", d1, d2, d3, d4, d5);
	check(fcntl(d3, F_GETFD) == FD_CLOEXEC && fcntl(d5, F_GETFD) == FD_CLOEXEC &&
	          fcntl(d2, F_GETFD) == 0,
	      "dup3(O_CLOEXEC) and F_DUPFD_CLOEXEC set FD_CLOEXEC, dup2 does not", "");
	int dd[5] = {d1, d2, d3, d4, d5};
	ok = 1;
	for (int i = 0; i < 5; i++) {
		char c = (char)('A' + i);
		if (write(dd[i], &c, 1) != 1 || read_exact(s, buf, 1) < 0 || buf[0] != c)
			ok = 0;
	}
	check(ok, "a byte written through each copy comes back through the original", "");
	close(d1);
	check(close_range((unsigned)d2, (unsigned)d3, 0) == 0 && fcntl(d2, F_GETFD) == -1 &&
	          errno == EBADF,
	      "close_range of two copies", "");
	closefrom(210);
	check(fcntl(d4, F_GETFD) == -1 && fcntl(d5, F_GETFD) == -1, "closefrom(210)", "");
	check(write(s, "still", 5) == 5 && read_exact(s, buf, 5) == 0 && memcmp(buf, "still", 5) == 0,
	      "closing copies leaves the connection open", "");

	check(shutdown(s, SHUT_WR) == 0, "shutdown(SHUT_WR)", "");
	r = (int)read(s, buf, n);
	check(r == 0, "read sees the peer's FIN after our half-close", "%d", r);
	r = (int)send(s, "x", 1, MSG_NOSIGNAL);
	check(r == -1 && errno == EPIPE, "send after SHUT_WR: EPIPE", "%d", r);
	check(close(s) == 0, "close", "");
}

static void test_listen_accept(void)
{
	int l = tcp_socket(0), l2 = tcp_socket(0), r;
	struct sockaddr_in a = self_any;
	socklen_t al = sizeof(a);
	char buf[64];

	a.sin_port = 0;
	check(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	          getsockname(l, (struct sockaddr *)&a, &al) == 0 && ntohs(a.sin_port) != 0,
	      "bind to port 0 picks a port", "");
	r = bind(l2, (struct sockaddr *)&a, sizeof(a));
	check(r == -1 && errno == EADDRINUSE, "bind to a taken port: EADDRINUSE", "%d", r);
	close(l2);
	check(listen(l, 8) == 0, "listen", "");
	check(getint(l, SOL_SOCKET, SO_ACCEPTCONN) == 1, "SO_ACCEPTCONN 1 on a listener", "");
	struct timeval tv = {.tv_sec = 20};
	setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	for (int round = 0; round < 2; round++) {
		int c = connect_to(&peer_cb), n;
		char line[16];

		n = snprintf(line, sizeof(line), "%u\n", (unsigned)ntohs(a.sin_port));
		check(c >= 0 && write(c, line, (size_t)n) == n, "ask the kernel peer to connect back",
		      "");
		struct sockaddr_in pa;
		socklen_t pl = sizeof(pa);
		int s = round == 0 ? accept(l, (struct sockaddr *)&pa, &pl)
		                   : accept4(l, (struct sockaddr *)&pa, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s >= 0)
			remember(s);
		check(s >= 0 && pa.sin_addr.s_addr == peer_cb.sin_addr.s_addr,
		      round == 0 ? "accept, with the peer's address" : "accept4, with the peer's address",
		      "%d", s);
		if (round == 1)
			check(s >= 0 && (fcntl(s, F_GETFL) & O_NONBLOCK) && fcntl(s, F_GETFD) == FD_CLOEXEC,
			      "accept4(SOCK_NONBLOCK|SOCK_CLOEXEC)", "");
		if (round == 1)
			wait_ready(s, POLLIN | POLLRDHUP, 10000);
		size_t got = 0;
		for (int i = 0; s >= 0 && i < 1000; i++) {
			r = (int)read(s, buf + got, vlen - got);
			if (r == 0)
				break;
			if (r < 0 && errno == EAGAIN) {
				wait_ready(s, POLLIN, 1000);
				continue;
			}
			if (r < 0)
				break;
			got += (size_t)r;
		}
		check(got == 17 && memcmp(buf, "hello from kernel", 17) == 0,
		      "the accepted connection reads the peer's line and its FIN", "%zu", got);
		close(s);
		close(c);
	}
	close(l);
}

static void test_refused(void)
{
	int s = tcp_socket(0), r;

	r = connect(s, (struct sockaddr *)&peer_refused, sizeof(peer_refused));
	check(r == -1 && errno == ECONNREFUSED, "connect to a closed port: ECONNREFUSED", "%d", r);
	close(s);
}

static void addr(struct sockaddr_in *a, const char *ip, const char *port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, ip, &a->sin_addr) != 1) {
		fprintf(stderr, "fortify_all: bad address %s\n", ip);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: fortify_all PEER_ADDR ECHO_PORT CALLBACK_PORT REFUSED_PORT "
		                "SELF_ADDR DATAFILE\n");
		return 2;
	}
	addr(&peer_echo, argv[1], argv[2]);
	addr(&peer_cb, argv[1], argv[3]);
	addr(&peer_refused, argv[1], argv[4]);
	addr(&self_any, argv[5], "0");
	datafile = argv[6];
	signal(SIGPIPE, SIG_IGN);

	test_connect_and_options();
	test_data();
	test_listen_accept();
	test_refused();

	printf("FDS");
	for (int i = 0; i < nfds_seen; i++)
		printf(" %d", fds[i]);
	printf("\n");
	return failures ? 1 : 0;
}
