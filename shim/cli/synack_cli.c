/* The `synack` command: run a program over synack, look at running ones,
 * check and prepare the machine, manage the lab.
 *
 *   synack run [--iface IF] [--addr A/N] [--gateway G] [--pcap F] [--trace]
 *              [--strict] [--force] -- PROGRAM ARGS...
 *   synack ss [-p PID] [-i] [-l] [-a] [state FILTER]...    (cli_query.c)
 *   synack stat [-p PID] [-a] [-r]                         (cli_query.c)
 *   synack check [--iface IF] [--addr A/N]                 (cli_check.c)
 *   synack iface add NAME --parent IF [--mode macvlan|ipvlan] | del NAME  (cli_iface.c)
 *   synack lab up|down|status
 *   synack --help
 *
 * `run` sets LD_PRELOAD to libsynack.so ($SYNACK_LIB, next to this binary
 * in a build tree, or the installed library) and the SYNACK_* environment,
 * then execs the program. When it can (CAP_NET_RAW), it opens the packet
 * socket itself and hands it down as SYNACK_PACKET_FD, so the program needs
 * no privilege (docs/configuration.md). docs/operations.md shows every
 * verb's output.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cli.h"

#ifndef SYNACK_SOURCE_ROOT
#define SYNACK_SOURCE_ROOT ""
#endif
/* Where `meson install` puts the library and the lab script: absolute, and
 * relative to this binary's directory (bindir), so that a tree installed
 * with --destdir or moved elsewhere still finds its own. */
#ifndef SYNACK_LIBDIR
#define SYNACK_LIBDIR ""
#endif
#ifndef SYNACK_REL_LIBDIR
#define SYNACK_REL_LIBDIR "../lib"
#endif
#ifndef SYNACK_REL_DATADIR
#define SYNACK_REL_DATADIR "../share/synack"
#endif

static void usage(FILE *out)
{
	fputs("usage:\n"
	      "  synack run [--iface IF] [--addr A/N] [--gateway G] [--pcap FILE] [--trace]\n"
	      "             [--strict] [--force] -- PROGRAM [ARGS...]\n"
	      "      run PROGRAM with its IPv4 TCP sockets carried by synack's own stack\n"
	      "      (options override SYNACK_IFACE, SYNACK_ADDR, SYNACK_GATEWAY, SYNACK_PCAP,\n"
	      "      SYNACK_TRACE=states, SYNACK_STRICT=1; --force or SYNACK_FORCE=1 runs a\n"
	      "      program synack cannot serve (static, Go) anyway; see synack(7))\n"
	      "  synack ss [-p PID] [-i] [-l] [-a] [state FILTER]...\n"
	      "      the connections of running synack programs, as ss -tni shows the kernel's\n"
	      "  synack stat [-p PID] [-a] [-r]\n"
	      "      their counters, as nstat; -r: per second over one second\n"
	      "  synack check [--iface IF] [--addr A/N]\n"
	      "      can this machine run synack with these settings? (exit 1: a problem)\n"
	      "  synack iface add NAME --parent IF [--mode macvlan|ipvlan]\n"
	      "  synack iface del NAME\n"
	      "      a child interface of IF with its own MAC and no kernel address, for synack\n"
	      "  synack lab up|down|status\n"
	      "      create, remove or show the two-namespace test lab (examples/lab.sh)\n"
	      "  synack --help\n",
	      out);
}

