/* The ARP neighbour cache and address resolution (see arp_cache.h). */
#include "arp_cache.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "arp.h"
#include "ethernet.h"
#include "link.h"
#include "stack_impl.h"

enum arp_state { ARP_FREE = 0, ARP_INCOMPLETE, ARP_REACHABLE, ARP_PROBE, ARP_FAILED };

#define NO_SLOT (-1)

struct arp_entry {
	uint32_t addr;
	uint8_t mac[SK_ETH_ALEN];
	uint8_t state;      /* enum arp_state */
	uint8_t requests;   /* sent in the current resolution */
	sk_time_t deadline; /* INCOMPLETE/PROBE: next request; FAILED: end of hold */
	sk_time_t expires;  /* REACHABLE: when the MAC stops being trusted */
	sk_time_t last_used;
	int16_t q_head, q_tail; /* FIFO of pool slots waiting for the MAC */
	uint16_t q_len;
};

struct arp_slot {
	int16_t next; /* next slot in an entry's queue or in the free list */
	uint16_t len;
};

struct sk_arp_cache {
	struct arp_entry entries[SK_ARP_ENTRIES];
	struct arp_slot slots[SK_ARP_POOL_FRAMES];
	int16_t free_slot;
	size_t slot_size;
	sk_time_t next_deadline; /* min over entries, kept current by recompute() */
	sk_rel pool;             /* SK_ARP_POOL_FRAMES * slot_size bytes (rel.h) */
};

size_t sk_arp_cache_size_hint(uint16_t mtu)
{
	return sizeof(struct sk_arp_cache) + SK_ARP_POOL_FRAMES * (SK_ETH_HLEN + (size_t)mtu);
}

struct sk_arp_cache *sk_arp_cache_new(struct sk_stack *st)
{
	struct sk_arp_cache *c = sk_mem_alloc(&st->mem, sizeof(*c));
	if (!c)
		return NULL;
	c->slot_size = SK_ETH_HLEN + (size_t)st->cfg.mtu;
	uint8_t *pool = sk_mem_alloc(&st->mem, SK_ARP_POOL_FRAMES * c->slot_size);
	if (!pool) {
		sk_mem_free(&st->mem, c, sizeof(*c));
		return NULL;
	}
	sk_rel_set(&c->pool, pool);
	for (int i = 0; i < SK_ARP_POOL_FRAMES; i++)
		c->slots[i].next = (int16_t)(i + 1 < SK_ARP_POOL_FRAMES ? i + 1 : NO_SLOT);
	c->free_slot = 0;
	for (int i = 0; i < SK_ARP_ENTRIES; i++)
		c->entries[i].q_head = c->entries[i].q_tail = NO_SLOT;
	c->next_deadline = SK_TIME_NEVER;
	return c;
}

void sk_arp_cache_free(struct sk_stack *st, struct sk_arp_cache *c)
{
	if (!c)
		return;
	sk_mem_free(&st->mem, sk_rel_get(&c->pool), SK_ARP_POOL_FRAMES * c->slot_size);
	sk_mem_free(&st->mem, c, sizeof(*c));
}

sk_time_t sk_arp_next_deadline(const struct sk_arp_cache *c)
{
	return c->next_deadline;
}

/* Entries change state only on ARP traffic, resolution starts and timer
 * runs, so a scan of the small table then keeps sk_arp_next_deadline O(1)
 * for the loop, which asks after every call. */
static void recompute_deadline(struct sk_arp_cache *c)
{
	sk_time_t next = SK_TIME_NEVER;

	for (int i = 0; i < SK_ARP_ENTRIES; i++) {
		const struct arp_entry *e = &c->entries[i];
		bool timed =
		    e->state == ARP_INCOMPLETE || e->state == ARP_PROBE || e->state == ARP_FAILED;
		if (timed && e->deadline < next)
			next = e->deadline;
	}
	c->next_deadline = next;
}

static uint8_t *slot_data(struct sk_arp_cache *c, int slot)
{
	return (uint8_t *)sk_rel_get(&c->pool) + (size_t)slot * c->slot_size;
}

static void queue_drop_all(struct sk_arp_cache *c, struct arp_entry *e)
{
	while (e->q_head != NO_SLOT) {
		int s = e->q_head;
		e->q_head = c->slots[s].next;
		c->slots[s].next = c->free_slot;
		c->free_slot = (int16_t)s;
	}
	e->q_tail = NO_SLOT;
	e->q_len = 0;
}

static void entry_release(struct sk_arp_cache *c, struct arp_entry *e)
{
	queue_drop_all(c, e);
	memset(e, 0, sizeof(*e));
	e->q_head = e->q_tail = NO_SLOT;
}

