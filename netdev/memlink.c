/* The in-memory link: two devices joined back to back in one process.
 *
 * It lets two stacks talk without a kernel (two-stack tests). Each
 * direction is a bounded ring of preallocated frame slots: send copies the
 * frame into the peer's ring (the caller's buffer is only valid during the
 * call), recv_batch hands out pointers into the ring. Slots handed out stay
 * reserved until the next recv_batch on that end, which is what the netdev
 * contract promises about frame lifetime.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netdev.h"

struct memlink_slot {
	size_t len;
};

/* One end: the device its owner uses and the ring of frames sent to it. */
struct memlink_end {
	struct netdev dev; /* first: the netdev pointer is the end pointer */
	struct memlink *link;
	struct memlink_slot *slots;
	uint8_t *bytes; /* queue_frames * frame_max */
	unsigned head;  /* oldest queued frame */
	unsigned count; /* frames queued, including those lent out */
	unsigned lent;  /* frames at head handed out by the last recv_batch */
};

struct memlink {
	struct memlink_end end[2];
	unsigned queue_frames;
	size_t frame_max; /* Ethernet header + MTU */
	uint64_t dropped;
};

static struct memlink_end *to_end(struct netdev *dev)
{
	return (struct memlink_end *)dev;
}

static uint8_t *slot_bytes(const struct memlink_end *e, unsigned idx)
{
	return e->bytes + (size_t)idx * e->link->frame_max;
}

static int memlink_send(struct netdev *dev, const uint8_t *frame, size_t len)
{
	struct memlink_end *self = to_end(dev);
	struct memlink *link = self->link;
	struct memlink_end *peer = &link->end[self == &link->end[0] ? 1 : 0];
	unsigned tail;

	/* A real link would refuse an oversized frame too; accepting it
	 * would hide a sender that ignores the MTU. */
	if (len > link->frame_max)
		return -EMSGSIZE;
	if (peer->count == link->queue_frames) {
		link->dropped++;
		return -EAGAIN;
	}
	tail = (peer->head + peer->count) % link->queue_frames;
	memcpy(slot_bytes(peer, tail), frame, len);
	peer->slots[tail].len = len;
	peer->count++;
	return 0;
}

static int memlink_recv_batch(struct netdev *dev, struct netdev_frame *frames, int max,
                              sk_time_t now)
{
	struct memlink_end *e = to_end(dev);
	unsigned qf = e->link->queue_frames;
	int n = 0;

	(void)now;
	/* The previous batch's frames are consumed now: free their slots. */
	e->head = (e->head + e->lent) % qf;
	e->count -= e->lent;
	e->lent = 0;

	while (n < max && (unsigned)n < e->count) {
		unsigned idx = (e->head + (unsigned)n) % qf;

		frames[n].data = slot_bytes(e, idx);
		frames[n].len = e->slots[idx].len;
		frames[n].flags = 0;
		n++;
	}
	e->lent = (unsigned)n;
	return n;
}

static void memlink_end_close(struct netdev *dev)
{
	/* The ends belong to the link: memlink_free releases them. */
	(void)dev;
}

static const struct netdev_ops memlink_ops = {
    .send = memlink_send,
    .flush = NULL, /* delivers at once */
    .recv_batch = memlink_recv_batch,
    .next_rx_time = NULL,
    .close = memlink_end_close,
};

struct memlink *memlink_new(unsigned mtu, unsigned queue_frames)
{
	struct memlink *link;

	if (mtu < 68 || mtu > 65535 || queue_frames == 0)
		return NULL;
	link = calloc(1, sizeof(*link));
	if (!link)
		return NULL;
	link->queue_frames = queue_frames;
	link->frame_max = 14 + (size_t)mtu;
	for (int i = 0; i < 2; i++) {
		struct memlink_end *e = &link->end[i];

		e->link = link;
		e->slots = calloc(queue_frames, sizeof(*e->slots));
		e->bytes = malloc((size_t)queue_frames * link->frame_max);
		if (!e->slots || !e->bytes) {
			memlink_free(link);
			return NULL;
		}
		e->dev.ops = &memlink_ops;
		strcpy(e->dev.name, i == 0 ? "memlink0" : "memlink1");
		memcpy(e->dev.mac, (const uint8_t[6]){0x02, 0, 0, 0, 0, (uint8_t)(i + 1)}, 6);
		e->dev.mtu = mtu;
		e->dev.fd = -1;
	}
	return link;
}

struct netdev *memlink_end(struct memlink *link, int which)
{
	if (!link || which < 0 || which > 1)
		return NULL;
	return &link->end[which].dev;
}

void memlink_free(struct memlink *link)
{
	if (!link)
		return;
	for (int i = 0; i < 2; i++) {
		free(link->end[i].slots);
		free(link->end[i].bytes);
	}
	free(link);
}

uint64_t memlink_dropped(const struct memlink *link)
{
	return link->dropped;
}
