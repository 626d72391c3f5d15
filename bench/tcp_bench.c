/* tcp_bench: a small TCP client/server benchmark.
 *
 * Blocking sockets and plain POSIX calls only, so the same binary runs on the kernel's TCP
 * and, unchanged, under LD_PRELOAD=build/shim/libsynack.so. bench/run.sh drives it; see
 * docs/performance.md.
 *
 *   tcp_bench server [-b ADDR] [-p PORT] [-c CONNS] [-P THREADS] [-B USEC] [-T LIMIT]
 *   tcp_bench client -m stream|rr|crr|idle -H HOST [-p PORT] [-r up|down] [-s SIZE]
 *                    [-d SECONDS] [-n COUNT] [-P STREAMS] [-D] [-W] [-B USEC] [-T LIMIT]
 *
 * Every connection starts with a 24-byte header from the client telling the server what to do,
 * so one server serves every benchmark:
 *
 *   stream up    the client writes SIZE-byte chunks for -d seconds and/or -n bytes, then
 *                shutdown(SHUT_WR); the server reads until EOF and answers with the byte count
 *                (8 bytes). Time: header sent -> count received.
 *   stream down  the server writes SIZE-byte chunks for -d seconds and/or -n bytes, then closes;
 *                the client reads (SIZE-byte reads) until EOF. Time: header sent -> EOF.
 *   rr           ping-pong on one connection: the client writes SIZE bytes, the server reads
 *                them all and writes SIZE bytes back. Transactions/s and latency percentiles.
 *   crr          per transaction: socket, connect, write header + SIZE bytes, read SIZE bytes,
 *                read EOF (the server closes first, as an HTTP/1.0 server does), close.
 *                Connections/s and latency percentiles.
 *   idle         -n COUNT connections held open with nothing to send, for memory per
 *                connection. In three phases, each announced on stdout with a line
 *                "idle phase=start|bound|holding pid=PID conns=COUNT": before the connections'
 *                sockets (one socket is bound and closed before: synack starts its stack); after
 *                COUNT socket() + bind(0.0.0.0:0) (the client's own socket state, made while the
 *                server does nothing); after COUNT connect + header, each acknowledged with one
 *                byte by the server, which holds every connection until it has all COUNT. With
 *                -W the client waits for SIGUSR1 after each phase line (bench/run.sh reads the
 *                memory in between); without, it holds for -d seconds (default 1). Then it closes
 *                every connection with SO_LINGER 0 (an RST: no TIME_WAIT is left on either side
 *                to be freed during a later measurement).
 *
 * -P on the client runs STREAMS stream connections at once, one thread each, in this one
 * process (synack: one stack); the result is their sum, timed from the first header to the
 * last stream's end. -P on the server serves up to THREADS connections at once.
 *
 * The client prints one result line of key=value pairs on stdout (bench/run.sh parses it):
 *   result mode=stream dir=up size=65536 bytes=... seconds=... gbit_s=... streams=1 cpu_us=...
 *   result mode=rr size=1 count=... seconds=... tps=... p50_us=... p99_us=... p999_us=...
 *          cpu_us=...
 *   result mode=crr size=1 count=... seconds=... cps=... p50_us=... p99_us=... p999_us=...
 *          cpu_us=...
 *   result mode=idle conns=... seconds=... cps=... cpu_us=...
 * and the server one line per connection (none for crr, one per COUNT connections for idle):
 *   served mode=stream-up|stream-down|rr|idle bytes=... count=... cpu_us=...
 * cpu_us is the user + system CPU time of the whole process, every thread (under synack its
 * runtime thread too), from getrusage(RUSAGE_SELF): on the client over the run, on the server
 * from just before accept() to the end of that connection (with -P the other connections
 * served meanwhile count too).
 * -B sets SO_BUSY_POLL to USEC microseconds on every socket of the client, or on the server's
 * listener (the connections it accepts inherit it, as from a Linux listener): a blocking recv()
 * may busy-poll the device that long before it sleeps (socket(7); docs/configuration.md for
 * what it does under synack).
 * A hard limit (-T, default 60 s, through alarm()) bounds either side even if the peer hangs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAGIC   0x534b4231u /* "SKB1" */
