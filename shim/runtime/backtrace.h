/* Backtraces on fatal signals: when synack (or the program) crashes, print
 * the stack with libunwind before dying, so a report says where. */
#ifndef SYNACK_SHIM_BACKTRACE_H
#define SYNACK_SHIM_BACKTRACE_H

/* Install handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT (failed
 * assertions) where the program left the default action. */
void shim_backtrace_install(void);

/* Print the current stack to stderr (async-signal-safe enough for a dying
 * process: no malloc, real write only). */
void shim_backtrace_print(void);

#endif
