/* Out-of-order reassembly (RFC 9293 §3.10.7.4 seventh step: segments
 * beyond RCV.NXT are held "for later processing"; RFC 5681 §4.2).
 *
 * The bytes go straight into the receive ring at their offset from
 * RCV.NXT, in its free space (which the window we advertised promises is
 * there), so filling a hole copies nothing: the ring just commits them.
 * Besides the bytes, a small sorted array of disjoint intervals records
 * what is held; a segment that would need more intervals than it has is
 * dropped (the peer retransmits it), which bounds the work per segment to
 * TCP_REASS_MAX. Each interval remembers when it last grew, so the SACK
 * blocks of RFC 2018 §4 can be listed most recent first. */
#include <string.h>

#include "seq.h"
#include "tcp.h"

void tcp_reass_reset(struct tcp_reass *q)
{
	memset(q, 0, sizeof(*q));
}

/* Remove interval i, keeping the array sorted. */
static void drop_at(struct tcp_reass *q, unsigned i)
{
	memmove(&q->iv[i], &q->iv[i + 1], (q->n - i - 1) * sizeof(q->iv[0]));
	q->n--;
}

size_t tcp_reass_insert(struct tcb *t, uint32_t seq, const uint8_t *data, size_t len, bool fin)
{
	struct tcp_reass *q = &t->reass;
	uint32_t left = seq, right = seq + (uint32_t)len;
	unsigned i = 0;

	if (len == 0 && !fin)
		return 0;
	/* Find the first interval that ends at or after our left edge:
	 * everything before it is disjoint and stays. */
	while (i < q->n && seq_lt(q->iv[i].right, left))
		i++;
	/* Intervals [i, j) touch or overlap ours: they merge into one. */
	unsigned j = i;
	while (j < q->n && seq_leq(q->iv[j].left, right))
		j++;
	if (i == j && q->n == TCP_REASS_MAX)
		return 0; /* a new interval and no room: drop, the peer resends */
	size_t n = sk_ringbuf_write_at(&t->rcv, seq - t->rcv_nxt, data, len);

	if (n < len)
		return 0; /* beyond the buffer: trim() prevents it, stay safe */
	if (fin) {
		/* RFC 9293 §3.10.7.4 eighth step happens when RCV.NXT gets
		 * here; remember where the stream ends. */
		q->fin = true;
		q->fin_seq = right;
	}
	if (len == 0)
		return 0;
	if (i < j) {
		if (seq_lt(q->iv[i].left, left))
			left = q->iv[i].left;
		if (seq_gt(q->iv[j - 1].right, right))
			right = q->iv[j - 1].right;
		/* Keep slot i for the merged interval, drop i+1 .. j-1. */
		memmove(&q->iv[i + 1], &q->iv[j], (q->n - j) * sizeof(q->iv[0]));
		q->n = (uint8_t)(q->n - (j - i - 1));
	} else {
		memmove(&q->iv[i + 1], &q->iv[i], (q->n - i) * sizeof(q->iv[0]));
		q->n++;
	}
	q->iv[i].left = left;
	q->iv[i].right = right;
	q->iv[i].stamp = ++q->clock;
	return len;
}

uint32_t tcp_reass_advance(struct tcb *t)
{
	struct tcp_reass *q = &t->reass;
	uint32_t moved = 0;

	while (q->n > 0 && seq_leq(q->iv[0].left, t->rcv_nxt)) {
		if (seq_gt(q->iv[0].right, t->rcv_nxt)) {
			uint32_t n = q->iv[0].right - t->rcv_nxt;

			/* The bytes are already in place past the ring's tail. */
			sk_ringbuf_commit(&t->rcv, n);
			t->rcv_nxt += n;
			t->bytes_received += n;
			moved += n;
		}
		drop_at(q, 0);
	}
	return moved;
}

bool tcp_reass_fin_due(const struct tcb *t)
{
	return t->reass.fin && t->reass.fin_seq == t->rcv_nxt;
}

size_t tcp_reass_sack(const struct tcb *t, struct sk_tcp_sack_block *out, size_t max)
{
	const struct tcp_reass *q = &t->reass;
	size_t n = 0;
	uint32_t below = UINT32_MAX;

	/* RFC 2018 §4: the first block holds the most recently received
	 * segment, the others follow by recency. A selection by decreasing
	 * stamp over at most TCP_REASS_MAX intervals. */
	while (n < max) {
		int best = -1;

		for (unsigned i = 0; i < q->n; i++)
			if (q->iv[i].stamp < below &&
			    (best < 0 || q->iv[i].stamp > q->iv[best].stamp))
				best = (int)i;
		if (best < 0)
			break;
		out[n].left = q->iv[best].left;
		out[n].right = q->iv[best].right;
		below = q->iv[best].stamp;
		n++;
	}
	return n;
}
