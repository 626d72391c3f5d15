/* Installing signal handlers: sigaction() and the older calls that glibc
 * implements with its internal sigaction, which no preload sees (signal,
 * bsd_signal, sysv_signal, sigset). Each goes through shim_sig_action
 * (sigguard.h), so that a handler never runs on top of a synack call. A
 * child of vfork() or posix_spawn() shares its parent's memory and with it
 * the table of handlers: its calls go straight to libc. */
#include <errno.h>
#include <stdbool.h>

#include "entry.h"
#include "intercept.h"
#include "../runtime/runtime.h"

SHIM_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
	shim_init();
	if (shim_inside() || !rt_own_process())
		return REAL(sigaction)(sig, act, oact);
	return shim_sig_action(sig, act, oact, REAL(sigaction));
}

/* glibc's BSD semantics for signal(): the signal blocked in its handler,
 * interrupted calls restarted. */
static sighandler_t install(int sig, sighandler_t handler, int flags, bool block_self)
{
	struct sigaction act = {.sa_handler = handler, .sa_flags = flags}, old;

	if (handler == SIG_ERR || sig < 1 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	sigemptyset(&act.sa_mask);
	if (block_self)
		sigaddset(&act.sa_mask, sig);
	if (sigaction(sig, &act, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

SHIM_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
	return install(sig, handler, SA_RESTART, true);
}

SHIM_EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler)
{
	return install(sig, handler, SA_RESTART, true);
}

/* System V: the handler runs once (SA_RESETHAND), unblocked (SA_NODEFER),
 * and interrupts calls. */
SHIM_EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler)
{
	return install(sig, handler, SA_RESETHAND | SA_NODEFER, false);
}

SHIM_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t handler)
{
	return install(sig, handler, SA_RESETHAND | SA_NODEFER, false);
}

/* System V's sigset: SIG_HOLD blocks the signal; another disposition is
 * installed (no flags, empty mask) and unblocks it. SIG_HOLD comes back
 * when the signal was blocked. */
SHIM_EXPORT sighandler_t sigset(int sig, sighandler_t disp)
{
	sigset_t one, old;
	sighandler_t prev;

	if (sig < 1 || sig >= NSIG || disp == SIG_ERR) {
		errno = EINVAL;
		return SIG_ERR;
	}
	sigemptyset(&one);
	sigaddset(&one, sig);
	if (disp == SIG_HOLD) {
		struct sigaction cur;

		if (sigaction(sig, NULL, &cur) < 0 || sigprocmask(SIG_BLOCK, &one, &old) < 0)
			return SIG_ERR;
		return sigismember(&old, sig) ? SIG_HOLD : cur.sa_handler;
	}
	prev = install(sig, disp, 0, false);
	if (prev == SIG_ERR || sigprocmask(SIG_UNBLOCK, &one, &old) < 0)
		return SIG_ERR;
	return sigismember(&old, sig) ? SIG_HOLD : prev;
}
