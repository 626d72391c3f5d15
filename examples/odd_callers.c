/* odd_callers: socket calls from awkward places, each checked against an
 * echo server (tests/lab/90-odd-callers.sh runs it under synack, strict).
 *
 *   odd_callers ADDR PORT     (libearly.so also reads $ODD_PEER/$ODD_PORT)
 *
 * Cases, one line each ("ok CASE" or "FAIL CASE: why"):
 *   constructor  libearly.so's constructor connected and exchanged a line before main
 *   sigalrm-eintr     a SIGALRM handler (no SA_RESTART) sends on an established socket
 *                     while main is blocked in recv() on another: the send goes out and
 *                     is echoed, recv() fails with EINTR (nothing had arrived), as on Linux
 *   sigalrm-restart   the same handler with SA_RESTART sends on the socket main is blocked
 *                     on: recv() is restarted and completes with the echo
 *   signal-in-call    a thread in a tight send/recv loop is hit by thousands of signals whose
 *                     handler does a non-blocking send on another socket: no crash, no
 *                     deadlock (watchdog), every byte of both streams checked; the
 *                     loop's blocking connect may itself fail with EINTR and is then
 *                     completed as on Linux (poll for POLLOUT, SO_ERROR)
 *   handlers          what sigaction() and signal() read back is the program's own handler
 *                     and flags (SA_SIGINFO only when asked for), SA_RESETHAND resets after
 *                     one delivery, a queued signal's siginfo (sigqueue value, SI_QUEUE)
 *                     reaches an SA_SIGINFO handler: synack installs handlers behind its
 *                     own (shim/intercept/sigguard.h), which must not show; sysv_signal,
 *                     bsd_signal and sigset behave as glibc's; then handlers
 *                     that re-install themselves with signal() hit a thread installing
 *                     handlers in a loop (no deadlock on synack's table of handlers)
 *   atexit            an atexit() handler connects and exchanges a line (exit status 1 if not)
 * Exit 0 only if every case passed. A watchdog thread ends the process (exit 3) after 60 s.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

extern int early_status;
extern char early_detail[];

static struct sockaddr_in peer;
static int failures;
static atomic_int dial_interrupted; /* connects that returned EINTR and were completed */

static void report(const char *name, int ok, const char *why)
{
	if (ok)
		printf("ok %s\n", name);
	else {
		printf("FAIL %s: %s\n", name, why);
		failures++;
	}
	fflush(stdout);
}

/* A blocking connect interrupted by a signal whose handler has no SA_RESTART
 * fails with EINTR while the handshake goes on in the background (connect(2),
 * signal(7)): wait for it as Linux programs do, poll for POLLOUT (EINTR
 * retried, 10 s bound) and read SO_ERROR. 0, or -1 with errno set. */
