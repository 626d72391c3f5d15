/* Packets to our own address (docs/architecture.md, "Connections to our own
 * address"). A host delivers what it sends to one of its own addresses
 * internally, never onto the wire (Linux's local routing table sends it
 * through lo). Here such a packet never reaches the link either: the IPv4
 * packet is copied onto a bounded queue and enters the input path at the
 * next sk_run_timers, which sk_next_deadline asks for at once, as if it had
 * arrived: its source, our own address, is accepted there, and its TCP
 * checksum trusted (a super-frame's is left to the device, as Linux's
 * loopback leaves it: CHECKSUM_PARTIAL). So a program connects to a
 * listener of its own stack with the addresses, options and states of any
 * other connection. Delivery waits for the timer run rather than happening
 * inside the sending call: core's callers hold the transmit buffer and
 * socket state in the middle of an operation while they send. */
#include <stdio.h>
#include <string.h>

#include "stack_impl.h"

/* Links are self-relative (rel.h): the queue lives in the stack's memory,
 * which may be mapped anywhere. */
struct loop_pkt {
	sk_rel next;
	size_t len;
	uint8_t data[];
};

struct sk_loop {
	sk_rel head, tail; /* oldest and newest packet; NULL when empty */
	size_t bytes;
	sk_time_t since; /* when the oldest queued packet was sent */
};

static struct loop_pkt *pkt_next(const struct loop_pkt *p)
{
	return sk_rel_get(&p->next);
}

static void pkt_free(struct sk_stack *st, struct loop_pkt *p)
{
	sk_mem_free(&st->mem, p, sizeof(*p) + p->len);
}

/* Bytes queued at most: a burst of super-frames (a full send window) from
 * several connections; beyond it packets are lost as on a congested link,
 * and TCP retransmits. */
#define LOOP_MAX_BYTES (8u * 1024u * 1024u)
/* Queue generations delivered per sk_run_timers: replies to replies keep
 * coming (a whole transfer, ACK after data), so the caller gets control
 * back after these and is asked again at once (sk_next_deadline). */
#define LOOP_ROUNDS 16

bool sk_loop_is_ours(const struct sk_stack *st, uint32_t dst)
{
	return dst == st->cfg.addr;
}

int sk_loop_send(struct sk_stack *st, const uint8_t *pkt, size_t len,
                 const struct sk_tx_offload *off, sk_time_t now)
{
	size_t frags = sk_tx_frags_len(off), at = len;
	struct sk_loop *l = sk_loop_of(st);
	struct loop_pkt *p;

	if (!l) {
		l = sk_mem_alloc(&st->mem, sizeof(*l));
		if (!l) {
			st->stats.ip_loop_drops++;
			return 0;
		}
		sk_rel_set(&st->loop, l);
	}
	if (l->bytes + len + frags > LOOP_MAX_BYTES ||
	    !(p = sk_mem_alloc(&st->mem, sizeof(*p) + len + frags))) {
		/* Lost as on a wire: TCP recovers. */
		st->stats.ip_loop_drops++;
		return 0;
	}
	memcpy(p->data, pkt, len);
	for (unsigned i = 0; off && i < off->nfrags; i++) {
		memcpy(p->data + at, off->frags[i].data, off->frags[i].len);
		at += off->frags[i].len;
	}
	p->len = at;
	struct loop_pkt *tail = sk_rel_get(&l->tail);

	if (tail)
		sk_rel_set(&tail->next, p);
	else {
		sk_rel_set(&l->head, p);
		l->since = now;
	}
	sk_rel_set(&l->tail, p);
	l->bytes += at;
	st->stats.ip_loop_packets++;
	return 0;
}

sk_time_t sk_loop_next_deadline(const struct sk_stack *st)
{
	const struct sk_loop *l = sk_loop_of(st);

	return l && l->head ? l->since : SK_TIME_NEVER;
}

void sk_loop_run(struct sk_stack *st, sk_time_t now)
{
	for (int round = 0; round < LOOP_ROUNDS; round++) {
		/* Input may send to ourselves again, and so allocate: the
		 * queue is looked up anew each round. */
		struct sk_loop *l = sk_loop_of(st);

		if (!l || !l->head)
			return;
		/* This generation; what its input sends queues behind. */
		struct loop_pkt *p = sk_rel_get(&l->head), *next;

		l->head = l->tail = 0;
		l->bytes = 0;
		l->since = now;
		for (; p; p = next) {
			next = pkt_next(p);
			sk_ip_loop_input(st, p->data, p->len, now);
			pkt_free(st, p);
		}
	}
}

bool sk_run_loopback(struct sk_stack *st, sk_time_t now)
{
	bool some = sk_loop_next_deadline(st) != SK_TIME_NEVER;

	sk_loop_run(st, now);
	return some;
}

void sk_loop_free(struct sk_stack *st)
{
	struct sk_loop *l = sk_loop_of(st);

	if (!l)
		return;
	for (struct loop_pkt *p = sk_rel_get(&l->head), *next; p; p = next) {
		next = pkt_next(p);
		pkt_free(st, p);
	}
	sk_mem_free(&st->mem, l, sizeof(*l));
	st->loop = 0;
}

/* sk_stack_repair: a sk_loop_send cut short may have linked a packet
 * without moving the tail or counting it; the queue is walked from its
 * head, bounded (every packet holds at least a byte), and its tail and
 * byte count set from what it holds. */
int sk_loop_repair(struct sk_stack *st, char *why, size_t len)
{
	struct sk_loop *l = sk_loop_of(st);
	struct loop_pkt *last = NULL;
	size_t bytes = 0;

	if (!l)
		return 0;
	for (struct loop_pkt *p = sk_rel_get(&l->head); p; p = pkt_next(p)) {
		bytes += p->len;
		if (p->len == 0 || bytes > LOOP_MAX_BYTES) {
			if (why && len)
				snprintf(why, len,
				         "the loopback queue is damaged (a cycle or a bad length)");
			return -1;
		}
		last = p;
	}
	sk_rel_set(&l->tail, last);
	l->bytes = bytes;
	return 0;
}