static struct arp_entry *entry_find(struct sk_arp_cache *c, uint32_t addr)
{
	for (int i = 0; i < SK_ARP_ENTRIES; i++) {
		if (c->entries[i].state != ARP_FREE && c->entries[i].addr == addr)
			return &c->entries[i];
	}
	return NULL;
}

/* A free entry, or the least recently used one, evicted: the table is
 * bounded and a neighbour we stopped talking to is the cheapest to lose
 * (its MAC is re-resolved on next use). */
static struct arp_entry *entry_alloc(struct sk_stack *st, uint32_t addr, sk_time_t now)
{
	struct sk_arp_cache *c = sk_arp_of(st);
	struct arp_entry *victim = &c->entries[0];

	for (int i = 0; i < SK_ARP_ENTRIES; i++) {
		struct arp_entry *e = &c->entries[i];
		if (e->state == ARP_FREE) {
			victim = e;
			break;
		}
		if (e->last_used < victim->last_used)
			victim = e;
	}
	if (victim->state != ARP_FREE) {
		st->stats.arp_queue_drops += victim->q_len;
		entry_release(c, victim);
	}
	victim->addr = addr;
	victim->last_used = now;
	return victim;
}

static void emit_arp(struct sk_stack *st, uint16_t op, const uint8_t *eth_dst, const uint8_t *tha,
                     uint32_t tpa)
{
	uint8_t frame[SK_ETH_HLEN + SK_ARP_LEN];
	struct sk_eth_repr eth = {.ethertype = SK_ETHERTYPE_ARP};
	struct sk_arp_repr arp = {.op = op, .spa = st->cfg.addr, .tpa = tpa};

	memcpy(eth.dst, eth_dst, SK_ETH_ALEN);
	memcpy(eth.src, st->cfg.mac, SK_ETH_ALEN);
	memcpy(arp.sha, st->cfg.mac, SK_ETH_ALEN);
	memcpy(arp.tha, tha, SK_ETH_ALEN);
	sk_eth_emit(&eth, frame);
	sk_arp_emit(&arp, frame + SK_ETH_HLEN);
	sk_link_xmit(st, frame, sizeof(frame), NULL);
}

/* RFC 826: a request carries an unknown target hardware address (zero).
 * While resolving, it is broadcast; while re-confirming a known MAC it is
 * unicast to it (RFC 1122 §2.3.2.1, as Linux's PROBE state does), so the
 * whole segment is not disturbed every 30 s. */
static void send_request(struct sk_stack *st, struct arp_entry *e, sk_time_t now)
{
	static const uint8_t unknown[SK_ETH_ALEN];
	const uint8_t *dst = e->state == ARP_PROBE ? e->mac : sk_eth_broadcast;

	emit_arp(st, SK_ARP_REQUEST, dst, unknown, e->addr);
	st->stats.arp_requests_sent++;
	e->requests++;
	e->deadline = now + SK_ARP_RETRANS_TIME;
}

static void frame_set_eth(const struct sk_stack *st, uint8_t *frame, const uint8_t *dst)
{
	struct sk_eth_repr eth = {.ethertype = SK_ETHERTYPE_IPV4};

	memcpy(eth.dst, dst, SK_ETH_ALEN);
	memcpy(eth.src, st->cfg.mac, SK_ETH_ALEN);
	sk_eth_emit(&eth, frame);
}

/* The neighbour answered (or spoke): remember its MAC, trust it for
 * ARP_REACHABLE_TIME, and send what waited for it, in order. */
static void entry_confirm(struct sk_stack *st, struct arp_entry *e, const uint8_t *mac,
                          sk_time_t now)
{
	struct sk_arp_cache *c = sk_arp_of(st);

	memcpy(e->mac, mac, SK_ETH_ALEN);
	e->state = ARP_REACHABLE;
	e->requests = 0;
	e->expires = now + SK_ARP_REACHABLE_TIME;
	while (e->q_head != NO_SLOT) {
		int s = e->q_head;
		uint8_t *frame = slot_data(c, s);
		frame_set_eth(st, frame, mac);
		sk_link_xmit(st, frame, c->slots[s].len, NULL);
		e->q_head = c->slots[s].next;
		c->slots[s].next = c->free_slot;
		c->free_slot = (int16_t)s;
	}
	e->q_tail = NO_SLOT;
	e->q_len = 0;
}