static int finish_connect(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	struct timespec start, now;
	int err = 0;
	socklen_t len = sizeof(err);

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		long left;
		int n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = 10000 - ((now.tv_sec - start.tv_sec) * 1000 +
		                (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n > 0)
			break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return -1;
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&peer, sizeof(peer)) != 0) {
		int e = errno;

		if (e == EINTR) {
			atomic_fetch_add(&dial_interrupted, 1);
			if (finish_connect(fd) == 0)
				return fd;
			e = errno;
		}

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Read exactly len bytes (EINTR retried); 0 or -1 (errno set, EPROTO on EOF). */
static int read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPROTO;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const char *buf, size_t len)
{
	size_t put = 0;

	while (put < len) {
		ssize_t n = send(fd, buf + put, len - put, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		put += (size_t)n;
	}
	return 0;
}

/* Send a line and check its echo; 0, or -1 with why filled in. */
static int exchange(int fd, const char *line, char *why, size_t whylen)
{
	char buf[256];
	size_t len = strlen(line);

	if (write_full(fd, line, len) != 0) {
		snprintf(why, whylen, "send: %s", strerror(errno));
		return -1;
	}
	if (read_full(fd, buf, len) != 0) {
		snprintf(why, whylen, "recv: %s", strerror(errno));
		return -1;
	}
	if (memcmp(buf, line, len) != 0) {
		snprintf(why, whylen, "echo differs");
		return -1;
	}
	return 0;
}

/* ---- watchdog ------------------------------------------------------ */

static void *watchdog(void *arg)
{
	static const char msg[] = "FAIL watchdog: still running after 60 s (deadlock?)\n";
	struct timespec ts = {60, 0};

	(void)arg;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	(void)!write(1, msg, sizeof(msg) - 1);
	_exit(3);
	return NULL;
}

static void start_watchdog(void)
{
	sigset_t all, old;
	pthread_t t;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* the watchdog takes no signal */
	if (pthread_create(&t, NULL, watchdog, NULL) == 0)
		pthread_detach(t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- SIGALRM while main is blocked in recv() ----------------------- */

static int alrm_fd;
static volatile sig_atomic_t alrm_sent, alrm_errno, alrm_ran;

static void on_alrm(int sig)
{
	int saved = errno;
	ssize_t n = send(alrm_fd, "from a handler\n", 15, MSG_DONTWAIT | MSG_NOSIGNAL);

	(void)sig;
	alrm_sent = (sig_atomic_t)n;
	alrm_errno = n < 0 ? errno : 0;
	alrm_ran = 1;
	errno = saved;
}

static void arm_alarm(int restart)
{
	struct sigaction sa;
	struct itimerval it = {{0, 0}, {0, 200000}};

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alrm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGALRM, &sa, NULL);
	alrm_ran = 0;
	alrm_sent = 0;
	alrm_errno = 0;
	setitimer(ITIMER_REAL, &it, NULL);
}

static void case_sigalrm(void)
{
	char why[200], buf[64];
	int a = dial(), b = a >= 0 ? dial() : -1;
	ssize_t n;
	int e;

	if (a < 0 || b < 0) {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		report("sigalrm-eintr", 0, why);
		report("sigalrm-restart", 0, why);
		return;
	}
	/* 1. No SA_RESTART: the handler sends on b; main's recv on a fails with EINTR. */
	alrm_fd = b;
	arm_alarm(0);
	n = recv(a, buf, sizeof(buf), 0);
	e = errno;
	if (n != -1 || e != EINTR)
		snprintf(why, sizeof(why), "recv returned %zd (%s), want -1 EINTR", n,
		         n < 0 ? strerror(e) : "data");
	else if (!alrm_ran || alrm_sent != 15)
		snprintf(why, sizeof(why), "the handler's send returned %d (%s), want 15",
		         (int)alrm_sent, alrm_errno ? strerror(alrm_errno) : "-");
	else if (read_full(b, buf, 15) != 0 || memcmp(buf, "from a handler\n", 15) != 0)
		snprintf(why, sizeof(why), "the handler's line was not echoed on the other socket");
	else if (exchange(a, "after EINTR\n", why, sizeof(why)) == 0)
		why[0] = '\0';
	report("sigalrm-eintr", why[0] == '\0', why);

	/* 2. SA_RESTART: the handler sends on a itself; main's recv on a is restarted and
	 * completes with the echo. */
	alrm_fd = a;
	arm_alarm(1);
	n = recv(a, buf, 15, MSG_WAITALL);
	e = errno;
	if (n != 15)
		snprintf(why, sizeof(why), "recv returned %zd (%s), want 15 echoed bytes", n,
		         n < 0 ? strerror(e) : "short");
	else if (!alrm_ran || alrm_sent != 15)
		snprintf(why, sizeof(why), "the handler's send returned %d (%s), want 15",
		         (int)alrm_sent, alrm_errno ? strerror(alrm_errno) : "-");
	else if (memcmp(buf, "from a handler\n", 15) != 0)
		snprintf(why, sizeof(why), "echo differs");
	else
		why[0] = '\0';
	report("sigalrm-restart", why[0] == '\0', why);
	signal(SIGALRM, SIG_DFL);
	close(a);
	close(b);
}

/* ---- signals hitting a thread inside synack calls ------------------ */

#define LOOP_CHUNK 1024

static int usr_fd;
static atomic_long usr_hits, usr_sent, usr_eagain, usr_bad;
static atomic_int usr_bad_errno;
static atomic_int loop_stop;

static void on_usr1(int sig)
{
	int saved = errno;
	ssize_t n;

	(void)sig;
	atomic_fetch_add(&usr_hits, 1);
	n = send(usr_fd, "d", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == 1)
		atomic_fetch_add(&usr_sent, 1);
	else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		atomic_fetch_add(&usr_eagain, 1);
	else {
		atomic_fetch_add(&usr_bad, 1);
		atomic_store(&usr_bad_errno, n < 0 ? errno : 0);
	}
	errno = saved;
}

struct loop_result {
	long rounds;
	char why[200];
};

static void *send_recv_loop(void *arg)
{
	struct loop_result *res = arg;
	static char out[LOOP_CHUNK], in[LOOP_CHUNK];
	int fd = dial();

	if (fd < 0) {
		snprintf(res->why, sizeof(res->why), "connect: %s", strerror(errno));
		return NULL;
	}
	while (!atomic_load(&loop_stop)) {
		for (int i = 0; i < LOOP_CHUNK; i++)
			out[i] = (char)(res->rounds * 31 + i);
		if (write_full(fd, out, LOOP_CHUNK) != 0 || read_full(fd, in, LOOP_CHUNK) != 0) {
			snprintf(res->why, sizeof(res->why), "round %ld: %s", res->rounds,
			         strerror(errno));
			break;
		}
		if (memcmp(in, out, LOOP_CHUNK) != 0) {
			snprintf(res->why, sizeof(res->why), "round %ld: echo differs",
			         res->rounds);
			break;
		}
		res->rounds++;
	}
	close(fd);
	return NULL;
}

static void case_signal_in_call(void)
{
	struct loop_result res = {0, ""};
	struct sigaction sa;
	struct timespec start, now, gap = {0, 200000};
	char why[240], buf[4096];
	pthread_t t;
	long sent, got = 0;

	usr_fd = dial();
	if (usr_fd < 0) {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		report("signal-in-call", 0, why);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: the loop sees EINTR and retries */
	sigaction(SIGUSR1, &sa, NULL);
	if (pthread_create(&t, NULL, send_recv_loop, &res) != 0) {
		report("signal-in-call", 0, "pthread_create failed");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		pthread_kill(t, SIGUSR1);
		nanosleep(&gap, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec < 3 && !res.why[0]);
	atomic_store(&loop_stop, 1);
	pthread_join(t, NULL);
	/* Every byte the handler managed to send comes back. */
	sent = atomic_load(&usr_sent);
	while (got < sent) {
		size_t want =
		    (size_t)(sent - got) < sizeof(buf) ? (size_t)(sent - got) : sizeof(buf);

		if (read_full(usr_fd, buf, want) != 0)
			break;
		for (size_t i = 0; i < want; i++)
			if (buf[i] != 'd')
				goto done;
		got += (long)want;
	}
done:
	if (res.why[0])
		snprintf(why, sizeof(why), "the send/recv loop failed: %s", res.why);
	else if (atomic_load(&usr_bad))
		snprintf(why, sizeof(why),
		         "%ld of the handler's non-blocking sends failed otherwise than EAGAIN "
		         "(last: %s)",
		         atomic_load(&usr_bad), strerror(atomic_load(&usr_bad_errno)));
	else if (got != sent)
		snprintf(why, sizeof(why), "%ld of the handler's %ld bytes echoed", got, sent);
	else if (res.rounds < 10 || atomic_load(&usr_hits) < 100 || sent == 0)
		snprintf(why, sizeof(why), "too little happened: %ld rounds, %ld signals, %ld sent",
		         res.rounds, atomic_load(&usr_hits), sent);
	else
		why[0] = '\0';
	if (!why[0]) {
		snprintf(why, sizeof(why),
		         "signal-in-call (%ld rounds of %d bytes, %ld signals, "
		         "%ld handler sends echoed, %ld EAGAIN, %d connect EINTR)",
		         res.rounds, LOOP_CHUNK, atomic_load(&usr_hits), sent,
		         atomic_load(&usr_eagain), atomic_load(&dial_interrupted));
		report(why, 1, "");
	} else {
		report("signal-in-call", 0, why);
	}
	signal(SIGUSR1, SIG_DFL);
	close(usr_fd);
}

/* ---- handlers as the program sees them ----------------------------- */

static volatile sig_atomic_t plain_hits, info_value, info_code;

static void on_plain(int sig)
{
	(void)sig;
	plain_hits++;
}

static void on_info(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	info_value = si->si_value.sival_int;
	info_code = si->si_code;
}

/* SysV style: the handler installs itself again. */
static volatile sig_atomic_t reinstall_hits;

static void on_reinstall(int sig)
{
	int saved = errno;

	signal(sig, on_reinstall);
	reinstall_hits++;
	errno = saved;
}

struct pelter {
	pthread_t target;
	atomic_int stop;
};

static void *pelt(void *arg)
{
	struct pelter *p = arg;
	struct timespec gap = {0, 20000};

	while (!atomic_load(&p->stop)) {
		pthread_kill(p->target, SIGUSR2);
		nanosleep(&gap, NULL);
	}
	return NULL;
}

/* Signals whose handler calls signal() hit a thread that is itself
 * installing handlers in a loop: no deadlock (the watchdog would end the
 * process), every call succeeds. */
static void reinstall_storm(char *why, size_t len)
{
	struct pelter p = {.target = pthread_self()};
	struct sigaction a;
	pthread_t t;
	int bad = 0;

	signal(SIGUSR2, on_reinstall);
	if (pthread_create(&t, NULL, pelt, &p) != 0) {
		snprintf(why, len, "pthread_create failed");
		return;
	}
	memset(&a, 0, sizeof(a));
	sigemptyset(&a.sa_mask);
	/* Until 200 signals have hit, however long the pelter takes to get
	 * going (the watchdog bounds it). */
	for (long i = 0; reinstall_hits < 200; i++) {
		a.sa_handler = (i & 1) ? on_plain : SIG_IGN;
		bad += sigaction(SIGURG, &a, NULL) != 0;
	}
	atomic_store(&p.stop, 1);
	pthread_join(t, NULL);
	signal(SIGUSR2, SIG_DFL);
	signal(SIGURG, SIG_DFL);
	if (bad)
		snprintf(why, len, "reinstalling handlers: %d sigaction failures, %d signals handled",
		         bad, (int)reinstall_hits);
}

/* Not declared without X/Open's old interfaces; still in glibc. */
extern sighandler_t bsd_signal(int sig, sighandler_t handler);

/* The older calls glibc implements with its own sigaction: System V's
 * sysv_signal (once, then SIG_DFL) and sigset (SIG_HOLD blocks; a handler
 * unblocks, and says SIG_HOLD was there), BSD's bsd_signal (restarting). */
static void older_calls(char *why, size_t len)
{
	struct sigaction o;
	sigset_t m;
	sighandler_t prev;

	plain_hits = 0;
	prev = sysv_signal(SIGUSR2, on_plain);
	raise(SIGUSR2);
	if (prev != SIG_DFL || plain_hits != 1 || sigaction(SIGUSR2, NULL, &o) != 0 ||
	    o.sa_handler != SIG_DFL) {
		snprintf(why, len, "sysv_signal: returned %p, %d deliveries, then %p", (void *)prev,
		         (int)plain_hits, (void *)o.sa_handler);
		return;
	}
	prev = bsd_signal(SIGUSR2, on_plain);
	if (prev != SIG_DFL || sigaction(SIGUSR2, NULL, &o) != 0 || o.sa_handler != on_plain ||
	    !(o.sa_flags & SA_RESTART)) {
		snprintf(why, len, "bsd_signal: returned %p, then %p flags %#x", (void *)prev,
		         (void *)o.sa_handler, (unsigned)o.sa_flags);
		return;
	}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* sigset: under test */
	prev = sigset(SIGUSR2, SIG_HOLD);
	raise(SIGUSR2); /* pending while held */
	sigprocmask(SIG_BLOCK, NULL, &m);
	if (prev != on_plain || !sigismember(&m, SIGUSR2) || plain_hits != 1) {
		snprintf(why, len, "sigset(SIG_HOLD): returned %p, blocked %d, %d deliveries",
		         (void *)prev, sigismember(&m, SIGUSR2), (int)plain_hits);
		return;
	}
	prev = sigset(SIGUSR2, on_plain); /* unblocks: the held signal arrives */
#pragma GCC diagnostic pop
	sigprocmask(SIG_BLOCK, NULL, &m);
	if (prev != SIG_HOLD || sigismember(&m, SIGUSR2) || plain_hits != 2)
		snprintf(why, len, "sigset(handler): returned %p, blocked %d, %d deliveries",
		         (void *)prev, sigismember(&m, SIGUSR2), (int)plain_hits);
	signal(SIGUSR2, SIG_DFL);
}

static void case_handlers(void)
{
	struct sigaction a, o;
	union sigval v = {.sival_int = 42};
	char why[200] = "";

	memset(&a, 0, sizeof(a));
	sigemptyset(&a.sa_mask);
	a.sa_sigaction = on_info;
	a.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGUSR2, &a, NULL);
	if (sigaction(SIGUSR2, NULL, &o) != 0 || o.sa_sigaction != on_info ||
	    (o.sa_flags & (SA_SIGINFO | SA_RESTART)) != (SA_SIGINFO | SA_RESTART))
		snprintf(why, sizeof(why), "SA_SIGINFO handler read back as %p flags %#x",
		         (void *)o.sa_sigaction, (unsigned)o.sa_flags);
	if (!why[0]) {
		sigqueue(getpid(), SIGUSR2, v);
		if (info_value != 42 || info_code != SI_QUEUE)
			snprintf(why, sizeof(why), "siginfo: value %d code %d, want 42 and SI_QUEUE",
			         (int)info_value, (int)info_code);
	}
	a.sa_handler = on_plain;
	a.sa_flags = 0;
	if (!why[0] && (sigaction(SIGUSR2, &a, &o) != 0 || o.sa_sigaction != on_info))
		snprintf(why, sizeof(why), "the old SA_SIGINFO handler came back as %p",
		         (void *)o.sa_sigaction);
	if (!why[0] && (sigaction(SIGUSR2, NULL, &o) != 0 || o.sa_handler != on_plain ||
	                (o.sa_flags & SA_SIGINFO)))
		snprintf(why, sizeof(why), "plain handler read back as %p flags %#x",
		         (void *)o.sa_handler, (unsigned)o.sa_flags);
	if (!why[0] && signal(SIGUSR2, SIG_IGN) != on_plain)
		snprintf(why, sizeof(why), "signal(SIG_IGN) did not return the plain handler");
	if (!why[0] && signal(SIGUSR2, SIG_DFL) != SIG_IGN)
		snprintf(why, sizeof(why), "signal(SIG_DFL) did not return SIG_IGN");
	a.sa_handler = on_plain;
	a.sa_flags = SA_RESETHAND;
	if (!why[0]) {
		sigaction(SIGUSR2, &a, NULL);
		raise(SIGUSR2);
		if (plain_hits != 1 || sigaction(SIGUSR2, NULL, &o) != 0 || o.sa_handler != SIG_DFL)
			snprintf(why, sizeof(why),
			         "SA_RESETHAND: %d deliveries, then %p (want 1, then SIG_DFL)",
			         (int)plain_hits, (void *)o.sa_handler);
	}
	signal(SIGUSR2, SIG_DFL);
	if (!why[0])
		older_calls(why, sizeof(why));
	if (!why[0])
		reinstall_storm(why, sizeof(why));
	report("handlers", why[0] == '\0', why);
}

/* ---- atexit -------------------------------------------------------- */

static void at_exit(void)
{
	char why[200];
	int fd = dial();

	if (fd < 0) {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
	} else {
		if (exchange(fd, "hello from atexit\n", why, sizeof(why)) == 0)
			why[0] = '\0';
		close(fd);
	}
	report("atexit", why[0] == '\0', why);
	if (why[0] || failures)
		_exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 3 || inet_pton(AF_INET, argv[1], &peer.sin_addr) != 1) {
		fprintf(stderr, "usage: odd_callers ADDR PORT (an echo server)\n");
		return 2;
	}
	peer.sin_family = AF_INET;
	peer.sin_port = htons((unsigned short)atoi(argv[2]));
	start_watchdog();
	report("constructor", early_status == 0, early_detail);
	case_sigalrm();
	case_signal_in_call();
	case_handlers();
	atexit(at_exit);
	return failures ? 1 : 0;
}
