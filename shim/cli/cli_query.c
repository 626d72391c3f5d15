/* `synack ss` and `synack stat`: what running synack processes say on their
 * query socket (query.h), printed in the shape of ss(8) -tni and nstat(8).
 *
 *   synack ss [-p PID] [-i] [-l] [-a] [state FILTER]...
 *   synack stat [-p PID] [-a] [-r]
 *
 * Processes are found by their abstract socket "@synack.<pid>" in
 * /proc/net/unix, which lists this network namespace's: run the tool in the
 * program's namespace (ip netns exec NS synack ss), or give -p PID, which
 * also enters the process's namespace when it is another and we may. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define QUERY_PREFIX  "synack."
#define MAX_PROCS     256
#define QUERY_TIMEOUT 5 /* seconds, for the answer of one process */

/* ---- talking to one process ------------------------------------------ */

/* The answer of pid to req ("ss", "stat"), NUL-terminated, or NULL with
 * *err set (errno of the connection; EPROTO: not a synack answer). */
static char *ask(int pid, const char *req, int *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = QUERY_TIMEOUT};
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	int n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, QUERY_PREFIX "%d", pid);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (!buf || fd < 0) {
		*err = errno;
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa,
	            (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) != 0 ||
	    dprintf(fd, "%s\n", req) < 0) {
		*err = errno;
		goto fail;
	}
	for (;;) {
		ssize_t r;

		if (len + 1 >= cap) {
			char *p = realloc(buf, cap * 2);

			if (!p) {
				*err = ENOMEM;
				goto fail;
			}
			buf = p;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == ECONNRESET && len > 0)
			break; /* closed with our request unread: what came is the answer */
		if (r < 0) {
			*err = errno == EAGAIN ? ETIMEDOUT : errno;
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	if (strncmp(buf, "synack 1 ", 9) && strncmp(buf, "error ", 6)) {
		*err = EPROTO;
		free(buf);
		return NULL;
	}
	return buf;
fail:
	close(fd);
	free(buf);
	return NULL;
}

/* The pids of this namespace's listening @synack.<pid> sockets. */
static int discover(int *pids, int max)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char line[512];
	int n = 0;

	if (!f)
		return 0;
	/* Num RefCount Protocol Flags Type St Inode Path */
	while (fgets(line, sizeof(line), f) && n < max) {
		unsigned long flags;
		char *at = strstr(line, " @" QUERY_PREFIX), *end;
		long pid;

		if (!at || sscanf(line, "%*s %*s %*s %lx", &flags) != 1 || !(flags & 0x10000))
			continue; /* 0x10000: __SO_ACCEPTCON, a listener */
		pid = strtol(at + 2 + strlen(QUERY_PREFIX), &end, 10);
		if (pid <= 0 || (*end != '\n' && *end != '\0'))
			continue;
		bool seen = false;
		for (int i = 0; i < n; i++)
			seen = seen || pids[i] == (int)pid;
		if (!seen)
			pids[n++] = (int)pid;
	}
	fclose(f);
	for (int i = 1; i < n; i++) /* by pid, as ps lists them */
		for (int j = i; j > 0 && pids[j - 1] > pids[j]; j--) {
			int t = pids[j];
			pids[j] = pids[j - 1];
			pids[j - 1] = t;
		}
	return n;
}

/* Enter pid's network namespace when it is not ours (root only). */
static bool enter_netns_of(int pid)
{
	char path[64];
	struct stat a, b;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	if (stat(path, &a) != 0 || stat("/proc/self/ns/net", &b) != 0 || a.st_ino == b.st_ino)
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = setns(fd, CLONE_NEWNET) == 0;
	close(fd);
	return ok;
}

/* The answers to req of every synack process of this namespace, or of
 * pid (> 0) alone. Returns how many; prints why a given pid has none. */
struct answer {
	int pid;
	char *text;
};