void sk_arp_input(struct sk_stack *st, const uint8_t *pkt, size_t len, sk_time_t now)
{
	struct sk_arp_repr arp;

	st->stats.arp_rx++;
	if (sk_arp_parse(pkt, len, &arp) < 0)
		return;
	/* A sender claiming a group MAC or our own address is bogus or a
	 * conflict: learning it would poison the cache. spa 0 is an RFC 5227
	 * probe: answered below if it asks for us, never learned. */
	bool learnable = sk_eth_is_unicast(arp.sha) && arp.spa != 0 && arp.spa != st->cfg.addr;
	if (arp.spa == st->cfg.addr)
		sk_log(st, SK_LOG_WARN, "ARP: another host claims our address");

	/* RFC 826 "Packet Reception": update the sender if we already know
	 * it (merge_flag), and add it only if the packet is meant for us. */
	bool for_us = arp.tpa == st->cfg.addr;
	struct arp_entry *e = learnable ? entry_find(sk_arp_of(st), arp.spa) : NULL;
	if (e)
		entry_confirm(st, e, arp.sha, now);
	else if (learnable && for_us)
		entry_confirm(st, entry_alloc(st, arp.spa, now), arp.sha, now);
	recompute_deadline(sk_arp_of(st));

	/* RFC 826: "If the opcode is ares_op$REQUEST ... swap fields, put the
	 * local addresses in the sender fields, set the opcode to REPLY and
	 * send it to the requester". Only for our own address. */
	if (for_us && arp.op == SK_ARP_REQUEST && sk_eth_is_unicast(arp.sha)) {
		emit_arp(st, SK_ARP_REPLY, arp.sha, arp.sha, arp.spa);
		st->stats.arp_replies_sent++;
	}
}

static int queue_frame(struct sk_stack *st, struct arp_entry *e, const uint8_t *frame, size_t len)
{
	struct sk_arp_cache *c = sk_arp_of(st);
	int s = c->free_slot;

	if (s == NO_SLOT || e->q_len >= SK_ARP_QUEUE_PER_NEIGH || len > c->slot_size) {
		st->stats.arp_queue_drops++;
		return -ENOBUFS;
	}
	c->free_slot = c->slots[s].next;
	memcpy(slot_data(c, s), frame, len);
	c->slots[s].len = (uint16_t)len;
	c->slots[s].next = NO_SLOT;
	if (e->q_tail == NO_SLOT)
		e->q_head = (int16_t)s;
	else
		c->slots[e->q_tail].next = (int16_t)s;
	e->q_tail = (int16_t)s;
	e->q_len++;
	return 0;
}

/* A frame that must wait for resolution leaves later through the plain
 * xmit: its checksum is finished now in software. A super-frame does not
 * fit a slot (nor are its frags copied) and is dropped (TCP builds none
 * towards an unresolved next hop: sk_arp_resolved). */
static int queue_output(struct sk_stack *st, struct arp_entry *e, uint8_t *frame, size_t len,
                        const struct sk_tx_offload *off)
{
	if (off && (off->gso_size || off->nfrags)) {
		st->stats.arp_queue_drops++;
		return -ENOBUFS;
	}
	if (off && off->csum_start)
		sk_tx_finish_csum(frame, len, off);
	return queue_frame(st, e, frame, len);
}

bool sk_arp_resolved(struct sk_stack *st, uint32_t next_hop)
{
	const struct arp_entry *e = entry_find(sk_arp_of(st), next_hop);

	return e && (e->state == ARP_REACHABLE || e->state == ARP_PROBE);
}

int sk_arp_output(struct sk_stack *st, uint32_t next_hop, uint8_t *frame, size_t len,
                  const struct sk_tx_offload *off, sk_time_t now)
{
	return sk_arp_output_to(st, next_hop, frame, len, off, NULL, now);
}

int sk_arp_output_to(struct sk_stack *st, uint32_t next_hop, uint8_t *frame, size_t len,
                     const struct sk_tx_offload *off, const uint8_t *mac, sk_time_t now)
{
	struct arp_entry *e = entry_find(sk_arp_of(st), next_hop);

	if (mac && (!e || e->state == ARP_INCOMPLETE || e->state == ARP_FAILED)) {
		/* The sender's own MAC: the reply leaves now and the cache
		 * is untouched, so spoofed senders neither fill the pending
		 * queue nor evict real neighbours (docs/security.md). */
		frame_set_eth(st, frame, mac);
		st->stats.arp_tx_sender_mac++;
		sk_link_xmit(st, frame, len, off);
		return 0;
	}
	if (e && e->state == ARP_FAILED)
		return -EHOSTUNREACH;
	if (!e) {
		/* RFC 1122 §2.3.2.2: keep (at least) the frame that triggered
		 * the resolution and send it when the reply comes. */
		e = entry_alloc(st, next_hop, now);
		e->state = ARP_INCOMPLETE;
		int err = queue_output(st, e, frame, len, off);
		send_request(st, e, now);
		recompute_deadline(sk_arp_of(st));
		return err;
	}
	e->last_used = now;
	if (e->state == ARP_INCOMPLETE)
		return queue_output(st, e, frame, len, off);
	if (e->state == ARP_REACHABLE && now >= e->expires) {
		/* Linux's STALE -> PROBE: keep using the MAC, re-confirm it. */
		e->state = ARP_PROBE;
		e->requests = 0;
		send_request(st, e, now);
		recompute_deadline(sk_arp_of(st));
	}
	frame_set_eth(st, frame, e->mac);
	/* A link error is counted (tx_errors) and the frame is lost, as on a
	 * wire: the callers' contract has no link errors, TCP retransmits. */
	sk_link_xmit(st, frame, len, off);
	return 0;
}

