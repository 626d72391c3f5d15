/* compat_calls: stdio, splice and the exec/spawn family on a TCP connection, for
 * tests/lab/96-stdio-splice-exec.sh (run under synack, and on the kernel for reference).
 *
 *   compat_calls stdio HOST PORT            fdopen + fprintf/fgets/fwrite/fread through an
 *                                           echo server, every byte checked; fileno; fclose
 *   compat_calls splice-up HOST PORT FILE [nonblock]
 *                                           FILE -> pipe -> socket with splice, then close
 *   compat_calls splice-down HOST PORT OUT [nonblock]
 *                                           socket -> pipe -> OUT with splice until EOF
 *   compat_calls splice-errors HOST PORT    the answers of splice/tee/copy_file_range/vmsplice
 *                                           on a connected socket (echo server), one per line
 *   compat_calls exec VARIANT HOST PORT     connect (no close-on-exec), then run /bin/true
 *                                           with VARIANT: execl execlp execle execv execvp
 *                                           execvpe posix_spawn posix_spawnp system popen
 * Prints "ok ..." / "FAIL ..." lines (stdio, splice) or observations (splice-errors); exits
 * non-zero on any failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int failed;

static void check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", what);
	fflush(stdout);
	if (!ok)
		failed = 1;
}

/* A connected socket (retried while refused); O_NONBLOCK once connected when nonblock. */
static int dial(const char *host, int port, int nonblock)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, host, &sin.sin_addr);
	for (int i = 0; i < 200; i++) {
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			if (nonblock)
				fcntl(fd, F_SETFL, O_NONBLOCK);
			return fd;
		}
		if (errno != ECONNREFUSED)
			break;
		close(fd);
		usleep(50000);
		fd = socket(AF_INET, SOCK_STREAM, 0);
	}
	perror("connect");
	exit(2);
}

/* A deterministic line of length len (printable, no newline). */
static void make_line(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('!' + (seed * 31 + i * 7) % 90);
	buf[len] = '\0';
}

static int do_stdio(const char *host, int port)
{
	int fd = dial(host, port, 0);
	FILE *out = fdopen(dup(fd), "w"), *in = fdopen(fd, "r");
	static char line[20000], got[20002];
	static unsigned char blk[1 << 20], back[1 << 20];
	int lines_ok = 1;

	check(in && out, "fdopen gives a FILE for each direction");
	if (!in || !out)
		return 1;
	check(fileno(in) == fd, "fileno() is the socket's fd");
	/* Lines from 1 byte to past BUFSIZ, written and read back one at a time. */
	for (unsigned i = 0; i < 200 && lines_ok; i++) {
		size_t len = 1 + (i * 97) % 19000;

		make_line(line, len, i);
		if (fprintf(out, "%u:%s\n", i, line) < 0 || fflush(out) != 0) {
			lines_ok = 0;
			break;
		}
		char want[20100];
		snprintf(want, sizeof(want), "%u:%s\n", i, line);
		size_t have = 0;
		/* fgets stops at the newline; a long line may need several calls. */
		while (have < strlen(want) && fgets(got + have, (int)(sizeof(got) - have), in))
			have += strlen(got + have);
		lines_ok = have == strlen(want) && memcmp(got, want, have) == 0;
	}
	check(lines_ok, "200 lines (1 B .. 19 KB) with fprintf, echoed back through fgets, byte-exact");
	for (size_t i = 0; i < sizeof(blk); i++)
		blk[i] = (unsigned char)(i * 2654435761u >> 13);
	check(fwrite(blk, 1, sizeof(blk), out) == sizeof(blk) && fflush(out) == 0,
	      "fwrite 1 MiB of binary data");
	check(fread(back, 1, sizeof(back), in) == sizeof(back) && memcmp(blk, back, sizeof(blk)) == 0,
	      "fread gets the 1 MiB back byte-exact");
	check(fclose(out) == 0, "fclose of the writing FILE");
	/* The echo server sees EOF only once both fds are closed: fclose(in) closes fd. */
	check(fclose(in) == 0, "fclose of the reading FILE closes the socket");
	check(fcntl(fd, F_GETFD) == -1 && errno == EBADF, "the fd is closed after fclose");
	return failed;
}