static int gather(int pid, const char *req, struct answer *out, int max, int *status)
{
	int pids[MAX_PROCS], n, got = 0, err = 0;

	*status = 0;
	if (pid > 0) {
		char *t = ask(pid, req, &err);

		if (!t && (err == ECONNREFUSED || err == ENOENT) && enter_netns_of(pid))
			t = ask(pid, req, &err);
		if (!t) {
			if (kill(pid, 0) != 0 && errno == ESRCH)
				*status = cli_fail(1, "pid %d: no such process", pid);
			else if (err == ECONNREFUSED || err == ENOENT)
				*status = cli_fail(
				    1,
				    "pid %d runs no synack stack in this network namespace "
				    "(no @%s%d in /proc/net/unix) — run this in its "
				    "namespace (ip netns exec NS synack ...) or as root",
				    pid, QUERY_PREFIX, pid);
			else
				*status =
				    cli_fail(1, "pid %d: the query failed: %s", pid,
				             err == EPROTO ? "not a synack answer" : strerror(err));
			return 0;
		}
		out[0] = (struct answer){pid, t};
		got = 1;
	} else {
		n = discover(pids, MAX_PROCS);
		for (int i = 0; i < n && got < max; i++) {
			char *t = ask(pids[i], req, &err);

			/* A process that exited since the scan is not an error. */
			if (t)
				out[got++] = (struct answer){pids[i], t};
			else if (err != ECONNREFUSED && err != ENOENT)
				fprintf(stderr, "synack: pid %d: the query failed: %s\n", pids[i],
				        err == EPROTO ? "not a synack answer" : strerror(err));
		}
	}
	for (int i = 0; i < got; i++) {
		if (!strncmp(out[i].text, "error ", 6)) {
			char *nl = strchr(out[i].text, '\n');

			if (nl)
				*nl = '\0';
			*status = cli_fail(1, "pid %d: %s", out[i].pid, out[i].text + 6);
			free(out[i].text);
			out[i--] = out[--got];
		}
	}
	return got;
}

/* The value of " key=" in a record (up to the next space), or NULL. */
static const char *field(const char *rec, const char *key, char *buf, size_t len)
{
	size_t k = strlen(key);

	for (const char *p = rec; (p = strstr(p, key)); p += k) {
		if ((p == rec || p[-1] == ' ') && p[k] == '=') {
			size_t n = strcspn(p + k + 1, " \n");

			if (n >= len)
				n = len - 1;
			memcpy(buf, p + k + 1, n);
			buf[n] = '\0';
			return buf;
		}
	}
	return NULL;
}

static uint64_t num(const char *rec, const char *key)
{
	char b[32];

	return field(rec, key, b, sizeof(b)) ? strtoull(b, NULL, 10) : 0;
}

/* -p's argument: a pid, or 0 after saying why not. */
static int pid_arg(const char *verb, const char *arg)
{
	char *end;
	long pid = strtol(arg, &end, 10);

	if (*arg && !*end && pid > 0 && pid <= INT32_MAX)
		return (int)pid;
	cli_fail(2, "%s: -p wants a process id, not '%s'", verb, arg);
	return 0;
}

/* ---- ss ------------------------------------------------------------- */

/* Linux's TCP state numbers (core/stack.h uses them) and ss's names. */
static const char *const ss_state[12] = {
    [1] = "ESTAB",      [2] = "SYN-SENT",  [3] = "SYN-RECV", [4] = "FIN-WAIT-1",
    [5] = "FIN-WAIT-2", [6] = "TIME-WAIT", [7] = "UNCONN",   [8] = "CLOSE-WAIT",
    [9] = "LAST-ACK",   [10] = "LISTEN",   [11] = "CLOSING",
};
#define ST(s)  (1u << (s))
#define SS_ALL 0xffeu
/* ss(8)'s default: every state but listening, closed, time-wait and
 * syn-recv (iproute2 misc/ss.c SS_CONN). */
#define SS_CONN      (SS_ALL & ~(ST(10) | ST(7) | ST(6) | ST(3)))
#define SS_CONNECTED (SS_ALL & ~(ST(7) | ST(10)))

/* ss's state filter names (ss(8) STATE-FILTER). 0: unknown. */
static unsigned state_filter(const char *name)
{
	static const struct {
		const char *name;
		unsigned mask;
	} names[] = {
	    {"established", ST(1)},
	    {"syn-sent", ST(2)},
	    {"syn-recv", ST(3)},
	    {"fin-wait-1", ST(4)},
	    {"fin-wait-2", ST(5)},
	    {"time-wait", ST(6)},
	    {"closed", ST(7)},
	    {"close-wait", ST(8)},
	    {"last-ack", ST(9)},
	    {"listening", ST(10)},
	    {"listen", ST(10)},
	    {"closing", ST(11)},
	    {"all", SS_ALL},
	    {"connected", SS_CONNECTED},
	    {"synchronized", SS_CONNECTED & ~ST(2)},
	    {"bucket", ST(3) | ST(6)},
	    {"big", SS_ALL & ~(ST(3) | ST(6))},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(name, names[i].name))
			return names[i].mask;
	return 0;
}

