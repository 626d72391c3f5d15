/* readiness_conformance: a fixed, step-by-step script of readiness observations on TCP
 * sockets (poll, ppoll, select, pselect, epoll LT/ET/ONESHOT/RDHUP, epoll_ctl errnos, nested
 * epolls, mixed kernel and TCP fds, timeouts, a thread in epoll_wait beside one in recv on the
 * same socket), one line per observation: return value, errno name, revents / epoll masks,
 * SO_ERROR. Run once on the kernel and once under synack; the two outputs must be identical
 * (tests/lab/77-readiness-conformance.sh diffs them). The kernel run is the reference: nothing
 * here states an expected answer.
 *
 *   readiness_conformance peer CMD_FIFO ACK_FIFO PEER_ADDR
 *   readiness_conformance run  CMD_FIFO ACK_FIFO LOCAL_ADDR PEER_ADDR
 *
 * `peer` is the kernel peer (in the other namespace), driven one command at a time over the
 * two fifos: `run` writes a command line, the peer carries it out and answers "ok" only once
 * it is done. So every remote event (data, FIN, RST, an incoming connection) happens at a
 * fixed point of the script. Where the event must then travel to us, `run` waits for it with
 * a blocking poll bounded by WAIT_MS, and that poll's answer is itself an observation. No
 * observation depends on timing: a zero-timeout look is only ever taken once the state it
 * looks at is settled.
 *
 * Ports: the peer listens on PORT_SRV; PORT_CLOSED has no listener (the peer's kernel answers
 * RST); we listen on PORT_LISTEN. Ephemeral port numbers and fd numbers are never printed
 * (they legitimately differ between runs).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#define PORT_SRV    7701
#define PORT_LISTEN 7702
#define PORT_CLOSED 7709
#define WAIT_MS     5000 /* bound of a wait for a remote event (never reached when it works) */
#define EXPIRE_MS   100

static FILE *cmd_out, *ack_in;
static struct sockaddr_in local_sa, peer_sa;

static void die(const char *what)
{
	fprintf(stderr, "readiness_conformance: %s: %s\n", what, strerror(errno));
	exit(1);
}

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

/* A mask as names, in bit order. poll and epoll share the bit values. */
static const char *mask_str(unsigned m, int epoll)
{
	static const struct {
		unsigned bit;
		const char *name;
	} bits[] = {
	    {POLLIN, "IN"},         {POLLPRI, "PRI"},       {POLLOUT, "OUT"},
	    {POLLERR, "ERR"},       {POLLHUP, "HUP"},       {POLLNVAL, "NVAL"},
	    {POLLRDNORM, "RDNORM"}, {POLLRDBAND, "RDBAND"}, {POLLWRNORM, "WRNORM"},
	    {POLLWRBAND, "WRBAND"}, {POLLMSG, "MSG"},       {POLLRDHUP, "RDHUP"},
	};
	/* A few calls may share one printf; two_threads calls it from two threads. */
	static _Thread_local char bufs[4][256];
	static _Thread_local unsigned turn;
	char *buf = bufs[turn++ % 4];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		if (m & bits[i].bit) {
			len += (size_t)snprintf(buf + len, sizeof(bufs[0]) - len, "%s%s%s",
			                        len ? "|" : "", epoll ? "EPOLL" : "POLL",
			                        bits[i].name);
			m &= ~bits[i].bit;
		}
	}
	if (m)
		snprintf(buf + len, sizeof(bufs[0]) - len, "%s0x%x", len ? "|" : "", m);
	else if (!len)
		snprintf(buf, sizeof(bufs[0]), "0");
	return buf;
}

static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* "= r" or "= -1 ENAME" */
static const char *res(long r, int e)
{
	static _Thread_local char buf[64];

	if (r < 0)
		snprintf(buf, sizeof(buf), "= %ld %s", r, ename(e));
	else
		snprintf(buf, sizeof(buf), "= %ld", r);
	return buf;
}

static void obs_call(const char *label, long r)
{
	int e = errno;

	out("%s %s", label, res(r, e));
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the peer --------------------------------------------------------------------------- */

static void peer_reply(FILE *ack, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(ack, fmt, ap);
	va_end(ap);
	fputc('\n', ack);
	fflush(ack);
}

static int peer_main(const char *cmdpath, const char *ackpath, const char *addr)
{
	FILE *cmd, *ack;
	char line[128], buf[65536];
	int ls, c = -1, c2 = -1, one = 1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT_SRV)};

	signal(SIGPIPE, SIG_IGN);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
	    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 16) < 0)
		die("peer listen");
	/* Open in the same order as `run`: the command fifo first. */
	cmd = fopen(cmdpath, "r");
	ack = cmd ? fopen(ackpath, "w") : NULL;
	if (!ack)
		die("peer fifos");
	while (fgets(line, sizeof(line), cmd)) {
		int n = 0;

		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "accept") == 0) {
			c = accept(ls, NULL, NULL);
			if (c < 0)
				goto fail;
		} else if (sscanf(line, "send %d", &n) == 1) {
			memset(buf, 'x', (size_t)n);
			if (write(c, buf, (size_t)n) != n)
				goto fail;
		} else if (sscanf(line, "recv %d", &n) == 1) {
			/* Exactly n bytes: the sender's data is then acknowledged. */
			while (n > 0) {
				ssize_t k =
				    read(c, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf));

				if (k <= 0)
					goto fail;
				n -= (int)k;
			}
		} else if (strcmp(line, "shutwr") == 0) {
			if (shutdown(c, SHUT_WR) < 0)
				goto fail;
		} else if (strcmp(line, "rst") == 0) {
			struct linger lg = {1, 0};

			if (setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0 ||
			    close(c) < 0)
				goto fail;
			c = -1;
		} else if (strcmp(line, "close") == 0) {
			if (close(c) < 0)
				goto fail;
			c = -1;
		} else if (sscanf(line, "connect %d", &n) == 1) {
			struct sockaddr_in to = {.sin_family = AF_INET,
			                         .sin_port = htons((uint16_t)n)};
			char *sp = strrchr(line, ' ');

			if (!sp || inet_pton(AF_INET, sp + 1, &to.sin_addr) != 1)
				goto fail;
			c2 = socket(AF_INET, SOCK_STREAM, 0);
			if (c2 < 0 || connect(c2, (struct sockaddr *)&to, sizeof(to)) < 0)
				goto fail;
		} else if (strcmp(line, "close2") == 0) {
			if (close(c2) < 0)
				goto fail;
			c2 = -1;
		} else if (strcmp(line, "quit") == 0) {
			peer_reply(ack, "ok");
			return 0;
		} else {
			errno = EINVAL;
			goto fail;
		}
		peer_reply(ack, "ok");
		continue;
	fail:
		peer_reply(ack, "failed %s: %s", line, strerror(errno));
	}
	return 0;
}

