/* Signal guard (see sigguard.h). */
#include "sigguard.h"

#include <pthread.h>
#include <signal.h>

/* entry.h's state, here with the guard it drives (the pure library's
 * fd table enters too). */
_Thread_local int shim_inside_depth;
_Thread_local int shim_entry_errno;

static _Thread_local int sig_guard;
static _Thread_local sigset_t sig_saved;

void shim_sig_enter(void)
{
	sigset_t block;

	if (sig_guard++ > 0)
		return;
	sigfillset(&block);
	sigdelset(&block, SIGSEGV);
	sigdelset(&block, SIGBUS);
	sigdelset(&block, SIGILL);
	sigdelset(&block, SIGFPE);
	sigdelset(&block, SIGABRT);
	sigdelset(&block, SIGTRAP);
	sigdelset(&block, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &block, &sig_saved);
}

void shim_sig_leave(void)
{
	if (sig_guard > 0 && --sig_guard == 0)
		pthread_sigmask(SIG_SETMASK, &sig_saved, NULL);
}
