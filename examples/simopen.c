/* simopen: a TCP connection without listen() (TCP/IP Illustrated ch. 18,
 * RFC 9293 §3.5 "simultaneous open").
 *
 *   simopen [-t SECONDS] [-m LINE] LOCAL_PORT PEER_ADDR PEER_PORT
 *
 * Binds LOCAL_PORT and connect()s to PEER_ADDR:PEER_PORT. Nobody listens:
 * the peer runs the same program, pointed back at us. While the peer has not
 * yet called connect() its port answers our SYN with an RST (ECONNREFUSED);
 * we retry until the deadline (-t, default 10 s). When the two SYNs cross,
 * or ours reaches the peer while it waits in SYN_SENT, each side answers the
 * other's SYN with a SYN,ACK and both reach ESTABLISHED: ONE connection,
 * with no listener anywhere.
 *
 * Then each side sends one line (-m, default "hello from PID"), prints the
 * line it receives on stdout, closes its direction (shutdown SHUT_WR), reads
 * to end of stream and closes. Exit status 0 on success, 1 on any failure
 * (with one line on stderr saying what failed).
 *
 * It uses only the ordinary socket API, so it behaves the same on the
 * kernel and under synack:
 *   ip netns exec sk-b simopen 5002 10.77.0.1 5001 &
 *   ip netns exec sk-a synack run --iface veth-sk --addr 10.77.0.1/24 -- \
 *       simopen 5001 10.77.0.2 5002
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int parse_port(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return (*s && !*end && v > 0 && v < 65536) ? (int)v : -1;
}

/* One connection attempt, bounded by `deadline` (CLOCK_MONOTONIC ms).
 * Returns the connected socket, or -1 with errno set (ECONNREFUSED,
 * ETIMEDOUT, ...). A non-blocking connect polled with a timeout keeps the
 * deadline even while SYNs are being retransmitted. */
static int try_connect(const struct sockaddr_in *local, const struct sockaddr_in *peer,
                       long long deadline)
{
	int one = 1, err = 0, fd;
	socklen_t len = sizeof(err);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	/* The same local port is bound again after each refused attempt. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)local, sizeof(*local)) < 0)
		goto fail;
	if (connect(fd, (const struct sockaddr *)peer, sizeof(*peer)) == 0)
		goto connected;
	if (errno != EINPROGRESS)
		goto fail;
	for (;;) {
		long long left = deadline - now_ms();
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int n;

		if (left <= 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno != EINTR)
			goto fail;
		if (n > 0)
			break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		goto fail;
	if (err) {
		errno = err;
		goto fail;
	}
connected:
	/* Back to blocking for the exchange. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in local = {.sin_family = AF_INET}, peer = {.sin_family = AF_INET};
	char line[512], got[512], rest[256];
	const char *msg = NULL;
	double timeout_s = 10;
	size_t used = 0;
	int opt, fd = -1, attempts = 0, lport, pport;
	long long start, deadline;

	while ((opt = getopt(argc, argv, "t:m:")) != -1) {
		switch (opt) {
		case 't':
			timeout_s = atof(optarg);
			break;
		case 'm':
			msg = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 3)
		goto usage;
	lport = parse_port(argv[optind]);
	pport = parse_port(argv[optind + 2]);
	if (lport < 0 || pport < 0 || inet_pton(AF_INET, argv[optind + 1], &peer.sin_addr) != 1 ||
	    timeout_s <= 0)
		goto usage;
	local.sin_port = htons((uint16_t)lport);
	peer.sin_port = htons((uint16_t)pport);
	if (msg)
		snprintf(line, sizeof(line), "%s\n", msg);
	else
		snprintf(line, sizeof(line), "hello from %ld\n", (long)getpid());
	if (strchr(line, '\n') != line + strlen(line) - 1) {
		fprintf(stderr, "simopen: the line must not contain a newline\n");
		return 1;
	}

	start = now_ms();
	deadline = start + (long long)(timeout_s * 1000);
	srand((unsigned)getpid());
	while (fd < 0) {
		attempts++;
		fd = try_connect(&local, &peer, deadline);
		if (fd >= 0)
			break;
		if ((errno != ECONNREFUSED && errno != ETIMEDOUT) || now_ms() >= deadline) {
			fprintf(stderr, "simopen: connect to %s:%d after %d attempt(s): %s\n",
			        argv[optind + 1], pport, attempts, strerror(errno));
			return 1;
		}
		/* The peer is not in connect() yet: its port answered our SYN with
		 * an RST. Retry soon. On a LAN the round trip is tens of µs, so a
		 * socket stays in SYN_SENT only that long before the RST arrives;
		 * the peer's SYN must land in that window. Short random pauses
		 * (0-2 ms) make it happen within a few dozen attempts without
		 * flooding the peer; with longer round trips it comes sooner. */
		sleep_us(rand() % 2000);
	}
	fprintf(stderr, "simopen: connected %d -> %s:%d after %d attempt(s), %lld ms\n", lport,
	        argv[optind + 1], pport, attempts, now_ms() - start);

	if (send_all(fd, line, strlen(line)) < 0) {
		fprintf(stderr, "simopen: send: %s\n", strerror(errno));
		return 1;
	}
	/* Read the peer's line. */
	while (used == 0 || got[used - 1] != '\n') {
		ssize_t n = recv(fd, got + used, sizeof(got) - 1 - used, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || used + (size_t)n >= sizeof(got) - 1) {
			fprintf(stderr, "simopen: recv: %s\n",
			        n < 0    ? strerror(errno)
			        : n == 0 ? "end of stream before a full line"
			                 : "line too long");
			return 1;
		}
		used += (size_t)n;
	}
	got[used] = '\0';
	fputs(got, stdout);
	fflush(stdout);

	/* Our direction is done; the peer closes its own after reading ours. */
	if (shutdown(fd, SHUT_WR) < 0) {
		fprintf(stderr, "simopen: shutdown: %s\n", strerror(errno));
		return 1;
	}
	for (;;) {
		ssize_t n = recv(fd, rest, sizeof(rest), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			break;
		fprintf(stderr, "simopen: after the line: %s\n",
		        n < 0 ? strerror(errno) : "unexpected data instead of end of stream");
		return 1;
	}
	if (close(fd) < 0) {
		fprintf(stderr, "simopen: close: %s\n", strerror(errno));
		return 1;
	}
	return 0;

usage:
	fprintf(stderr, "usage: simopen [-t SECONDS] [-m LINE] LOCAL_PORT PEER_ADDR PEER_PORT\n");
	return 2;
}
