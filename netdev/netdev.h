/* netdev: the devices a stack sends and receives Ethernet frames through.
 *
 * One small interface (lwIP's netif idea): send a frame, receive a batch,
 * a pollable fd, the MAC and the MTU. Implementations: AF_PACKET (the real
 * one), an in-memory link joining two stacks in one process (tests), and
 * decorators that wrap any device: a pcap writer and an impairment filter
 * (loss, duplication, reordering, delay).
 *
 * netdev depends only on core's frame types (SK_RX_* flags, sk_time_t).
 * No device is thread-safe: its owner serialises calls (the shim does so
 * under its stack lock).
 */
#ifndef SYNACK_NETDEV_NETDEV_H
#define SYNACK_NETDEV_NETDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/sk_time.h"
#include "../core/stack.h"

/* A received frame. `data` stays valid until the next recv_batch or close
 * on the same device. */
struct netdev_frame {
	const uint8_t *data;
	size_t len;
	unsigned flags; /* SK_RX_* (core/stack.h) */
};

struct netdev;

struct netdev_ops {
	/* Transmit one Ethernet frame. 0 or -errno (-EAGAIN when the device
	 * queue is full: the frame is dropped, TCP retransmits). A device may
	 * copy the frame into a batch and transmit it only at the next flush
	 * (or when the batch fills): 0 then means "queued". */
	int (*send)(struct netdev *dev, const uint8_t *frame, size_t len);
	/* The same for a frame the device must finish as *off says (a TCP
	 * super-frame, the L4 checksum): only what the device announced in
	 * gso_max / tx_csum. NULL on devices that announce neither. */
	int (*send_offload)(struct netdev *dev, const uint8_t *frame, size_t len,
	                    const struct sk_tx_offload *off);
	/* Transmit whatever send() queued. The owner calls it at the end of
	 * every burst of sends (the shim: before it releases the stack lock),
	 * so batching adds no latency. 0 or -errno of the last failure (the
	 * frames concerned are dropped and counted). NULL = never queues. */
	int (*flush)(struct netdev *dev);
	/* Receive up to `max` frames without blocking. Returns the count
	 * (0 = nothing pending) or -errno. `now` is for devices that model
	 * time (delay): frames due later are not returned yet. */
	int (*recv_batch)(struct netdev *dev, struct netdev_frame *frames, int max, sk_time_t now);
	/* Earliest time a delayed frame becomes receivable (SK_TIME_NEVER if
	 * none); lets the loop arm its timer. May be NULL = never. */
	sk_time_t (*next_rx_time)(struct netdev *dev);
	void (*close)(struct netdev *dev);
};

struct netdev {
	const struct netdev_ops *ops;
	char name[32];
	uint8_t mac[6];
	unsigned mtu;
	/* Readable when frames may be pending (-1: none, e.g. the in-memory
	 * link, which the test drives). */
	int fd;
	/* Offloads the device announces (core's sk_config.tso_max and
	 * tx_csum_offload come from here, never assumed): the largest TCP
	 * payload of a super-frame it cuts into MSS-sized segments (0: none),
	 * and whether it fills in TCP checksums. */
	uint32_t gso_max;
	uint32_t gso_max_segs; /* segments per super-frame at most; 0: no limit */
	bool tx_csum;
};

static inline int netdev_send(struct netdev *d, const uint8_t *f, size_t len)
{
	return d->ops->send(d, f, len);
}

/* `off` NULL, or nothing to finish: a plain send. */
static inline int netdev_send_offload(struct netdev *d, const uint8_t *f, size_t len,
                                      const struct sk_tx_offload *off)
{
	if (!off || !d->ops->send_offload)
		return d->ops->send(d, f, len);
	return d->ops->send_offload(d, f, len, off);
}

/* Copy a frame handed to send_offload, its frags (sk_tx_offload.nfrags)
 * after it, into dst (at most cap bytes): for devices and decorators that
 * need the frame in one piece. Returns the whole frame's length (more than
 * cap: truncated). */
size_t netdev_gather(uint8_t *dst, size_t cap, const uint8_t *frame, size_t len,
                     const struct sk_tx_offload *off);

static inline int netdev_flush(struct netdev *d)
{
	return d->ops->flush ? d->ops->flush(d) : 0;
}

