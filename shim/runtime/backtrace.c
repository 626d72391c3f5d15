/* Fatal-signal backtraces (see backtrace.h). */
#include "backtrace.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

void shim_backtrace_print(void)
{
	unw_cursor_t cur;
	unw_context_t ctx;
	int depth = 0;

	if (unw_getcontext(&ctx) != 0 || unw_init_local(&cur, &ctx) != 0)
		return;
	while (unw_step(&cur) > 0 && depth < 64) {
		char name[128] = "?", line[256];
		unw_word_t ip = 0, off = 0;
		int n;

		unw_get_reg(&cur, UNW_REG_IP, &ip);
		unw_get_proc_name(&cur, name, sizeof(name), &off);
		n = snprintf(line, sizeof(line), "synack:   #%-2d 0x%016lx %s+0x%lx\n", depth,
		             (unsigned long)ip, name, (unsigned long)off);
		if (n > 0)
			shim_log_raw(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
		depth++;
	}
}

static void on_fatal(int sig)
{
	char line[96];
	int n = snprintf(line, sizeof(line), "synack: fatal signal %d (%s); backtrace:\n", sig,
	                 strsignal(sig));

	if (n > 0)
		shim_log_raw(line, (size_t)n);
	shim_backtrace_print();
	/* SA_RESETHAND restored the default action: die of the same signal
	 * so the exit status and core dump are the program's usual ones. */
	raise(sig);
}

void shim_backtrace_install(void)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old, sa;

		if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
		    (old.sa_flags & SA_SIGINFO))
			continue;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_fatal;
		sa.sa_flags = SA_RESETHAND | SA_NODEFER | SA_ONSTACK;
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
}