#define HDR_LEN       24
#define DEFAULT_PORT  5201
#define DEFAULT_LIMIT 60
#define MAX_SIZE      (16u << 20)
#define MAX_THREADS   64
#define MAX_IDLE      (1u << 20)

enum mode { MODE_STREAM_UP = 1, MODE_STREAM_DOWN = 2, MODE_RR = 3, MODE_CRR = 4, MODE_IDLE = 5 };

static const char *const mode_names[] = {"?", "stream-up", "stream-down", "rr", "crr", "idle"};

struct hdr {
	uint32_t mode;
	uint32_t size;        /* write size (stream) or message size (rr, crr) */
	uint32_t duration_ms; /* stream down: how long the server writes (0: use bytes) */
	uint64_t bytes;       /* stream down: how much the server writes (0: use duration);
	                       * idle: how many connections the client opens */
};

static const char *prog = "tcp_bench";

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: %s server [-b ADDR] [-p PORT] [-c CONNS] [-P THREADS] [-B USEC] [-T LIMIT]\n"
	    "       %s client -m stream|rr|crr|idle -H HOST [-p PORT] [-r up|down] [-s SIZE]\n"
	    "                 [-d SECONDS] [-n COUNT] [-P STREAMS] [-D] [-W] [-B USEC] [-T LIMIT]\n"
	    "\n"
	    "server: serve connections one after another; -c: exit after CONNS connections\n"
	    "        (default 0: until killed or LIMIT); -b: bind address (default any);\n"
	    "        -P: serve up to THREADS connections at once (default 1).\n"
	    "client: -m  stream (bulk transfer), rr (request/response on one connection),\n"
	    "            crr (connect, request/response, close, repeated),\n"
	    "            idle (hold -n connections open: memory per connection)\n"
	    "        -r  stream direction: up (client sends, default) or down (server sends)\n"
	    "        -s  write size for stream (default 64K), message size for rr/crr (default 1)\n"
	    "        -d  run for SECONDS (default 2 unless -n is given); idle: hold time\n"
	    "        -n  stream: bytes; rr: transactions; crr, idle: connections\n"
	    "            (both -d and -n: whichever limit is reached first)\n"
	    "        -P  stream: STREAMS connections at once, one thread each (default 1)\n"
	    "        -D  set TCP_NODELAY\n"
	    "        -W  idle: wait for SIGUSR1 after each phase line instead of holding -d s\n"
	    "both:   -p  port (default %d); -T  hard time limit in seconds (default %d)\n"
	    "        -B  SO_BUSY_POLL of USEC microseconds on every socket (server: its\n"
	    "            listener, inherited by the connections it accepts)\n"
	    "SIZE and COUNT take K, M, G suffixes (powers of 1024).\n",
	    prog, prog, DEFAULT_PORT, DEFAULT_LIMIT);
	exit(2);
}

static void die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	exit(1);
}

static void fail(const char *msg)
{
	fprintf(stderr, "%s: %s\n", prog, msg);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* User + system CPU time of the whole process, every thread, in microseconds. */
static uint64_t cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		die("getrusage");
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* "64K" -> 65536. Exits with a usage error on anything else. */
static uint64_t parse_count(const char *opt, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		goto bad;
	switch (*end) {
	case 'G':
	case 'g':
		v <<= 10;
		/* fall through */
	case 'M':
	case 'm':
		v <<= 10;
		/* fall through */
	case 'K':
	case 'k':
		v <<= 10;
		end++;
		break;
	default:
		break;
	}
	if (*end || v == 0)
		goto bad;
	return v;
bad:
	fprintf(stderr, "%s: %s: '%s' is not a positive count (e.g. 1, 64K, 1G)\n", prog, opt, s);
	usage();
	return 0;
}

static double parse_seconds(const char *opt, const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v > 0) || v > 86400) {
		fprintf(stderr, "%s: %s: '%s' is not a duration in seconds (e.g. 2, 0.5)\n", prog,
		        opt, s);
		usage();
	}
	return v;
}

/* Write all of buf (blocking socket: send returns short only on a signal). */
static void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("send");
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Read exactly len bytes. Returns 0 on success, -1 on EOF before the first byte; EOF in the
 * middle is an error. */
