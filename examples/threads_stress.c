/* threads_stress: many threads, many connections, every byte checked.
 *
 *   threads_stress [-t THREADS] [-n CONNS] [-m MAXBYTES] [-T SECONDS] HOST PORT   (client)
 *   threads_stress -l [-T SECONDS] HOST PORT                                     (echo server)
 *
 * Client: THREADS threads (default 8) wait at a barrier, so their first socket calls race
 * (the shim's lazy start must survive that), then each makes CONNS connections (default 100)
 * one after the other: connect, write a random payload of 1..MAXBYTES bytes (default 32768),
 * shutdown(SHUT_WR), read the echo to end of stream, compare, close. Prints one line
 * "verified V/TOTAL" and exits 0 only when every connection was verified; the first failures
 * are described on stderr.
 *
 * Server: accepts forever (or until -T), one detached thread per connection echoing until end
 * of stream, then close. Runs on the kernel or under synack.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in peer;
static int nconns = 100, maxbytes = 32768, timeout_s = 60;
static pthread_barrier_t start;
static atomic_int verified, reported;

static void problem(int thread, int conn, const char *what, int err)
{
	/* A few lines are enough to diagnose; 800 would drown them. */
	if (atomic_fetch_add(&reported, 1) < 10)
		fprintf(stderr, "thread %d connection %d: %s%s%s\n", thread, conn, what,
		        err ? ": " : "", err ? strerror(err) : "");
}

/* xorshift64*: a payload per connection, reproducible from its seed. */
static uint64_t next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static int write_all(int fd, const uint8_t *p, size_t n)
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

/* One connection; true when the echo matched. */
static int one(int thread, int conn, uint64_t *seed, uint8_t *out, uint8_t *in)
{
	struct timeval tv = {.tv_sec = timeout_s};
	size_t len = 1 + next(seed) % (uint64_t)maxbytes, got = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok = 0;

	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(next(seed) >> 56);
	if (fd < 0) {
		problem(thread, conn, "socket", errno);
		return 0;
	}
	/* Bounded: a lost wake-up must show as a failure, not a hang. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&peer, sizeof(peer)) < 0) {
		problem(thread, conn, "connect", errno);
		goto out;
	}
	if (write_all(fd, out, len) < 0) {
		problem(thread, conn, "write", errno);
		goto out;
	}
	if (shutdown(fd, SHUT_WR) < 0) {
		problem(thread, conn, "shutdown", errno);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, in + got, len + 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			problem(thread, conn, "read", errno);
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > len) {
			problem(thread, conn, "the echo is longer than the payload", 0);
			goto out;
		}
	}
	if (got != len || memcmp(in, out, len) != 0) {
		char why[96];

		snprintf(why, sizeof(why), "echo differs (%zu of %zu bytes came back)", got, len);
		problem(thread, conn, why, 0);
		goto out;
	}
	ok = 1;
out:
	if (close(fd) < 0 && ok) {
		problem(thread, conn, "close", errno);
		ok = 0;
	}
	return ok;
}

static void *client_thread(void *arg)
{
	int thread = (int)(intptr_t)arg;
	uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(thread + 1) ^ (uint64_t)time(NULL);
	uint8_t *out = malloc((size_t)maxbytes), *in = malloc((size_t)maxbytes + 1);

	if (!out || !in) {
		problem(thread, -1, "out of memory", 0);
		return NULL;
	}
	pthread_barrier_wait(&start);
	for (int c = 0; c < nconns; c++)
		if (one(thread, c, &seed, out, in))
			atomic_fetch_add(&verified, 1);
	free(out);
	free(in);
	return NULL;
}

static void *echo_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint8_t buf[16384];

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || write_all(fd, buf, (size_t)r) < 0)
			break;
	}
	close(fd);
	return NULL;
}

static int serve(void)
{
	int one = 1, ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pthread_attr_t attr;

	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&peer, sizeof(peer)) < 0 || listen(ls, 512) < 0) {
		perror("threads_stress: listen");
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t t;
		int fd = accept(ls, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			perror("threads_stress: accept");
			return 1;
		}
		if (pthread_create(&t, &attr, echo_thread, (void *)(intptr_t)fd) != 0) {
			fprintf(stderr, "threads_stress: cannot start a thread\n");
			close(fd);
		}
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: threads_stress [-t THREADS] [-n CONNS] [-m MAXBYTES] [-T SECONDS] "
	                "HOST PORT\n       threads_stress -l [-T SECONDS] HOST PORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int nthreads = 8, listen_mode = 0, c;
	pthread_t *tids;

	while ((c = getopt(argc, argv, "lt:n:m:T:")) != -1) {
		switch (c) {
		case 'l': listen_mode = 1; break;
		case 't': nthreads = atoi(optarg); break;
		case 'n': nconns = atoi(optarg); break;
		case 'm': maxbytes = atoi(optarg); break;
		case 'T': timeout_s = atoi(optarg); break;
		default: usage();
		}
	}
	if (argc - optind != 2 || nthreads < 1 || nconns < 1 || maxbytes < 1 || timeout_s < 1)
		usage();
	peer.sin_family = AF_INET;
	peer.sin_port = htons((uint16_t)atoi(argv[optind + 1]));
	if (inet_pton(AF_INET, argv[optind], &peer.sin_addr) != 1)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (listen_mode)
		return serve();

	tids = calloc((size_t)nthreads, sizeof(*tids));
	if (!tids || pthread_barrier_init(&start, NULL, (unsigned)nthreads) != 0)
		return 1;
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&tids[i], NULL, client_thread, (void *)(intptr_t)i) != 0) {
			fprintf(stderr, "threads_stress: cannot start thread %d\n", i);
			return 1;
		}
	for (int i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	printf("verified %d/%d\n", verified, nthreads * nconns);
	free(tids);
	return verified == nthreads * nconns ? 0 : 1;
}