int cli_fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("synack: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

static int die(const char *fmt, const char *arg)
{
	fputs("synack: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 2;
}

/* The directory holding this executable. */
static int self_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	return 0;
}

/* dir/rel/name, made canonical, into out (PATH_MAX bytes) when it is
 * readable. */
static bool readable_in(char *out, const char *dir, const char *rel, const char *name)
{
	char path[PATH_MAX];

	return (size_t)snprintf(path, sizeof(path), "%s%s%s/%s", dir, rel[0] ? "/" : "", rel,
	                        name) < sizeof(path) &&
	       access(path, R_OK) == 0 && realpath(path, out);
}

/* $SYNACK_LIB; next to this binary (the build tree: build/shim/); the
 * libdir relative to it (an installed tree, wherever it was put, with or
 * without the multiarch directory); the libdir configured at build time. */
static int find_lib(char out[PATH_MAX])
{
	static const char *const rel[] = {"", SYNACK_REL_LIBDIR, "../lib", "../lib64"};
	const char *env = getenv("SYNACK_LIB");
	char dir[PATH_MAX];

	if (env && env[0]) {
		if (!realpath(env, out))
			return die("SYNACK_LIB='%s' does not exist", env);
		return 0;
	}
	for (size_t i = 0; self_dir(dir, sizeof(dir)) == 0 && i < sizeof(rel) / sizeof(rel[0]); i++)
		if (readable_in(out, dir, rel[i], "libsynack.so"))
			return 0;
	if (SYNACK_LIBDIR[0] && readable_in(out, SYNACK_LIBDIR, "", "libsynack.so"))
		return 0;
	return die("%s", "libsynack.so not found next to the synack binary, in " SYNACK_REL_LIBDIR
	                 " from it nor in " SYNACK_LIBDIR " — set SYNACK_LIB=/path/to/libsynack.so");
}

/* glibc ignores a preload that cannot load with only a line on stderr
 * (and silently for set-id programs): check before exec. */
static int check_preload(const char *lib, const char *prog, bool force)
{
	char path[PATH_MAX], why[PATH_MAX + 256];
	struct stat sb;
	void *h;

	h = dlopen(lib, RTLD_LAZY | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "synack: %s cannot be preloaded: %s\n", lib, dlerror());
		return 2;
	}
	dlclose(h);
	if (!strchr(prog, '/')) {
		const char *p = getenv("PATH");
		char *copy = strdup(p ? p : "/usr/bin:/bin"), *save = NULL;

		path[0] = '\0';
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			snprintf(path, sizeof(path), "%s/%s", d, prog);
			if (access(path, X_OK) == 0)
				break;
			path[0] = '\0';
		}
		free(copy);
	} else {
		snprintf(path, sizeof(path), "%s", prog);
	}
	if (!path[0])
		return die("%s: command not found", prog);
	if (stat(path, &sb) == 0 && (sb.st_mode & (S_ISUID | S_ISGID)))
		return die("%s is set-user/group-ID: the loader ignores LD_PRELOAD for it", path);
	if (getxattr(path, "security.capability", NULL, 0) > 0)
		return die("%s has file capabilities: the loader ignores LD_PRELOAD for it — "
		           "remove them (setcap -r), `synack run` passes the packet socket instead",
		           path);
	/* Static, Go, musl, another ELF class: the program would run with
	 * the kernel's TCP, unnoticed (cli_elf.c). */
	if (!force && cli_elf_unservable(path, why, sizeof(why)))
		return cli_fail(2, "%s — synack cannot serve it; run it anyway (on the kernel's TCP) "
		                   "with --force or SYNACK_FORCE=1",
		                why);
	return 0;
}

/* Open the packet socket for the program when we may. Protocol 0 and no
 * bind: it receives nothing until the program's synack binds it to the
 * interface (netdev/afpacket.c bind_iface), which needs no privilege. A
 * socket opened with ETH_P_ALL would hook every interface at once, and its
 * bind to one interface would move that hook, which waits for an RCU grace
 * period (packet_do_bind -> synchronize_net, about 10 ms); binding a
 * protocol-0 socket registers its hook without one. A program that never
 * uses a socket never binds it, so it never gets a copy of a frame. */
