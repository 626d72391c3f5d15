/* Frame transmission and routing for the link/IP layer of core/ (ip_output.c,
 * arp_cache.c): the one place frames reach the link callback, so the
 * transmit counters cannot be bypassed. */
#ifndef SYNACK_CORE_LINK_H
#define SYNACK_CORE_LINK_H

#include <stddef.h>
#include <stdint.h>

struct sk_stack;

struct sk_tx_offload;

/* 0 or the link's -errno (counted in tx_errors). `off` (may be NULL): what
 * the device finishes (sk_link_ops.xmit_offload). */
int sk_link_xmit(struct sk_stack *st, const uint8_t *frame, size_t len,
                 const struct sk_tx_offload *off);

/* Complete, in software, the L4 checksum a frame left to the device
 * (off->csum_start): for a frame that will leave without the offload after
 * all (one queued for ARP resolution). */
void sk_tx_finish_csum(uint8_t *frame, size_t len, const struct sk_tx_offload *off);

/* Our one route: the on-link prefix, else the gateway if there is one.
 * Returns the next hop for dst, or 0 when there is none (our own address,
 * a martian, or off-link without a gateway). */
uint32_t sk_ip_next_hop(const struct sk_stack *st, uint32_t dst);

#endif
