/* Impairment decorator (SYNACK_IMPAIR): loss, duplication, reordering and
 * delay applied to the frames a device receives.
 *
 * Every frame pulled from the inner device is copied into a bounded ring,
 * stamped with the time it becomes receivable (now + delay), and handed out
 * once that time has come. Copying is what makes delay and reordering
 * possible at all: the inner device's buffers only live until its next
 * recv_batch. Reordering holds one frame back and releases it right after
 * the next frame (or after a short timeout, so that the last frame of a
 * burst is not held forever). Decisions come from a splitmix64 generator
 * seeded from the configuration: a run is reproducible from its seed.
 *
 * Only received frames are impaired; wrapping both ends of a link impairs
 * both directions.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "netdev.h"

#define IMPAIR_QUEUE_FRAMES 4096u
#define IMPAIR_PULL         64
/* A held frame goes out after this even if no other frame follows it. */
#define IMPAIR_HOLD_MAX SK_MS(10)

struct impair_slot {
	uint8_t *buf; /* grown on demand, kept for reuse */
	size_t cap;
	size_t len;
	unsigned flags;
	sk_time_t due;
};

struct impair_dev {
	struct netdev dev; /* first: the netdev pointer is the impair_dev pointer */
	struct netdev *inner;
	struct netdev_impair_cfg cfg;
	uint64_t rng;
	struct netdev_impair_stats stats;

	struct impair_slot ring[IMPAIR_QUEUE_FRAMES];
	unsigned head;  /* oldest queued frame */
	unsigned count; /* frames queued, including those lent out */
	unsigned lent;  /* frames at head handed out by the last recv_batch */

	struct impair_slot held; /* the frame reordering holds back */
	bool has_held;
	sk_time_t held_until;

	struct netdev_frame pull[IMPAIR_PULL];
};

static const struct netdev_ops impair_ops;

static struct impair_dev *to_impair(struct netdev *dev)
{
	return (struct impair_dev *)dev;
}

static struct netdev *impair_inner(struct impair_dev *d)
{
	/* The shim may move the device fd after wrapping; the inner device
	 * reads its own dev->fd, so hand the current one down. */
	d->inner->fd = d->dev.fd;
	return d->inner;
}

/* splitmix64 (Steele, Lea, Flood 2014): tiny, fast and good enough to
 * drive test decisions. */
