/* tcp_bench: a small TCP client/server benchmark.
 *
 * Blocking sockets and plain POSIX calls only, so the same binary runs on the kernel's TCP
 * and, unchanged, under LD_PRELOAD=build/shim/libsynack.so. bench/run.sh drives it; see
 * docs/performance.md.
 *
 *   tcp_bench server [-b ADDR] [-p PORT] [-c CONNS] [-T LIMIT]
 *   tcp_bench client -m stream|rr|crr -H HOST [-p PORT] [-r up|down] [-s SIZE]
 *                    [-d SECONDS] [-n COUNT] [-D] [-T LIMIT]
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
 *
 * The client prints one result line of key=value pairs on stdout (bench/run.sh parses it):
 *   result mode=stream dir=up size=65536 bytes=... seconds=... gbit_s=...
 *   result mode=rr size=1 count=... seconds=... tps=... p50_us=... p99_us=...
 *   result mode=crr size=1 count=... seconds=... cps=... p50_us=... p99_us=...
 * A hard limit (-T, default 60 s, through alarm()) bounds either side even if the peer hangs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAGIC   0x534b4231u /* "SKB1" */
#define HDR_LEN       24
#define DEFAULT_PORT  5201
#define DEFAULT_LIMIT 60
#define MAX_SIZE      (16u << 20)

enum mode { MODE_STREAM_UP = 1, MODE_STREAM_DOWN = 2, MODE_RR = 3, MODE_CRR = 4 };

struct hdr {
	uint32_t mode;
	uint32_t size;        /* write size (stream) or message size (rr, crr) */
	uint32_t duration_ms; /* stream down: how long the server writes (0: use bytes) */
	uint64_t bytes;       /* stream down: how much the server writes (0: use duration) */
};

static const char *prog = "tcp_bench";

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: %s server [-b ADDR] [-p PORT] [-c CONNS] [-T LIMIT]\n"
	    "       %s client -m stream|rr|crr -H HOST [-p PORT] [-r up|down] [-s SIZE]\n"
	    "                 [-d SECONDS] [-n COUNT] [-D] [-T LIMIT]\n"
	    "\n"
	    "server: serve connections one after another; -c: exit after CONNS connections\n"
	    "        (default 0: until killed or LIMIT); -b: bind address (default any).\n"
	    "client: -m  stream (bulk transfer), rr (request/response on one connection),\n"
	    "            crr (connect, request/response, close, repeated)\n"
	    "        -r  stream direction: up (client sends, default) or down (server sends)\n"
	    "        -s  write size for stream (default 64K), message size for rr/crr (default 1)\n"
	    "        -d  run for SECONDS (default 2 unless -n is given)\n"
	    "        -n  stream: bytes; rr: transactions; crr: connections\n"
	    "            (both -d and -n: whichever limit is reached first)\n"
	    "        -D  set TCP_NODELAY\n"
	    "both:   -p  port (default %d); -T  hard time limit in seconds (default %d)\n"
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
	if (h->mode < MODE_STREAM_UP || h->mode > MODE_CRR || h->size == 0 || h->size > MAX_SIZE)
		return -1;
	return 0;
}

static void set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		die("setsockopt TCP_NODELAY");
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

/* ------------------------------------------------------------------ */
/* Server                                                              */
/* ------------------------------------------------------------------ */

static void serve_one(int fd, int nodelay)
{
	uint8_t hb[HDR_LEN + 8];
	struct hdr h;
	char *buf;

	if (nodelay)
		set_nodelay(fd);
	if (recv_all(fd, hb, HDR_LEN) < 0 || hdr_decode(hb, &h) < 0) {
		fprintf(stderr, "%s: server: bad or missing header; connection dropped\n", prog);
		return;
	}
	buf = alloc_buf(h.size);
	switch (h.mode) {
	case MODE_STREAM_UP: {
		uint64_t total = drain(fd, buf, h.size);

		put64(hb, total);
		send_all(fd, hb, 8);
		break;
	}
	case MODE_STREAM_DOWN: {
		uint64_t sent = 0, t0 = now_ns();
		uint64_t end = t0 + (uint64_t)h.duration_ms * 1000000u;

		for (;;) {
			size_t len = h.size;

			if (h.bytes) {
				if (sent >= h.bytes)
					break;
				if (h.bytes - sent < len)
					len = (size_t)(h.bytes - sent);
			}
			if (h.duration_ms && now_ns() >= end)
				break;
			send_all(fd, buf, len);
			sent += len;
		}
		break;
	}
	case MODE_RR:
		while (recv_all(fd, buf, h.size) == 0)
			send_all(fd, buf, h.size);
		break;
	case MODE_CRR:
		if (recv_all(fd, buf, h.size) == 0)
			send_all(fd, buf, h.size);
		break;
	}
	free(buf);
}

