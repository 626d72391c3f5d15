/* exec (design brief §6): the new image starts its own synack; our
 * connections live in this image's memory and do not survive it. A synack
 * fd left without close-on-exec would reach the new program as an
 * unconnected kernel socket, so say so before it happens. glibc's exec*
 * family calls execve internally, past the PLT: each entry point a
 * program may call is wrapped. */
#include <fcntl.h>
#include <stdarg.h>

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

static void warn_inherited(void)
{
	struct exec_scan s = {0, -1};

	if (shim_inside())
		return;
	fdt_foreach(note, &s);
	if (s.count)
		shim_log(
		    SK_LOG_WARN,
		    "exec with %d synack connection(s) not close-on-exec (first: fd %d): the "
		    "new program gets unconnected kernel sockets there and the connections die "
		    "with this image, unannounced — use SOCK_CLOEXEC / FD_CLOEXEC",
		    s.count, s.first);
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
