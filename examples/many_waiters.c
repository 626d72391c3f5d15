/* many_waiters: many threads of one process, each blocked in recv() on its own connection at
 * the same time; each must get exactly its own connection's bytes, and every one must wake.
 *
 *   many_waiters peer ADDR PORT THREADS ROUNDS   (the kernel peer: listens on ADDR:PORT)
 *   many_waiters run  ADDR PORT THREADS ROUNDS   (the program under test: connects to it)
 *
 * `run` opens a control connection (first line "control"), then starts THREADS threads; each
 * connects (first line "data I", I its index) and, ROUNDS times, blocks in recv() until the
 * round's payload of its connection is complete, and checks it byte for byte: its length and
 * content are a function of (I, round), so bytes of another connection or another round, a
 * byte too many or too few, all show. After the last round the peer closes every connection:
 * the next recv() must say end of stream (nothing more came).
 *
 * Before each round the main thread waits until every thread has finished the previous round
 * and sleeps in recv() (its /proc syscall file names the call it is blocked in: recvfrom on
 * the kernel, ppoll under synack, where a waiting thread polls the packet socket itself,
 * docs/architecture.md "Threads"), and only then tells the peer "go ROUND" on the control
 * connection. The peer sends the round's payloads one connection after the other, in an order
 * that is never the threads' order (reversed, rotated by the round). So in every round all
 * THREADS threads are asleep when the first byte arrives, and the frames that wake them are
 * read by whichever thread polls.
 *
 * Nothing waits forever: when the threads are not all asleep in recv() for the next round (or
 * done, after the last) within WAIT_S of the previous "go", the main thread reports each one
 * that is not, e.g. one never woken for a round sent, and exits. `run` prints one line
 * per thread, "ok thread I: ..." or "FAIL thread I: why", and exits 0 only when every thread
 * got every round. `peer` prints what it sent and exits 0 when it served every round.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define WAIT_S      20 /* bound of every wait (never reached when it works) */
#define MAX_THREADS 64
#define MAX_ROUNDS  100
#define MAX_PAYLOAD 4096 /* > payload(MAX_THREADS - 1, MAX_ROUNDS - 1) */

static struct sockaddr_in addr;
static int nthreads, nrounds;

