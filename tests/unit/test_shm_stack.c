/* One stack in POSIX shared memory for every process on an interface
 * (shim/shared/shm_stack.h), driven from outside: real processes with
 * libsynack.so preloaded against a real kernel peer.
 *
 * Each test builds its own lab (netns.h): our namespace, where the
 * preloaded processes run on <sksh><pid>a without a kernel address
 * (SYNACK_ADDR=10.77.21.1/24), and the peer's, 10.77.21.2, where the test
 * process itself holds the kernel sockets the preloaded ones talk to
 * (created there through setns). SYNACK_STACK names a stack of this test
 * alone (shmt<pid>-<test>), so runs never meet.
 *
 * A preloaded process is this binary re-executed with LD_PRELOAD and
 * SHM_SCENARIO=<name>: a constructor runs the scenario before Criterion
 * starts and exits with its verdict (0, or 2 after a line on stderr naming
 * the check that failed). It reads one-byte commands ("go on") on fd
 * CMD_FD and reports progress, one line at a time, on fd REP_FD; its
 * stderr and stdout go to a file the test reads when it fails or checks a
 * log line. Scenarios end with exit(), not _exit(): the shim's exit path
 * (linger.c, the keeper) is part of what is tested.
 *
 * Every wait is bounded (WAIT_MS; a failing test waits it out, a passing
 * one does not). This process is a child subreaper: whatever the preloaded
 * processes leave behind (a fork child, the keeper) becomes its child, and
 * the fini kills and reaps every child it has, then removes the stack's
 * object; the namespaces go with the last process in them.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../shim/shared/shm_layout.h"
#include "netns.h"
#include "preload.h"

#define OUR_IP    0x0a4d1501u /* 10.77.21.1: the synack processes, no kernel address */
#define PEER_IP   0x0a4d1502u /* 10.77.21.2: the kernel peer (this process) */
#define OUR_CIDR  "10.77.21.1/24"
#define PEER_CIDR "10.77.21.2/24"
#define PEER_PORT 7000 /* the peer's listener */
#define OUR_PORT  7001 /* a preloaded listener */
#define WAIT_MS   20000
/* Long enough for a FIN sent in error to have arrived: a frame on a veth
 * takes microseconds; this only bounds how long a passing test looks. */
#define QUIET_MS 500

#define CMD_FD 3 /* the test's commands to a scenario: one byte each */
#define REP_FD 4 /* a scenario's reports to the test: one line each */

extern char **environ;

/* ==== the preloaded side =============================================== */

__attribute__((noreturn)) static void scenario_failed(int line, const char *what)
{
	int err = errno;

	dprintf(2, "scenario %s: check at line %d failed: %s (errno: %s)\n", getenv("SHM_SCENARIO"),
	        line, what, strerror(err));
	_exit(2);
}

#define EXPECT(c)                                                                                  \
	do {                                                                                       \
		if (!(c))                                                                          \
			scenario_failed(__LINE__, #c);                                             \
	} while (0)

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	EXPECT(write(REP_FD, line, (size_t)n) == n);
}

/* Wait for the test's go-ahead. */
static void hear(void)
{
	char c;

	EXPECT(read(CMD_FD, &c, 1) == 1);
}

static int c_connect(int flags)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PEER_PORT)};
	int s = socket(AF_INET, SOCK_STREAM | flags, 0);

	a.sin_addr.s_addr = htonl(PEER_IP);
	EXPECT(s >= 0);
	EXPECT(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	return s;
}

static void c_send(int s, const char *data)
{
	size_t len = strlen(data);

	EXPECT(send(s, data, len, MSG_NOSIGNAL) == (ssize_t)len);
}

static void c_recv(int s, const char *want)
{
	char buf[64];
	size_t len = strlen(want), got = 0;

	while (got < len) {
		ssize_t n = recv(s, buf + got, len - got, 0);

		EXPECT(n > 0);
		got += (size_t)n;
	}
	EXPECT(memcmp(buf, want, len) == 0);
}

static int c_listen(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(OUR_PORT)};
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_addr.s_addr = htonl(OUR_IP);
	EXPECT(l >= 0);
	EXPECT(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
	EXPECT(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0);
	EXPECT(listen(l, 4) == 0);
	return l;
}

