/* Formatting of the SYNACK_TRACE=states line (pure, unit tested):
 *   synack: trace 12.345 10.77.0.1:40000 > 10.77.0.2:80 SYN_SENT -> ESTABLISHED (rcv SYN+ACK) mss
 * 1460 Time in milliseconds since the stack started; the MSS only on entering ESTABLISHED, where it
 * has just been negotiated. */
#ifndef SYNACK_SHIM_TRACE_H
#define SYNACK_SHIM_TRACE_H

#include <stddef.h>

#include "../../core/stack.h"

/* Writes the line with a trailing newline; returns its length (truncated
 * to len - 1 like snprintf). */
size_t shim_trace_format(char *buf, size_t len, const struct sk_state_change *ev, sk_time_t epoch);

#endif