static int run_server(const char *bind_addr, int port, uint64_t conns, int nodelay)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
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
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind");
	if (listen(lfd, 128) < 0)
		die("listen");
	fprintf(stderr, "%s: server listening on %s:%d\n", prog, bind_addr ? bind_addr : "0.0.0.0",
	        port);
	for (uint64_t n = 0; conns == 0 || n < conns; n++) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR) {
				n--;
				continue;
			}
			die("accept");
		}
		serve_one(fd, nodelay);
		if (close(fd) < 0)
			die("close");
	}
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
};

static int connect_peer(const struct client_opts *o)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	if (o->nodelay)
		set_nodelay(fd);
	while (connect(fd, (const struct sockaddr *)&o->peer, sizeof(o->peer)) < 0) {
		if (errno != EINTR)
			die("connect");
	}
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
	hdr_encode(hb, &h);
	send_all(fd, hb, HDR_LEN);
}

static void client_stream(const struct client_opts *o)
{
	int fd = connect_peer(o);
	char *buf = alloc_buf(o->size);
	uint64_t t0, t1, bytes;

	send_hdr(fd, o, (uint32_t)o->mode);
	t0 = now_ns();
	if (o->mode == MODE_STREAM_UP) {
		uint64_t sent = 0, end = t0 + (uint64_t)(o->seconds * 1e9);
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
		t1 = now_ns();
		bytes = get64(cb);
		if (bytes != sent) {
			fprintf(stderr, "%s: sent %llu bytes but the server received %llu\n", prog,
			        (unsigned long long)sent, (unsigned long long)bytes);
			exit(1);
		}
	} else {
		bytes = drain(fd, buf, o->size);
		t1 = now_ns();
		if (o->count && !o->seconds && bytes != o->count) {
			fprintf(stderr, "%s: expected %llu bytes, received %llu\n", prog,
			        (unsigned long long)o->count, (unsigned long long)bytes);
			exit(1);
		}
	}
	close(fd);
	free(buf);
	double s = (double)(t1 - t0) / 1e9;
	printf("result mode=stream dir=%s size=%u bytes=%llu seconds=%.6f gbit_s=%.4f\n",
	       o->mode == MODE_STREAM_UP ? "up" : "down", o->size, (unsigned long long)bytes, s,
	       (double)bytes * 8 / s / 1e9);
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
	uint64_t t0, t1, end;
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
	printf("result mode=%s size=%u count=%zu seconds=%.6f %s=%.1f p50_us=%.1f p99_us=%.1f\n",
	       crr ? "crr" : "rr", o->size, lat.n, s, crr ? "cps" : "tps", (double)lat.n / s,
	       pct_us(lat.v, lat.n, 50), pct_us(lat.v, lat.n, 99));
	free(lat.v);
	free(buf);
}

int main(int argc, char **argv)
{
	const char *mode = NULL, *host = NULL, *dir = "up", *bind_addr = NULL;
	int port = DEFAULT_PORT, nodelay = 0, server, c;
	double seconds = 0, limit = DEFAULT_LIMIT;
	uint64_t count = 0, conns = 0, size = 0;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "server") == 0)
		server = 1;
	else if (strcmp(argv[1], "client") == 0)
		server = 0;
	else
		usage();
	optind = 2;
	while ((c = getopt(argc, argv, "m:H:p:r:s:d:n:c:b:T:Dh")) != -1) {
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
		case 'D':
			nodelay = 1;
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
		if (mode || host || seconds || count || size) {
			fprintf(stderr, "%s: server takes only -b -p -c -D -T\n", prog);
			usage();
		}
		return run_server(bind_addr, port, conns, nodelay);
	}

	struct client_opts o = {.peer = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)},
	                        .nodelay = nodelay};

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
	} else {
		fprintf(stderr, "%s: -m: '%s' is not stream, rr or crr\n", prog, mode);
		usage();
	}
	o.seconds = seconds;
	o.count = count;
	if (o.mode == MODE_STREAM_UP || o.mode == MODE_STREAM_DOWN)
		client_stream(&o);
	else
		client_rr(&o);
	return 0;
}