static void c_reap(pid_t pid)
{
	int st;

	EXPECT(waitpid(pid, &st, 0) == pid);
	EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* child_close_does_not_send_fin */
static void sc_fork_child_closes(void)
{
	int s = c_connect(0);
	pid_t pid;

	c_send(s, "A");
	pid = fork();
	EXPECT(pid >= 0);
	if (pid == 0) {
		alarm(50);
		c_send(s, "B");
		EXPECT(close(s) == 0);
		exit(0);
	}
	c_reap(pid);
	say("child-done");
	hear();
	c_send(s, "C");
	EXPECT(close(s) == 0);
	exit(0);
}

/* last_close_anywhere_sends_fin */
static void sc_fork_parent_closes(void)
{
	int s = c_connect(0), p[2];
	pid_t pid;
	char c;

	EXPECT(pipe(p) == 0);
	pid = fork();
	EXPECT(pid >= 0);
	if (pid == 0) {
		alarm(50);
		EXPECT(read(p[0], &c, 1) == 1); /* the parent closed its fd */
		c_send(s, "X");
		EXPECT(close(s) == 0);
		exit(0);
	}
	EXPECT(close(s) == 0);
	EXPECT(write(p[1], "g", 1) == 1);
	c_reap(pid);
	exit(0);
}

/* child_killed_drops_its_hold */
static void sc_fork_child_holds(void)
{
	int s = c_connect(0);
	pid_t pid = fork();

	EXPECT(pid >= 0);
	if (pid == 0) {
		alarm(50);
		for (;;)
			pause(); /* holds s until killed */
	}
	EXPECT(close(s) == 0);
	say("child %d", (int)pid);
	hear(); /* the test killed the child and saw the end of the connection */
	exit(0);
}

/* second_process_attaches_and_last_leaves_removes: the first program */
static void sc_serve_once(void)
{
	int l = c_listen(), a;

	say("listening");
	a = accept(l, NULL, NULL);
	EXPECT(a >= 0);
	c_recv(a, "ping");
	c_send(a, "pong");
	EXPECT(close(a) == 0);
	EXPECT(close(l) == 0);
	hear();
	exit(0);
}

/* ... and the second */
static void sc_connect_once(void)
{
	int s = c_connect(0);

	c_send(s, "hi");
	EXPECT(close(s) == 0);
	say("sent");
	hear();
	exit(0);
}

/* lock_owner_killed_is_recovered: makes the stack, waits, then uses it */
static void sc_use_after_go(void)
{
	int l = c_listen(), s;

	say("ready");
	hear(); /* the stack lock's owner died meanwhile */
	s = c_connect(0);
	c_send(s, "R");
	c_recv(s, "K");
	EXPECT(close(s) == 0);
	EXPECT(close(l) == 0);
	exit(0);
}

static void local_port(int s, unsigned *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	EXPECT(getsockname(s, (struct sockaddr *)&a, &len) == 0);
	*port = ntohs(a.sin_port);
}

/* exec_keeps_inherited_socket: the old image */
static void sc_exec_before(void)
{
	int keep = c_connect(SOCK_CLOEXEC), drop = c_connect(SOCK_CLOEXEC), n = 0;
	unsigned pk, pd;
	char self[PATH_MAX], fdvar[32];
	char *env[64];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

	EXPECT(len > 0);
	self[len] = '\0';
	EXPECT(fcntl(keep, F_SETFD, 0) == 0);
	local_port(keep, &pk);
	local_port(drop, &pd);
	say("ports %u %u", pk, pd);
	hear();
	snprintf(fdvar, sizeof(fdvar), "SHM_FD=%d", keep);
	for (char **e = environ; *e && n < 60; e++)
		if (strncmp(*e, "SHM_SCENARIO=", 13) != 0)
			env[n++] = *e;
	env[n++] = "SHM_SCENARIO=exec_after";
	env[n++] = fdvar;
	env[n] = NULL;
	execve(self, (char *[]){self, NULL}, env);
	EXPECT(!"execve returned");
}

/* ... and the new image */
static void sc_exec_after(void)
{
	const char *v = getenv("SHM_FD");
	int fd = v ? atoi(v) : -1;

	EXPECT(fd >= 0);
	c_send(fd, "after-exec");
	EXPECT(close(fd) == 0);
	exit(0);
}

/* keeper_finishes_time_wait_after_exit */
static void sc_close_first(void)
{
	int s = c_connect(0);

	say("connected");
	c_recv(s, "bye");
	EXPECT(close(s) == 0);
	exit(0); /* lingers until the peer's FIN, not through TIME_WAIT */
}

/* epollexclusive_wakes_one_process: each process watches the listener
 * with EPOLLEXCLUSIVE, and the command pipe; a connection wakes one. */
static void watch_exclusive(int l, const char *who)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.u32 = 1}, got[2];
	int ep = epoll_create1(0), n, a;
	bool told = false;

	EXPECT(ep >= 0);
	EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0);
	ev = (struct epoll_event){.events = EPOLLIN, .data.u32 = 2};
	EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, CMD_FD, &ev) == 0);
	say("armed %s %d", who, (int)getpid());
	n = epoll_wait(ep, got, 2, -1); /* alarm() bounds it */
	EXPECT(n >= 1);
	for (int i = 0; i < n; i++)
		told |= got[i].data.u32 == 2;
	if (told) {
		hear();
		say("quiet %s", who);
		return;
	}
	/* The listener stays ready until the test says: a process woken as
	 * well would see it too. */
	say("woken %s", who);
	hear();
	/* Not blocking: the peer may have closed meanwhile (the connection
	 * is still queued then, but nothing here depends on it). */
	a = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	if (a >= 0)
		EXPECT(close(a) == 0);
}

