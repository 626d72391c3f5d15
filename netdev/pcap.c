/* pcap writer: a decorator that records every frame a device sends and
 * receives (SYNACK_PCAP=/path), readable by tcpdump and Wireshark.
 *
 * Classic pcap (not pcapng): every tool reads it and the format is four
 * fixed fields per record. Records go into a buffer that is written out
 * when full and on close, so tracing costs one write per buffer rather than
 * per frame; a crash loses at most the buffer. Timestamps are wall-clock
 * (CLOCK_REALTIME) because that is what readers of a capture expect to
 * line up with logs. A write error stops the capture, never the traffic.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netdev.h"

#define PCAP_MAGIC_US     0xa1b2c3d4u
#define PCAP_SNAPLEN      262144u
#define PCAP_LINKTYPE_ETH 1u
#define PCAP_REC_HLEN     16u
#define PCAP_BUF_SIZE     (256u * 1024u)

struct pcap_dev {
	struct netdev dev; /* first: the netdev pointer is the pcap_dev pointer */
	struct netdev *inner;
	int out_fd; /* -1 once a write failed: capture stopped */
	size_t used;
	uint8_t buf[PCAP_BUF_SIZE];
	/* A super-frame whose payload came in frags, made whole to record. */
	uint8_t gather[14 + 65535];
};

static struct pcap_dev *to_pcap(struct netdev *dev)
{
	return (struct pcap_dev *)dev;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Give up on the capture after a write error (disk full, file removed
 * under us...): the device keeps working without it. */
static void pcap_stop(struct pcap_dev *p)
{
	close(p->out_fd);
	p->out_fd = -1;
	p->used = 0;
}

static void pcap_flush(struct pcap_dev *p)
{
	if (p->out_fd < 0 || p->used == 0)
		return;
	if (write_all(p->out_fd, p->buf, p->used) < 0)
		pcap_stop(p);
	p->used = 0;
}

static void put32(uint8_t *dst, uint32_t v)
{
	/* pcap fields are in the writer's byte order; readers detect it from
	 * the magic number. */
	memcpy(dst, &v, 4);
}

static void put16(uint8_t *dst, uint16_t v)
{
	memcpy(dst, &v, 2);
}

static void pcap_record(struct pcap_dev *p, const uint8_t *frame, size_t len)
{
	uint8_t hdr[PCAP_REC_HLEN];
	size_t caplen = len < PCAP_SNAPLEN ? len : PCAP_SNAPLEN;
	struct timespec ts;

	if (p->out_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	put32(hdr, (uint32_t)ts.tv_sec);
	put32(hdr + 4, (uint32_t)(ts.tv_nsec / 1000));
	put32(hdr + 8, (uint32_t)caplen);
	put32(hdr + 12, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);

	if (p->used + PCAP_REC_HLEN + caplen > sizeof(p->buf))
		pcap_flush(p);
	if (PCAP_REC_HLEN + caplen > sizeof(p->buf)) {
		/* Larger than the whole buffer (a GSO super-frame near the
		 * snap length): write it straight through. */
		if (write_all(p->out_fd, hdr, sizeof(hdr)) < 0 ||
		    write_all(p->out_fd, frame, caplen) < 0)
			pcap_stop(p);
		return;
	}
	if (p->out_fd < 0)
		return;
	memcpy(p->buf + p->used, hdr, sizeof(hdr));
	memcpy(p->buf + p->used + sizeof(hdr), frame, caplen);
	p->used += sizeof(hdr) + caplen;
}

/* The shim may move the device fd to a high number after wrapping; the
 * inner device reads its own dev->fd, so hand the current one down. */
static struct netdev *pcap_inner(struct pcap_dev *p)
{
	p->inner->fd = p->dev.fd;
	return p->inner;
}

static int pcap_send(struct netdev *dev, const uint8_t *frame, size_t len)
{
	struct pcap_dev *p = to_pcap(dev);
	int rc = netdev_send(pcap_inner(p), frame, len);

	/* Only frames accepted (queued, for a batching device; a batch the
	 * kernel then refuses is counted there): a capture shows the wire,
	 * not attempts. */
	if (rc == 0)
		pcap_record(p, frame, len);
	return rc;
}

static int pcap_send_offload(struct netdev *dev, const uint8_t *frame, size_t len,
                             const struct sk_tx_offload *off)
{
	struct pcap_dev *p = to_pcap(dev);
	int rc = netdev_send_offload(pcap_inner(p), frame, len, off);

	/* Recorded as handed to the device, as tcpdump on the sending host
	 * shows it: one super-frame, the checksum not yet filled in. */
	if (rc == 0 && off->nfrags) {
		size_t whole = netdev_gather(p->gather, sizeof(p->gather), frame, len, off);

		pcap_record(p, p->gather, whole < sizeof(p->gather) ? whole : sizeof(p->gather));
	} else if (rc == 0) {
		pcap_record(p, frame, len);
	}
	return rc;
}

static int pcap_dev_flush(struct netdev *dev)
{
	return netdev_flush(pcap_inner(to_pcap(dev)));
}

static int pcap_recv_batch(struct netdev *dev, struct netdev_frame *frames, int max, sk_time_t now)
{
	struct pcap_dev *p = to_pcap(dev);
	int n = netdev_recv_batch(pcap_inner(p), frames, max, now);

	for (int i = 0; i < n; i++)
		pcap_record(p, frames[i].data, frames[i].len);
	return n;
}

static sk_time_t pcap_next_rx_time(struct netdev *dev)
{
	return netdev_next_rx_time(pcap_inner(to_pcap(dev)));
}

static void pcap_close(struct netdev *dev)
{
	struct pcap_dev *p = to_pcap(dev);

	pcap_flush(p);
	if (p->out_fd >= 0)
		close(p->out_fd);
	netdev_close(pcap_inner(p));
	free(p);
}

static const struct netdev_ops pcap_ops = {
    .send = pcap_send,
    .send_offload = pcap_send_offload,
    .flush = pcap_dev_flush,
    .recv_batch = pcap_recv_batch,
    .next_rx_time = pcap_next_rx_time,
    .close = pcap_close,
};

static void pcap_file_header(uint8_t *h)
{
	put32(h, PCAP_MAGIC_US);
	put16(h + 4, 2); /* version 2.4 */
	put16(h + 6, 4);
	put32(h + 8, 0);  /* thiszone: timestamps are UTC */
	put32(h + 12, 0); /* sigfigs */
	put32(h + 16, PCAP_SNAPLEN);
	put32(h + 20, PCAP_LINKTYPE_ETH);
}

struct netdev *netdev_pcap_wrap(struct netdev *inner, const char *path, char *err, size_t errlen)
{
	struct pcap_dev *p;
	int fd;

	if (!inner || !path || !*path) {
		snprintf(err, errlen, "pcap: no device or empty file name — set SYNACK_PCAP=/path");
		return NULL;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen,
		         "cannot create pcap file '%s': %s — check that the directory exists and "
		         "is writable (SYNACK_PCAP)",
		         path, strerror(errno));
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		close(fd);
		snprintf(err, errlen, "pcap: out of memory for the capture buffer");
		return NULL;
	}
	p->inner = inner;
	p->out_fd = fd;
	pcap_file_header(p->buf);
	p->used = 24;

	p->dev = *inner; /* same name, MAC, MTU and fd: the wrapper is transparent */
	p->dev.ops = &pcap_ops;
	return &p->dev;
}

int netdev_pcap_sync(struct netdev *dev)
{
	if (!dev || dev->ops != &pcap_ops)
		return -EINVAL;
	pcap_flush(to_pcap(dev));
	return 0;
}