static void hand_down_packet_socket(const char *iface)
{
	char num[16];
	int fd;

	if (!iface || !iface[0] || getenv("SYNACK_PACKET_FD") || if_nametoindex(iface) == 0)
		return; /* no such interface: the program reports it */
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0)
		return; /* no CAP_NET_RAW: the program opens its own (and reports) */
	snprintf(num, sizeof(num), "%d", fd);
	setenv("SYNACK_PACKET_FD", num, 1);
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"iface", required_argument, NULL, 'i'},   {"addr", required_argument, NULL, 'a'},
	    {"gateway", required_argument, NULL, 'g'}, {"pcap", required_argument, NULL, 'p'},
	    {"trace", no_argument, NULL, 't'},         {"strict", no_argument, NULL, 's'},
	    {"force", no_argument, NULL, 'f'},         {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	char lib[PATH_MAX], preload[PATH_MAX * 2];
	const char *old, *force_env = getenv("SYNACK_FORCE");
	bool force = force_env && !strcmp(force_env, "1");
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+i:a:g:p:tsfh", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			setenv("SYNACK_IFACE", optarg, 1);
			break;
		case 'a':
			setenv("SYNACK_ADDR", optarg, 1);
			break;
		case 'g':
			setenv("SYNACK_GATEWAY", optarg, 1);
			break;
		case 'p':
			setenv("SYNACK_PCAP", optarg, 1);
			break;
		case 't':
			setenv("SYNACK_TRACE", "states", 1);
			break;
		case 's':
			setenv("SYNACK_STRICT", "1", 1);
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc)
		return die("%s",
		           "run: no program given — e.g. synack run -- curl http://10.77.0.2/");
	if (!getenv("SYNACK_IFACE"))
		return die("%s", "run: no interface — use --iface IF or SYNACK_IFACE");
	if (!getenv("SYNACK_ADDR"))
		return die("%s", "run: no address — use --addr A/N or SYNACK_ADDR, e.g. "
		                 "10.77.0.1/24");
	if ((r = find_lib(lib)) != 0 || (r = check_preload(lib, argv[optind], force)) != 0)
		return r;
	old = getenv("LD_PRELOAD");
	snprintf(preload, sizeof(preload), "%s%s%s", lib, old && old[0] ? ":" : "", old ? old : "");
	setenv("LD_PRELOAD", preload, 1);
	hand_down_packet_socket(getenv("SYNACK_IFACE"));
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "synack: cannot run %s: %s\n", argv[optind], strerror(errno));
	return 127;
}

/* Run a lab script with argument arg: its own #! line picks the shell;
 * bash if it is not executable. Returns only on failure. */
static int exec_lab(const char *script, const char *arg)
{
	if (access(script, X_OK) == 0)
		execl(script, script, arg, (char *)NULL);
	else
		execlp("bash", "bash", script, arg, (char *)NULL);
	fprintf(stderr, "synack: cannot run %s: %s\n", script, strerror(errno));
	return 127;
}

static int cmd_lab(int argc, char **argv)
{
	char dir[PATH_MAX], script[PATH_MAX + 64];
	const char *env = getenv("SYNACK_SOURCE_DIR");
	const char *candidates[3];
	int n = 0;

	if (argc != 2 ||
	    (strcmp(argv[1], "up") && strcmp(argv[1], "down") && strcmp(argv[1], "status"))) {
		usage(stderr);
		return 2;
	}
	/* $SYNACK_SOURCE_DIR, then the tree this binary was built from
	 * (build/shim/synack -> ../../examples), then an installed copy
	 * (bindir/../share/synack/lab.sh), then the configured source. */
	if (env && env[0])
		candidates[n++] = env;
	if (self_dir(dir, sizeof(dir)) == 0) {
		snprintf(script, sizeof(script), "%s/%s/lab.sh", dir, SYNACK_REL_DATADIR);
		strncat(dir, "/../..", sizeof(dir) - strlen(dir) - 1);
		candidates[n++] = dir;
	} else {
		script[0] = '\0';
	}
	if (SYNACK_SOURCE_ROOT[0])
		candidates[n++] = SYNACK_SOURCE_ROOT;
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/examples/lab.sh", candidates[i]);
		if (access(path, R_OK) == 0)
			return exec_lab(path, argv[1]);
		/* the installed copy comes after the build tree's */
		if (candidates[i] == dir && script[0] && access(script, R_OK) == 0)
			return exec_lab(script, argv[1]);
	}
	return die("%s", "lab: examples/lab.sh not found — set SYNACK_SOURCE_DIR to the synack "
	                 "source tree");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "lab"))
		return cmd_lab(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ss"))
		return cli_ss(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stat"))
		return cli_stat(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check"))
		return cli_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "iface"))
		return cli_iface(argc - 1, argv + 1);
	fprintf(stderr, "synack: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