static void sc_exclusive_pair(void)
{
	int l = c_listen();
	pid_t pid = fork();

	EXPECT(pid >= 0);
	alarm(50);
	watch_exclusive(l, pid == 0 ? "child" : "parent");
	if (pid > 0)
		c_reap(pid);
	exit(0);
}

static const struct preload_scenario scenarios[] = {
    {"fork_child_closes", sc_fork_child_closes},
    {"fork_parent_closes", sc_fork_parent_closes},
    {"fork_child_holds", sc_fork_child_holds},
    {"serve_once", sc_serve_once},
    {"connect_once", sc_connect_once},
    {"use_after_go", sc_use_after_go},
    {"exec_before", sc_exec_before},
    {"exec_after", sc_exec_after},
    {"close_first", sc_close_first},
    {"exclusive_pair", sc_exclusive_pair},
};

__attribute__((constructor)) static void run_scenario(void)
{
	preload_dispatch("SHM_SCENARIO", scenarios, sizeof(scenarios) / sizeof(scenarios[0]), 50);
}

/* ==== the test's side ================================================== */

static struct netns_lab lab = {.ours = -1, .peer = -1};
static char stack_name[64]; /* SYNACK_STACK */
static char shm_path[128];  /* its object: /dev/shm/synack-u<uid>-<name> */

struct proc {
	pid_t pid;
	int cmd, rep; /* our ends of its CMD_FD and REP_FD */
	char out[64]; /* its stderr and stdout */
};

#define MAX_PROCS 4
static struct proc procs[MAX_PROCS];
static int nprocs;

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(long deadline)
{
	long l = deadline - now_ms();

	return l > 0 ? (int)l : 0;
}