/* ---- the side under test ------------------------------------------------------------------ */

/* Ask the peer to do something and wait until it has. */
static void peer(const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(cmd_out, "%s\n", line);
	fflush(cmd_out);
	if (!fgets(line, sizeof(line), ack_in))
		die("peer gone");
	line[strcspn(line, "\n")] = '\0';
	if (strcmp(line, "ok") != 0) {
		out("peer: %s", line);
		exit(1);
	}
}

static void obs_poll(const char *label, int fd, short events, int timeout)
{
	struct pollfd p = {.fd = fd, .events = events};
	int r = poll(&p, 1, timeout), e = errno;

	out("%s: poll(%s, %d) %s revents=%s", label, mask_str((unsigned short)events, 0), timeout,
	    res(r, e), mask_str((unsigned short)p.revents, 0));
}

/* Several fds in one poll; names[] labels them. */
static void obs_pollv(const char *label, struct pollfd *p, int n, const char *const *names,
                      int timeout)
{
	char buf[512];
	size_t len = 0;
	int r, e;

	for (int i = 0; i < n; i++)
		p[i].revents = 0;
	r = poll(p, (nfds_t)n, timeout);
	e = errno;
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %s=%s", names[i],
		                        mask_str((unsigned short)p[i].revents, 0));
	out("%s: poll(%d fds, %d) %s%s", label, n, timeout, res(r, e), buf);
}

static void obs_ppoll(const char *label, int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	struct timespec ts = {0, 0};
	int r = ppoll(&p, 1, &ts, NULL), e = errno;

	out("%s: ppoll(%s, 0) %s revents=%s", label, mask_str((unsigned short)events, 0), res(r, e),
	    mask_str((unsigned short)p.revents, 0));
}

static void obs_select(const char *label, int fd, short events, int use_pselect)
{
	fd_set rd, wr, ex;
	int r, e;

	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_ZERO(&ex);
	if (events & POLLIN)
		FD_SET(fd, &rd);
	if (events & POLLOUT)
		FD_SET(fd, &wr);
	if (events & POLLPRI)
		FD_SET(fd, &ex);
	if (use_pselect) {
		struct timespec ts = {0, 0};

		r = pselect(fd + 1, &rd, &wr, &ex, &ts, NULL);
	} else {
		struct timeval tv = {0, 0};

		r = select(fd + 1, &rd, &wr, &ex, &tv);
	}
	e = errno;
	out("%s: %s(0) %s rd=%d wr=%d ex=%d", label, use_pselect ? "pselect" : "select", res(r, e),
	    FD_ISSET(fd, &rd) ? 1 : 0, FD_ISSET(fd, &wr) ? 1 : 0, FD_ISSET(fd, &ex) ? 1 : 0);
}

/* The state of one socket as poll, ppoll, select and pselect see it (zero timeout), with and
 * without POLLRDHUP requested. */
static void obs_all(const char *label, int fd)
{
	const short all = POLLIN | POLLPRI | POLLOUT | POLLRDHUP;

	obs_poll(label, fd, all, 0);
	obs_poll(label, fd, POLLIN | POLLPRI | POLLOUT, 0);
	obs_poll(label, fd, POLLIN, 0);
	obs_poll(label, fd, 0, 0);
	obs_ppoll(label, fd, all);
	obs_select(label, fd, all, 0);
	obs_select(label, fd, all, 1);
}

static int cmp_u64(const void *a, const void *b)
{
	const unsigned long long *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

static int cmp_tag(const void *a, const void *b)
{
	const struct epoll_event *x = a, *y = b;

	return x->data.u64 < y->data.u64 ? -1 : x->data.u64 > y->data.u64;
}

/* epoll_wait; the events are printed sorted by tag: the order of a ready list is not part of
 * epoll's contract (the kernel appends LT items to the tail again; synack reports its own
 * sockets before the kernel's fds), programs must not rely on it, so it is normalised. */
static void fmt_epoll(char *line, size_t size, int epfd, int timeout)
{
	struct epoll_event ev[16];
	char buf[512];
	size_t len = 0;
	int r = epoll_wait(epfd, ev, 16, timeout), e = errno;

	if (r > 0)
		qsort(ev, (size_t)r, sizeof(ev[0]), cmp_tag);
	for (int i = 0; i < r; i++)
		len +=
		    (size_t)snprintf(buf + len, sizeof(buf) - len, " [%llu %s]",
		                     (unsigned long long)ev[i].data.u64, mask_str(ev[i].events, 1));
	buf[len] = '\0';
	snprintf(line, size, "epoll_wait(%d) %s%s", timeout, res(r, e), buf);
}

static void obs_epoll(const char *label, int epfd, int timeout)
{
	char line[600];

	fmt_epoll(line, sizeof(line), epfd, timeout);
	out("%s: %s", label, line);
}

static void obs_ctl(const char *label, int epfd, int op, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = {.events = events, .data.u64 = tag};
	int r = epoll_ctl(epfd, op, fd, &ev), e = errno;

	out("%s: epoll_ctl(%s, %s) %s", label,
	    op == EPOLL_CTL_ADD   ? "ADD"
	    : op == EPOLL_CTL_MOD ? "MOD"
	    : op == EPOLL_CTL_DEL ? "DEL"
	                          : "op?",
	    mask_str(events, 1), res(r, e));
}

static void obs_soerror(const char *label, int fd)
{
	int v = -1, r;
	socklen_t len = sizeof(v);

	r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len);
	if (r < 0)
		out("%s: SO_ERROR %s", label, res(r, errno));
	else
		out("%s: SO_ERROR = %s", label, v ? ename(v) : "0");
}

static void obs_read(const char *label, int fd, size_t n)
{
	char buf[4096];
	ssize_t r = recv(fd, buf, n < sizeof(buf) ? n : sizeof(buf), MSG_DONTWAIT);

	out("%s: recv(%zu) %s", label, n, res(r, errno));
}

static void obs_send(const char *label, int fd, size_t n)
{
	char buf[4096];
	ssize_t r;

	memset(buf, 'y', sizeof(buf));
	r = send(fd, buf, n < sizeof(buf) ? n : sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
	out("%s: send(%zu) %s", label, n, res(r, errno));
}

static void obs_connect(const char *label, int fd, int port)
{
	struct sockaddr_in sa = peer_sa;
	int r;

	sa.sin_port = htons((uint16_t)port);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	out("%s: connect(peer:%d) %s", label, port, res(r, errno));
}

static int tcp_socket(int flags)
{
	int s = socket(AF_INET, SOCK_STREAM | flags, 0);

	if (s < 0)
		die("socket");
	return s;
}

/* A connection to the peer's listener, accepted there; blocking connect, then non-blocking. */
static int connected(void)
{
	struct sockaddr_in sa = peer_sa;
	int s = tcp_socket(0);

	sa.sin_port = htons(PORT_SRV);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	if (fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK) < 0)
		die("fcntl");
	peer("accept");
	return s;
}