static inline int netdev_recv_batch(struct netdev *d, struct netdev_frame *fr, int max,
                                    sk_time_t now)
{
	return d->ops->recv_batch(d, fr, max, now);
}

static inline sk_time_t netdev_next_rx_time(struct netdev *d)
{
	return d->ops->next_rx_time ? d->ops->next_rx_time(d) : SK_TIME_NEVER;
}

static inline void netdev_close(struct netdev *d)
{
	if (d)
		d->ops->close(d);
}

/* An sk_link_ops whose ctx is a struct netdev *: plugs a device into
 * sk_stack_new. */
extern const struct sk_link_ops netdev_link_ops;

/* ---- AF_PACKET ---------------------------------------------------- */

/* Open an AF_PACKET/SOCK_RAW socket bound to `ifname` (or adopt
 * `inherited_fd` >= 0, a packet socket opened by a privileged parent:
 * SYNACK_PACKET_FD), with PACKET_AUXDATA on (checksum status of each
 * frame) and our own outgoing frames ignored. MAC and MTU are read from
 * the interface. send() copies frames into a batch of NETDEV_AFP_TX_BATCH
 * that leaves in one sendmmsg() at netdev_flush or when full. With
 * `offload` the socket asks for PACKET_VNET_HDR: when the kernel grants
 * it, the device announces gso_max (TCP super-frames the kernel, veth or
 * the NIC's TSO cuts into segments) and tx_csum (checksums left to them),
 * and trusts received checksums the kernel vouches for; a super-frame
 * leaves at once, in one sendmsg, without a copy. On failure returns NULL
 * and writes one line saying what is wrong and how to fix it into err. */
struct netdev *netdev_afpacket_open(const char *ifname, int inherited_fd, char *err, size_t errlen);

/* 64 KiB of IP (a GSO super-frame from a veth peer) plus Ethernet and VLAN
 * headers, rounded up to a page multiple. */
#define NETDEV_AFP_RX_FRAME_DEFAULT (64u * 1024u + 4096u)

/* The same with each receive buffer `rx_frame_max` bytes long (0 = the
 * default): a longer frame (BIG TCP super-frames past 64 KiB) is counted in
 * rx_truncated and dropped. */
struct netdev *netdev_afpacket_open_sized(const char *ifname, int inherited_fd, size_t rx_frame_max,
                                          char *err, size_t errlen);

/* Everything netdev_afpacket_open_sized does, and the choice of offloads
 * (netdev_afpacket_open asks for them). */
struct netdev_afpacket_opts {
	size_t rx_frame_max; /* 0: NETDEV_AFP_RX_FRAME_DEFAULT */
	bool offload;        /* ask for PACKET_VNET_HDR (GSO, checksum offload) */
};
struct netdev *netdev_afpacket_open_opts(const char *ifname, int inherited_fd,
                                         const struct netdev_afpacket_opts *opts, char *err,
                                         size_t errlen);

/* Attach a classic BPF filter (SO_ATTACH_FILTER) to the packet socket of
 * `dev` so that the kernel hands this process only the frames it may want:
 * IPv4 addressed to `addr` (host order) and every ARP frame; no other
 * ethertype, no IPv4 broadcast or multicast, nothing VLAN-tagged (see
 * afpacket_filter.c for why). It works on dev->fd, so on a decorated device
 * (pcap, impairment) as well, and on an inherited socket (SYNACK_PACKET_FD)
 * as on our own. Frames queued before the call are still delivered. 0, or
 * -errno with one line in err (a kernel refusing the filter: the device
 * works as before, core drops what is not ours). */
int netdev_afpacket_filter(struct netdev *dev, uint32_t addr, char *err, size_t errlen);

/* Join the packet socket of `dev` (dev->fd, as netdev_afpacket_filter) to
 * the PACKET_FANOUT group `group` in hash mode: the kernel hands each frame
 * to one socket of the group only (afpacket_fanout.c). A socket joins once;
 * an inherited socket that already did answers -EALREADY. 0, or -errno
 * with one line in err (-EINVAL: the group exists with other settings). */
int netdev_afpacket_fanout(struct netdev *dev, uint16_t group, char *err, size_t errlen);

/* The fanout group the packet socket of `dev` is in, 0 when none. */
uint16_t netdev_afpacket_fanout_group(const struct netdev *dev);