struct row {
	const char *rec; /* the "sock" record */
	const char *comm;
	int pid, state;
	char rq[24], sq[24], laddr[40], lport[8], paddr[40], pport[8];
};

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	/* ss lists by state first (listeners at the end under -a, as its
	 * per-table order has them), then by process. */
	if ((x->state == 10) != (y->state == 10))
		return x->state == 10 ? 1 : -1;
	return x->pid != y->pid ? (x->pid > y->pid) - (x->pid < y->pid) : 0;
}

/* ss's sprint_bw. */
static void bw(char *buf, size_t len, double v)
{
	if (v > 1e9)
		snprintf(buf, len, "%.1fG", v / 1e9);
	else if (v > 1e6)
		snprintf(buf, len, "%.1fM", v / 1e6);
	else if (v > 1e3)
		snprintf(buf, len, "%.1fK", v / 1e3);
	else
		snprintf(buf, len, "%g", v);
}

/* The second line of ss -i (iproute2 misc/ss.c tcp_stats_print), from the
 * figures synack has: what core does not track (delivery rate, pacing,
 * segment counts, last send/receive times) is left out, never made up. */
static void print_info(const char *r)
{
	char b[32], rate[32];
	uint64_t opts = num(r, "options"), rtt = num(r, "rtt_us"), mss = num(r, "snd_mss");
	uint64_t cwnd = num(r, "snd_cwnd"), ssth = num(r, "snd_ssthresh");

	putchar('\t');
	if (opts & 1)
		printf(" ts");
	if (opts & 2)
		printf(" sack");
	if (field(r, "cc", b, sizeof(b)))
		printf(" %s", b);
	if (opts & 4)
		printf(" wscale:%" PRIu64 ",%" PRIu64, num(r, "snd_wscale"), num(r, "rcv_wscale"));
	if (num(r, "rto_us"))
		printf(" rto:%g", (double)num(r, "rto_us") / 1000);
	if (num(r, "retransmits"))
		printf(" backoff:%" PRIu64, num(r, "retransmits"));
	if (rtt)
		printf(" rtt:%g/%g", (double)rtt / 1000, (double)num(r, "rttvar_us") / 1000);
	if (num(r, "ato_us"))
		printf(" ato:%g", (double)num(r, "ato_us") / 1000);
	if (mss)
		printf(" mss:%" PRIu64, mss);
	if (num(r, "pmtu"))
		printf(" pmtu:%" PRIu64, num(r, "pmtu"));
	if (num(r, "rcv_mss"))
		printf(" rcvmss:%" PRIu64, num(r, "rcv_mss"));
	if (num(r, "advmss"))
		printf(" advmss:%" PRIu64, num(r, "advmss"));
	if (cwnd)
		printf(" cwnd:%" PRIu64, cwnd);
	if (ssth && ssth < 0xFFFF) /* ss shows it once it is finite */
		printf(" ssthresh:%" PRIu64, ssth);
	if (num(r, "bytes_sent"))
		printf(" bytes_sent:%" PRIu64, num(r, "bytes_sent"));
	if (num(r, "bytes_retrans"))
		printf(" bytes_retrans:%" PRIu64, num(r, "bytes_retrans"));
	if (num(r, "bytes_acked"))
		printf(" bytes_acked:%" PRIu64, num(r, "bytes_acked"));
	if (num(r, "bytes_received"))
		printf(" bytes_received:%" PRIu64, num(r, "bytes_received"));
	if (rtt && mss && cwnd) {
		bw(rate, sizeof(rate), (double)cwnd * (double)mss * 8e6 / (double)rtt);
		printf(" send %sbps", rate);
	}
	if (num(r, "unacked") && num(r, "state") != 10)
		printf(" unacked:%" PRIu64, num(r, "unacked"));
	if (num(r, "retransmits") || num(r, "total_retrans"))
		printf(" retrans:%" PRIu64 "/%" PRIu64, num(r, "retransmits"),
		       num(r, "total_retrans"));
	if (num(r, "sacked") && num(r, "state") != 10)
		printf(" sacked:%" PRIu64, num(r, "sacked"));
	if (num(r, "notsent_bytes"))
		printf(" notsent:%" PRIu64, num(r, "notsent_bytes"));
	if (field(r, "age_us", b, sizeof(b)))
		printf(" age:%.3fs", (double)strtoull(b, NULL, 10) / 1e6);
	putchar('\n');
}