/* Wait (bounded) until everything we sent is acknowledged: SIOCOUTQ reaches 0. */
static void wait_acked(const char *label, int fd)
{
	long end = now_ms() + WAIT_MS;
	int q = -1;

	while (ioctl(fd, SIOCOUTQ, &q) == 0 && q > 0 && now_ms() < end)
		usleep(1000);
	out("%s: all sent data acknowledged: %s", label, q == 0 ? "yes" : "no");
}

/* Wait (bounded) until n bytes are queued for reading. */
static void wait_queued(const char *label, int fd, int n)
{
	long end = now_ms() + WAIT_MS;
	int q = 0;

	while (ioctl(fd, FIONREAD, &q) == 0 && q < n && now_ms() < end)
		usleep(1000);
	out("%s: %d bytes queued: %s", label, n, q == n ? "yes" : "no");
}

static void on_signal(int sig)
{
	(void)sig;
}

/* Fill the send buffer until EAGAIN (the peer does not read); the count is not printed: the
 * buffer sizes are each stack's own. Returns the bytes sent. */
static long fill(int fd)
{
	static char buf[65536];
	long total = 0;
	ssize_t r;

	memset(buf, 'z', sizeof(buf));
	while ((r = send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL)) > 0)
		total += r;
	out("fill: sent until %s", res(r, errno));
	return total;
}

/* A full send buffer, SO_RCVLOWAT, and signals interrupting the waits. */
static void space_lowat_signals(void)
{
	int s = connected(), ep = epoll_create1(0), pfd[2], lowat = 20;
	long n;
	struct pollfd p[2];
	const char *const names[] = {"sock", "pipe"};
	struct sigaction sa = {.sa_handler = on_signal};
	struct itimerval it = {.it_value = {0, 50000}};
	struct epoll_event ev;
	sigset_t block, unblock;
	struct timespec ts = {WAIT_MS / 1000, 0};

	out("-- a full send buffer");
	if (pipe(pfd) < 0)
		die("pipe");
	obs_ctl("full", ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLOUT | EPOLLET, 1);
	obs_epoll("full before", ep, 0);
	obs_epoll("full before again", ep, 0);
	n = fill(s);
	obs_all("full", s);
	obs_epoll("full", ep, 0);
	peer("recv %ld", n);
	obs_epoll("full, peer read everything", ep, WAIT_MS);
	wait_acked("full", s);
	obs_all("emptied", s);

	out("-- SO_RCVLOWAT");
	obs_call("lowat: setsockopt(SO_RCVLOWAT, 20)",
	         setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)));
	obs_ctl("lowat", ep, EPOLL_CTL_MOD, s, EPOLLIN, 2);
	peer("send 10");
	/* The bytes must have arrived before we look (FIONREAD says so): POLLIN does not tell. */
	wait_queued("lowat", s, 10);
	obs_all("lowat 10 of 20", s);
	obs_epoll("lowat 10 of 20", ep, 0);
	peer("send 10");
	wait_queued("lowat", s, 20);
	obs_all("lowat 20 of 20", s);
	obs_epoll("lowat 20 of 20", ep, 0);
	obs_read("lowat", s, 1000);
	lowat = 1;
	setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));

	out("-- a signal interrupts the waits (handler without SA_RESTART, then with)");
	p[0] = (struct pollfd){.fd = s, .events = POLLIN};
	p[1] = (struct pollfd){.fd = pfd[0], .events = POLLIN};
	for (int restart = 0; restart < 2; restart++) {
		fd_set rd;

		sa.sa_flags = restart ? SA_RESTART : 0;
		sigaction(SIGALRM, &sa, NULL);
		setitimer(ITIMER_REAL, &it, NULL);
		obs_pollv(restart ? "signal, SA_RESTART" : "signal", p, 2, names, WAIT_MS);
		setitimer(ITIMER_REAL, &it, NULL);
		obs_call("signal: epoll_wait", epoll_wait(ep, &ev, 1, WAIT_MS));
		setitimer(ITIMER_REAL, &it, NULL);
		FD_ZERO(&rd);
		FD_SET(s, &rd);
		FD_SET(pfd[0], &rd);
		obs_call("signal: select", select((s > pfd[0] ? s : pfd[0]) + 1, &rd, NULL, NULL,
		                                  &(struct timeval){WAIT_MS / 1000, 0}));
	}
	/* A pending signal, blocked in the thread but let through by the call's mask. */
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, &unblock);
	sigdelset(&unblock, SIGALRM);
	raise(SIGALRM);
	obs_call("pending signal, unmasked by the call: ppoll", ppoll(p, 2, &ts, &unblock));
	raise(SIGALRM);
	obs_call("pending signal, unmasked by the call: epoll_pwait",
	         epoll_pwait(ep, &ev, 1, WAIT_MS, &unblock));
	raise(SIGALRM);
	obs_call("pending signal, unmasked by the call: pselect",
	         pselect(pfd[0] + 1, NULL, NULL, NULL, &ts, &unblock));
	raise(SIGALRM);
	/* Still blocked for the call: it runs to its result. */
	obs_call("pending signal, masked in the call: ppoll(0)",
	         ppoll(p, 2, &(struct timespec){0, 0}, &block));
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	close(ep);
	close(pfd[0]);
	close(pfd[1]);
	close(s);
	peer("close");
}

static void fresh_socket(void)
{
	int s = tcp_socket(SOCK_NONBLOCK), ep = epoll_create1(0);

	/* A fresh socket is in CLOSE: Linux says POLLOUT|POLLHUP. The epoll registration made
	 * before connect() must survive the connect (and under synack the offload). */
	obs_all("fresh", s);
	obs_ctl("fresh", ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI, 1);
	obs_epoll("fresh", ep, 0);
	obs_connect("nb-connect", s, PORT_SRV);
	obs_poll("nb-connect wait", s, POLLOUT, WAIT_MS);
	obs_soerror("nb-connect done", s);
	obs_all("nb-connect done", s);
	obs_epoll("nb-connect done", ep, 0);
	obs_connect("nb-connect again", s, PORT_SRV);
	peer("accept");
	obs_all("established idle", s);

	peer("send 100");
	obs_poll("readable wait", s, POLLIN, WAIT_MS);
	obs_all("readable", s);
	obs_epoll("readable", ep, 0);
	obs_read("readable", s, 1000);
	obs_read("drained", s, 1000);
	obs_all("drained", s);
	close(ep);
	close(s);
	peer("close");
}