#define NETDEV_AFP_TX_BATCH 64

/* Counters of an AF_PACKET device, for logs and stats. */
struct netdev_afpacket_stats {
	uint64_t rx_frames;
	uint64_t tx_frames;         /* accepted by the kernel */
	uint64_t rx_truncated;      /* longer than the receive buffer: dropped */
	uint64_t rx_ignored;        /* our own outgoing frames, other interfaces', VLAN-tagged */
	uint64_t tx_errors;         /* frames the kernel refused: dropped */
	uint64_t tx_batches;        /* sendmmsg() calls (tx_frames / tx_batches = batch size) */
	uint64_t tx_unbatched;      /* frames larger than a batch slot, sent alone */
	uint64_t tx_gso_frames;     /* TCP super-frames handed to the kernel (PACKET_VNET_HDR) */
	uint64_t tx_csum_offloaded; /* frames whose checksum the kernel or NIC fills in */
	uint64_t rx_gso_frames;     /* received super-frames (GRO/GSO of the peer) */
	uint64_t rx_vnet_errors;    /* frames the kernel could not describe in a vnet header */
	int rcvbuf;                 /* SO_RCVBUF obtained, bytes */
	bool qdisc_bypass;          /* PACKET_QDISC_BYPASS accepted by the kernel */
	bool vnet_hdr;              /* PACKET_VNET_HDR accepted: offloads on */
};
/* 0, or -EINVAL when dev is not an AF_PACKET device. */
int netdev_afpacket_get_stats(const struct netdev *dev, struct netdev_afpacket_stats *out);

/* ---- in-memory link (tests) --------------------------------------- */

/* Two ends; a frame sent on one end is received on the other. Bounded
 * queue per direction (frames beyond it are dropped and counted). */
struct memlink;
struct memlink *memlink_new(unsigned mtu, unsigned queue_frames);
/* End 0 or 1; owned by the link (closing it is a no-op). MACs are
 * 02:00:00:00:00:01 and 02:00:00:00:00:02. */
struct netdev *memlink_end(struct memlink *link, int which);
void memlink_free(struct memlink *link);
uint64_t memlink_dropped(const struct memlink *link);

/* ---- decorators --------------------------------------------------- */

/* Write every frame sent and received through `inner` to a pcap file
 * (classic pcap, LINKTYPE_ETHERNET, snaplen 262144, µs timestamps read
 * from CLOCK_REALTIME). Buffered; flushed when the buffer fills and on
 * close. Takes ownership of inner (on success only). NULL and err on
 * failure (cannot create the file).
 *
 * Decorators copy inner's name, MAC, MTU and fd. Moving the fd of the
 * outermost device (dev->fd = a dup at a high number) is allowed: each
 * decorator hands its dev->fd down to inner on every call. */
struct netdev *netdev_pcap_wrap(struct netdev *inner, const char *path, char *err, size_t errlen);
/* Write out the records buffered so far (the file is complete up to now),
 * e.g. before the process exits without closing the device. -EINVAL if dev
 * is not a pcap decorator. */
int netdev_pcap_sync(struct netdev *dev);

/* Impairment (SYNACK_IMPAIR): applied to frames received from inner.
 * Percentages in [0, 100], delay in µs; deterministic for a seed. */
struct netdev_impair_cfg {
	double loss_pct, dup_pct, reorder_pct;
	sk_time_t delay_us;
	uint64_t seed;
};
/* Parse "loss=2%,dup=1%,reorder=3%,delay=5ms,seed=42". 0 or -EINVAL with a
 * message in err naming the bad field. */
int netdev_impair_parse(const char *spec, struct netdev_impair_cfg *out, char *err, size_t errlen);
struct netdev *netdev_impair_wrap(struct netdev *inner, const struct netdev_impair_cfg *cfg);

/* What the impairment did (tests check that it really happened). */
struct netdev_impair_stats {
	uint64_t frames_in;  /* pulled from the inner device */
	uint64_t frames_out; /* handed to the caller */
	uint64_t lost, duplicated, reordered;
	uint64_t overflow; /* dropped: holding queue full */
};
/* 0, or -EINVAL when dev is not an impairment wrapper. */
int netdev_impair_get_stats(const struct netdev *dev, struct netdev_impair_stats *out);

#endif
