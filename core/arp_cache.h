/* The ARP neighbour cache and address resolution (RFC 826, RFC 1122
 * §2.3.2): answers requests for our address, learns senders, resolves next
 * hops, holds a bounded queue of frames waiting for resolution, retries,
 * gives up, and lets entries age out.
 *
 * States of an entry, as Linux names its neighbour states:
 *   INCOMPLETE  request sent, no answer yet; frames wait on the entry
 *   REACHABLE   MAC known and confirmed within ARP_REACHABLE_TIME
 *   PROBE       MAC known but older than that: used as is while unicast
 *               requests re-confirm it (Linux's STALE -> PROBE)
 *   FAILED      no answer to ARP_MAX_REQUESTS requests: sending fails
 *               with -EHOSTUNREACH until the hold time is over
 */
#ifndef SYNACK_CORE_ARP_CACHE_H
#define SYNACK_CORE_ARP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sk_time.h"
#include "stack.h"

struct sk_stack;
struct sk_arp_cache;

#define SK_ARP_ENTRIES         64         /* neighbours cached; the least recently used goes */
#define SK_ARP_POOL_FRAMES     32         /* frames waiting for resolution, all neighbours */
#define SK_ARP_QUEUE_PER_NEIGH 16         /* of which one neighbour may hold at most */
#define SK_ARP_REACHABLE_TIME  SK_SEC(30) /* Linux base_reachable_time */
#define SK_ARP_RETRANS_TIME    SK_SEC(1)  /* Linux retrans_time */
#define SK_ARP_MAX_REQUESTS    3          /* Linux mcast_solicit / ucast_solicit */
#define SK_ARP_FAILED_HOLD     SK_SEC(3)  /* how long a failed neighbour fails fast */

/* The pool holds frames of up to SK_ETH_HLEN + cfg.mtu bytes; memory from
 * st->mem. NULL on allocation failure. */
struct sk_arp_cache *sk_arp_cache_new(struct sk_stack *st);
void sk_arp_cache_free(struct sk_stack *st, struct sk_arp_cache *c);
/* Bytes of a cache with its pool (sk_stack_size_hint). */
size_t sk_arp_cache_size_hint(uint16_t mtu);

/* One ARP packet (the Ethernet payload). */
void sk_arp_input(struct sk_stack *st, const uint8_t *pkt, size_t len, sk_time_t now);

/* Send `frame` (len bytes, the first SK_ETH_HLEN of them left for the
 * Ethernet header, which this fills in) to the neighbour `next_hop`, with
 * the device finishing it as *off says (NULL: a complete frame).
 * 0 (sent or queued until resolution), -EHOSTUNREACH (the neighbour failed
 * to answer recently) or -ENOBUFS (resolution queue full, or a super-frame,
 * which no queue slot holds). A link error counts in tx_errors and loses
 * the frame, as a wire would. */
int sk_arp_output(struct sk_stack *st, uint32_t next_hop, uint8_t *frame, size_t len,
                  const struct sk_tx_offload *off, sk_time_t now);

/* sk_arp_output, except that when next_hop is not resolved (no entry,
 * INCOMPLETE or FAILED) and `mac` is given, the frame goes to `mac` at
 * once: no entry is created, nothing queued, no request sent (counted in
 * arp_tx_sender_mac). For replies to an on-link sender, whose frame
 * carried its MAC. */
int sk_arp_output_to(struct sk_stack *st, uint32_t next_hop, uint8_t *frame, size_t len,
                     const struct sk_tx_offload *off, const uint8_t *mac, sk_time_t now);

/* A passive TCP handshake with on-link `addr` completed, its SYN,ACK sent
 * to `mac` (the SYN's source) and acknowledged: two-way reachability,
 * which RFC 1122 §2.3.2.1 lets the transport report. Enter it as
 * REACHABLE when the cache has no usable entry (none, INCOMPLETE: its
 * queue leaves now, or FAILED); a known MAC is never replaced (only ARP
 * changes one). */
void sk_arp_learn(struct sk_stack *st, uint32_t addr, const uint8_t *mac, sk_time_t now);

/* Is next_hop's MAC known (a frame to it leaves at once, not queued)? */
bool sk_arp_resolved(struct sk_stack *st, uint32_t next_hop);

/* Higher-layer advice (RFC 1122 §2.3.2.1): the transport saw forward
 * progress (an ACK for new data) from `dst`, so its next hop is reachable.
 * Keeps a cached neighbour REACHABLE without ARP traffic, as Linux's
 * dst_confirm does for TCP. Unknown or unresolved next hops are left
 * alone: advice never creates or completes an entry. */
void sk_arp_confirm(struct sk_stack *st, uint32_t dst, sk_time_t now);

/* After a call was cut short (sk_stack_repair): queued frames dropped,
 * the pool's free list and the deadline rebuilt. */
void sk_arp_repair(struct sk_stack *st);

/* Earliest retry or hold expiry, or SK_TIME_NEVER. O(1). */
sk_time_t sk_arp_next_deadline(const struct sk_arp_cache *c);
void sk_arp_run_timers(struct sk_stack *st, sk_time_t now);

#endif