static void epoll_modes(void)
{
	int s = connected(), ep = epoll_create1(EPOLL_CLOEXEC);

	out("-- epoll level-triggered");
	obs_ctl("lt", ep, EPOLL_CTL_ADD, s, EPOLLIN, 1);
	obs_epoll("lt idle", ep, 0);
	peer("send 10");
	obs_epoll("lt data", ep, WAIT_MS);
	obs_epoll("lt again", ep, 0);
	obs_epoll("lt again", ep, 0);
	obs_read("lt", s, 1000);
	obs_epoll("lt drained", ep, 0);

	out("-- epoll edge-triggered");
	obs_ctl("et", ep, EPOLL_CTL_MOD, s, EPOLLIN | EPOLLET, 2);
	obs_epoll("et idle", ep, 0);
	peer("send 10");
	obs_epoll("et data", ep, WAIT_MS);
	obs_epoll("et again", ep, 0);
	peer("send 10");
	obs_epoll("et more data", ep, WAIT_MS);
	obs_epoll("et again", ep, 0);
	obs_read("et", s, 1000);
	obs_epoll("et drained", ep, 0);
	obs_ctl("et out", ep, EPOLL_CTL_MOD, s, EPOLLIN | EPOLLOUT | EPOLLET, 3);
	obs_epoll("et out", ep, 0);
	obs_epoll("et out again", ep, 0);
	/* An ACK that frees send space wakes nobody unless the sender ran out of space. */
	obs_send("et out", s, 10);
	peer("recv 10");
	wait_acked("et out", s);
	obs_epoll("et out acked", ep, 0);
	peer("send 10");
	obs_epoll("et in+out data", ep, WAIT_MS);
	obs_read("et in+out", s, 1000);

	out("-- epoll oneshot");
	obs_ctl("oneshot", ep, EPOLL_CTL_MOD, s, EPOLLIN | EPOLLONESHOT, 4);
	obs_epoll("oneshot idle", ep, 0);
	peer("send 10");
	obs_epoll("oneshot data", ep, WAIT_MS);
	obs_epoll("oneshot again", ep, 0);
	obs_ctl("oneshot rearm", ep, EPOLL_CTL_MOD, s, EPOLLIN | EPOLLONESHOT, 5);
	obs_epoll("oneshot rearmed", ep, 0);
	obs_epoll("oneshot rearmed again", ep, 0);
	obs_read("oneshot", s, 1000);
	peer("send 10");
	obs_poll("oneshot new data", s, POLLIN, WAIT_MS);
	obs_epoll("oneshot new data, not rearmed", ep, 0);
	obs_ctl("oneshot rearm", ep, EPOLL_CTL_MOD, s, EPOLLIN | EPOLLONESHOT | EPOLLET, 6);
	obs_epoll("oneshot|et rearmed", ep, 0);
	obs_epoll("oneshot|et again", ep, 0);
	obs_read("oneshot", s, 1000);
	out("-- epoll: a dup of the socket; closing one fd");
	/* epoll keys an item on (file, fd): the dup is a second item, and closing the first fd
	 * leaves its item registered (the file lives on through the dup). */
	int d = dup(s);

	obs_ctl("dup", ep, EPOLL_CTL_MOD, s, EPOLLIN, 8);
	obs_ctl("dup", ep, EPOLL_CTL_ADD, d, EPOLLIN, 9);
	obs_epoll("dup idle", ep, 0);
	peer("send 10");
	obs_epoll("dup data", ep, WAIT_MS);
	obs_read("dup", s, 1000);
	obs_call("dup: close(original)", close(s));
	obs_epoll("dup closed original idle", ep, 0);
	peer("send 10");
	obs_epoll("dup closed original, data", ep, WAIT_MS);
	obs_ctl("dup closed original", ep, EPOLL_CTL_DEL, s, 0, 0);
	obs_read("dup", d, 1000);
	s = d;
	obs_ctl("del", ep, EPOLL_CTL_DEL, s, 0, 0);
	obs_epoll("deleted", ep, 0);
	peer("send 10");
	obs_poll("deleted, new data", s, POLLIN, WAIT_MS);
	obs_epoll("deleted, new data", ep, 0);
	obs_read("deleted", s, 1000);

	out("-- epoll_ctl and epoll_wait errors");
	int dead = dup(s), pfd[2], devnull = open("/dev/null", O_RDONLY);
	struct epoll_event ev = {.events = EPOLLIN};
	volatile int minus_one = -1; /* hidden from the compiler's bounds check */

	close(dead);
	if (pipe(pfd) < 0 || devnull < 0)
		die("pipe");
	obs_ctl("ctl", ep, EPOLL_CTL_ADD, s, EPOLLIN, 7);
	obs_ctl("ctl twice (EEXIST)", ep, EPOLL_CTL_ADD, s, EPOLLIN, 7);
	obs_ctl("ctl", ep, EPOLL_CTL_DEL, s, 0, 0);
	obs_ctl("ctl del absent (ENOENT)", ep, EPOLL_CTL_DEL, s, 0, 0);
	obs_ctl("ctl mod absent (ENOENT)", ep, EPOLL_CTL_MOD, s, EPOLLIN, 7);
	obs_ctl("ctl self (EINVAL)", ep, EPOLL_CTL_ADD, ep, EPOLLIN, 7);
	obs_ctl("ctl closed fd (EBADF)", ep, EPOLL_CTL_ADD, dead, EPOLLIN, 7);
	obs_ctl("ctl closed epfd (EBADF)", dead, EPOLL_CTL_ADD, s, EPOLLIN, 7);
	obs_ctl("ctl pipe as epfd (EINVAL)", pfd[0], EPOLL_CTL_ADD, s, EPOLLIN, 7);
	obs_ctl("ctl socket as epfd (EINVAL)", s, EPOLL_CTL_ADD, pfd[0], EPOLLIN, 7);
	obs_ctl("ctl socket as epfd, itself", s, EPOLL_CTL_ADD, s, EPOLLIN, 7);
	obs_ctl("ctl bad op (EINVAL)", ep, 99, s, EPOLLIN, 7);
	obs_ctl("ctl /dev/null (EPERM)", ep, EPOLL_CTL_ADD, devnull, EPOLLIN, 7);
	obs_call("ctl NULL event (EFAULT): epoll_ctl(ADD)", epoll_ctl(ep, EPOLL_CTL_ADD, s, NULL));
	obs_call("ctl NULL event del: epoll_ctl(DEL)", epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL));
	obs_ctl("ctl exclusive|oneshot", ep, EPOLL_CTL_ADD, s,
	        EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 7);
	obs_ctl("ctl exclusive|rdhup", ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLEXCLUSIVE | EPOLLRDHUP,
	        7);
	obs_ctl("ctl exclusive", ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLEXCLUSIVE, 7);
	obs_ctl("ctl mod exclusive", ep, EPOLL_CTL_MOD, s, EPOLLIN | EPOLLEXCLUSIVE, 7);
	obs_ctl("ctl mod of an exclusive item", ep, EPOLL_CTL_MOD, s, EPOLLIN, 7);
	obs_ctl("ctl del exclusive", ep, EPOLL_CTL_DEL, s, 0, 0);
	obs_call("wait maxevents 0: epoll_wait", epoll_wait(ep, &ev, 0, 0));
	obs_call("wait maxevents -1: epoll_wait", epoll_wait(ep, &ev, minus_one, 0));
	obs_call("wait on a pipe: epoll_wait", epoll_wait(pfd[0], &ev, 1, 0));
	obs_call("wait on the socket: epoll_wait", epoll_wait(s, &ev, 1, 0));
	obs_call("wait on a closed fd: epoll_wait", epoll_wait(dead, &ev, 1, 0));
	close(devnull);
	close(pfd[0]);
	close(pfd[1]);
	close(ep);
	close(s);
	peer("close");
}