static int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, p + got, len - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("recv");
		}
		if (n == 0) {
			if (got == 0)
				return -1;
			fail("recv: connection closed in the middle of a message");
		}
		got += (size_t)n;
	}
	return 0;
}

/* Read until EOF; returns the number of bytes read. */
static uint64_t drain(int fd, char *buf, size_t size)
{
	uint64_t total = 0;

	for (;;) {
		ssize_t n = recv(fd, buf, size, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("recv");
		}
		if (n == 0)
			return total;
		total += (uint64_t)n;
	}
}

/* Read until EOF or an error (a reset ends it as well as a FIN). */
static void wait_eof(int fd, char *buf, size_t size)
{
	ssize_t n;

	while ((n = recv(fd, buf, size, 0)) > 0 || (n < 0 && errno == EINTR))
		;
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void hdr_encode(uint8_t *b, const struct hdr *h)
{
	put32(b, BENCH_MAGIC);
	put32(b + 4, h->mode);
	put32(b + 8, h->size);
	put32(b + 12, h->duration_ms);
	put64(b + 16, h->bytes);
}

static int hdr_decode(const uint8_t *b, struct hdr *h)
{
	if (get32(b) != BENCH_MAGIC)
		return -1;
	h->mode = get32(b + 4);
	h->size = get32(b + 8);
	h->duration_ms = get32(b + 12);
	h->bytes = get64(b + 16);
	if (h->mode < MODE_STREAM_UP || h->mode > MODE_IDLE || h->size == 0 || h->size > MAX_SIZE)
		return -1;
	if (h->mode == MODE_IDLE && (h->bytes == 0 || h->bytes > MAX_IDLE))
		return -1;
	return 0;
}

static void set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		die("setsockopt TCP_NODELAY");
}

/* -B: the socket's SO_BUSY_POLL (0: left as it is). */
static int busy_poll_us;

static void set_busy_poll(int fd)
{
	if (busy_poll_us &&
	    setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &busy_poll_us, sizeof(busy_poll_us)) < 0)
		die("setsockopt SO_BUSY_POLL");
}

static char *alloc_buf(size_t size)
{
	char *b = malloc(size);

	if (!b)
		fail("out of memory");
	for (size_t i = 0; i < size; i++)
		b[i] = (char)('a' + i % 26);
	return b;
}

/* Room for n more descriptors: the soft RLIMIT_NOFILE is raised to the hard one (the usual
 * soft limit of 1024 is below what idle needs; under synack every connection may take an
 * internal descriptor as well as its own). */
static void want_fds(uint64_t n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit RLIMIT_NOFILE");
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2 * n + 64) {
		fprintf(stderr, "%s: %llu connections need about %llu descriptors, the hard limit is %llu\n",
		        prog, (unsigned long long)n, (unsigned long long)(2 * n + 64),
		        (unsigned long long)rl.rlim_max);
		exit(1);
	}
	if (rl.rlim_cur >= 4 * n + 1024)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY ? rl.rlim_max : 4 * n + 1024;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("setrlimit RLIMIT_NOFILE");
}

/* ------------------------------------------------------------------ */
/* Server                                                              */
/* ------------------------------------------------------------------ */

struct server {
	int lfd, nodelay;
	uint64_t conns; /* exit after this many connections (0: never) */
	atomic_uint_fast64_t done;
	/* idle: the connections held until the client has opened all it announced (the server
	 * then runs one thread: idle is refused with -P) */
	int *held;
	uint64_t nheld;
};

static void served(const char *mode, uint64_t bytes, uint64_t count, uint64_t cpu0)
{
	printf("served mode=%s bytes=%llu count=%llu cpu_us=%llu\n", mode,
	       (unsigned long long)bytes, (unsigned long long)count,
	       (unsigned long long)(cpu_us() - cpu0));
	fflush(stdout);
}

/* Serves one connection and closes it, or keeps it open (idle, until the client has opened all
 * it announced). Returns how many connections this finished: 1, or for idle 0 or all held.
 * cpu0: the process CPU time just before the connection was accepted. */
