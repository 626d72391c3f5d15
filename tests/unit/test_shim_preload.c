/* libsynack.so preloaded into a real process, without any network: the
 * paths that must never touch synack's stack. Each test re-executes this
 * binary with LD_PRELOAD and SHIM_PRELOAD_CHILD=<scenario>; a constructor
 * runs the scenario before Criterion starts and exits with its verdict
 * (0 = as expected, else the line number that failed). stderr is captured
 * so the one-line configuration errors can be checked. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "preload.h"

#define EXPECT(c)                                                                                  \
	do {                                                                                       \
		if (!(c))                                                                          \
			_exit(__LINE__ & 0xff ? __LINE__ & 0xff : 1);                              \
	} while (0)

static int tcp_connect(uint32_t addr, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int s = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(addr);
	EXPECT(s >= 0);
	return connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 ? s : -errno;
}

/* A kernel listener on 127.0.0.1 (passthrough), its port in *port. */
static int loopback_listener(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	EXPECT(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0);
	EXPECT(listen(l, 4) == 0);
	EXPECT(getsockname(l, (struct sockaddr *)&a, &len) == 0);
	*port = ntohs(a.sin_port);
	return l;
}

static void child_unconfigured_connect(void)
{
	int r = tcp_connect(0x0a4d0002u, 80);

	EXPECT(r == -ENETDOWN);
	EXPECT(tcp_connect(0x0a4d0002u, 80) == -ENETDOWN); /* and again, silently */
	_exit(0);
}

static void child_unconfigured_listen(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);

	EXPECT(listen(s, 1) == -1 && errno == ENETDOWN);
	_exit(0);
}

static void child_loopback_passthrough(void)
{
	uint16_t port;
	int l = loopback_listener(&port), c, a;
	char buf[8];
	struct pollfd p;

	c = tcp_connect(0x7f000001u, port);
	EXPECT(c >= 0);
	a = accept(l, NULL, NULL);
	EXPECT(a >= 0);
	EXPECT(send(c, "ping", 4, 0) == 4);
	p = (struct pollfd){.fd = a, .events = POLLIN};
	EXPECT(poll(&p, 1, 5000) == 1 && (p.revents & POLLIN));
	EXPECT(recv(a, buf, sizeof(buf), 0) == 4 && memcmp(buf, "ping", 4) == 0);
	EXPECT(close(c) == 0 && close(a) == 0 && close(l) == 0);
	_exit(0);
}

static void child_strict_loopback(void)
{
	EXPECT(tcp_connect(0x7f000001u, 9) == -ENETUNREACH);
	_exit(0);
}

static void child_other_families_untouched(void)
{
	int sv[2], d;
	char buf[4];
	int u = socket(AF_INET, SOCK_DGRAM, 0);

	EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	d = dup(sv[0]);
	EXPECT(d >= 0 && close(sv[0]) == 0);
	EXPECT(write(d, "abc", 3) == 3);
	EXPECT(read(sv[1], buf, sizeof(buf)) == 3);
	EXPECT(u >= 0 && close(u) == 0);
	EXPECT(close(d) == 0 && close(sv[1]) == 0);
	EXPECT(close(d) == -1 && errno == EBADF);
	_exit(0);
}

static void child_pending_options_and_flags(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), v = 1, d;
	socklen_t len = sizeof(v);

	/* Undecided sockets are answered by their placeholder, exactly as
	 * the kernel answers. */
	EXPECT(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)) == 0);
	EXPECT(getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, &len) == 0 && v == 1);
	EXPECT(fcntl(s, F_GETFL) & O_NONBLOCK);
	EXPECT(fcntl(s, F_SETFL, 0) == 0);
	EXPECT(!(fcntl(s, F_GETFL) & O_NONBLOCK));
	EXPECT(recv(s, &v, 1, 0) == -1 && errno == ENOTCONN);
	d = fcntl(s, F_DUPFD_CLOEXEC, 50);
	EXPECT(d >= 50);
	EXPECT(close(s) == 0 && close(d) == 0);
	_exit(0);
}

static const struct preload_scenario scenarios[] = {
    {"unconfigured_connect", child_unconfigured_connect},
    {"unconfigured_listen", child_unconfigured_listen},
    {"loopback_passthrough", child_loopback_passthrough},
    {"strict_loopback", child_strict_loopback},
    {"other_families", child_other_families_untouched},
    {"pending_options", child_pending_options_and_flags},
};

