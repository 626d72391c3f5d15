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
#include <stdlib.h>
#include <string.h>

#include "stack_impl.h"

struct loop_pkt {
	struct loop_pkt *next;
	size_t len;
	uint8_t data[];
};

struct sk_loop {
	struct loop_pkt *head, **tail;
	size_t bytes;
	sk_time_t since; /* when the oldest queued packet was sent */
};

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
	struct sk_loop *l = st->loop;
	struct loop_pkt *p;

	if (!l) {
		l = st->loop = calloc(1, sizeof(*l));
		if (!l) {
			st->stats.ip_loop_drops++;
			return 0;
		}
		l->tail = &l->head;
	}
	if (l->bytes + len + frags > LOOP_MAX_BYTES ||
	    !(p = malloc(sizeof(*p) + len + frags))) {
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
	p->next = NULL;
	if (!l->head)
		l->since = now;
	*l->tail = p;
	l->tail = &p->next;
	l->bytes += at;
	st->stats.ip_loop_packets++;
	return 0;
}

sk_time_t sk_loop_next_deadline(const struct sk_stack *st)
{
	return st->loop && st->loop->head ? st->loop->since : SK_TIME_NEVER;
}

void sk_loop_run(struct sk_stack *st, sk_time_t now)
{
	struct sk_loop *l = st->loop;

	for (int round = 0; l && l->head && round < LOOP_ROUNDS; round++) {
		/* This generation; what its input sends queues behind. */
		struct loop_pkt *p = l->head, *next;

		l->head = NULL;
		l->tail = &l->head;
		l->bytes = 0;
		l->since = now;
		for (; p; p = next) {
			next = p->next;
			sk_ip_loop_input(st, p->data, p->len, now);
			free(p);
		}
	}
}

bool sk_run_loopback(struct sk_stack *st, sk_time_t now)
{
	bool some = st->loop && st->loop->head;

	sk_loop_run(st, now);
	return some;
}

void sk_loop_free(struct sk_stack *st)
{
	struct sk_loop *l = st->loop;

	if (!l)
		return;
	while (l->head) {
		struct loop_pkt *p = l->head;

		l->head = p->next;
		free(p);
	}
	free(l);
	st->loop = NULL;
}
