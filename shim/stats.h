/* SYNACK_STATS=PATH: core's counters (struct sk_stats) and the AF_PACKET
 * device's, written to PATH at exit as "name value" lines. */
#ifndef SYNACK_SHIM_STATS_H
#define SYNACK_SHIM_STATS_H

/* Write the file when SYNACK_STATS is set and the runtime runs in this
 * process. Called last at exit (shim/linger.c), when the counters are
 * final; a failure to write is a warning. */
void shim_stats_write(void);

#endif