__attribute__((constructor)) static void run_child_scenario(void)
{
	preload_dispatch("SHIM_PRELOAD_CHILD", scenarios, sizeof(scenarios) / sizeof(scenarios[0]),
	                 10);
}

struct outcome {
	int status;
	char err[2048];
};

/* Re-run this binary under the preload with extra environment. */
static struct outcome run(const char *scenario, const char *const *env_extra)
{
	char self[PATH_MAX], lib[PATH_MAX + 32];
	struct outcome out = {.status = -1};
	int pipefd[2];
	ssize_t got = 0, r;
	pid_t pid;

	preload_paths(self, lib);
	cr_assert(pipe(pipefd) == 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		char preload[PATH_MAX + 64], mode[128];
		const char *env[16] = {preload, mode, "ASAN_OPTIONS=verify_asan_link_order=0"};
		int k = 3;

		snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", lib);
		snprintf(mode, sizeof(mode), "SHIM_PRELOAD_CHILD=%s", scenario);
		for (int i = 0; env_extra && env_extra[i] && k < 15; i++)
			env[k++] = env_extra[i];
		env[k] = NULL;
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		execve(self, (char *const[]){self, NULL}, (char *const *)env);
		_exit(126);
	}
	close(pipefd[1]);
	while (got < (ssize_t)sizeof(out.err) - 1 &&
	       (r = read(pipefd[0], out.err + got, sizeof(out.err) - 1 - (size_t)got)) > 0)
		got += r;
	out.err[got] = '\0';
	close(pipefd[0]);
	cr_assert_eq(waitpid(pid, &out.status, 0), pid);
	return out;
}

static void expect_ok(const struct outcome *o)
{
	cr_assert(WIFEXITED(o->status), "child died (signal %d); stderr: %s",
	          WIFSIGNALED(o->status) ? WTERMSIG(o->status) : 0, o->err);
	cr_assert_eq(WEXITSTATUS(o->status), 0, "check at line %d (mod 256) failed; stderr: %s",
	             WEXITSTATUS(o->status), o->err);
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

Test(shim_preload, missing_iface_fails_connect_with_enetdown_and_one_line)
{
	struct outcome o = run("unconfigured_connect", (const char *const[]){NULL});

	expect_ok(&o);
	cr_assert_eq(count_lines(o.err, "\n"), 1, "exactly one line: %s", o.err);
	cr_assert(strstr(o.err, "synack: error: SYNACK_IFACE is not set"), "%s", o.err);
}

Test(shim_preload, bad_addr_names_the_value)
{
	struct outcome o =
	    run("unconfigured_connect",
	        (const char *const[]){"SYNACK_IFACE=veth-sk", "SYNACK_ADDR=10.77.0.1", NULL});

	expect_ok(&o);
	cr_assert(strstr(o.err, "SYNACK_ADDR='10.77.0.1' has no prefix length"), "%s", o.err);
}

Test(shim_preload, missing_interface_fails_listen_with_enetdown)
{
	struct outcome o =
	    run("unconfigured_listen",
	        (const char *const[]){"SYNACK_IFACE=skno0", "SYNACK_ADDR=10.77.0.1/24", NULL});

	expect_ok(&o);
	cr_assert(strstr(o.err, "skno0"), "the line names the interface: %s", o.err);
}

Test(shim_preload, loopback_goes_to_the_kernel_even_unconfigured)
{
	struct outcome o = run("loopback_passthrough", (const char *const[]){NULL});

	expect_ok(&o);
	cr_assert_str_eq(o.err, "", "nothing to say about loopback");
}

Test(shim_preload, strict_mode_refuses_loopback_fallback)
{
	struct outcome o = run("strict_loopback", (const char *const[]){"SYNACK_IFACE=veth-sk",
	                                                                "SYNACK_ADDR=10.77.0.1/24",
	                                                                "SYNACK_STRICT=1", NULL});

	expect_ok(&o);
	cr_assert(strstr(o.err, "SYNACK_STRICT=1"), "%s", o.err);
}

Test(shim_preload, unix_and_udp_sockets_are_untouched)
{
	struct outcome o = run("other_families", (const char *const[]){NULL});

	expect_ok(&o);
}

Test(shim_preload, undecided_socket_is_answered_by_its_placeholder)
{
	struct outcome o = run("pending_options", (const char *const[]){NULL});

	expect_ok(&o);
}
