/* The AF_PACKET device once open: its packet filter (SYNACK_BPF) and what
 * the counters written at exit (SYNACK_STATS, stats.h) need to know of it. */
#ifndef SYNACK_SHIM_PACKET_FILTER_H
#define SYNACK_SHIM_PACKET_FILTER_H

#include <stdbool.h>

#include "../../netdev/netdev.h"

/* Called by the runtime right after the AF_PACKET device is opened, before
 * any decorator wraps it and before the stack reads a frame: attaches the
 * filter unless SYNACK_BPF=0 (a refusal is a warning, never an error), and
 * remembers the device. */
void shim_packet_device_opened(struct netdev *afp);

/* The AF_PACKET device this process opened last (NULL: none), and whether
 * the filter is on it. */
struct netdev *shim_packet_device(void);
bool shim_packet_filter_attached(void);

#endif