static int do_splice_up(const char *host, int port, const char *file, int nonblock)
{
	int fd = dial(host, port, nonblock), ffd = open(file, O_RDONLY), p[2];
	long long total = 0;

	if (ffd < 0 || pipe(p) < 0) {
		perror(file);
		return 2;
	}
	for (;;) {
		ssize_t n = splice(ffd, NULL, p[1], NULL, 65536, 0), m;

		if (n < 0) {
			perror("splice file->pipe");
			return 2;
		}
		if (n == 0)
			break;
		while (n > 0) {
			m = splice(p[0], NULL, fd, NULL, (size_t)n, SPLICE_F_MORE);
			if (m < 0 && errno == EAGAIN && nonblock) {
				struct pollfd pf = {.fd = fd, .events = POLLOUT};
				poll(&pf, 1, 10000);
				continue;
			}
			if (m <= 0) {
				perror("splice pipe->socket");
				return 2;
			}
			n -= m;
			total += m;
		}
	}
	printf("ok   spliced %lld bytes into the socket%s\n", total, nonblock ? " (non-blocking)" : "");
	close(fd);
	return 0;
}

static int do_splice_down(const char *host, int port, const char *outp, int nonblock)
{
	int fd = dial(host, port, nonblock), p[2];
	int ofd = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	long long total = 0;

	if (ofd < 0 || pipe(p) < 0) {
		perror(outp);
		return 2;
	}
	for (;;) {
		ssize_t n = splice(fd, NULL, p[1], NULL, 1 << 20, 0), m;

		if (n < 0 && errno == EAGAIN && nonblock) {
			struct pollfd pf = {.fd = fd, .events = POLLIN};
			poll(&pf, 1, 10000);
			continue;
		}
		if (n < 0) {
			perror("splice socket->pipe");
			return 2;
		}
		if (n == 0)
			break;
		total += n;
		while (n > 0) {
			m = splice(p[0], NULL, ofd, NULL, (size_t)n, 0);
			if (m <= 0) {
				perror("splice pipe->file");
				return 2;
			}
			n -= m;
		}
	}
	printf("ok   spliced %lld bytes out of the socket%s\n", total, nonblock ? " (non-blocking)" : "");
	close(fd);
	close(ofd);
	return 0;
}

static void show(const char *what, long r)
{
	printf("%s -> %ld %s\n", what, r, r < 0 ? strerrorname_np(errno) : "");
	fflush(stdout);
}

static int do_splice_errors(const char *host, int port)
{
	int s = dial(host, port, 0), p[2], q[2], f = open("/proc/self/exe", O_RDONLY);
	loff_t off = 0;
	char buf[64];

	signal(SIGPIPE, SIG_IGN);
	if (pipe(p) < 0 || pipe(q) < 0)
		return 2;
	write(p[1], "hello", 5);
	show("pipe->socket, socket offset", splice(p[0], NULL, s, &off, 5, 0));
	show("pipe->socket, pipe offset", splice(p[0], &off, s, NULL, 5, 0));
	show("socket->pipe, socket offset", splice(s, &off, p[1], NULL, 5, 0));
	show("socket->pipe, pipe offset", splice(s, NULL, p[1], &off, 5, 0));
	show("socket->socket", splice(s, NULL, s, NULL, 5, 0));
	show("file->socket", splice(f, NULL, s, NULL, 5, 0));
	show("socket->file opened read-only", splice(s, NULL, f, NULL, 5, 0));
	show("pipe write end -> socket", splice(p[1], NULL, s, NULL, 5, 0));
	show("pipe->socket, length 0", splice(p[0], NULL, s, NULL, 0, 0));
	show("pipe->socket", splice(p[0], NULL, s, NULL, 5, 0));
	show("pipe->socket, empty pipe, SPLICE_F_NONBLOCK", splice(p[0], NULL, s, NULL, 5, SPLICE_F_NONBLOCK));
	/* The echo comes back: wait for it, then splice it out. */
	struct pollfd pf = {.fd = s, .events = POLLIN};
	poll(&pf, 1, 10000);
	show("socket->pipe, length 0", splice(s, NULL, q[1], NULL, 0, 0));
	show("socket->pipe", splice(s, NULL, q[1], NULL, 100, 0));
	show("read the pipe", read(q[0], buf, sizeof(buf)));
	printf("  data: %.5s\n", buf);
	show("socket->pipe, no data, SPLICE_F_NONBLOCK on a non-blocking socket",
	     (fcntl(s, F_SETFL, O_NONBLOCK), splice(s, NULL, q[1], NULL, 100, SPLICE_F_NONBLOCK)));
	fcntl(s, F_SETFL, 0);
	show("tee socket->pipe", tee(s, q[1], 5, 0));
	show("tee pipe->socket", tee(q[0], s, 5, 0));
	show("copy_file_range socket->file", copy_file_range(s, NULL, f, NULL, 5, 0));
	show("copy_file_range file->socket", copy_file_range(f, NULL, s, NULL, 5, 0));
	/* A full pipe (O_NONBLOCK): EAGAIN, nothing taken from the socket. */
	write(s, "again", 5);
	poll(&pf, 1, 10000);
	fcntl(q[1], F_SETFL, O_NONBLOCK);
	while (write(q[1], buf, sizeof(buf)) > 0)
		;
	show("socket->full pipe", splice(s, NULL, q[1], NULL, 100, 0));
	close(q[0]);
	show("socket->pipe without reader", splice(s, NULL, q[1], NULL, 100, 0));
	show("the data is still there", recv(s, buf, sizeof(buf), 0));
	write(p[1], "s", 1);
	show("syscall(SYS_splice) pipe->socket", syscall(SYS_splice, p[0], NULL, s, NULL, 1, 0));
	poll(&pf, 1, 10000);
	show("its echo", recv(s, buf, sizeof(buf), 0));
	shutdown(s, SHUT_WR);
	write(p[1], "late", 4);
	show("pipe->socket after SHUT_WR", splice(p[0], NULL, s, NULL, 4, 0));
	printf("-- end\n");
	return 0;
}