static int serve_one(struct server *s, int fd, int threads, uint64_t cpu0)
{
	uint8_t hb[HDR_LEN + 8];
	struct hdr h;
	char *buf;
	uint64_t bytes = 0, count = 0;

	if (s->nodelay)
		set_nodelay(fd);
	if (recv_all(fd, hb, HDR_LEN) < 0 || hdr_decode(hb, &h) < 0) {
		fprintf(stderr, "%s: server: bad or missing header; connection dropped\n", prog);
		close(fd);
		return 1;
	}
	if (h.mode == MODE_IDLE && threads > 1) {
		fprintf(stderr, "%s: server: idle needs a server without -P; connection dropped\n",
		        prog);
		close(fd);
		return 1;
	}
	buf = alloc_buf(h.size);
	switch (h.mode) {
	case MODE_STREAM_UP:
		bytes = drain(fd, buf, h.size);
		put64(hb, bytes);
		send_all(fd, hb, 8);
		break;
	case MODE_STREAM_DOWN: {
		uint64_t t0 = now_ns();
		uint64_t end = t0 + (uint64_t)h.duration_ms * 1000000u;

		for (;;) {
			size_t len = h.size;

			if (h.bytes) {
				if (bytes >= h.bytes)
					break;
				if (h.bytes - bytes < len)
					len = (size_t)(h.bytes - bytes);
			}
			if (h.duration_ms && now_ns() >= end)
				break;
			send_all(fd, buf, len);
			bytes += len;
		}
		/* FIN now, then wait for the client's close after its EOF: the CPU time counted
		 * includes sending what was still queued. */
		if (shutdown(fd, SHUT_WR) < 0)
			die("shutdown");
		wait_eof(fd, buf, h.size);
		break;
	}
	case MODE_RR:
		while (recv_all(fd, buf, h.size) == 0) {
			send_all(fd, buf, h.size);
			count++;
		}
		break;
	case MODE_CRR:
		if (recv_all(fd, buf, h.size) == 0) {
			send_all(fd, buf, h.size);
			count++;
		}
		break;
	case MODE_IDLE:
		if (!s->held) {
			want_fds(h.bytes);
			s->held = malloc(h.bytes * sizeof(*s->held));
			if (!s->held)
				fail("out of memory");
		}
		send_all(fd, "k", 1);
		s->held[s->nheld++] = fd;
		free(buf);
		if (s->nheld < h.bytes)
			return 0;
		/* All there: the client measures, then resets them all. */
		for (uint64_t i = 0; i < s->nheld; i++) {
			char c;

			wait_eof(s->held[i], &c, 1);
			close(s->held[i]);
		}
		served(mode_names[h.mode], 0, s->nheld, cpu0);
		free(s->held);
		s->held = NULL;
		count = s->nheld;
		s->nheld = 0;
		return (int)count;
	}
	free(buf);
	/* Not per crr connection: a line each would add a write to what crr-s times. */
	if (h.mode != MODE_CRR)
		served(mode_names[h.mode], bytes, count, cpu0);
	if (close(fd) < 0)
		die("close");
	return 1;
}

/* Accept and serve until the server has served its CONNS connections. */
static void server_loop(struct server *s, int threads)
{
	for (;;) {
		uint64_t cpu0 = cpu_us();
		int fd = accept(s->lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			die("accept");
		}
		uint64_t n = (uint64_t)serve_one(s, fd, threads, cpu0);

		if (s->conns && n && atomic_fetch_add(&s->done, n) + n >= s->conns)
			return;
	}
}

static struct server the_server;
static int server_threads;

static void *server_thread(void *arg)
{
	server_loop(arg, server_threads);
	/* The last connection is served: end the process, other threads are in accept(). */
	exit(0);
}

static int run_server(const char *bind_addr, int port, uint64_t conns, int nodelay, int threads)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct server *s = &the_server;
	int one = 1, lfd;

	if (bind_addr && inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "%s: -b: '%s' is not an IPv4 address\n", prog, bind_addr);
		usage();
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		die("socket");
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("setsockopt SO_REUSEADDR");
	set_busy_poll(lfd);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind");
	if (listen(lfd, 128) < 0)
		die("listen");
	fprintf(stderr, "%s: server listening on %s:%d (pid %d)\n", prog,
	        bind_addr ? bind_addr : "0.0.0.0", port, (int)getpid());
	s->lfd = lfd;
	s->nodelay = nodelay;
	s->conns = conns;
	server_threads = threads;
	for (int i = 1; i < threads; i++) {
		pthread_t t;
		int err = pthread_create(&t, NULL, server_thread, s);

		if (err) {
			errno = err;
			die("pthread_create");
		}
	}
	server_loop(s, threads);
	close(lfd);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Client                                                              */
