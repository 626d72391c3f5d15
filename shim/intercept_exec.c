/* exec (design brief §6): the new image starts its own synack; our
 * connections live in this image's memory and do not survive it. A synack
 * fd left without close-on-exec would reach the new program as an
 * unconnected kernel socket, so say so before it happens. glibc's exec*
 * family calls execve internally, past the PLT, and so do posix_spawn,
 * posix_spawnp, system and popen (clone + __execve in __spawni): each entry
 * point a program may call is wrapped. The l-variants (execl, execlp,
 * execle) gather their arguments and go to execv, execvp and execve.
 * A spawned child inherits the same placeholders while this process keeps
 * its connections: the same warning, worded for it. (File actions of
 * posix_spawn that dup2 a synack fd into the child are not looked at.) */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>

#include "intercept.h"
#include "log.h"

struct exec_scan {
	int count, first;
};

static void note(int fd, struct shim_ofd *o, void *arg)
{
	struct exec_scan *s = arg;

	if (o->kind != SHIM_OFD_SYNACK || o->gen != shim_fork_gen())
		return;
	if (REAL(fcntl)(fd, F_GETFD) & FD_CLOEXEC)
		return;
	if (s->count++ == 0)
		s->first = fd;
}

static void warn_scan(const char *call, bool spawn)
{
	struct exec_scan s = {0, -1};

	if (shim_inside())
		return;
	fdt_foreach(note, &s);
	if (!s.count)
		return;
	if (spawn)
		shim_log(SK_LOG_WARN,
		         "%s with %d synack connection(s) not close-on-exec (first: fd %d): the "
		         "new program gets unconnected kernel sockets there (the connections stay "
		         "with this process) — use SOCK_CLOEXEC / FD_CLOEXEC",
		         call, s.count, s.first);
	else
		shim_log(SK_LOG_WARN,
		         "exec with %d synack connection(s) not close-on-exec (first: fd %d): the "
		         "new program gets unconnected kernel sockets there and the connections "
		         "die with this image, unannounced — use SOCK_CLOEXEC / FD_CLOEXEC",
		         s.count, s.first);
}

static void warn_inherited(void)
{
	warn_scan("exec", false);
}

SHIM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	warn_inherited();
	return REAL(execve)(path, argv, envp);
}

SHIM_EXPORT int execv(const char *path, char *const argv[])
{
	warn_inherited();
	return REAL(execv)(path, argv);
}

SHIM_EXPORT int execvp(const char *file, char *const argv[])
{
	warn_inherited();
	return REAL(execvp)(file, argv);
}

SHIM_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	warn_inherited();
	return REAL(execvpe)(file, argv, envp);
}

SHIM_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	warn_inherited();
	return REAL(fexecve)(fd, argv, envp);
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
	warn_scan("posix_spawn", true);
	return REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
}

SHIM_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                             const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	warn_scan("posix_spawnp", true);
	return REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
}

SHIM_EXPORT int system(const char *command)
{
	if (command)
		warn_scan("system", true);
	return REAL(system)(command);
}

SHIM_EXPORT FILE *popen(const char *command, const char *type)
{
	warn_scan("popen", true);
	return REAL(popen)(command, type);
}
