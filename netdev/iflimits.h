/* An interface's GSO limits, from the kernel (rtnetlink). */
#ifndef SYNACK_NETDEV_IFLIMITS_H
#define SYNACK_NETDEV_IFLIMITS_H

#include <stdint.h>

/* Fill *max_size (bytes of a GSO packet, headers included) and *max_segs
 * for interface `ifindex` of this network namespace; a limit the kernel
 * does not report is left as it was. 0, or -errno. */
int netdev_iface_gso_limits(int ifindex, uint32_t *max_size, uint32_t *max_segs);

#endif
