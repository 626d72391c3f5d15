/* exec and spawn (design brief §6). exec: a synack socket without
 * close-on-exec keeps working in the new program (exec_handover.c), as a
 * kernel socket would. glibc's exec* family calls execve internally, past
 * the PLT, and so do posix_spawn, posix_spawnp, system and popen (clone +
 * __execve in __spawni): each entry point a program may call is wrapped.
 * The l-variants (execl, execlp, execle) gather their arguments and go to
 * execv, execvp and execve. A spawned child (posix_spawn, system, popen)
 * does not take synack sockets over: it gets unconnected kernel sockets
 * there, and says so. A program exec'd with an environment that drops
 * synack's preload cannot take them over either: the same warning. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../shared/exec_handover.h"
#include "intercept.h"
#include "../runtime/log.h"

struct exec_scan {
	int count, first;
};

static void note(int fd, struct shim_ofd *o, void *arg)
{
	struct exec_scan *s = arg;

	if (ofd_core_sock(o) < 0)
		return;
	if (REAL(fcntl)(fd, F_GETFD) & FD_CLOEXEC)
		return;
	if (s->count++ == 0)
		s->first = fd;
}

static void warn_scan(const char *call)
{
	struct exec_scan s = {0, -1};

	if (shim_inside())
		return;
	fdt_foreach(note, &s);
	if (!s.count)
		return;
	shim_log(SK_LOG_WARN,
	         "%s with %d synack connection(s) not close-on-exec (first: fd %d): the "
	         "new program gets unconnected kernel sockets there (the connections stay "
	         "with this process) — use SOCK_CLOEXEC / FD_CLOEXEC",
	         call, s.count, s.first);
}

/* An exec whose environment no longer preloads synack: the sockets it
 * inherits are placeholders to it. */
static void warn_no_preload(char *const envp[])
{
	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], "LD_PRELOAD=", 11) && strstr(envp[i], "synack"))
			return;
	warn_scan("exec without synack's LD_PRELOAD");
}

/* Run `call` with the new image's environment (exec_handover.h). */
#define EXEC_WITH(envp, call)                                                                      \
	do {                                                                                       \
		struct exec_handover h_;                                                           \
		char *const *env_ = (envp);                                                        \
		int r_;                                                                            \
		if (exec_handover_prepare(&h_, env_) < 0)                                          \
			return -1;                                                                 \
		if (h_.env)                                                                       \
			env_ = h_.env;                                                            \
		r_ = (call);                                                                       \
		exec_handover_failed(&h_);                                                         \
		return r_;                                                                         \
	} while (0)

SHIM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	warn_no_preload(envp);
	EXEC_WITH(envp, REAL(execve)(path, argv, env_));
}

SHIM_EXPORT int execv(const char *path, char *const argv[])
{
	EXEC_WITH(environ, REAL(execve)(path, argv, env_));
}

SHIM_EXPORT int execvp(const char *file, char *const argv[])
{
	EXEC_WITH(environ, REAL(execvpe)(file, argv, env_));
}

SHIM_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	warn_no_preload(envp);
	EXEC_WITH(envp, REAL(execvpe)(file, argv, env_));
}

SHIM_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	warn_no_preload(envp);
	EXEC_WITH(envp, REAL(fexecve)(fd, argv, env_));
}

/* The l-variants: argv from the variadic list (up to the NULL), and for
 * execle the environment after it. */
#define GATHER_ARGV(arg, argv, ap)                                                                 \
	size_t n_ = 1;                                                                             \
	va_start(ap, arg);                                                                         \
	while (va_arg(ap, char *))                                                                 \
		n_++;                                                                              \
	va_end(ap);                                                                                \
	char *argv[n_ + 1];                                                                        \
	argv[0] = (char *)(arg);                                                                   \
	va_start(ap, arg);                                                                         \
	for (size_t i_ = 1; i_ <= n_; i_++)                                                        \
		argv[i_] = va_arg(ap, char *);

SHIM_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;

	GATHER_ARGV(arg, argv, ap)
	va_end(ap);
	return execv(path, argv);
}

SHIM_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;

	GATHER_ARGV(arg, argv, ap)
	va_end(ap);
	return execvp(file, argv);
}

SHIM_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;

	GATHER_ARGV(arg, argv, ap)
	char **envp = va_arg(ap, char **);
	va_end(ap);
	return execve(path, argv, envp);
}

SHIM_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                            const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	warn_scan("posix_spawn");
	return REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
}

SHIM_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                             const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	warn_scan("posix_spawnp");
	return REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
}

SHIM_EXPORT int system(const char *command)
{
	if (command)
		warn_scan("system");
	return REAL(system)(command);
}

SHIM_EXPORT FILE *popen(const char *command, const char *type)
{
	warn_scan("popen");
	return REAL(popen)(command, type);
}