/* ------------------------------------------------------------------ */

struct client_opts {
	int mode; /* MODE_* (stream is split into up/down by -r) */
	struct sockaddr_in peer;
	uint32_t size;
	double seconds; /* 0: use count */
	uint64_t count; /* 0: use seconds */
	int nodelay;
	int streams; /* stream: connections at once */
	int wait_signal; /* idle: wait for SIGUSR1 after each phase */
};

static int new_socket(const struct client_opts *o)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	if (o->nodelay)
		set_nodelay(fd);
	set_busy_poll(fd);
	return fd;
}

static void connect_fd(int fd, const struct client_opts *o)
{
	while (connect(fd, (const struct sockaddr *)&o->peer, sizeof(o->peer)) < 0) {
		if (errno != EINTR)
			die("connect");
	}
}

static int connect_peer(const struct client_opts *o)
{
	int fd = new_socket(o);

	connect_fd(fd, o);
	return fd;
}

static void send_hdr(int fd, const struct client_opts *o, uint32_t mode)
{
	uint8_t hb[HDR_LEN];
	struct hdr h = {.mode = mode, .size = o->size};

	if (mode == MODE_STREAM_DOWN) {
		h.duration_ms = (uint32_t)(o->seconds * 1000 + 0.5);
		h.bytes = o->count;
	}
	if (mode == MODE_IDLE)
		h.bytes = o->count;
	hdr_encode(hb, &h);
	send_all(fd, hb, HDR_LEN);
}

/* One stream connection; several run at once with -P. */
struct stream_job {
	const struct client_opts *o;
	pthread_barrier_t *start; /* all connected before the first header (NULL: alone) */
	pthread_t thread;
	uint64_t t0, t1, bytes;
};

static void *stream_one(void *arg)
{
	struct stream_job *j = arg;
	const struct client_opts *o = j->o;
	int fd = connect_peer(o);
	char *buf = alloc_buf(o->size);

	if (j->start)
		pthread_barrier_wait(j->start);
	send_hdr(fd, o, (uint32_t)o->mode);
	j->t0 = now_ns();
	if (o->mode == MODE_STREAM_UP) {
		uint64_t sent = 0, end = j->t0 + (uint64_t)(o->seconds * 1e9);
		uint8_t cb[8];

		for (;;) {
			size_t len = o->size;

			if (o->count) {
				if (sent >= o->count)
					break;
				if (o->count - sent < len)
					len = (size_t)(o->count - sent);
			}
			if (o->seconds && now_ns() >= end)
				break;
			send_all(fd, buf, len);
			sent += len;
		}
		if (shutdown(fd, SHUT_WR) < 0)
			die("shutdown");
		if (recv_all(fd, cb, 8) < 0)
			fail("server closed without reporting the byte count");
		j->t1 = now_ns();
		j->bytes = get64(cb);
		if (j->bytes != sent) {
			fprintf(stderr, "%s: sent %llu bytes but the server received %llu\n", prog,
			        (unsigned long long)sent, (unsigned long long)j->bytes);
			exit(1);
		}
	} else {
		j->bytes = drain(fd, buf, o->size);
		j->t1 = now_ns();
		if (o->count && !o->seconds && j->bytes != o->count) {
			fprintf(stderr, "%s: expected %llu bytes, received %llu\n", prog,
			        (unsigned long long)o->count, (unsigned long long)j->bytes);
			exit(1);
		}
	}
	close(fd);
	free(buf);
	return NULL;
}

static double gbit_s(uint64_t bytes, uint64_t t0, uint64_t t1)
{
	return (double)bytes * 8 / ((double)(t1 - t0) / 1e9) / 1e9;
}