/* Nested epolls, one socket in two sets, a pipe beside the socket. */
static void nesting(void)
{
	int s = connected(), pfd[2], epa = epoll_create1(0), epb = epoll_create1(0),
	    outer = epoll_create1(0);
	struct pollfd p[4];
	const char *const names[] = {"epa", "epb", "sock", "pipe"};

	if (pipe(pfd) < 0)
		die("pipe");
	out("-- nested epoll, one socket in two sets, mixed with a pipe");
	obs_ctl("epa sock", epa, EPOLL_CTL_ADD, s, EPOLLIN, 1);
	obs_ctl("epa pipe", epa, EPOLL_CTL_ADD, pfd[0], EPOLLIN, 2);
	obs_ctl("epb sock", epb, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLET, 3);
	obs_ctl("outer epa", outer, EPOLL_CTL_ADD, epa, EPOLLIN, 4);
	obs_ctl("outer epb", outer, EPOLL_CTL_ADD, epb, EPOLLIN | EPOLLET, 5);
	p[0] = (struct pollfd){.fd = epa, .events = POLLIN | POLLOUT};
	p[1] = (struct pollfd){.fd = epb, .events = POLLIN};
	p[2] = (struct pollfd){.fd = s, .events = POLLIN | POLLRDHUP};
	p[3] = (struct pollfd){.fd = pfd[0], .events = POLLIN};
	obs_epoll("idle epa", epa, 0);
	obs_epoll("idle epb", epb, 0);
	obs_epoll("idle outer", outer, 0);
	obs_pollv("idle", p, 4, names, 0);
	peer("send 10");
	/* Wait on the socket, not on outer: the data makes epa and epb ready one after the other,
	 * and a blocked epoll_wait on outer may return between the two (under synack the eventfds
	 * are signalled in turn; the kernel does the same, only faster). */
	obs_poll("data wait", s, POLLIN, WAIT_MS);
	obs_epoll("data outer", outer, 0);
	obs_pollv("data", p, 4, names, 0);
	obs_epoll("data outer again", outer, 0);
	obs_epoll("data epa", epa, 0);
	obs_epoll("data epb", epb, 0);
	obs_epoll("data epb again", epb, 0);
	obs_epoll("data epa again", epa, 0);
	if (write(pfd[1], "p", 1) != 1)
		die("write pipe");
	obs_epoll("data+pipe epa", epa, 0);
	/* Two LT items ready, one slot per call: both are reported over two calls (Linux moves a
	 * reported LT item to the tail of the ready list), never the same one twice. Which comes
	 * first is the ready list's order, normalised by sorting. */
	{
		struct epoll_event e1[1], e2[1];
		int r1 = epoll_wait(epa, e1, 1, 0), r2 = epoll_wait(epa, e2, 1, 0);
		unsigned long long a = r1 == 1 ? e1[0].data.u64 : 0,
		                   b = r2 == 1 ? e2[0].data.u64 : 0;

		out("data+pipe epa, maxevents 1, twice: = %d, %d, tags %llu %llu", r1, r2,
		    a < b ? a : b, a < b ? b : a);
	}
	obs_pollv("data+pipe", p, 4, names, 0);
	obs_read("data+pipe", s, 1000);
	obs_pollv("pipe only", p, 4, names, 0);
	obs_epoll("pipe only outer", outer, 0);
	obs_epoll("pipe only epa", epa, 0);
	if (read(pfd[0], (char[1]){0}, 1) != 1)
		die("read pipe");
	obs_pollv("nothing", p, 4, names, 0);
	obs_epoll("nothing outer", outer, 0);
	obs_epoll("nothing epa", epa, 0);
	obs_epoll("nothing epb", epb, 0);

	out("-- poll: a negative fd and a closed fd beside the socket; select with a closed fd");
	{
		int dead = dup(pfd[0]);
		struct pollfd q[3] = {{.fd = s, .events = POLLIN | POLLOUT},
		                      {.fd = -1, .events = POLLIN},
		                      {.fd = dead, .events = POLLIN}};
		const char *const qn[] = {"sock", "negative", "closed"};
		fd_set rd;
		struct timeval tv = {0, 0};

		close(dead);
		obs_pollv("bad fds", q, 3, qn, 0);
		FD_ZERO(&rd);
		FD_SET(s, &rd);
		FD_SET(dead, &rd);
		obs_call("bad fds: select",
		         select((s > dead ? s : dead) + 1, &rd, NULL, NULL, &tv));
	}

	out("-- mixed poll: blocking until one of them is ready");
	if (write(pfd[1], "p", 1) != 1)
		die("write pipe");
	obs_pollv("pipe written", p + 2, 2, names + 2, WAIT_MS);
	if (read(pfd[0], (char[1]){0}, 1) != 1)
		die("read pipe");
	peer("send 10");
	obs_pollv("sock written", p + 2, 2, names + 2, WAIT_MS);
	obs_epoll("sock written epa", epa, 0);
	obs_read("sock written", s, 1000);
	/* Read, but epa not asked since: the socket is no longer ready, so neither is epa. */
	obs_pollv("sock read", p, 4, names, 0);
	obs_epoll("sock read outer", outer, 0);
	obs_epoll("sock read epa", epa, 0);
	peer("send 10");
	obs_epoll("sock written, blocking epa", epa, WAIT_MS);
	obs_read("sock written", s, 1000);
	close(outer);
	close(epa);
	close(epb);
	close(pfd[0]);
	close(pfd[1]);
	close(s);
	peer("close");
}