void sk_arp_learn(struct sk_stack *st, uint32_t addr, const uint8_t *mac, sk_time_t now)
{
	struct arp_entry *e = entry_find(sk_arp_of(st), addr);

	if (e && (e->state == ARP_REACHABLE || e->state == ARP_PROBE))
		return;
	if (!e)
		e = entry_alloc(st, addr, now);
	st->stats.arp_learned_tcp++;
	e->last_used = now;
	entry_confirm(st, e, mac, now);
	recompute_deadline(sk_arp_of(st));
}

void sk_arp_confirm(struct sk_stack *st, uint32_t dst, sk_time_t now)
{
	uint32_t hop = sk_ip_next_hop(st, dst);
	struct arp_entry *e = hop ? entry_find(sk_arp_of(st), hop) : NULL;

	if (!e || (e->state != ARP_REACHABLE && e->state != ARP_PROBE))
		return;
	bool was_probing = e->state == ARP_PROBE;
	e->state = ARP_REACHABLE;
	e->requests = 0;
	e->expires = now + SK_ARP_REACHABLE_TIME;
	if (was_probing)
		recompute_deadline(sk_arp_of(st));
}

/* ARP_MAX_REQUESTS went unanswered. RFC 1122 §2.3.2.2 lets us drop what
 * waited; failing fast for a while spares callers a second 3 s wait, and
 * TCP learns that a connect() towards it cannot complete. */
static void entry_fail(struct sk_stack *st, struct arp_entry *e, sk_time_t now)
{
	uint32_t addr = e->addr;

	queue_drop_all(sk_arp_of(st), e);
	e->state = ARP_FAILED;
	e->deadline = now + SK_ARP_FAILED_HOLD;
	st->stats.arp_resolve_failed++;
	sk_log(st, SK_LOG_INFO, "ARP: no answer from %u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff,
	       (addr >> 8) & 0xff, addr & 0xff);
	sk_tcp_neighbour_unreachable(st, addr, now);
}

void sk_arp_run_timers(struct sk_stack *st, sk_time_t now)
{
	struct sk_arp_cache *c = sk_arp_of(st);

	if (now < c->next_deadline)
		return;
	/* Entries are addressed by index: TCP, called from entry_fail, may
	 * send and so add entries while we walk. */
	for (int i = 0; i < SK_ARP_ENTRIES; i++) {
		struct arp_entry *e = &c->entries[i];
		bool resolving = e->state == ARP_INCOMPLETE || e->state == ARP_PROBE;
		if (e->state == ARP_FREE || e->deadline > now)
			continue;
		if (resolving && e->requests < SK_ARP_MAX_REQUESTS)
			send_request(st, e, now);
		else if (resolving)
			entry_fail(st, e, now);
		else if (e->state == ARP_FAILED)
			entry_release(c, e);
	}
	recompute_deadline(c);
}

/* sk_stack_repair: the frames waiting for resolution are dropped (TCP
 * resends them) and the pool's free list rebuilt, since a call cut short
 * may have left a slot on two lists or on none; entries in no known state
 * are forgotten. */
void sk_arp_repair(struct sk_stack *st)
{
	struct sk_arp_cache *c = sk_arp_of(st);

	for (int i = 0; i < SK_ARP_ENTRIES; i++) {
		struct arp_entry *e = &c->entries[i];

		if (e->state > ARP_FAILED)
			memset(e, 0, sizeof(*e));
		st->stats.arp_queue_drops += e->q_len;
		e->q_head = e->q_tail = NO_SLOT;
		e->q_len = 0;
	}
	for (int i = 0; i < SK_ARP_POOL_FRAMES; i++)
		c->slots[i].next = (int16_t)(i + 1 < SK_ARP_POOL_FRAMES ? i + 1 : NO_SLOT);
	c->free_slot = 0;
	recompute_deadline(c);
}