static void client_stream(const struct client_opts *o)
{
	struct stream_job jobs[MAX_THREADS] = {{0}};
	pthread_barrier_t start;
	uint64_t cpu0 = cpu_us(), t0 = UINT64_MAX, t1 = 0, bytes = 0;
	double lo = 0, hi = 0;
	int n = o->streams;

	if (n == 1) {
		jobs[0].o = o;
		stream_one(&jobs[0]);
	} else {
		pthread_barrier_init(&start, NULL, (unsigned)n);
		for (int i = 0; i < n; i++) {
			int err;

			jobs[i].o = o;
			jobs[i].start = &start;
			err = pthread_create(&jobs[i].thread, NULL, stream_one, &jobs[i]);
			if (err) {
				errno = err;
				die("pthread_create");
			}
		}
		for (int i = 0; i < n; i++)
			pthread_join(jobs[i].thread, NULL);
		pthread_barrier_destroy(&start);
	}
	for (int i = 0; i < n; i++) {
		double g = gbit_s(jobs[i].bytes, jobs[i].t0, jobs[i].t1);

		if (jobs[i].t0 < t0)
			t0 = jobs[i].t0;
		if (jobs[i].t1 > t1)
			t1 = jobs[i].t1;
		bytes += jobs[i].bytes;
		if (i == 0 || g < lo)
			lo = g;
		if (i == 0 || g > hi)
			hi = g;
	}
	printf("result mode=stream dir=%s size=%u bytes=%llu seconds=%.6f gbit_s=%.4f streams=%d",
	       o->mode == MODE_STREAM_UP ? "up" : "down", o->size, (unsigned long long)bytes,
	       (double)(t1 - t0) / 1e9, gbit_s(bytes, t0, t1), n);
	if (n > 1)
		printf(" stream_gbit_s_min=%.4f stream_gbit_s_max=%.4f", lo, hi);
	printf(" cpu_us=%llu\n", (unsigned long long)(cpu_us() - cpu0));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n-1], in microseconds. */
static double pct_us(const uint64_t *v, size_t n, double p)
{
	size_t rank = (size_t)(p / 100 * (double)n + 0.999999);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)v[rank - 1] / 1e3;
}

struct lat {
	uint64_t *v;
	size_t n, cap;
};

static void lat_add(struct lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 65536;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			fail("out of memory");
	}
	l->v[l->n++] = ns;
}

static void client_rr(const struct client_opts *o)
{
	int crr = o->mode == MODE_CRR;
	char *buf = alloc_buf(HDR_LEN + o->size);
	struct lat lat = {0};
	uint64_t t0, t1, end, cpu0 = cpu_us();
	int fd = -1;

	if (!crr) {
		fd = connect_peer(o);
		send_hdr(fd, o, MODE_RR);
	} else {
		struct hdr h = {.mode = MODE_CRR, .size = o->size};

		hdr_encode((uint8_t *)buf, &h);
	}
	t0 = now_ns();
	end = t0 + (uint64_t)(o->seconds * 1e9);
	for (uint64_t i = 0;; i++) {
		uint64_t ts = now_ns();

		if ((o->count && i >= o->count) || (o->seconds && ts >= end))
			break;
		if (crr) {
			/* Header and request in one write: one segment, as a real client would. */
			fd = connect_peer(o);
			send_all(fd, buf, HDR_LEN + o->size);
			if (recv_all(fd, buf + HDR_LEN, o->size) < 0)
				fail("server closed the connection before answering");
			if (drain(fd, buf + HDR_LEN, o->size) != 0)
				fail("server sent more than the response");
			close(fd);
		} else {
			send_all(fd, buf, o->size);
			if (recv_all(fd, buf, o->size) < 0)
				fail("server closed the connection");
		}
		lat_add(&lat, now_ns() - ts);
	}
	t1 = now_ns();
	if (!crr)
		close(fd);
	if (lat.n == 0)
		fail("no transaction completed");
	qsort(lat.v, lat.n, sizeof(*lat.v), cmp_u64);
	double s = (double)(t1 - t0) / 1e9;
	printf("result mode=%s size=%u count=%zu seconds=%.6f %s=%.1f p50_us=%.1f p99_us=%.1f "
	       "p999_us=%.1f cpu_us=%llu\n",
	       crr ? "crr" : "rr", o->size, lat.n, s, crr ? "cps" : "tps", (double)lat.n / s,
	       pct_us(lat.v, lat.n, 50), pct_us(lat.v, lat.n, 99), pct_us(lat.v, lat.n, 99.9),
	       (unsigned long long)(cpu_us() - cpu0));
	free(lat.v);
	free(buf);
}

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