/* Closing the only fd of a registered socket removes it from the set (Linux releases the
 * item with the file); the number, reused by the next socket, is a new file to epoll. */
static void close_and_reuse(void)
{
	int ep = epoll_create1(0), s = connected(), s2, same;

	out("-- closing a registered socket; its fd number reused");
	obs_ctl("close", ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLOUT, 1);
	obs_epoll("close, registered", ep, 0);
	close(s);
	peer("close");
	obs_epoll("closed", ep, 0);
	obs_ctl("closed", ep, EPOLL_CTL_DEL, s, 0, 0);
	s2 = connected();
	same = s2 == s;
	out("reuse: the new socket got the same fd number: %s", same ? "yes" : "no");
	obs_epoll("reuse, not added", ep, 0);
	obs_ctl("reuse", ep, EPOLL_CTL_MOD, s2, EPOLLIN, 2);
	obs_ctl("reuse", ep, EPOLL_CTL_ADD, s2, EPOLLIN, 2);
	peer("send 10");
	obs_epoll("reuse data", ep, WAIT_MS);
	obs_read("reuse", s2, 1000);
	close(s2);
	close(ep);
	peer("close");
}

/* Three LT sockets ready, one slot per call: three calls report each socket once (Linux's
 * ready list is FIFO, a reported LT item goes to its tail), whatever the order. */
static void fairness(void)
{
	int ep = epoll_create1(0), s[3];
	unsigned long long tags[3];
	char label[32];

	out("-- three ready LT sockets, maxevents 1");
	for (int i = 0; i < 3; i++) {
		s[i] = connected();
		peer("send 10");
		snprintf(label, sizeof(label), "fair %d", i + 1);
		wait_queued(label, s[i], 10);
		obs_ctl(label, ep, EPOLL_CTL_ADD, s[i], EPOLLIN, (uint64_t)i + 1);
	}
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 3; i++) {
			struct epoll_event e[1];

			tags[i] = epoll_wait(ep, e, 1, 0) == 1 ? e[0].data.u64 : 0;
		}
		qsort(tags, 3, sizeof(tags[0]), cmp_u64);
		out("fair: three calls, tags %llu %llu %llu", tags[0], tags[1], tags[2]);
	}
	for (int i = 0; i < 3; i++)
		close(s[i]);
	close(ep);
	peer("close");
}

/* ---- two threads on one socket ---------------------------------------------------------- */

/* A thread of two_threads_case, and what it saw. */
struct sleeper {
	pthread_t th;
	atomic_int tid; /* its thread id, once it runs */
	int fd;         /* the epoll set (A) or the socket (B) */
	char line[600];
};

static void *epoll_sleeper(void *arg)
{
	struct sleeper *t = arg;

	atomic_store(&t->tid, (int)gettid());
	fmt_epoll(t->line, sizeof(t->line), t->fd, WAIT_MS);
	return NULL;
}

static void *recv_sleeper(void *arg)
{
	struct sleeper *t = arg;
	char c;
	ssize_t r;

	atomic_store(&t->tid, (int)gettid());
	r = recv(t->fd, &c, 1, 0);
	snprintf(t->line, sizeof(t->line), "recv(1) %s", res(r, errno));
	return NULL;
}

/* Is thread tid asleep in one of the system calls nr[0..n)? Its /proc syscall file starts with
 * the number of the call it is blocked in, and says "running" while it runs (proc(5)). */
static bool asleep_in(int tid, const long *nr, size_t n)
{
	char path[64], buf[128];
	long cur;
	bool hit = false;
	FILE *f;

	if (tid == 0)
		return false;
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%ld", &cur) == 1)
		for (size_t i = 0; i < n; i++)
			hit = hit || cur == nr[i];
	fclose(f);
	return hit;
}

/* Thread A blocks in epoll_wait on a set holding socket s with `events`, thread B in a blocking
 * recv of 1 byte on s; once both sleep (their /proc syscall files say so), the peer carries out
 * peer_cmd: "send 2" (2 bytes in one segment) or "shutwr" (its FIN). On Linux the one arrival
 * wakes both (sk_data_ready, sk_state_change), in no fixed order. What each reports is fixed all
 * the same: B takes 1 byte of 2 (or sees the end of stream), which leaves the socket readable,
 * so A reports it whether it looks before B reads or after. (With 1 byte A's answer would be a
 * race: EPOLLIN if it looks first, else it sleeps on.) Both waits are bounded by WAIT_MS: a
 * thread never woken prints a line that differs from the kernel's instead of hanging. */
