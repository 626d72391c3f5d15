/* The signal guard around synack's locks. */
#ifndef SYNACK_SHIM_SIGGUARD_H
#define SYNACK_SHIM_SIGGUARD_H

#include <signal.h>

/* Signal guard: while a thread holds one of synack's locks (or is otherwise
 * "inside synack"), a handler of the program's never runs on top of it: the
 * handler's own socket calls (send() is async-signal-safe) would otherwise
 * pass through to the kernel (the thread is inside) or deadlock on a lock
 * its own thread holds. A signal that arrives meanwhile is noted and its
 * handler runs as soon as the outermost guard is left, which is also before
 * any blocking wait: a blocking call stays interruptible. Enter and leave
 * cost no syscall: the program's handlers are installed behind a trampoline
 * (shim_sig_action) that checks the guard. Synchronous fault signals
 * (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS) keep their
 * handlers as given, for crash reports. Nests; the runtime thread has every
 * signal blocked anyway. */
void shim_sig_enter(void);
void shim_sig_leave(void);

/* In a fork child, first: the signals noted for the parent thread during
 * fork() are not the child's (fork(2): pending signals are not inherited). */
void shim_sig_after_fork_child(void);

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

/* sigaction(2) for the program: a handler of an asynchronous signal goes
 * to the kernel behind the trampoline (with SA_SIGINFO added); oact and
 * later queries read the program's own handler and flags back. real is
 * libc's sigaction. */
int shim_sig_action(int sig, const struct sigaction *act, struct sigaction *oact,
                    sigaction_fn real);

/* At start: the handlers installed before synack was (another library's
 * constructor) go behind the trampoline too. */
void shim_sig_adopt(sigaction_fn real);

#endif
