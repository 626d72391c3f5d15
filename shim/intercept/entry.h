/* Entering synack (design brief §2, "recursion trap"): every path from a
 * program's call into synack's locks or internals goes through one pair.
 *
 * shim_enter() blocks the program's asynchronous signals for this thread
 * (sigguard.h: a handler must not run on top of a half-done synack call),
 * raises the "inside synack" depth (real.h: the calls synack itself makes —
 * libev's, the logger's — pass straight to libc) and, on the outermost
 * entry, keeps the program's errno. shim_leave() undoes all three in the
 * reverse order. Nests. A wrapper sets the errno of its own result after
 * leaving (shim_ret). The runtime thread and the keeper live inside for
 * good (shim_inside_depth = 1) and need neither. */
#ifndef SYNACK_SHIM_INTERCEPT_ENTRY_H
#define SYNACK_SHIM_INTERCEPT_ENTRY_H

#include <errno.h>

#include "real.h"
#include "sigguard.h"

extern _Thread_local int shim_entry_errno;

static inline void shim_enter(void)
{
	if (shim_inside_depth == 0)
		shim_entry_errno = errno;
	shim_sig_enter();
	shim_inside_depth++;
}

static inline void shim_leave(void)
{
	shim_inside_depth--;
	shim_sig_leave();
	if (shim_inside_depth == 0)
		errno = shim_entry_errno;
}

#endif