/* What p wrote on stderr and stdout so far (static buffer). */
static const char *proc_output(const struct proc *p)
{
	static char buf[16384];
	int fd = open(p->out, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Start this binary preloaded, running `scenario`, with the lab's
 * configuration and env_extra (NULL-terminated) on top. */
static struct proc *proc_start(const char *scenario, const char *const *env_extra)
{
	char self[PATH_MAX], lib[PATH_MAX + 32];
	int cmd[2], rep[2], out;
	struct proc *p;

	cr_assert_lt(nprocs, MAX_PROCS);
	p = &procs[nprocs];
	preload_paths(self, lib);
	snprintf(p->out, sizeof(p->out), "/tmp/synack-shmtest-%d-%d.log", (int)getpid(), nprocs);
	out = open(p->out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(out, 0);
	cr_assert_eq(pipe2(cmd, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(rep, O_CLOEXEC), 0);
	p->pid = fork();
	cr_assert_geq(p->pid, 0);
	if (p->pid == 0) {
		char preload[PATH_MAX + 64], mode[96], iface[64], stack[96];
		const char *env[24] = {preload,
		                       mode,
		                       iface,
		                       stack,
		                       "SYNACK_ADDR=" OUR_CIDR,
		                       "ASAN_OPTIONS=verify_asan_link_order=0",
		                       NULL};
		int k = 6, c, r;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", lib);
		snprintf(mode, sizeof(mode), "SHM_SCENARIO=%s", scenario);
		snprintf(iface, sizeof(iface), "SYNACK_IFACE=%s", lab.our_if);
		snprintf(stack, sizeof(stack), "SYNACK_STACK=%s", stack_name);
		for (int i = 0; env_extra && env_extra[i] && k < 23; i++)
			env[k++] = env_extra[i];
		env[k] = NULL;
		/* Out of the way of 0..4 first, then into place. */
		c = fcntl(cmd[0], F_DUPFD, 10);
		r = fcntl(rep[1], F_DUPFD, 10);
		if (c < 0 || r < 0 || dup2(c, CMD_FD) < 0 || dup2(r, REP_FD) < 0 ||
		    dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(126);
		close(c);
		close(r);
		execve(self, (char *const[]){self, NULL}, (char *const *)env);
		_exit(126);
	}
	close(out);
	close(cmd[0]);
	close(rep[1]);
	p->cmd = cmd[1];
	p->rep = rep[0];
	nprocs++;
	return p;
}

/* The next report line of p, which must start with `want`; returns it. */
static const char *proc_expect(struct proc *p, const char *want)
{
	static char line[256];
	long deadline = now_ms() + WAIT_MS;
	size_t n = 0;

	for (;;) {
		struct pollfd pfd = {.fd = p->rep, .events = POLLIN};
		ssize_t r;

		cr_assert_eq(poll(&pfd, 1, left_ms(deadline)), 1,
		             "no report '%s' from %d within %d ms; its output: %s", want,
		             (int)p->pid, WAIT_MS, proc_output(p));
		r = read(p->rep, line + n, 1);
		cr_assert_eq(r, 1, "process %d ended before reporting '%s'; its output: %s",
		             (int)p->pid, want, proc_output(p));
		if (line[n] == '\n')
			break;
		cr_assert_lt(++n, sizeof(line) - 1);
	}
	line[n] = '\0';
	cr_assert_eq(strncmp(line, want, strlen(want)), 0, "report '%s', expected '%s'", line,
	             want);
	return line;
}

static void proc_tell(struct proc *p)
{
	cr_assert_eq(write(p->cmd, "g", 1), 1);
}

/* The output of the process started as pid, for a failure message. */
static const char *reap_output(pid_t pid)
{
	for (int i = 0; i < nprocs; i++)
		if (procs[i].pid == pid)
			return proc_output(&procs[i]);
	return "(not one of ours)";
}

/* Wait (bounded) for pid, a child of ours, to end; returns its status. */
static int reap(pid_t pid, int ms)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0), st = -1;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	cr_assert_geq(fd, 0, "pidfd_open(%d): %s", (int)pid, strerror(errno));
	if (poll(&pfd, 1, ms) != 1) {
		char path[64], wchan[64] = "?", sys[128] = "?";
		int f;

		snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
		if ((f = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
			ssize_t n = read(f, wchan, sizeof(wchan) - 1);

			wchan[n > 0 ? n : 0] = '\0';
			close(f);
		}
		snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
		if ((f = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
			ssize_t n = read(f, sys, sizeof(sys) - 1);

			sys[n > 0 ? n : 0] = '\0';
			close(f);
		}
		cr_assert_fail("process %d still runs after %d ms (wchan %s, syscall %s); output: %s",
		               (int)pid, ms, wchan, sys, reap_output(pid));
	}
	close(fd);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return st;
}

/* p must end, with exit status 0. */
static void proc_wait_ok(struct proc *p)
{
	int st = reap(p->pid, WAIT_MS);

	p->pid = 0;
	cr_assert(WIFEXITED(st), "process died (signal %d); its output: %s",
	          WIFSIGNALED(st) ? WTERMSIG(st) : 0, proc_output(p));
	cr_assert_eq(WEXITSTATUS(st), 0, "exit status %d; its output: %s", WEXITSTATUS(st),
	             proc_output(p));
}

/* ---- the kernel peer -------------------------------------------------- */

static int peer_socket(void)
{
	int s;

	netns_enter(lab.peer);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	netns_enter(lab.ours);
	cr_assert_geq(s, 0);
	return s;
}

static int peer_listen(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PEER_PORT)};
	int l = peer_socket(), one = 1;

	a.sin_addr.s_addr = htonl(PEER_IP);
	cr_assert_eq(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(l, 8), 0);
	return l;
}

static int peer_accept(int l)
{
	struct pollfd pfd = {.fd = l, .events = POLLIN};
	int a;

	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "no connection to the peer within %d ms", WAIT_MS);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(a, 0, "accept: %s", strerror(errno));
	return a;
}

/* A kernel connection from the peer to a preloaded listener. */
static int peer_connect(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct pollfd pfd;
	int s = peer_socket(), err = 0;
	socklen_t len = sizeof(err);

	a.sin_addr.s_addr = htonl(OUR_IP);
	cr_assert_eq(fcntl(s, F_SETFL, O_NONBLOCK), 0);
	cr_assert(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 || errno == EINPROGRESS);
	pfd = (struct pollfd){.fd = s, .events = POLLOUT};
	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "connect did not finish within %d ms", WAIT_MS);
	cr_assert_eq(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	cr_assert_eq(err, 0, "connect: %s", strerror(err));
	cr_assert_eq(fcntl(s, F_SETFL, 0), 0);
	return s;
}

enum peer_end { PEER_OPEN, PEER_EOF, PEER_RESET };

/* Read from s until `want` bytes, the end of the stream or the deadline;
 * returns the byte count, how the stream stands in *end. */
static size_t peer_read(int s, char *buf, size_t want, long deadline, enum peer_end *end)
{
	size_t got = 0;

	*end = PEER_OPEN;
	while (got < want) {
		struct pollfd pfd = {.fd = s, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, left_ms(deadline)) != 1)
			break;
		n = recv(s, buf + got, want - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
		} else if (n == 0) {
			*end = PEER_EOF;
			break;
		} else if (errno == ECONNRESET) {
			*end = PEER_RESET;
			break;
		} else {
			cr_assert(errno == EAGAIN || errno == EINTR, "recv: %s", strerror(errno));
		}
	}
	return got;
}

static const char *end_name(enum peer_end e)
{
	return e == PEER_EOF ? "EOF" : e == PEER_RESET ? "a reset" : "nothing";
}

/* The next bytes on s are exactly `want` (the stream still open). */
static void peer_expect(int s, const char *want)
{
	char buf[256] = "";
	size_t len = strlen(want), got;
	enum peer_end end;

	got = peer_read(s, buf, len, now_ms() + WAIT_MS, &end);
	cr_assert(got == len && memcmp(buf, want, len) == 0,
	          "peer read '%.*s' then %s, expected '%s'", (int)got, buf, end_name(end), want);
}

/* The rest of the stream on s is exactly `want`, then EOF (a FIN, not a
 * reset). */
static void peer_expect_rest(int s, const char *want)
{
	char buf[256] = "";
	size_t got;
	enum peer_end end;

	got = peer_read(s, buf, sizeof(buf) - 1, now_ms() + WAIT_MS, &end);
	cr_assert(got == strlen(want) && memcmp(buf, want, got) == 0 && end == PEER_EOF,
	          "peer read '%.*s' then %s, expected '%s' then EOF", (int)got, buf, end_name(end),
	          want);
}

/* Nothing at all (no byte, no FIN, no reset) arrives on s for ms. */
static void peer_expect_quiet(int s, int ms, const char *why)
{
	struct pollfd pfd = {.fd = s, .events = POLLIN | POLLRDHUP};
	int r = poll(&pfd, 1, ms);

	cr_assert_eq(r, 0, "%s: the peer's socket became readable (revents %#x)", why,
	             (unsigned)pfd.revents);
}

/* ---- the stack's object and our children ---------------------------- */

static bool shm_exists(void)
{
	return access(shm_path, F_OK) == 0;
}

/* Poll (bounded) until the stack's object is gone; returns when it went
 * (now_ms), or -1 if it is still there at the deadline. */
static long wait_shm_gone(long deadline)
{
	while (shm_exists()) {
		if (now_ms() >= deadline)
			return -1;
		poll(NULL, 0, 10);
	}
	return now_ms();
}

/* Our children (a child subreaper's: the orphans of the processes we
 * started included), up to n; returns the count. */
static int our_children(pid_t *out, int n)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int k = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) && k < n) {
		char path[300], buf[512], *p;
		int fd, ppid;
		ssize_t r;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (r <= 0)
			continue;
		buf[r] = '\0';
		p = strrchr(buf, ')');
		if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == (int)getpid())
			out[k++] = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	return k;
}