static uint64_t impair_rand(struct impair_dev *d)
{
	uint64_t z = (d->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool impair_roll(struct impair_dev *d, double pct)
{
	if (pct <= 0)
		return false;
	/* 53 random bits as a uniform double in [0, 100). */
	return (double)(impair_rand(d) >> 11) * (100.0 / 9007199254740992.0) < pct;
}

static bool slot_store(struct impair_slot *s, const struct netdev_frame *f, sk_time_t due)
{
	if (s->cap < f->len) {
		uint8_t *nb = realloc(s->buf, f->len);

		if (!nb)
			return false;
		s->buf = nb;
		s->cap = f->len;
	}
	memcpy(s->buf, f->data, f->len);
	s->len = f->len;
	s->flags = f->flags;
	s->due = due;
	return true;
}

static struct impair_slot *ring_tail(struct impair_dev *d)
{
	if (d->count == IMPAIR_QUEUE_FRAMES) {
		d->stats.overflow++;
		return NULL;
	}
	return &d->ring[(d->head + d->count) % IMPAIR_QUEUE_FRAMES];
}

static void enqueue(struct impair_dev *d, const struct netdev_frame *f, sk_time_t due)
{
	struct impair_slot *s = ring_tail(d);

	if (!s)
		return;
	if (!slot_store(s, f, due)) {
		d->stats.overflow++;
		return;
	}
	d->count++;
}

/* Move the held frame into the ring by swapping buffers: no copy. */
static void release_held(struct impair_dev *d)
{
	struct impair_slot *s = ring_tail(d);

	d->has_held = false;
	if (!s)
		return;
	struct impair_slot tmp = *s;
	*s = d->held;
	d->held = tmp;
	d->count++;
}

static void admit(struct impair_dev *d, const struct netdev_frame *f, sk_time_t due)
{
	if (d->has_held) {
		/* The frame held back is overtaken by this one. */
		enqueue(d, f, due);
		d->held.due = due;
		release_held(d);
		d->stats.reordered++;
	} else if (impair_roll(d, d->cfg.reorder_pct)) {
		if (!slot_store(&d->held, f, due)) {
			d->stats.overflow++;
			return;
		}
		d->has_held = true;
		d->held_until = due + IMPAIR_HOLD_MAX;
	} else {
		enqueue(d, f, due);
	}
}

static void impair_frame(struct impair_dev *d, const struct netdev_frame *f, sk_time_t now)
{
	sk_time_t due = now + d->cfg.delay_us;

	d->stats.frames_in++;
	if (impair_roll(d, d->cfg.loss_pct)) {
		d->stats.lost++;
		return;
	}
	admit(d, f, due);
	if (impair_roll(d, d->cfg.dup_pct)) {
		d->stats.duplicated++;
		admit(d, f, due);
	}
}

/* Drain the inner device into the ring while there is room: every frame
 * must be stamped when it arrives for the delay to mean anything. Each
 * pulled frame may take up to three slots (itself, its duplicate and a
 * released held frame). Returns an inner error, or 0. */
static int pull_inner(struct impair_dev *d, sk_time_t now)
{
	for (;;) {
		int room = (int)((IMPAIR_QUEUE_FRAMES - d->count) / 3);
		int want = room < IMPAIR_PULL ? room : IMPAIR_PULL;
		int n;

		if (want == 0)
			return 0;
		n = netdev_recv_batch(impair_inner(d), d->pull, want, now);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++)
			impair_frame(d, &d->pull[i], now);
		if (n < want)
			return 0;
	}
}

static int impair_recv_batch(struct netdev *dev, struct netdev_frame *frames, int max,
                             sk_time_t now)
{
	struct impair_dev *d = to_impair(dev);
	int rc, n = 0;

	/* The previous batch's frames are consumed now: free their slots. */
	d->head = (d->head + d->lent) % IMPAIR_QUEUE_FRAMES;
	d->count -= d->lent;
	d->lent = 0;

	if (d->has_held && now >= d->held_until)
		release_held(d);
	rc = pull_inner(d, now);

	while (n < max && (unsigned)n < d->count) {
		struct impair_slot *s = &d->ring[(d->head + (unsigned)n) % IMPAIR_QUEUE_FRAMES];

		if (s->due > now)
			break;
		frames[n].data = s->buf;
		frames[n].len = s->len;
		frames[n].flags = s->flags;
		n++;
	}
	d->lent = (unsigned)n;
	d->stats.frames_out += (uint64_t)n;
	return n > 0 ? n : rc;
}

static sk_time_t impair_next_rx_time(struct netdev *dev)
{
	struct impair_dev *d = to_impair(dev);
	sk_time_t next = netdev_next_rx_time(impair_inner(d));

	if (d->count > d->lent) {
		sk_time_t due = d->ring[(d->head + d->lent) % IMPAIR_QUEUE_FRAMES].due;

		if (due < next)
			next = due;
	}
	if (d->has_held && d->held_until < next)
		next = d->held_until;
	return next;
}

static int impair_send(struct netdev *dev, const uint8_t *frame, size_t len)
{
	return netdev_send(impair_inner(to_impair(dev)), frame, len);
}

/* Impairment applies to received frames only: offloads pass through. */
static int impair_send_offload(struct netdev *dev, const uint8_t *frame, size_t len,
                               const struct sk_tx_offload *off)
{
	return netdev_send_offload(impair_inner(to_impair(dev)), frame, len, off);
}

static int impair_flush(struct netdev *dev)
{
	return netdev_flush(impair_inner(to_impair(dev)));
}

static void impair_close(struct netdev *dev)
{
	struct impair_dev *d = to_impair(dev);

	for (unsigned i = 0; i < IMPAIR_QUEUE_FRAMES; i++)
		free(d->ring[i].buf);
	free(d->held.buf);
	netdev_close(impair_inner(d));
	free(d);
}

static const struct netdev_ops impair_ops = {
    .send = impair_send,
    .send_offload = impair_send_offload,
    .flush = impair_flush,
    .recv_batch = impair_recv_batch,
    .next_rx_time = impair_next_rx_time,
    .close = impair_close,
};

struct netdev *netdev_impair_wrap(struct netdev *inner, const struct netdev_impair_cfg *cfg)
{
	struct impair_dev *d;

	if (!inner || !cfg)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->inner = inner;
	d->cfg = *cfg;
	d->rng = cfg->seed;
	d->dev = *inner; /* same name, MAC, MTU and fd: the wrapper is transparent */
	d->dev.ops = &impair_ops;
	return &d->dev;
}

int netdev_impair_get_stats(const struct netdev *dev, struct netdev_impair_stats *out)
{
	if (!dev || dev->ops != &impair_ops)
		return -EINVAL;
	*out = ((const struct impair_dev *)dev)->stats;
	return 0;
}
