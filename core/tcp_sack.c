/* The sender's SACK scoreboard (RFC 2018 §5, RFC 6675 §3-4): what the
 * peer reported holding above SND.UNA, as a small sorted array of disjoint
 * intervals, and the RFC 6675 questions asked of it: IsLost, pipe and
 * NextSeg. Bounded at TCP_SACK_SB_MAX intervals, so every question is a
 * short scan, never a walk over segments. */
#include <string.h>

#include "seq.h"
#include "tcp.h"

/* RFC 6675 §2: DupThresh. */
#define DUP_THRESH 3

void tcp_sack_reset(struct tcp_scoreboard *sb)
{
	sb->n = 0;
}

/* Insert [left, right), merging with what it touches. False: no room. */
static bool sb_insert(struct tcp_scoreboard *sb, uint32_t left, uint32_t right)
{
	unsigned i = 0;

	while (i < sb->n && seq_lt(sb->blk[i].right, left))
		i++;
	unsigned j = i;
	while (j < sb->n && seq_leq(sb->blk[j].left, right))
		j++;
	if (i == j) {
		if (sb->n == TCP_SACK_SB_MAX)
			return false;
		memmove(&sb->blk[i + 1], &sb->blk[i], (sb->n - i) * sizeof(sb->blk[0]));
		sb->n++;
	} else {
		if (seq_gt(left, sb->blk[i].left))
			left = sb->blk[i].left;
		if (seq_lt(right, sb->blk[j - 1].right))
			right = sb->blk[j - 1].right;
		memmove(&sb->blk[i + 1], &sb->blk[j], (sb->n - j) * sizeof(sb->blk[0]));
		sb->n = (uint8_t)(sb->n - (j - i - 1));
	}
	sb->blk[i].left = left;
	sb->blk[i].right = right;
	return true;
}

static uint32_t sb_bytes(const struct tcp_scoreboard *sb)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < sb->n; i++)
		n += sb->blk[i].right - sb->blk[i].left;
	return n;
}

uint32_t tcp_sack_update(struct tcb *t, const struct sk_tcp_repr *r)
{
	struct tcp_scoreboard *sb = &t->sb;
	uint32_t before = sb_bytes(sb);

	for (unsigned k = 0; k < r->sack_count; k++) {
		uint32_t left = r->sack[k].left, right = r->sack[k].right;

		/* RFC 2018 §5 / RFC 2883: a block at or below the cumulative
		 * ACK (D-SACK) or beyond what we sent is no news for the
		 * scoreboard; a block straddling SND.UNA keeps its new part. */
		if (!seq_lt(left, right) || seq_leq(right, r->ack) || seq_gt(right, t->snd_max))
			continue;
		if (seq_lt(left, r->ack))
			left = r->ack;
		(void)sb_insert(sb, left, right); /* full: the peer repeats it */
	}
	uint32_t after = sb_bytes(sb);

	return after > before ? after - before : 0;
}

void tcp_sack_prune(struct tcb *t)
{
	struct tcp_scoreboard *sb = &t->sb;
	unsigned drop = 0;

	/* Everything below SND.UNA is acknowledged for good. */
	while (drop < sb->n && seq_leq(sb->blk[drop].right, t->snd_una))
		drop++;
	memmove(&sb->blk[0], &sb->blk[drop], (sb->n - drop) * sizeof(sb->blk[0]));
	sb->n = (uint8_t)(sb->n - drop);
	if (sb->n && seq_lt(sb->blk[0].left, t->snd_una))
		sb->blk[0].left = t->snd_una;
}

/* SACKed bytes and blocks above interval index i (those with index >= i). */
static void sacked_from(const struct tcp_scoreboard *sb, unsigned i, uint32_t *bytes,
                        unsigned *blocks)
{
	*bytes = 0;
	*blocks = sb->n - i;
	for (; i < sb->n; i++)
		*bytes += sb->blk[i].right - sb->blk[i].left;
}

/* RFC 6675 §4 IsLost for every byte of the hole just below block i: the
 * SACKed data above is the same for the whole hole. */
static bool hole_lost(const struct tcb *t, unsigned i)
{
	uint32_t bytes;
	unsigned blocks;

	sacked_from(&t->sb, i, &bytes, &blocks);
	return blocks >= DUP_THRESH || bytes > (DUP_THRESH - 1) * (uint32_t)t->snd_mss;
}

bool tcp_sack_is_lost(const struct tcb *t, uint32_t seq)
{
	for (unsigned i = 0; i < t->sb.n; i++)
		if (seq_lt(seq, t->sb.blk[i].left))
			return hole_lost(t, i);
	return false; /* nothing SACKed above it */
}

/* Part of [a, b) below HighRxt: retransmitted and still in the network. */
static uint32_t rexmit_part(const struct tcb *t, uint32_t a, uint32_t b)
{
	if (!seq_gt(t->high_rxt, a))
		return 0;
	return seq_lt(t->high_rxt, b) ? t->high_rxt - a : b - a;
}

uint32_t tcp_sack_pipe(const struct tcb *t)
{
	/* RFC 6675 §4 SetPipe, one hole at a time: a hole not deemed lost
	 * is in flight; any part of it retransmitted is in flight (again). */
	uint32_t pipe = 0, start = t->snd_una;

	for (unsigned i = 0; i < t->sb.n; i++) {
		uint32_t end = t->sb.blk[i].left;

		if (seq_lt(start, end)) {
			if (!hole_lost(t, i))
				pipe += end - start;
			pipe += rexmit_part(t, start, end);
		}
		start = t->sb.blk[i].right;
	}
	if (seq_lt(start, t->snd_max))
		pipe += t->snd_max - start + rexmit_part(t, start, t->snd_max);
	return pipe;
}

bool tcp_sack_next_seg(const struct tcb *t, bool rule3, uint32_t *seq, uint32_t *len)
{
	/* RFC 6675 §4 NextSeg: rule 1, the first unSACKed byte above HighRxt
	 * that IsLost; rule 3 (when no new data can go), the first unSACKed
	 * byte above HighRxt below the highest SACKed one. */
	uint32_t start = t->snd_una;

	for (unsigned i = 0; i < t->sb.n; i++) {
		uint32_t end = t->sb.blk[i].left;
		uint32_t from = seq_gt(t->high_rxt, start) ? t->high_rxt : start;

		if (seq_lt(from, end) && (rule3 || hole_lost(t, i))) {
			*seq = from;
			*len = end - from;
			return true;
		}
		start = t->sb.blk[i].right;
	}
	return false;
}

uint32_t tcp_sack_skip(const struct tcb *t, uint32_t *seq)
{
	/* Go-back-N after an RTO skips what the peer holds, as Linux keeps
	 * SACKed data marked across tcp_enter_loss; returns how far the send
	 * may go before the next SACKed block (UINT32_MAX: no limit). */
	for (unsigned i = 0; i < t->sb.n; i++) {
		if (seq_lt(*seq, t->sb.blk[i].left))
			return t->sb.blk[i].left - *seq;
		if (seq_lt(*seq, t->sb.blk[i].right))
			*seq = t->sb.blk[i].right;
	}
	return UINT32_MAX;
}