static int do_exec(const char *variant, const char *host, int port)
{
	char *argv[] = {"true", NULL};
	/* exec: a shell in the new image writes a line on the inherited
	 * connection to the echo server and prints what comes back. */
	char script[160];
	char *sh_argv[] = {"sh", "-c", script, NULL};
	pid_t pid;
	int st = 0;
	int fd = dial(host, port, 0); /* left open, without close-on-exec */

	snprintf(script, sizeof(script), "echo via-%s >&%d && head -n 1 <&%d", variant, fd, fd);
	if (!strcmp(variant, "execl"))
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
	else if (!strcmp(variant, "execlp"))
		execlp("sh", "sh", "-c", script, (char *)NULL);
	else if (!strcmp(variant, "execle"))
		execle("/bin/sh", "sh", "-c", script, (char *)NULL, environ);
	else if (!strcmp(variant, "execv"))
		execv("/bin/sh", sh_argv);
	else if (!strcmp(variant, "execvp"))
		execvp("sh", sh_argv);
	else if (!strcmp(variant, "execvpe"))
		execvpe("sh", sh_argv, environ);
	else if (!strcmp(variant, "posix_spawn"))
		st = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) ?: waitpid(pid, &st, 0) < 0;
	else if (!strcmp(variant, "posix_spawnp"))
		st = posix_spawnp(&pid, "true", NULL, NULL, argv, environ) ?: waitpid(pid, &st, 0) < 0;
	else if (!strcmp(variant, "system"))
		st = system("true");
	else if (!strcmp(variant, "popen"))
		st = pclose(popen("true", "r"));
	else
		return 2;
	if (variant[0] == 'e') {
		perror(variant);
		return 1; /* an exec that returned failed */
	}
	printf("%s returned %d\n", variant, st);
	return st != 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "stdio"))
		return do_stdio(argv[2], atoi(argv[3]));
	if (argc >= 5 && !strcmp(argv[1], "splice-up"))
		return do_splice_up(argv[2], atoi(argv[3]), argv[4], argc > 5);
	if (argc >= 5 && !strcmp(argv[1], "splice-down"))
		return do_splice_down(argv[2], atoi(argv[3]), argv[4], argc > 5);
	if (argc >= 4 && !strcmp(argv[1], "splice-errors"))
		return do_splice_errors(argv[2], atoi(argv[3]));
	if (argc >= 5 && !strcmp(argv[1], "exec"))
		return do_exec(argv[2], argv[3], atoi(argv[4]));
	fprintf(stderr, "usage: see the comment at the top of compat_calls.c\n");
	return 2;
}