static void setup(void)
{
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	netns_lab_up(&lab, "sksh", PEER_CIDR);
	snprintf(stack_name, sizeof(stack_name), "shmt%d-%s", (int)getpid(),
	         criterion_current_test->name);
	stack_name[40] = '\0';
	snprintf(shm_path, sizeof(shm_path), "/dev/shm/synack-u%u-%s", (unsigned)getuid(),
	         stack_name);
}

static void teardown(void)
{
	/* Everything we started, and whatever it left behind (fork children,
	 * the keeper: reparented to us), killed and reaped. Bounded: each
	 * round kills every child there is; an orphan of this round's kills
	 * is a child by the next. */
	for (int round = 0; round < 20; round++) {
		pid_t kids[64];
		int n = our_children(kids, 64);

		if (n == 0)
			break;
		for (int i = 0; i < n; i++)
			kill(kids[i], SIGKILL);
		for (int i = 0; i < n; i++)
			waitpid(kids[i], NULL, 0);
	}
	for (int i = 0; i < nprocs; i++) {
		close(procs[i].cmd);
		close(procs[i].rep);
		unlink(procs[i].out);
	}
	nprocs = 0;
	if (shm_path[0])
		unlink(shm_path);
	netns_lab_down(&lab);
}

TestSuite(shm_stack, .init = setup, .fini = teardown, .timeout = 90);