static void split_ep(const char *rec, const char *key, char *addr, size_t alen, char *port,
                     size_t plen, bool peer)
{
	char b[40], *colon;

	if (!field(rec, key, b, sizeof(b)) || !(colon = strrchr(b, ':'))) {
		snprintf(addr, alen, "?");
		snprintf(port, plen, "?");
		return;
	}
	*colon = '\0';
	snprintf(addr, alen, "%s", b);
	/* ss: a wildcard port is "*" */
	snprintf(port, plen, "%s", peer && !strcmp(colon + 1, "0") ? "*" : colon + 1);
}

static int max_i(int a, int b)
{
	return a > b ? a : b;
}

int cli_ss(int argc, char **argv)
{
	static const struct option opts[] = {{"pid", required_argument, NULL, 'p'},
	                                     {"info", no_argument, NULL, 'i'},
	                                     {"listening", no_argument, NULL, 'l'},
	                                     {"all", no_argument, NULL, 'a'},
	                                     {"tcp", no_argument, NULL, 't'},
	                                     {"numeric", no_argument, NULL, 'n'},
	                                     {"ipv4", no_argument, NULL, '4'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	struct answer ans[MAX_PROCS];
	struct row *rows = NULL;
	size_t nrows = 0, cap = 0;
	unsigned states = 0, mask;
	bool info = false, listening = false, all = false;
	int c, pid = 0, n, status;
	int ws = 5, wl = 13, wlp = 4, wp = 12, wpp = 4;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:ilatn4h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if ((pid = pid_arg("ss", optarg)) <= 0)
				return 2;
			break;
		case 'i':
			info = true;
			break;
		case 'l':
			listening = true;
			break;
		case 'a':
			all = true;
			break;
		case 't': /* ss's -t, -n, -4: synack's sockets are all TCP over */
		case 'n': /* IPv4 and always shown numerically */
		case '4':
			break;
		case 'h':
			puts("usage: synack ss [-p PID] [-i] [-l] [-a] [state FILTER]...");
			return 0;
		default:
			return 2;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "state") || i + 1 >= argc)
			return cli_fail(2,
			                "ss: unexpected '%s' — filters are 'state NAME' (ss(8) "
			                "names: established, listening, time-wait, connected...)",
			                argv[i]);
		if (!(mask = state_filter(argv[++i])))
			return cli_fail(2, "ss: unknown state '%s'", argv[i]);
		states |= mask;
	}
	if (!states)
		states = all ? SS_ALL : listening ? ST(10) : SS_CONN;

	n = gather(pid, "ss", ans, MAX_PROCS, &status);
	if (pid > 0 && n == 0)
		return status;
	for (int i = 0; i < n; i++) {
		char *comm = NULL, b[64];
		char *nl = strchr(ans[i].text, '\n');

		if (nl && field(ans[i].text, "comm", b, sizeof(b)))
			comm = strdup(b);
		for (char *l = nl ? nl + 1 : NULL; l && *l; l = nl ? nl + 1 : NULL) {
			nl = strchr(l, '\n');
			if (nl)
				*nl = '\0';
			if (!strcmp(l, "truncated"))
				fprintf(stderr,
				        "synack: pid %d: the listing was cut at its size bound\n",
				        ans[i].pid);
			if (strncmp(l, "sock ", 5))
				continue;
			int st = (int)num(l, "state");

			if (st < 1 || st > 11 || !(states & ST(st)))
				continue;
			if (nrows == cap) {
				cap = cap ? cap * 2 : 64;
				rows = realloc(rows, cap * sizeof(*rows));
				if (!rows)
					return cli_fail(1, "out of memory");
			}
			struct row *r = &rows[nrows++];
			r->rec = l;
			r->comm = comm ? comm : "?";
			r->pid = ans[i].pid;
			r->state = st;
			snprintf(r->rq, sizeof(r->rq), "%" PRIu64, num(l, "rq"));
			snprintf(r->sq, sizeof(r->sq), "%" PRIu64, num(l, "sq"));
			split_ep(l, "local", r->laddr, sizeof(r->laddr), r->lport, sizeof(r->lport),
			         false);
			split_ep(l, "peer", r->paddr, sizeof(r->paddr), r->pport, sizeof(r->pport),
			         true);
			ws = max_i(ws, (int)strlen(ss_state[st]));
			wl = max_i(wl, (int)strlen(r->laddr));
			wlp = max_i(wlp, (int)strlen(r->lport));
			wp = max_i(wp, (int)strlen(r->paddr));
			wpp = max_i(wpp, (int)strlen(r->pport));
		}
	}
	if (nrows)
		qsort(rows, nrows, sizeof(*rows), cmp_row);
	printf("%-*s Recv-Q Send-Q %*s:%-*s %*s:%-*s Process\n", ws, "State", wl, "Local Address",
	       wlp, "Port", wp, "Peer Address", wpp, "Port");
	for (size_t i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		char fds[256], *save = NULL;

		printf("%-*s %-6s %-6s %*s:%-*s %*s:%-*s", ws, ss_state[r->state], r->rq, r->sq, wl,
		       r->laddr, wlp, r->lport, wp, r->paddr, wpp, r->pport);
		if (field(r->rec, "fds", fds, sizeof(fds)) && strcmp(fds, "-")) {
			printf(" users:(");
			bool first = true;
			for (char *f = strtok_r(fds, ",", &save); f;
			     f = strtok_r(NULL, ",", &save)) {
				printf("%s(\"%s\",pid=%d,fd=%s)", first ? "" : ",", r->comm, r->pid,
				       f);
				first = false;
			}
			putchar(')');
		}
		putchar('\n');
		if (info)
			print_info(r->rec);
	}
	free(rows);
	for (int i = 0; i < n; i++)
		free(ans[i].text);
	return status;
}