static void die(const char *what)
{
	fprintf(stderr, "many_waiters: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The payload of connection i in round r: "conn I round R:" then letters, 100 + 37 I + 13 R
 * bytes in all (so no two connections of a round have the same length). */
static size_t payload(int i, int r, char *buf)
{
	size_t len = 100 + 37 * (size_t)i + 13 * (size_t)r;
	int n = snprintf(buf, MAX_PAYLOAD, "conn %d round %d:", i, r);

	for (size_t k = (size_t)n; k < len; k++)
		buf[k] = (char)('a' + (i * 7 + r * 3 + (int)k) % 26);
	return len;
}

/* A blocking send on a stream socket returns once all of it is queued, or fails; no signal
 * handler here could cut it short (tcp_sendmsg). */
static int write_all(int fd, const char *p, size_t n)
{
	return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/* One line (at most size-1 bytes, without its '\n'), read a byte at a time so that nothing
 * after it is taken. */
static int read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}

/* ADDR PORT THREADS ROUNDS, from argv[2] on. */
static int parse(char **argv)
{
	addr =
	    (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
	nthreads = atoi(argv[4]);
	nrounds = atoi(argv[5]);
	if (inet_pton(AF_INET, argv[2], &addr.sin_addr) != 1 || nthreads < 3 ||
	    nthreads > MAX_THREADS || nrounds < 1 || nrounds > MAX_ROUNDS) {
		fprintf(stderr, "many_waiters: bad arguments (THREADS 3..%d, ROUNDS 1..%d)\n",
		        MAX_THREADS, MAX_ROUNDS);
		return -1;
	}
	return 0;
}

/* ---- the peer ---------------------------------------------------------------------------- */

static int peer_main(void)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1, control = -1, conn[MAX_THREADS];
	char line[64], buf[MAX_PAYLOAD];

	for (int i = 0; i < nthreads; i++)
		conn[i] = -1;
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(ls, MAX_THREADS + 1) < 0)
		die("listen");
	printf("listening\n");
	fflush(stdout);
	/* The control connection and one per thread, in whatever order they come. */
	for (int k = 0; k <= nthreads; k++) {
		int c = accept(ls, NULL, NULL), i;

		if (c < 0 || read_line(c, line, sizeof(line)) < 0)
			die("accept");
		if (strcmp(line, "control") == 0 && control < 0) {
			control = c;
		} else if (sscanf(line, "data %d", &i) == 1 && i >= 0 && i < nthreads &&
		           conn[i] < 0) {
			conn[i] = c;
		} else {
			fprintf(stderr, "many_waiters peer: unexpected first line '%s'\n", line);
			return 1;
		}
	}
	for (int r = 0; r < nrounds; r++) {
		int want;

		if (read_line(control, line, sizeof(line)) < 0 ||
		    sscanf(line, "go %d", &want) != 1 || want != r) {
			fprintf(stderr,
			        "many_waiters peer: round %d: no 'go %d' from the program\n", r, r);
			return 1;
		}
		printf("round %d: sent to", r);
		for (int k = 0; k < nthreads; k++) {
			/* Reversed, rotated by the round: never 0, 1, 2... */
			int i = (nthreads - 1 - k + 3 * r) % nthreads;
			size_t len = payload(i, r, buf);

			if (write_all(conn[i], buf, len) < 0)
				die("send");
			printf(" %d", i);
		}
		printf("\n");
		fflush(stdout);
	}
	/* The end of every stream: nothing follows the last round. */
	for (int i = 0; i < nthreads; i++)
		close(conn[i]);
	/* The program closes the control connection when it is done. */
	while (read(control, buf, sizeof(buf)) > 0)
		;
	printf("served %d rounds to %d connections\n", nrounds, nthreads);
	return 0;
}

/* ---- the program under test ------------------------------------------------------------- */

enum { T_STARTING = -1, T_DONE = -2, T_FAILED = -3 };

struct waiter {
	pthread_t th;
	int index;
	/* The round it waits for (0..nrounds-1; nrounds: the end of stream), or T_*. */
	atomic_int state;
	atomic_int tid;
	char why[256];
};

static struct waiter waiters[MAX_THREADS];

static void failed(struct waiter *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failed(struct waiter *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->why, sizeof(w->why), fmt, ap);
	va_end(ap);
	atomic_store(&w->state, T_FAILED);
}

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	char hello[32], want[MAX_PAYLOAD], got[MAX_PAYLOAD + 1];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ssize_t n;

	atomic_store(&w->tid, (int)gettid());
	snprintf(hello, sizeof(hello), "data %d\n", w->index);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    write_all(fd, hello, strlen(hello)) < 0) {
		failed(w, "connecting: %s", strerror(errno));
		return NULL;
	}
	/* No receive timeout: a thread never woken sleeps on, and the main thread reports it
	 * (a timeout would return the bytes that reached its buffer, hiding the lost wake-up). */
	for (int r = 0; r < nrounds; r++) {
		size_t len = payload(w->index, r, want), have = 0;

		atomic_store(&w->state, r);
		while (have < len) {
			/* Room for more than the payload: a byte too many shows. */
			n = recv(fd, got + have, sizeof(got) - have, 0);
			if (n <= 0) {
				failed(w, "round %d: %zu of %zu bytes, then %s", r, have, len,
				       n == 0 ? "end of stream" : strerror(errno));
				return NULL;
			}
			have += (size_t)n;
		}
		if (have != len || memcmp(got, want, len) != 0) {
			got[have] = '\0';
			failed(w, "round %d: %zu bytes \"%.40s...\", want %zu \"%.40s...\"", r,
			       have, got, len, want);
			return NULL;
		}
	}
	atomic_store(&w->state, nrounds);
	n = recv(fd, got, sizeof(got), 0);
	if (n != 0) {
		if (n > 0)
			failed(w, "%zd bytes after the last round", n);
		else
			failed(w, "after the last round: %s", strerror(errno));
		return NULL;
	}
	close(fd);
	atomic_store(&w->state, T_DONE);
	return NULL;
}

