/* Internal contract between the layers of core/ (not for shim/ or netdev/).
 *
 *   sk_input -> Ethernet -> ARP | IPv4 -> ICMP | TCP (sk_tcp_input)
 *   TCP output -> sk_ip_tx_buf / sk_ip_tx_send -> next hop -> ARP -> link xmit
 *
 * Output builds each frame in place in the stack's transmit buffer: the
 * layer above writes its header and payload at the L4 offset, leaving
 * headroom for the IPv4 and Ethernet headers (lwIP's pbuf idea without the
 * pbuf): one copy of the payload from the socket buffer, none after.
 */
#ifndef SYNACK_CORE_STACK_IMPL_H
#define SYNACK_CORE_STACK_IMPL_H

#include <stdarg.h>

#include "ethernet.h"
#include "ipv4.h"
#include "rel.h"
#include "stack.h"

struct sk_tcp;       /* TCP module state: socket arena, tables, timers (tcp*.c) */
struct sk_arp_cache; /* neighbour cache and its pending-frame queue (arp_cache.c) */
struct sk_loop;      /* packets to our own address, waiting for input (loopback.c) */

/* The IPv4 total length field's limit (RFC 791): a TCP super-frame's. */
#define SK_IPV4_MAX_LEN 65535u
/* Largest frame we ever build: Ethernet + the largest IPv4 datagram (a TCP
 * super-frame, sk_config.tso_max; without it, Ethernet + the MTU). */
#define SK_TX_FRAME_MAX (SK_ETH_HLEN + SK_IPV4_MAX_LEN)
#define SK_L4_OFFSET    (SK_ETH_HLEN + SK_IPV4_HLEN)

struct sk_stack {
	struct sk_config cfg;
	/* The caller's process: replaced by every sk_stack_bind. */
	struct sk_link_ops link;
	void *link_ctx;
	struct sk_hooks hooks;
	struct sk_mem_ops mem;
	uint32_t owner;

	/* Self-relative (rel.h): the state may be mapped anywhere. */
	sk_rel arp;  /* struct sk_arp_cache */
	sk_rel tcp;  /* struct sk_tcp */
	sk_rel loop; /* struct sk_loop; NULL until the first packet to our own address */
	struct sk_stats stats;

	/* The frame sk_input is processing, while it does: its Ethernet
	 * source and, for IPv4, the IPv4 source (sk_rx_sender_mac). */
	struct {
		const uint8_t *mac;
		uint32_t ip_src;
	} rx;

	uint16_t ip_id;     /* IPv4 identification counter */
	uint64_t rng_state; /* splitmix64 state, seeded from cfg.rng_seed */

	uint8_t txbuf[SK_TX_FRAME_MAX];
};

static inline struct sk_arp_cache *sk_arp_of(const struct sk_stack *st)
{
	return sk_rel_get_set(&st->arp);
}
static inline struct sk_tcp *sk_tcp_of(const struct sk_stack *st)
{
	return sk_rel_get_set(&st->tcp);
}
static inline struct sk_loop *sk_loop_of(const struct sk_stack *st)
{
	return sk_rel_get(&st->loop);
}

/* ---- services for every layer ---- */

/* The stack's memory (sk_mem_ops): zero-filled, NULL on failure. */
static inline void *sk_mem_alloc(const struct sk_mem_ops *m, size_t n)
{
	return m->alloc(m->ctx, n);
}
static inline void *sk_mem_alloc_uninit(const struct sk_mem_ops *m, size_t n)
{
	return m->alloc_uninit ? m->alloc_uninit(m->ctx, n) : m->alloc(m->ctx, n);
}
static inline void *sk_mem_realloc(const struct sk_mem_ops *m, void *p, size_t old, size_t n)
{
	return m->realloc(m->ctx, p, old, n);
}
static inline void sk_mem_free(const struct sk_mem_ops *m, void *p, size_t n)
{
	if (p)
		m->free(m->ctx, p, n);
}

/* Deterministic PRNG (splitmix64) seeded from cfg.rng_seed. */
uint64_t sk_rand64(struct sk_stack *st);

