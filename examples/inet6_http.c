/* inet6_http: HTTP/1.0 over AF_INET6 sockets the way a JVM makes them.
 *
 * Java opens every TCP socket as AF_INET6 (java.net.preferIPv4Stack is
 * false by default) with IPV6_V6ONLY cleared, and reaches IPv4 hosts through
 * IPv4-mapped addresses (::ffff:a.b.c.d, RFC 4291 §2.5.5.2); a connect with
 * a timeout is a non-blocking connect polled until it settles, and a
 * ServerSocket binds :: with SO_REUSEADDR. This program does exactly that,
 * so the same calls can be checked on the kernel and under synack.
 *
 *   inet6_http get ADDR PORT PATH OUT     download http://ADDR:PORT/PATH into OUT
 *   inet6_http serve PORT FILE COUNT [ADDR]  answer COUNT requests with FILE
 *
 * get prints "local ADDR PORT" and "peer ADDR PORT" (getsockname and
 * getpeername, with their lengths), serve prints "listening ADDR PORT" and
 * "accepted PEER local LOCAL len N" per connection. ADDR is an IPv6 address
 * (:: by default for serve). Exit 0 on success, 1 on failure (one line on
 * stderr), 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "inet6_http: %s: %s\n", what, strerror(errno));
	return 1;
}

/* "ADDR PORT" of a sockaddr_in6 (and its length when it is not one). */
static const char *name(const struct sockaddr_in6 *a, socklen_t len, char *buf, size_t n)
{
	char text[INET6_ADDRSTRLEN] = "?";

	if (len != sizeof(*a) || a->sin6_family != AF_INET6) {
		snprintf(buf, n, "(family %d, length %u)", a->sin6_family, (unsigned)len);
		return buf;
	}
	inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
	snprintf(buf, n, "%s %u flowinfo %u scope %u", text, ntohs(a->sin6_port),
	         (unsigned)a->sin6_flowinfo, (unsigned)a->sin6_scope_id);
	return buf;
}

/* socket(AF_INET6) as Net.socket0 makes it: dual stack. */
static int java_socket(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0), off = 0;

	if (fd >= 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int parse(const char *addr, const char *port, struct sockaddr_in6 *out)
{
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	out->sin6_port = htons((uint16_t)atoi(port));
	return inet_pton(AF_INET6, addr, &out->sin6_addr) == 1 ? 0 : -1;
}

/* Socket.connect(addr, timeout): non-blocking connect, poll, SO_ERROR. */
static int java_connect(int fd, const struct sockaddr_in6 *to, int timeout_ms)
{
	int fl = fcntl(fd, F_GETFL), err = 0;
	socklen_t l = sizeof(err);
	struct pollfd p = {.fd = fd, .events = POLLOUT};

	if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0) {
		if (errno != EINPROGRESS)
			return -1;
		if (poll(&p, 1, timeout_ms) != 1) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
			return -1;
		if (err) {
			errno = err;
			return -1;
		}
	}
	return fcntl(fd, F_SETFL, fl);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int get(const char *addr, const char *port, const char *path, const char *out)
{
	struct sockaddr_in6 to, me, peer;
	socklen_t ml = sizeof(me), pl = sizeof(peer);
	char req[512], buf[65536], a[128], b[128];
	int fd = java_socket(), one = 1, in_body = 0, ofd;
	size_t head = 0;
	ssize_t n;
	FILE *f;

	if (fd < 0)
		return die("socket");
	if (parse(addr, port, &to) < 0) {
		fprintf(stderr, "inet6_http: %s is not an IPv6 address\n", addr);
		return 2;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (java_connect(fd, &to, 10000) < 0)
		return die("connect");
	if (getsockname(fd, (struct sockaddr *)&me, &ml) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
		return die("getsockname/getpeername");
	printf("local %s\npeer %s\n", name(&me, ml, a, sizeof(a)), name(&peer, pl, b, sizeof(b)));
	snprintf(req, sizeof(req), "GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr);
	if (write_all(fd, req, strlen(req)) < 0)
		return die("write");
	ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (ofd < 0 || !(f = fdopen(ofd, "w")))
		return die(out);
	/* The body starts after the first empty line. */
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		ssize_t i = 0;

		for (; !in_body && i < n; i++) {
			head = buf[i] == '\n' ? (head == 1 || head == 2 ? 3 : 1)
			       : buf[i] == '\r' && head == 1 ? 2
			                                     : 0;
			in_body = head == 3;
		}
		if (in_body && i < n && fwrite(buf + i, 1, (size_t)(n - i), f) != (size_t)(n - i))
			return die(out);
	}
	if (n < 0)
		return die("read");
	if (fclose(f) != 0)
		return die(out);
	close(fd);
	printf("done\n");
	return 0;
}

static int serve(const char *port, const char *file, int count, const char *addr)
{
	struct sockaddr_in6 me;
	socklen_t ml = sizeof(me);
	int ls = java_socket(), one = 1;
	char a[128], b[128], buf[4096], hdr[128];
	FILE *f = fopen(file, "rb");
	char *body;
	long size;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
		return die(file);
	body = malloc((size_t)size + 1);
	if (!body || fread(body, 1, (size_t)size, f) != (size_t)size)
		return die(file);
	fclose(f);
	if (ls < 0)
		return die("socket");
	if (parse(addr, port, &me) < 0) {
		fprintf(stderr, "inet6_http: %s is not an IPv6 address\n", addr);
		return 2;
	}
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&me, sizeof(me)) < 0)
		return die("bind");
	if (listen(ls, 50) < 0)
		return die("listen");
	if (getsockname(ls, (struct sockaddr *)&me, &ml) < 0)
		return die("getsockname");
	printf("listening %s\n", name(&me, ml, a, sizeof(a)));
	fflush(stdout);
	for (int i = 0; i < count; i++) {
		struct sockaddr_in6 peer, local;
		socklen_t pl = sizeof(peer), ll = sizeof(local);
		int c = accept(ls, (struct sockaddr *)&peer, &pl), head = 0;
		ssize_t n;

		if (c < 0)
			return die("accept");
		if (getsockname(c, (struct sockaddr *)&local, &ll) < 0)
			return die("getsockname");
		printf("accepted %s local %s len %u\n", name(&peer, pl, a, sizeof(a)),
		       name(&local, ll, b, sizeof(b)), (unsigned)pl);
		fflush(stdout);
		/* The request ends with an empty line. */
		while (head < 3 && (n = read(c, buf, sizeof(buf))) > 0)
			for (ssize_t k = 0; k < n && head < 3; k++)
				head = buf[k] == '\n' ? (head == 1 || head == 2 ? 3 : 1)
				       : buf[k] == '\r' && head == 1 ? 2
				                                     : 0;
		snprintf(hdr, sizeof(hdr), "HTTP/1.0 200 OK\r\nContent-Length: %ld\r\n\r\n", size);
		if (write_all(c, hdr, strlen(hdr)) < 0 || write_all(c, body, (size_t)size) < 0)
			return die("write");
		close(c);
	}
	free(body);
	close(ls);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 6 && strcmp(argv[1], "get") == 0)
		return get(argv[2], argv[3], argv[4], argv[5]);
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], argv[3], atoi(argv[4]), argc == 6 ? argv[5] : "::");
	fprintf(stderr, "usage: inet6_http get ADDR PORT PATH OUT | serve PORT FILE COUNT [ADDR]\n");
	return 2;
}
