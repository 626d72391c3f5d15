/* loopback_bench: a program talking to itself over TCP, for the choice of
 * docs/architecture.md, "Connections to our own address": one process, a
 * server thread listening on 0.0.0.0:PORT and a client connecting to
 * HOST:PORT. Under synack, HOST = synack's address goes through synack's own
 * stack (core/loopback.c), HOST = 127.0.0.1 through the kernel's loopback
 * (the listener's kernel side, shim/socket/kside.h); without synack both are the
 * kernel's.
 *
 *   loopback_bench HOST PORT MIB ROUNDS
 *
 * Prints "stream MB/s" (MIB MiB from the client to the server, in 64 KiB
 * writes, timed until the server has them all), "rr us" (ROUNDS 1-byte
 * ping-pongs on one connection, mean round trip) and "crr us" (ROUNDS/10
 * connect + 1-byte exchange + close, mean).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port, listener;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* Each connection: a 1-byte mode ('s' stream: read to EOF, answer 1 byte;
 * 'r' rr: echo bytes until EOF). */
static void *server(void *arg)
{
	static char buf[1 << 16];

	(void)arg;
	for (;;) {
		int c = accept(listener, NULL, NULL), one = 1;
		char mode;
		ssize_t n;

		if (c < 0)
			return NULL; /* the listener closed at exit */
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (read(c, &mode, 1) != 1) {
			close(c);
			continue;
		}
		if (mode == 's') {
			while ((n = read(c, buf, sizeof(buf))) > 0)
				;
			(void)!write(c, "k", 1);
		} else {
			while ((n = read(c, buf, sizeof(buf))) > 0)
				if (write(c, buf, (size_t)n) != n)
					break;
		}
		close(c);
	}
	return NULL;
}

static int dial(const char *host, char mode)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1)
		die("socket");
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (write(fd, &mode, 1) != 1)
		die("write");
	return fd;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	static char buf[1 << 16];
	long mib, rounds;
	pthread_t t;
	double t0, stream, rr, crr;
	int fd, one = 1;
	char c;

	if (argc != 5) {
		fprintf(stderr, "usage: loopback_bench HOST PORT MIB ROUNDS\n");
		return 2;
	}
	port = atoi(argv[2]);
	mib = atol(argv[3]);
	rounds = atol(argv[4]);
	a.sin_port = htons((uint16_t)port);
	listener = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(listener, 16) < 0)
		die("listen");
	pthread_create(&t, NULL, server, NULL);

	memset(buf, 'x', sizeof(buf));
	fd = dial(argv[1], 's');
	t0 = now();
	for (long i = 0; i < mib * 16; i++)
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			die("write");
	shutdown(fd, SHUT_WR);
	if (read(fd, &c, 1) != 1)
		die("read");
	stream = (double)mib * 1048576 / (now() - t0) / 1e6;
	close(fd);

	fd = dial(argv[1], 'r');
	t0 = now();
	for (long i = 0; i < rounds; i++)
		if (write(fd, "p", 1) != 1 || read(fd, &c, 1) != 1)
			die("rr");
	rr = (now() - t0) / (double)rounds * 1e6;
	close(fd);

	t0 = now();
	for (long i = 0; i < rounds / 10; i++) {
		fd = dial(argv[1], 'r');
		if (write(fd, "p", 1) != 1 || read(fd, &c, 1) != 1)
			die("crr");
		close(fd);
	}
	crr = (now() - t0) / (double)(rounds / 10) * 1e6;
	printf("%s stream %.0f MB/s rr %.1f us crr %.1f us\n", argv[1], stream, rr, crr);
	return 0;
}
