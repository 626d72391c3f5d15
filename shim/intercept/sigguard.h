/* The signal guard around synack's locks. */
#ifndef SYNACK_SHIM_SIGGUARD_H
#define SYNACK_SHIM_SIGGUARD_H

/* Signal guard: while a thread holds one of synack's locks (or is otherwise
 * "inside synack"), the program's asynchronous signals are blocked for it, so
 * a handler never runs on top of a half-done synack call. Such a handler's own
 * socket calls (send() is async-signal-safe) would otherwise pass through to
 * the kernel (the thread is inside) or deadlock on a lock its own thread
 * holds. The signals are delivered as soon as the outermost guard is left,
 * which is also before any blocking wait: a blocking call stays
 * interruptible. Synchronous fault signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
 * SIGABRT, SIGTRAP, SIGSYS) stay unblocked for crash reports. Nests; the
 * runtime thread has every signal blocked anyway. */
void shim_sig_enter(void);
void shim_sig_leave(void);

#endif
