/* Logging to stderr through the real write(): one line per call, prefixed
 * "synack: ", written with a single write so lines from several threads do
 * not interleave. Never allocates, never takes a lock: usable from the
 * runtime thread, application threads, atexit and fatal-signal paths. */
#ifndef SYNACK_SHIM_LOG_H
#define SYNACK_SHIM_LOG_H

#include "../../core/stack.h"

/* Lines above this level are dropped (SYNACK_LOG; default warn). */
void shim_log_set_level(enum sk_log_level level);
enum sk_log_level shim_log_level(void);

void shim_log(enum sk_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write a preformatted chunk to stderr as is. */
void shim_log_raw(const char *buf, size_t len);

#endif