static void two_threads_case(const char *label, uint32_t events, const char *peer_cmd)
{
	/* The calls the two sleep in: on the kernel, glibc's epoll_wait (epoll_wait or
	 * epoll_pwait) and recv (recvfrom); under synack, both sleep in ppoll (rt_ppoll and
	 * rt_wait, shim/runtime/runtime.c). */
	static const long a_calls[] = {SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_pwait2,
	                               SYS_ppoll};
	static const long b_calls[] = {SYS_recvfrom, SYS_recvmsg, SYS_ppoll};
	struct timeval tv = {WAIT_MS / 1000, 0};
	struct sleeper a = {.tid = 0}, b = {.tid = 0};
	int s = connected(), ep = epoll_create1(0), err;
	long end = now_ms() + WAIT_MS;
	bool asleep = false;
	char l[64];

	if (fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		die("a blocking socket");
	obs_ctl(label, ep, EPOLL_CTL_ADD, s, events, 1);
	a.fd = ep;
	b.fd = s;
	err = pthread_create(&a.th, NULL, epoll_sleeper, &a);
	if (!err)
		err = pthread_create(&b.th, NULL, recv_sleeper, &b);
	if (err) {
		errno = err;
		die("pthread_create");
	}
	while (!asleep && now_ms() < end) {
		asleep =
		    asleep_in(atomic_load(&a.tid), a_calls, sizeof(a_calls) / sizeof(a_calls[0])) &&
		    asleep_in(atomic_load(&b.tid), b_calls, sizeof(b_calls) / sizeof(b_calls[0]));
		if (!asleep)
			usleep(1000);
	}
	out("%s: A and B asleep: %s", label, asleep ? "yes" : "no");
	peer("%s", peer_cmd);
	pthread_join(a.th, NULL);
	pthread_join(b.th, NULL);
	out("%s A: %s", label, a.line);
	out("%s B: %s", label, b.line);
	snprintf(l, sizeof(l), "%s after", label);
	obs_epoll(l, ep, 0);
	obs_read(l, s, 1000);
	snprintf(l, sizeof(l), "%s after read", label);
	obs_epoll(l, ep, 0);
	close(ep);
	close(s);
	peer("close");
}

static void two_threads(void)
{
	out("-- two threads on one socket: A in epoll_wait, B in recv(1); the peer sends 2 bytes");
	two_threads_case("2t lt", EPOLLIN, "send 2");
	two_threads_case("2t et", EPOLLIN | EPOLLET, "send 2");
	two_threads_case("2t oneshot", EPOLLIN | EPOLLONESHOT, "send 2");
	out("-- two threads on one socket: A in epoll_wait, B in recv(1); the peer's FIN");
	two_threads_case("2t fin lt", EPOLLIN | EPOLLRDHUP, "shutwr");
	two_threads_case("2t fin et", EPOLLIN | EPOLLRDHUP | EPOLLET, "shutwr");
}

static void timeouts(void)
{
	int s = connected(), pfd[2], ep = epoll_create1(0);
	struct pollfd p[2];
	const char *const names[] = {"sock", "pipe"};
	struct timespec ts = {0, EXPIRE_MS * 1000000L};
	struct timeval tv = {0, EXPIRE_MS * 1000};
	fd_set rd;
	struct epoll_event ev;
	long t0;
	int r;

	out("-- timeouts that expire (%d ms)", EXPIRE_MS);
	if (pipe(pfd) < 0)
		die("pipe");
	p[0] = (struct pollfd){.fd = s, .events = POLLIN};
	p[1] = (struct pollfd){.fd = pfd[0], .events = POLLIN};
	obs_ctl("expire", ep, EPOLL_CTL_ADD, s, EPOLLIN, 1);
	obs_ctl("expire", ep, EPOLL_CTL_ADD, pfd[0], EPOLLIN, 2);
	obs_pollv("zero timeout", p, 2, names, 0);
	t0 = now_ms();
	obs_pollv("expire", p, 2, names, EXPIRE_MS);
	out("expire: poll slept at least the timeout: %s",
	    now_ms() - t0 >= EXPIRE_MS ? "yes" : "no");
	t0 = now_ms();
	r = ppoll(p, 2, &ts, NULL);
	out("expire: ppoll %s slept at least the timeout: %s", res(r, errno),
	    now_ms() - t0 >= EXPIRE_MS ? "yes" : "no");
	FD_ZERO(&rd);
	FD_SET(s, &rd);
	FD_SET(pfd[0], &rd);
	t0 = now_ms();
	r = select((s > pfd[0] ? s : pfd[0]) + 1, &rd, NULL, NULL, &tv);
	/* Linux writes back the time left: 0 once it expired. */
	out("expire: select %s slept at least the timeout: %s, time left %ld.%06ld, sets %d%d",
	    res(r, errno), now_ms() - t0 >= EXPIRE_MS ? "yes" : "no", (long)tv.tv_sec,
	    (long)tv.tv_usec, FD_ISSET(s, &rd) ? 1 : 0, FD_ISSET(pfd[0], &rd) ? 1 : 0);
	FD_ZERO(&rd);
	FD_SET(s, &rd);
	FD_SET(pfd[0], &rd);
	t0 = now_ms();
	r = pselect((s > pfd[0] ? s : pfd[0]) + 1, &rd, NULL, NULL, &ts, NULL);
	out("expire: pselect %s slept at least the timeout: %s, sets %d%d", res(r, errno),
	    now_ms() - t0 >= EXPIRE_MS ? "yes" : "no", FD_ISSET(s, &rd) ? 1 : 0,
	    FD_ISSET(pfd[0], &rd) ? 1 : 0);
	t0 = now_ms();
	obs_epoll("expire", ep, EXPIRE_MS);
	out("expire: epoll_wait slept at least the timeout: %s",
	    now_ms() - t0 >= EXPIRE_MS ? "yes" : "no");
	t0 = now_ms();
	r = epoll_pwait2(ep, &ev, 1, &ts, NULL);
	out("expire: epoll_pwait2 %s slept at least the timeout: %s", res(r, errno),
	    now_ms() - t0 >= EXPIRE_MS ? "yes" : "no");
	close(ep);
	close(pfd[0]);
	close(pfd[1]);
	close(s);
	peer("close");
}

/* The peer's FIN, then ours; RDHUP requested and not. */
static void half_close(void)
{
	int s = connected(), ep1 = epoll_create1(0), ep2 = epoll_create1(0);

	out("-- the peer's FIN, then our shutdown(SHUT_WR)");
	obs_ctl("fin rdhup", ep1, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLRDHUP | EPOLLPRI, 1);
	obs_ctl("fin plain", ep2, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLOUT | EPOLLET, 2);
	obs_epoll("fin rdhup before", ep1, 0);
	obs_epoll("fin plain before", ep2, 0);
	peer("shutwr");
	obs_poll("fin wait", s, POLLIN, WAIT_MS);
	obs_all("fin", s);
	obs_epoll("fin rdhup", ep1, 0);
	obs_epoll("fin plain", ep2, 0);
	obs_epoll("fin plain again", ep2, 0);
	obs_read("fin", s, 1000);
	obs_send("fin", s, 10);
	peer("recv 10");
	obs_call("fin: shutdown(SHUT_WR)", shutdown(s, SHUT_WR));
	obs_all("both shut", s);
	obs_epoll("both shut rdhup", ep1, 0);
	obs_epoll("both shut plain", ep2, 0);
	obs_send("both shut", s, 10);
	obs_soerror("both shut", s);
	close(ep1);
	close(ep2);
	close(s);
	peer("close");
}

static void reset(void)
{
	int s = connected(), ep = epoll_create1(0), ep0 = epoll_create1(0);

	out("-- the peer's RST; SO_ERROR read first");
	obs_ctl("rst", ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLRDHUP | EPOLLET, 1);
	/* No event asked: EPOLLERR and EPOLLHUP are reported all the same. */
	obs_ctl("rst nothing asked", ep0, EPOLL_CTL_ADD, s, 0, 2);
	obs_epoll("rst nothing asked, before", ep0, 0);
	peer("rst");
	obs_poll("rst wait", s, POLLIN, WAIT_MS);
	obs_all("rst", s);
	obs_epoll("rst", ep, 0);
	obs_epoll("rst again", ep, 0);
	obs_epoll("rst nothing asked", ep0, 0);
	obs_epoll("rst nothing asked again", ep0, 0);
	close(ep0);
	obs_soerror("rst", s);
	obs_soerror("rst again", s);
	obs_all("rst, error read", s);
	obs_read("rst", s, 1000);
	obs_send("rst", s, 10);
	obs_connect("rst", s, PORT_SRV);
	close(ep);
	close(s);

	s = connected();
	out("-- the peer's RST; recv first");
	peer("rst");
	obs_poll("rst2 wait", s, POLLIN | POLLRDHUP, WAIT_MS);
	obs_read("rst2", s, 1000);
	obs_read("rst2 again", s, 1000);
	obs_all("rst2", s);
	obs_soerror("rst2", s);
	close(s);

	s = connected();
	out("-- the peer's RST; send first");
	peer("rst");
	/* Nothing asked: only the RST's POLLERR|POLLHUP end the wait (POLLOUT is true before). */
	obs_poll("rst3 wait", s, 0, WAIT_MS);
	obs_send("rst3", s, 10);
	obs_send("rst3 again", s, 10);
	obs_soerror("rst3", s);
	close(s);
}

static void our_shutdowns(void)
{
	static const struct {
		int how;
		const char *name;
	} hows[] = {{SHUT_WR, "SHUT_WR"}, {SHUT_RD, "SHUT_RD"}, {SHUT_RDWR, "SHUT_RDWR"}};
	char label[64];

	for (size_t i = 0; i < sizeof(hows) / sizeof(hows[0]); i++) {
		int s = connected();

		out("-- our shutdown(%s)", hows[i].name);
		snprintf(label, sizeof(label), "%s", hows[i].name);
		obs_call("shutdown", shutdown(s, hows[i].how));
		obs_all(label, s);
		obs_read(label, s, 1000);
		obs_send(label, s, 10);
		obs_call("shutdown again", shutdown(s, hows[i].how));
		close(s);
		peer("close");
	}
}

static void listener(void)
{
	int l = tcp_socket(SOCK_NONBLOCK), ep = epoll_create1(0), one = 1, c;
	struct sockaddr_in sa = local_sa;
	char line[64];

	out("-- a listener");
	sa.sin_port = htons(PORT_LISTEN);
	if (setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind");
	obs_all("bound", l);
	obs_call("listen", listen(l, 4));
	obs_all("listening", l);
	obs_ctl("listening", ep, EPOLL_CTL_ADD, l, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, 1);
	obs_epoll("listening", ep, 0);
	obs_call("listening: accept", accept(l, NULL, NULL));
	inet_ntop(AF_INET, &local_sa.sin_addr, line, sizeof(line));
	peer("connect %d %s", PORT_LISTEN, line);
	obs_poll("pending wait", l, POLLIN, WAIT_MS);
	obs_all("pending", l);
	obs_epoll("pending", ep, 0);
	obs_epoll("pending again", ep, 0);
	c = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	out("pending: accept4 %s", c < 0 ? res(c, errno) : "= fd");
	obs_all("accepted", l);
	obs_epoll("accepted", ep, 0);
	obs_all("accepted conn", c);
	obs_call("accepted: shutdown listener", shutdown(l, SHUT_RDWR));
	obs_all("listener shut", l);
	obs_call("listener shut: accept", accept(l, NULL, NULL));
	peer("close2");
	obs_poll("accepted conn fin wait", c, POLLIN, WAIT_MS);
	close(c);
	close(ep);
	close(l);
}

static void refused(void)
{
	int s = tcp_socket(SOCK_NONBLOCK), ep = epoll_create1(0);

	out("-- connect to a closed port; connect again before SO_ERROR");
	obs_ctl("refused", ep, EPOLL_CTL_ADD, s, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, 1);
	obs_connect("refused", s, PORT_CLOSED);
	obs_poll("refused wait", s, POLLOUT, WAIT_MS);
	obs_all("refused", s);
	obs_epoll("refused", ep, 0);
	obs_epoll("refused again", ep, 0);
	obs_connect("refused, second connect", s, PORT_CLOSED);
	/* Whatever that connect did, let it settle before looking (a socket in SYN_SENT polls 0;
	 * nothing asked, so only POLLERR/POLLHUP end the wait). */
	obs_poll("refused, second connect settled", s, 0, WAIT_MS);
	obs_soerror("refused", s);
	obs_all("refused, error taken", s);
	obs_connect("refused, third connect", s, PORT_CLOSED);
	obs_poll("refused third wait", s, POLLOUT, WAIT_MS);
	obs_soerror("refused third", s);
	close(ep);
	close(s);

	s = tcp_socket(SOCK_NONBLOCK);
	out("-- connect to a closed port; SO_ERROR first");
	obs_connect("refused2", s, PORT_CLOSED);
	obs_poll("refused2 wait", s, POLLIN, WAIT_MS);
	obs_soerror("refused2", s);
	obs_soerror("refused2 again", s);
	obs_all("refused2, error taken", s);
	obs_connect("refused2, second connect", s, PORT_CLOSED);
	obs_poll("refused2, second connect settled", s, 0, WAIT_MS);
	obs_connect("refused2, third connect", s, PORT_CLOSED);
	obs_poll("refused2 third wait", s, POLLOUT, WAIT_MS);
	obs_soerror("refused2 third", s);
	close(s);

	s = tcp_socket(0);
	out("-- blocking connect to a closed port");
	obs_connect("refused3", s, PORT_CLOSED);
	obs_soerror("refused3", s);
	obs_all("refused3", s);
	close(s);
}

static int run_main(const char *cmdpath, const char *ackpath, const char *laddr, const char *paddr)
{
	local_sa = (struct sockaddr_in){.sin_family = AF_INET};
	peer_sa = (struct sockaddr_in){.sin_family = AF_INET};
	if (inet_pton(AF_INET, laddr, &local_sa.sin_addr) != 1 ||
	    inet_pton(AF_INET, paddr, &peer_sa.sin_addr) != 1) {
		fprintf(stderr, "readiness_conformance: bad address\n");
		return 2;
	}
	cmd_out = fopen(cmdpath, "w");
	ack_in = cmd_out ? fopen(ackpath, "r") : NULL;
	if (!ack_in)
		die("fifos");
	out("-- a fresh socket, a non-blocking connect, readable");
	fresh_socket();
	epoll_modes();
	nesting();
	close_and_reuse();
	fairness();
	two_threads();
	timeouts();
	space_lowat_signals();
	half_close();
	reset();
	our_shutdowns();
	listener();
	refused();
	peer("quit");
	out("-- end");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "peer") == 0)
		return peer_main(argv[2], argv[3], argv[4]);
	if (argc == 6 && strcmp(argv[1], "run") == 0)
		return run_main(argv[2], argv[3], argv[4], argv[5]);
	fprintf(stderr,
	        "usage: readiness_conformance peer CMD_FIFO ACK_FIFO PEER_ADDR\n"
	        "       readiness_conformance run CMD_FIFO ACK_FIFO LOCAL_ADDR PEER_ADDR\n");
	return 2;
}