/* ---- the tests -------------------------------------------------------- */

/* A fork child's close of a shared connection closes nothing: the parent
 * still holds it (as a kernel socket's open file description). */
Test(shm_stack, child_close_does_not_send_fin)
{
	int l = peer_listen(), c;
	struct proc *p = proc_start("fork_child_closes", NULL);

	c = peer_accept(l);
	peer_expect(c, "AB");
	proc_expect(p, "child-done"); /* closed its fd and exited, reaped */
	peer_expect_quiet(c, QUIET_MS, "the child's close sent a FIN or reset");
	proc_tell(p);
	peer_expect_rest(c, "C");
	proc_wait_ok(p);
}

/* The connection closes where its last holder closes it, even in the
 * child after the parent closed first. */
Test(shm_stack, last_close_anywhere_sends_fin)
{
	int l = peer_listen(), c;
	struct proc *p = proc_start("fork_parent_closes", NULL);

	c = peer_accept(l);
	peer_expect_rest(c, "X");
	proc_wait_ok(p);
}

/* A process killed while holding a connection alone: the others find it
 * gone and close what it held, as the kernel closes a dead process's
 * files. The parent stays attached (it closed its own fd): its runtime's
 * sweep (every SHM_SWEEP_US, 250 ms) finds the dead child; nobody needs to
 * attach. */
Test(shm_stack, child_killed_drops_its_hold)
{
	int l = peer_listen(), c, child = 0;
	struct proc *p = proc_start("fork_child_holds", NULL);
	const char *line;
	char buf[16];
	enum peer_end end;

	c = peer_accept(l);
	line = proc_expect(p, "child ");
	cr_assert_eq(sscanf(line, "child %d", &child), 1);
	peer_expect_quiet(c, QUIET_MS, "the connection ended while the child held it");
	cr_assert_eq(kill(child, SIGKILL), 0);
	cr_assert_eq(peer_read(c, buf, sizeof(buf), now_ms() + WAIT_MS, &end), 0);
	cr_assert_neq(end, PEER_OPEN, "neither EOF nor reset within %d ms of the kill", WAIT_MS);
	proc_tell(p);
	proc_wait_ok(p);
}

/* The first program creates the stack's object, a second one attaches to
 * it; both work; when the last one leaves (with the TIME_WAITs they left
 * finished, by its exit linger or by the keeper), the object is gone. */
Test(shm_stack, second_process_attaches_and_last_leaves_removes)
{
	static const char *const env[] = {"SYNACK_LOG=info", "SYNACK_MSL_MS=200", NULL};
	int l = peer_listen(), c, s;
	struct proc *first = proc_start("serve_once", env), *second;

	proc_expect(first, "listening");
	cr_assert(shm_exists(), "%s missing while the first program runs", shm_path);
	second = proc_start("connect_once", env);
	proc_expect(second, "sent");
	cr_assert(strstr(proc_output(first), "created"), "first: %s", proc_output(first));
	cr_assert(strstr(proc_output(second), "attached"), "second: %s", proc_output(second));

	s = peer_connect(OUR_PORT); /* to the first program's listener */
	cr_assert_eq(send(s, "ping", 4, 0), 4);
	peer_expect_rest(s, "pong");
	c = peer_accept(l); /* the second program's connection */
	peer_expect_rest(c, "hi");
	close(s);
	close(c);

	proc_tell(second);
	proc_wait_ok(second);
	cr_assert(shm_exists(), "the object went while the first program runs");
	proc_tell(first);
	proc_wait_ok(first);
	cr_assert_neq(wait_shm_gone(now_ms() + WAIT_MS), -1,
	              "%s still there %d ms after the last program left", shm_path, WAIT_MS);
}