/* printf-style log through hooks.log (no-op without a hook). */
void sk_log(struct sk_stack *st, enum sk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void sk_wake(struct sk_stack *st, int sock)
{
	if (st->hooks.wake)
		st->hooks.wake(st->hooks.ctx, sock);
}

/* ---- IPv4 output, used by ICMP and TCP ---- */

/* Where the L4 header of the next outgoing packet goes (inside st->txbuf),
 * and how many L4 bytes fit in one IP packet (MTU - 20). */
static inline uint8_t *sk_ip_tx_buf(struct sk_stack *st, size_t *room)
{
	if (room)
		*room = (size_t)st->cfg.mtu - SK_IPV4_HLEN;
	return st->txbuf + SK_L4_OFFSET;
}

/* Finish the packet whose l4_len bytes of L4 header+payload are at
 * sk_ip_tx_buf(): IPv4 header (DF set, TTL 64, never fragmented), next hop
 * (on-link or the gateway), Ethernet header from the ARP cache, transmit.
 * `off` (NULL: none) is what the device must finish: a TCP super-frame
 * (gso_size, may exceed the MTU) or the L4 checksum. If the next hop is not
 * resolved yet the frame is copied onto the ARP entry's bounded queue and a
 * request goes out. Returns 0 (sent or queued), -ENETUNREACH (no route:
 * off-link and no gateway), -EHOSTUNREACH (ARP gave up on this neighbour
 * recently), -ENOBUFS (ARP queue full), or -EMSGSIZE (l4_len + 20 > MTU
 * outside a super-frame: a bug in the caller). */
int sk_ip_tx_send(struct sk_stack *st, uint32_t dst, uint8_t proto, size_t l4_len,
                  const struct sk_tx_offload *off, sk_time_t now);

/* The same with a connection's IP_TOS byte and IP_TTL (0 = 64). */
int sk_ip_tx_send_tos(struct sk_stack *st, uint32_t dst, uint8_t proto, size_t l4_len, uint8_t tos,
                      uint8_t ttl, const struct sk_tx_offload *off, sk_time_t now);

/* The same, and when dst is on-link and the ARP cache has not resolved it,
 * to `mac` (non-NULL: the MAC dst's own frames came from) at once instead
 * of queueing behind an ARP request, and without creating an ARP entry
 * (docs/security.md: SYN floods from spoofed on-link sources). */
int sk_ip_tx_send_to(struct sk_stack *st, uint32_t dst, uint8_t proto, size_t l4_len, uint8_t tos,
                     uint8_t ttl, const struct sk_tx_offload *off, const uint8_t *mac,
                     sk_time_t now);

/* The source MAC of the frame being processed (sk_input) when it came
 * from `addr`, an on-link host, with a unicast source: where a reply to it
 * may go without ARP. NULL otherwise. */
const uint8_t *sk_rx_sender_mac(const struct sk_stack *st, uint32_t addr);

/* Would a frame to dst leave at once (route known, next hop resolved)?
 * TCP builds super-frames only then: a frame waiting for ARP is held in an
 * MTU-sized slot. */
bool sk_ip_tx_direct(struct sk_stack *st, uint32_t dst);

/* Would sk_ip_tx_send have a route to dst? (connect()'s ENETUNREACH) */
bool sk_ip_route_ok(const struct sk_stack *st, uint32_t dst);

/* ---- our own address (loopback.c) ---- */

/* Is dst our own address (its packets loop back, never reach the link)? */
bool sk_loop_is_ours(const struct sk_stack *st, uint32_t dst);

/* Queue the IPv4 packet pkt (len bytes, then off's frags) for our own
 * input. 0 (a packet over the queue's bound is dropped and counted, as a
 * wire would lose it). */
int sk_loop_send(struct sk_stack *st, const uint8_t *pkt, size_t len,
                 const struct sk_tx_offload *off, sk_time_t now);

/* When queued packets wait (the time the oldest was sent: at once), or
 * SK_TIME_NEVER. */
sk_time_t sk_loop_next_deadline(const struct sk_stack *st);

/* Deliver what waits (and what its input sends back, for a few rounds). */
void sk_loop_run(struct sk_stack *st, sk_time_t now);
void sk_loop_free(struct sk_stack *st);
/* sk_stack_repair's part: tail and byte count from the links; -1 with a
 * reason when the links cannot be followed. */
int sk_loop_repair(struct sk_stack *st, char *why, size_t why_len);

/* input.c: one IPv4 packet from our own output (source our own address,
 * L4 checksum trusted). */
void sk_ip_loop_input(struct sk_stack *st, const uint8_t *pkt, size_t len, sk_time_t now);

/* ---- the TCP module, as stack.c drives it ---- */

struct sk_tcp *sk_tcp_new(struct sk_stack *st);
void sk_tcp_free(struct sk_stack *st, struct sk_tcp *tcp);
size_t sk_tcp_size_hint(const struct sk_config *cfg);
/* sk_stack_repair's part for TCP (tcp_repair.c). */
int sk_tcp_repair(struct sk_stack *st, char *why, size_t why_len);

/* One TCP segment (IP payload) from ip. `csum_trusted`: skip checksum
 * verification (SK_RX_CSUM_TRUSTED). */
void sk_tcp_input(struct sk_stack *st, const struct sk_ipv4_repr *ip, const uint8_t *seg,
                  size_t len, bool csum_trusted, sk_time_t now);

/* An ICMP error quoting one of our TCP segments (destination unreachable,
 * fragmentation needed with next_mtu): `quoted` is the quoted IP header and
 * at least 8 bytes of TCP header. For PMTU discovery and soft errors. */
void sk_tcp_icmp_error(struct sk_stack *st, uint8_t type, uint8_t code, uint16_t next_mtu,
                       const uint8_t *quoted, size_t quoted_len, sk_time_t now);

sk_time_t sk_tcp_next_deadline(const struct sk_tcp *tcp);
void sk_tcp_run_timers(struct sk_stack *st, sk_time_t now);

/* ARP gave up on `addr`: connections in SYN_SENT towards it fail with
 * EHOSTUNREACH. */
void sk_tcp_neighbour_unreachable(struct sk_stack *st, uint32_t addr, sk_time_t now);

#endif