/* Announce a phase of idle; with -W wait for SIGUSR1 (blocked outside this wait, so a signal
 * sent right after the line is not lost). */
static void idle_phase(const struct client_opts *o, const char *phase, const sigset_t *unblocked)
{
	printf("idle phase=%s pid=%d conns=%llu\n", phase, (int)getpid(),
	       (unsigned long long)o->count);
	fflush(stdout);
	if (!o->wait_signal)
		return;
	while (!go)
		sigsuspend(unblocked);
	go = 0;
}

static void client_idle(const struct client_opts *o)
{
	struct sockaddr_in any = {.sin_family = AF_INET};
	struct linger abort_close = {.l_onoff = 1, .l_linger = 0};
	struct sigaction sa = {.sa_handler = on_usr1};
	sigset_t usr1, unblocked;
	uint64_t n = o->count, t0, t1, cpu0;
	int *fds;
	char c;

	if (n > MAX_IDLE)
		fail("-n: at most 1M idle connections");
	want_fds(n);
	fds = malloc(n * sizeof(*fds));
	if (!fds)
		fail("out of memory");
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &unblocked);
	sigdelset(&unblocked, SIGUSR1);
	sigaction(SIGUSR1, &sa, NULL);
	cpu0 = cpu_us();
	/* One socket bound and closed first: under synack that starts the stack, so its fixed
	 * memory (the socket arena) is in the start figure, not in the connections'. */
	fds[0] = new_socket(o);
	if (bind(fds[0], (struct sockaddr *)&any, sizeof(any)) < 0)
		die("bind 0.0.0.0:0");
	close(fds[0]);

	idle_phase(o, "start", &unblocked);
	for (uint64_t i = 0; i < n; i++) {
		fds[i] = new_socket(o);
		if (bind(fds[i], (struct sockaddr *)&any, sizeof(any)) < 0)
			die("bind 0.0.0.0:0");
	}
	idle_phase(o, "bound", &unblocked);
	t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		connect_fd(fds[i], o);
		send_hdr(fds[i], o, MODE_IDLE);
		if (recv_all(fds[i], &c, 1) < 0)
			fail("server closed an idle connection");
	}
	t1 = now_ns();
	idle_phase(o, "holding", &unblocked);
	if (!o->wait_signal) {
		struct timespec hold = {.tv_sec = (time_t)o->seconds,
		                        .tv_nsec = (long)((o->seconds - (double)(time_t)o->seconds) * 1e9)};

		while (nanosleep(&hold, &hold) < 0 && errno == EINTR)
			;
	}
	for (uint64_t i = 0; i < n; i++) {
		if (setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close)) < 0)
			die("setsockopt SO_LINGER");
		close(fds[i]);
	}
	free(fds);
	double s = (double)(t1 - t0) / 1e9;
	printf("result mode=idle conns=%llu seconds=%.6f cps=%.1f cpu_us=%llu\n",
	       (unsigned long long)n, s, (double)n / s, (unsigned long long)(cpu_us() - cpu0));
}