/* A process that dies holding the stack lock: the next one to take it
 * repairs the stack (robust mutex, EOWNERDEAD), says so, counts it, and
 * the stack works on. The dead owner is a plain child of this test, not a
 * preloaded process: it maps the object and locks the mutex itself. */
Test(shm_stack, lock_owner_killed_is_recovered)
{
	static const char *const env[] = {"SYNACK_LOG=warn", NULL};
	int l = peer_listen(), c, fd, sync[2];
	struct proc *p = proc_start("use_after_go", env);
	struct shm_header *hdr;
	uint32_t before;
	pid_t locker;
	char b;
	struct pollfd pfd;

	proc_expect(p, "ready");
	fd = open(shm_path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", shm_path, strerror(errno));
	hdr = mmap(NULL, sizeof(*hdr), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	cr_assert_neq(hdr, MAP_FAILED);
	cr_assert_eq(hdr->magic, SHM_MAGIC);
	cr_assert_eq(hdr->version, SHM_VERSION);
	before = atomic_load(&hdr->recoveries);

	cr_assert_eq(pipe2(sync, O_CLOEXEC), 0);
	locker = fork();
	cr_assert_geq(locker, 0);
	if (locker == 0) {
		alarm(50);
		if (pthread_mutex_lock(&hdr->lock) != 0 || write(sync[1], "L", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(sync[1]);
	pfd = (struct pollfd){.fd = sync[0], .events = POLLIN};
	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "the child did not get the stack lock");
	cr_assert_eq(read(sync[0], &b, 1), 1, "the child could not lock the stack");
	close(sync[0]);
	cr_assert_eq(kill(locker, SIGKILL), 0);
	cr_assert(WIFSIGNALED(reap(locker, WAIT_MS)));

	proc_tell(p);
	c = peer_accept(l);
	peer_expect(c, "R");
	cr_assert_eq(send(c, "K", 1, 0), 1);
	peer_expect_rest(c, "");
	proc_wait_ok(p);
	cr_assert(strstr(proc_output(p), "died holding the stack lock"), "its output: %s",
	          proc_output(p));
	cr_assert_eq(atomic_load(&hdr->recoveries), before + 1);
	munmap(hdr, sizeof(*hdr));
}

static unsigned peer_port_of(int s)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	cr_assert_eq(getpeername(s, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

/* exec keeps a synack socket without close-on-exec working in the new
 * image; one with close-on-exec is closed by the exec (its peer sees
 * EOF). */
Test(shm_stack, exec_keeps_inherited_socket)
{
	int l = peer_listen(), a, b, keep, drop;
	unsigned pk, pd;
	struct proc *p = proc_start("exec_before", NULL);
	const char *line;

	a = peer_accept(l);
	b = peer_accept(l);
	line = proc_expect(p, "ports ");
	cr_assert_eq(sscanf(line, "ports %u %u", &pk, &pd), 2);
	keep = peer_port_of(a) == pk ? a : b;
	drop = keep == a ? b : a;
	cr_assert_eq(peer_port_of(keep), pk);
	cr_assert_eq(peer_port_of(drop), pd);
	proc_tell(p);
	peer_expect_rest(keep, "after-exec");
	peer_expect_rest(drop, "");
	proc_wait_ok(p);
}

/* The last program exits with a connection in TIME_WAIT: it exits at once,
 * a keeper it forked carries the TIME_WAIT to its end (2 MSL) and then
 * removes the stack's object. */
Test(shm_stack, keeper_finishes_time_wait_after_exit)
{
	/* TIME_WAIT 5 s, the exit linger 1 s: the linger never waits for
	 * the TIME_WAIT to end (it would if it ended within the linger),
	 * however late the program reaches its exit. */
	static const char *const env[] = {"SYNACK_MSL_MS=2500", "SYNACK_LINGER_MS=1000", NULL};
	int l = peer_listen(), c, st, n;
	struct proc *p = proc_start("close_first", env);
	pid_t kids[8], keeper;
	long fin_at, exited_at, gone_at;
	char self[PATH_MAX], lib[PATH_MAX + 32], exe[PATH_MAX], path[64];
	ssize_t len;

	c = peer_accept(l);
	proc_expect(p, "connected");
	cr_assert_eq(send(c, "bye", 3, 0), 3);
	peer_expect_rest(c, ""); /* its FIN: it closed first */
	close(c);                /* our FIN: it goes to TIME_WAIT */
	fin_at = now_ms();
	proc_wait_ok(p);
	exited_at = now_ms();
	cr_assert_lt(exited_at - fin_at, 5000,
	             "the program took %ld ms to exit: it waited for its TIME_WAIT (5000 ms)",
	             exited_at - fin_at);
	cr_assert(shm_exists(), "%s gone right after the exit, within the TIME_WAIT", shm_path);

	/* The keeper: the only process left of what we started (it was the
	 * program's child: ours now), running this binary. */
	n = our_children(kids, 8);
	cr_assert_eq(n, 1, "%d processes left behind, expected the keeper alone", n);
	keeper = kids[0];
	preload_paths(self, lib);
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)keeper);
	len = readlink(path, exe, sizeof(exe) - 1);
	cr_assert_gt(len, 0);
	exe[len] = '\0';
	cr_assert_str_eq(exe, self);

	gone_at = wait_shm_gone(fin_at + 5000 + WAIT_MS);
	cr_assert_neq(gone_at, -1, "%s still there %d ms after the TIME_WAIT ended", shm_path,
	              WAIT_MS);
	cr_assert_geq(gone_at - fin_at, 4500,
	              "the stack went %ld ms after the FIN: the TIME_WAIT (5000 ms) was cut short",
	              gone_at - fin_at);
	st = reap(keeper, WAIT_MS);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "keeper status %#x", st);
}

/* Wait (bounded) until pid's main thread sleeps in ppoll or epoll_wait
 * (synack's epoll_wait sleeps in ppoll: iomux/epoll.c). */
static void wait_asleep_in_poll(int pid)
{
	long deadline = now_ms() + WAIT_MS;
	char path[64], buf[64];

	snprintf(path, sizeof(path), "/proc/%d/syscall", pid);
	for (;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC), nr = -1;
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = '\0';
			nr = atoi(buf);
		}
		if (nr == SYS_ppoll || nr == SYS_epoll_wait || nr == SYS_epoll_pwait)
			return;
		cr_assert_gt(left_ms(deadline), 0, "process %d not asleep in poll within %d ms", pid,
		             WAIT_MS);
		usleep(1000);
	}
}

/* EPOLLEXCLUSIVE across processes: a parent and its fork child watch one
 * listener with EPOLLEXCLUSIVE; one connection wakes exactly one of them
 * (epoll_ctl(2): "one or more", Linux wakes one waiter here), the other
 * sleeps on until told to stop. */
Test(shm_stack, epollexclusive_wakes_one_process)
{
	struct proc *p = proc_start("exclusive_pair", NULL);
	const char *line;
	char woken[16] = "", quiet[16] = "";
	int c;

	/* Both asleep in epoll_wait before the connection: one that came to
	 * it later would find the listener ready and report it, rightly. */
	for (int i = 0; i < 2; i++) {
		int pid = 0;

		line = proc_expect(p, "armed ");
		cr_assert_eq(sscanf(line, "armed %*s %d", &pid), 1);
		wait_asleep_in_poll(pid);
	}
	c = peer_connect(OUR_PORT);
	line = proc_expect(p, "woken ");
	cr_assert_eq(sscanf(line, "woken %15s", woken), 1);
	/* The other must not wake as well: nothing more is reported. */
	{
		struct pollfd pfd = {.fd = p->rep, .events = POLLIN};

		cr_assert_eq(poll(&pfd, 1, QUIET_MS), 0, "a second process woke up; output: %s",
		             proc_output(p));
	}
	cr_assert_eq(write(p->cmd, "gg", 2), 2);
	line = proc_expect(p, "quiet ");
	cr_assert_eq(sscanf(line, "quiet %15s", quiet), 1);
	cr_assert_str_neq(woken, quiet);
	close(c);
	proc_wait_ok(p);
}
