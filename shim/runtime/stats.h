/* synack's counters: core's (struct sk_stats), the runtime's frame counts
 * and the AF_PACKET device's, as "name value" lines. Written to a file at
 * exit (SYNACK_STATS=PATH) and answered live to `synack stat` (query.c):
 * both go through shim_stats_format, so the two never list different
 * counters. */
#ifndef SYNACK_SHIM_STATS_H
#define SYNACK_SHIM_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include "../../core/stack.h"
#include "../../netdev/netdev.h"
#include "runtime.h"

struct shim_stats_snap {
	struct sk_stats s;
	struct rt_frame_counts fc;
	bool have_dev; /* the AF_PACKET device's counters below are valid */
	struct netdev_afpacket_stats d;
	bool packet_filter;
};

/* Take the counters of stack st; under the stack lock. */
void shim_stats_take(const struct sk_stack *st, struct shim_stats_snap *out);

/* One line per counter, "<counter_prefix>name value\n", and per gauge (a
 * state, not a count: dev_vnet_hdr, dev_rcvbuf...) "<gauge_prefix>name
 * value\n", into buf (NUL-terminated; what does not fit is left out).
 * Returns the length written. */
size_t shim_stats_format(const struct shim_stats_snap *snap, const char *counter_prefix,
                         const char *gauge_prefix, char *buf, size_t size);

/* Write the file when SYNACK_STATS is set and the runtime runs in this
 * process. Called last at exit (shim/runtime/linger.c), when the counters are
 * final; a failure to write is a warning. */
void shim_stats_write(void);

#endif