/* ---- stat ----------------------------------------------------------- */

struct counter {
	char name[48];
	uint64_t v;
	bool gauge;
};

/* The "stat" and "gauge" records of an answer. */
static size_t counters(char *text, struct counter *out, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save)) {
		struct counter c = {0};

		if (sscanf(l, "stat %47s %" SCNu64, c.name, &c.v) == 2)
			out[n++] = c;
		else if (sscanf(l, "gauge %47s %" SCNu64, c.name, &c.v) == 2) {
			c.gauge = true;
			out[n++] = c;
		}
	}
	return n;
}

int cli_stat(int argc, char **argv)
{
	static const struct option opts[] = {{"pid", required_argument, NULL, 'p'},
	                                     {"all", no_argument, NULL, 'a'},
	                                     {"rate", no_argument, NULL, 'r'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	static struct counter before[MAX_PROCS][128], now[128];
	struct answer a0[MAX_PROCS], a1[MAX_PROCS];
	size_t nb[MAX_PROCS];
	bool all = false, rate = false;
	int c, pid = 0, n0, n1, status;
	struct timespec t0, t1;
	double secs = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:arh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if ((pid = pid_arg("stat", optarg)) <= 0)
				return 2;
			break;
		case 'a':
			all = true;
			break;
		case 'r':
			rate = true;
			break;
		case 'h':
			puts("usage: synack stat [-p PID] [-a] [-r]");
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc)
		return cli_fail(2, "stat: unexpected '%s'", argv[optind]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	n0 = gather(pid, "stat", a0, MAX_PROCS, &status);
	for (int i = 0; i < n0; i++)
		nb[i] = counters(a0[i].text, before[i], 128);
	n1 = n0;
	if (rate && n0 > 0) {
		/* Two samples a second apart: the counters' rate. */
		sleep(1);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		n1 = 0;
		for (int i = 0; i < n0; i++) {
			int err = 0;
			char *t = ask(a0[i].pid, "stat", &err);

			if (t)
				a1[n1++] = (struct answer){a0[i].pid, t};
			else
				fprintf(stderr, "synack: pid %d: gone before the second sample\n",
				        a0[i].pid);
		}
	}
	for (int i = 0, j = 0; i < n0; i++) {
		char comm[64] = "?";
		size_t nn;

		if (rate && (j >= n1 || a1[j].pid != a0[i].pid))
			continue;
		/* The first line names the process, as nstat's "#kernel". */
		field(rate ? a1[j].text : a0[i].text, "comm", comm, sizeof(comm));
		printf("#synack pid=%d %s%s\n", a0[i].pid, comm, rate ? " (per second)" : "");
		if (!rate) {
			for (size_t k = 0; k < nb[i]; k++)
				if (all || before[i][k].v)
					printf("%-31s %" PRIu64 "\n", before[i][k].name,
					       before[i][k].v);
			continue;
		}
		nn = counters(a1[j].text, now, 128);
		for (size_t k = 0; k < nn; k++) {
			uint64_t was = 0, d;

			if (now[k].gauge)
				continue;
			for (size_t m = 0; m < nb[i]; m++)
				if (!strcmp(before[i][m].name, now[k].name))
					was = before[i][m].v;
			d = now[k].v >= was ? now[k].v - was : 0;
			if (all || d)
				printf("%-31s %.1f\n", now[k].name, (double)d / secs);
		}
		j++;
	}
	for (int i = 0; i < n0; i++)
		free(a0[i].text);
	for (int i = 0; rate && i < n1; i++)
		free(a1[i].text);
	return status;
}