int main(int argc, char **argv)
{
	const char *mode = NULL, *host = NULL, *dir = "up", *bind_addr = NULL;
	int port = DEFAULT_PORT, nodelay = 0, wait_signal = 0, threads = 1, server, c;
	double seconds = 0, limit = DEFAULT_LIMIT;
	uint64_t count = 0, conns = 0, size = 0, busy;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "server") == 0)
		server = 1;
	else if (strcmp(argv[1], "client") == 0)
		server = 0;
	else
		usage();
	optind = 2;
	while ((c = getopt(argc, argv, "m:H:p:r:s:d:n:c:b:T:P:B:DWh")) != -1) {
		switch (c) {
		case 'm':
			mode = optarg;
			break;
		case 'H':
			host = optarg;
			break;
		case 'b':
			bind_addr = optarg;
			break;
		case 'p':
			port = (int)parse_count("-p", optarg);
			if (port > 65535) {
				fprintf(stderr, "%s: -p: port %d out of range\n", prog, port);
				usage();
			}
			break;
		case 'r':
			dir = optarg;
			break;
		case 's':
			size = parse_count("-s", optarg);
			if (size > MAX_SIZE) {
				fprintf(stderr, "%s: -s: at most %u bytes\n", prog, MAX_SIZE);
				usage();
			}
			break;
		case 'd':
			seconds = parse_seconds("-d", optarg);
			break;
		case 'n':
			count = parse_count("-n", optarg);
			break;
		case 'c':
			conns = parse_count("-c", optarg);
			break;
		case 'T':
			limit = parse_seconds("-T", optarg);
			break;
		case 'P':
			threads = (int)parse_count("-P", optarg);
			if (threads > MAX_THREADS) {
				fprintf(stderr, "%s: -P: at most %d\n", prog, MAX_THREADS);
				usage();
			}
			break;
		case 'B':
			busy = parse_count("-B", optarg);
			if (busy > 1000000) {
				fprintf(stderr, "%s: -B: at most 1000000 microseconds\n", prog);
				usage();
			}
			busy_poll_us = (int)busy;
			break;
		case 'D':
			nodelay = 1;
			break;
		case 'W':
			wait_signal = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		usage();
	}
	signal(SIGPIPE, SIG_IGN);
	/* The hard bound: SIGALRM's default action ends the process whatever it is blocked in. */
	alarm((unsigned)(limit + 0.999));

	if (server) {
		if (mode || host || seconds || count || size || wait_signal) {
			fprintf(stderr, "%s: server takes only -b -p -c -P -B -D -T\n", prog);
			usage();
		}
		return run_server(bind_addr, port, conns, nodelay, threads);
	}

	struct client_opts o = {.peer = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)},
	                        .nodelay = nodelay,
	                        .streams = threads,
	                        .wait_signal = wait_signal};

	if (conns || bind_addr) {
		fprintf(stderr, "%s: -c and -b are server options\n", prog);
		usage();
	}
	if (!mode || !host) {
		fprintf(stderr, "%s: client needs -m MODE and -H HOST\n", prog);
		usage();
	}
	if (inet_pton(AF_INET, host, &o.peer.sin_addr) != 1) {
		fprintf(stderr, "%s: -H: '%s' is not an IPv4 address\n", prog, host);
		usage();
	}
	if (!seconds && !count)
		seconds = 2;
	if (seconds >= limit) {
		fprintf(stderr, "%s: -d %.3g must be shorter than the hard limit -T %.3g\n", prog,
		        seconds, limit);
		usage();
	}
	if (strcmp(mode, "stream") == 0) {
		if (strcmp(dir, "up") == 0)
			o.mode = MODE_STREAM_UP;
		else if (strcmp(dir, "down") == 0)
			o.mode = MODE_STREAM_DOWN;
		else {
			fprintf(stderr, "%s: -r: '%s' is not up or down\n", prog, dir);
			usage();
		}
		o.size = size ? (uint32_t)size : 65536;
	} else if (strcmp(mode, "rr") == 0 || strcmp(mode, "crr") == 0) {
		o.mode = mode[0] == 'r' ? MODE_RR : MODE_CRR;
		o.size = size ? (uint32_t)size : 1;
	} else if (strcmp(mode, "idle") == 0) {
		o.mode = MODE_IDLE;
		o.size = 1;
		if (!count) {
			fprintf(stderr, "%s: idle needs -n CONNECTIONS\n", prog);
			usage();
		}
		if (!seconds)
			seconds = 1;
	} else {
		fprintf(stderr, "%s: -m: '%s' is not stream, rr, crr or idle\n", prog, mode);
		usage();
	}
	if ((threads > 1 && o.mode != MODE_STREAM_UP && o.mode != MODE_STREAM_DOWN) ||
	    (wait_signal && o.mode != MODE_IDLE)) {
		fprintf(stderr, "%s: -P is for stream, -W for idle\n", prog);
		usage();
	}
	o.seconds = seconds;
	o.count = count;
	if (o.mode == MODE_STREAM_UP || o.mode == MODE_STREAM_DOWN)
		client_stream(&o);
	else if (o.mode == MODE_IDLE)
		client_idle(&o);
	else
		client_rr(&o);
	return 0;
}
