/* _exit() and _Exit(): the process leaves without atexit handlers or
 * destructors, but the kernel still closes its files, so synack closes the
 * process's sockets as exit() does (shim_exit_close, runtime.h) before the
 * real _exit. Without it the process's runtime thread would be killed
 * wherever it is, possibly holding the shared stack's lock in the middle of
 * sending a segment (the others would find the lock's owner dead and the
 * connection half updated), and nobody would close its connections until a
 * sweep saw the process gone. Python's os._exit() in every
 * socketserver.ForkingTCPServer child, daemon()'s parent and shells' forks
 * take this path.
 *
 * Not in a child of vfork() or posix_spawn() (its memory is its parent's,
 * rt_own_process), nor from synack's own code (the keeper, shim_inside). */
#include "entry.h"
#include "intercept.h"
#include "../runtime/runtime.h"

static _Noreturn void leave(int status)
{
	if (!shim_inside() && rt_own_process())
		shim_exit_close();
	REAL(_exit)(status);
	__builtin_unreachable();
}

SHIM_EXPORT _Noreturn void _exit(int status)
{
	leave(status);
}

SHIM_EXPORT _Noreturn void _Exit(int status)
{
	leave(status);
}