/* Is thread tid asleep in recv()? On the kernel it sleeps in recvfrom (glibc's recv), under
 * synack in ppoll (rt_wait, shim/runtime/runtime.c). proc(5): the file starts with the number
 * of the call the thread is blocked in, and says "running" while it runs. */
static bool asleep_in_recv(int tid)
{
	char path[64], buf[128];
	long nr = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%ld", &nr) != 1)
		nr = -1;
	fclose(f);
	return nr == SYS_recvfrom || nr == SYS_ppoll;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait (at most WAIT_S) until every thread waits for round r and sleeps in recv(), or has
 * stopped (done or failed). True when all sleep in recv() for round r. */
static bool all_asleep_for(int r)
{
	long end = now_ms() + WAIT_S * 1000;

	for (;;) {
		int asleep = 0, stopped = 0;

		for (int i = 0; i < nthreads; i++) {
			int s = atomic_load(&waiters[i].state);

			if (s == T_DONE || s == T_FAILED)
				stopped++;
			else if (s == r && asleep_in_recv(atomic_load(&waiters[i].tid)))
				asleep++;
		}
		if (asleep == nthreads)
			return true;
		if (stopped > 0 || now_ms() >= end)
			return false;
		usleep(1000);
	}
}

/* Why thread i has not done what the main thread waited for: being asleep in recv() for round
 * `target` (nrounds: reading the end of stream). */
static void report_stuck(int i, int target)
{
	int s = atomic_load(&waiters[i].state);

	if (s == T_FAILED)
		printf("FAIL thread %d: %s\n", i, waiters[i].why);
	else if (s == T_STARTING)
		printf("FAIL thread %d: not connected after %d s\n", i, WAIT_S);
	else if (s < target)
		printf("FAIL thread %d: never woken: still in recv() for round %d %d s after the "
		       "peer sent it\n",
		       i, s, WAIT_S);
	else if (s == nrounds)
		printf(
		    "FAIL thread %d: never woken: still in recv() %d s after the peer closed the "
		    "connection\n",
		    i, WAIT_S);
	else
		printf("FAIL thread %d: not asleep in recv() for round %d within %d s\n", i, s,
		       WAIT_S);
}

static int run_main(void)
{
	int control = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), bad = 0, r;
	char line[32];
	long end;

	if (control < 0 || connect(control, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    write_all(control, "control\n", 8) < 0)
		die("control connection");
	for (int i = 0; i < nthreads; i++) {
		int err;

		waiters[i].index = i;
		atomic_store(&waiters[i].state, T_STARTING);
		err = pthread_create(&waiters[i].th, NULL, waiter_main, &waiters[i]);
		if (err) {
			errno = err;
			die("pthread_create");
		}
	}
	for (r = 0; r < nrounds; r++) {
		if (!all_asleep_for(r))
			break;
		snprintf(line, sizeof(line), "go %d\n", r);
		if (write_all(control, line, strlen(line)) < 0)
			die("control connection");
	}
	/* After the last round each thread reads to the end of its stream and stops. */
	end = now_ms() + WAIT_S * 1000;
	for (int i = 0; r == nrounds && i < nthreads; i++)
		while (atomic_load(&waiters[i].state) >= 0 && now_ms() < end)
			usleep(1000);
	for (int i = 0; i < nthreads; i++) {
		if (atomic_load(&waiters[i].state) == T_DONE) {
			printf(
			    "ok thread %d: woken %d times with exactly its own bytes, then end of "
			    "stream\n",
			    i, nrounds);
		} else {
			report_stuck(i, r);
			bad++;
		}
	}
	fflush(stdout);
	if (bad)
		_exit(1); /* threads may sleep on: do not wait for them */
	for (int i = 0; i < nthreads; i++)
		pthread_join(waiters[i].th, NULL);
	close(control);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && parse(argv) == 0) {
		if (strcmp(argv[1], "peer") == 0)
			return peer_main();
		if (strcmp(argv[1], "run") == 0)
			return run_main();
	}
	fprintf(stderr, "usage: many_waiters peer ADDR PORT THREADS ROUNDS\n"
	                "       many_waiters run  ADDR PORT THREADS ROUNDS\n");
	return 2;
}
