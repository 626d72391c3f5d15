/* The AF_PACKET device: the stack's own interface to the wire.
 *
 * A SOCK_RAW packet socket bound to one interface sees every Ethernet frame
 * on it. Details that matter:
 *  - PACKET_AUXDATA tells per frame whether the checksum can be trusted: a
 *    local kernel peer (veth) leaves TCP checksums unfilled
 *    (TP_STATUS_CSUMNOTREADY) or has verified them (TP_STATUS_CSUM_VALID);
 *    verifying those would drop every segment.
 *  - A veth peer hands over GSO super-frames (up to 64 KiB of IP), so each
 *    receive buffer is that big; anything longer is detected with MSG_TRUNC
 *    and dropped, never parsed half.
 *  - PACKET_IGNORE_OUTGOING keeps our own transmissions out of the receive
 *    queue; PACKET_OUTGOING frames are still dropped in case the kernel
 *    predates the option.
 *  - Frames arrive in batches (recvmmsg) into buffers allocated once, so the
 *    receive path allocates nothing.
 *  - The receive buffer is made large (SO_RCVBUFFORCE when privileged): a
 *    kernel peer on veth sends faster than one loop iteration drains.
 *  - Transmission is batched: send() copies the frame into a slot of a
 *    batch allocated once, and the batch leaves in one sendmmsg() when it is
 *    full or the owner calls flush (the shim does at the end of every locked
 *    section). One syscall per 64 frames instead of one per frame.
 *  - Offloads (PACKET_VNET_HDR, when asked for and granted): every frame,
 *    both ways, is preceded by a struct virtio_net_hdr. On transmit it lets
 *    a TCP super-frame of up to 64 KiB leave in one piece (GSO_TCPV4: veth
 *    hands it on whole, a NIC cuts it with TSO, otherwise the kernel's GSO
 *    does, just before the driver) and leaves checksums to whoever cuts or
 *    sends (NEEDS_CSUM). A super-frame is sent at once from the caller's
 *    buffer (after what is batched, to keep the order): copying 64 KiB into
 *    a slot would cost more than the syscall it saves. On receive, the
 *    header's DATA_VALID / NEEDS_CSUM say the kernel vouches for the
 *    checksum, as PACKET_AUXDATA's status does.
 * The fd lives only in dev->fd because the shim may move it to a high
 * number after opening.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <endian.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iflimits.h"
#include "netdev.h"

#define AFP_BATCH  32
#define AFP_RCVBUF (32 * 1024 * 1024)
#define AFP_SNDBUF (4 * 1024 * 1024)
/* Batches read in one recv_batch when every frame in them was filtered
 * out: bounds the time spent, the caller comes back while fd is readable. */
#define AFP_MAX_EMPTY_ROUNDS 8

struct afp_dev {
	struct netdev dev; /* first: the netdev pointer is the afp_dev pointer */
	int ifindex;
	struct netdev_afpacket_stats stats;

	struct mmsghdr msgs[AFP_BATCH];
	/* [0]: the virtio_net_hdr when vnet is on, [1]: the frame. */
	struct iovec iov[AFP_BATCH][2];
	struct virtio_net_hdr rx_vnet[AFP_BATCH];
	bool vnet; /* PACKET_VNET_HDR on: a header before every frame */
	struct sockaddr_ll from[AFP_BATCH];
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	} ctrl[AFP_BATCH];
	uint8_t *frames;     /* AFP_BATCH * rx_frame_max */
	size_t rx_frame_max; /* bytes per receive buffer; longer frames are truncated */

	/* Transmit batch: msg i always points at slot i of tx_buf; send()
	 * fills slots 0..tx_count-1, flush empties them. */
	struct mmsghdr tx_msgs[NETDEV_AFP_TX_BATCH];
	struct iovec tx_iov[NETDEV_AFP_TX_BATCH][2]; /* as iov */
	struct virtio_net_hdr tx_vnet[NETDEV_AFP_TX_BATCH];
	uint8_t *tx_buf; /* NETDEV_AFP_TX_BATCH * tx_slot */
	size_t tx_slot;  /* bytes per slot: MTU + Ethernet and VLAN headers */
	unsigned tx_count;
};

static const struct netdev_ops afp_ops;

static struct afp_dev *to_afp(struct netdev *dev)
{
	return (struct afp_dev *)dev;
}

/* recvmmsg rewrites the lengths it is given: reset them before each call. */
static void afp_arm(struct afp_dev *a, int n)
{
	for (int i = 0; i < n; i++) {
		struct msghdr *m = &a->msgs[i].msg_hdr;

		m->msg_name = &a->from[i];
		m->msg_namelen = sizeof(a->from[i]);
		m->msg_iov = a->vnet ? &a->iov[i][0] : &a->iov[i][1];
		m->msg_iovlen = a->vnet ? 2 : 1;
		m->msg_control = a->ctrl[i].buf;
		m->msg_controllen = sizeof(a->ctrl[i].buf);
		m->msg_flags = 0;
		a->iov[i][0].iov_base = &a->rx_vnet[i];
		a->iov[i][0].iov_len = sizeof(a->rx_vnet[i]);
		a->iov[i][1].iov_base = a->frames + (size_t)i * a->rx_frame_max;
		a->iov[i][1].iov_len = a->rx_frame_max;
	}
}

/* What the virtio_net_hdr of a received frame says: the checksum is
 * verified (DATA_VALID) or was never filled in by a local sender
 * (NEEDS_CSUM, a kernel peer's CHECKSUM_PARTIAL); both mean trust it. */
static unsigned vnet_flags(struct afp_dev *a, int i)
{
	const struct virtio_net_hdr *h = &a->rx_vnet[i];

	if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE)
		a->stats.rx_gso_frames++;
	if (h->flags & (VIRTIO_NET_HDR_F_DATA_VALID | VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return SK_RX_CSUM_TRUSTED;
	return 0;
}

static unsigned aux_flags(struct msghdr *m, bool *vlan)
{
	*vlan = false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		struct tpacket_auxdata aux;

		if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA ||
		    c->cmsg_len < CMSG_LEN(sizeof(aux)))
			continue;
		memcpy(&aux, CMSG_DATA(c), sizeof(aux));
		/* The kernel removed a VLAN tag: the frame is not for our
		 * untagged stack, and what is left would parse as if it were. */
		*vlan = (aux.tp_status & TP_STATUS_VLAN_VALID) != 0;
		if (aux.tp_status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID))
			return SK_RX_CSUM_TRUSTED;
	}
	return 0;
}

/* Keep frame i of the batch? Fills *out when yes. */
static bool afp_accept(struct afp_dev *a, int i, struct netdev_frame *out)
{
	struct msghdr *m = &a->msgs[i].msg_hdr;
	size_t hdr = a->vnet ? sizeof(a->rx_vnet[i]) : 0;
	bool vlan;
	unsigned flags;

	if (m->msg_flags & MSG_TRUNC) {
		a->stats.rx_truncated++;
		return false;
	}
	if (a->msgs[i].msg_len < hdr) {
		a->stats.rx_vnet_errors++;
		return false;
	}
	flags = aux_flags(m, &vlan);
	if (a->vnet)
		flags |= vnet_flags(a, i);
	if (a->from[i].sll_pkttype == PACKET_OUTGOING || a->from[i].sll_ifindex != a->ifindex ||
	    vlan) {
		/* Other interfaces' frames can only be ones queued on an
		 * inherited socket before it was bound to ours. */
		a->stats.rx_ignored++;
		return false;
	}
	out->data = a->iov[i][1].iov_base;
	out->len = a->msgs[i].msg_len - hdr;
	out->flags = flags;
	return true;
}

static int afp_recv_batch(struct netdev *dev, struct netdev_frame *frames, int max, sk_time_t now)
{
	struct afp_dev *a = to_afp(dev);
	int want = max < AFP_BATCH ? max : AFP_BATCH;

	(void)now;
	if (want <= 0)
		return 0;
	for (int round = 0; round < AFP_MAX_EMPTY_ROUNDS; round++) {
		int got, n = 0;

		afp_arm(a, want);
		got = recvmmsg(a->dev.fd, a->msgs, (unsigned)want, MSG_DONTWAIT, NULL);
		if (got < 0) {
			/* EINTR: nothing lost, the fd stays readable. */
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			/* A frame the kernel cannot describe in a vnet header
			 * (a GSO type virtio has no name for) was consumed:
			 * count it and read on. */
			if (errno == EINVAL && a->vnet) {
				a->stats.rx_vnet_errors++;
				continue;
			}
			return -errno;
		}
		for (int i = 0; i < got; i++)
			if (afp_accept(a, i, &frames[n]))
				n++;
		a->stats.rx_frames += (uint64_t)n;
		if (n > 0 || got < want)
			return n;
	}
	return 0;
}

/* A refused frame: the errno TCP sees. A full device queue says ENOBUFS
 * (qdisc bypass) or EAGAIN: both mean "dropped, try later". */
static int tx_err(int e)
{
	return e == ENOBUFS || e == EWOULDBLOCK ? -EAGAIN : -e;
}

/* Send the batch. A partial result (sendmmsg stops at the first frame the
 * kernel refuses) is continued from there: the refused frame gets one
 * more try as the head of the next call, and when that fails it is dropped
 * and counted (tx_errors) and the rest still goes. Every frame thus gets
 * the chance it had when each was a send() of its own; dropping the whole
 * remainder on one refusal would turn a single lost frame into a burst
 * of 60, which costs TCP far more to recover than one. */
static int afp_flush(struct netdev *dev)
{
	struct afp_dev *a = to_afp(dev);
	unsigned done = 0;
	int rc = 0;

	while (done < a->tx_count) {
		int n = sendmmsg(a->dev.fd, a->tx_msgs + done, a->tx_count - done, MSG_DONTWAIT);

		if (n > 0) {
			a->stats.tx_batches++;
			a->stats.tx_frames += (uint64_t)n;
			done += (unsigned)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		rc = tx_err(n < 0 ? errno : EIO);
		a->stats.tx_errors++;
		done++;
	}
	a->tx_count = 0;
	return rc;
}

/* The virtio_net_hdr for a frame (little-endian: a packet socket's vnet
 * header follows the legacy virtio layout of the host, LE on every
 * architecture synack builds for). */
static void vnet_fill(struct virtio_net_hdr *h, const struct sk_tx_offload *off)
{
	memset(h, 0, sizeof(*h));
	if (!off)
		return;
	if (off->csum_start) {
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = htole16(off->csum_start);
		h->csum_offset = htole16(off->csum_offset);
		/* The kernel wants the checksum field inside the linear
		 * header part; a super-frame names its whole headers. */
		h->hdr_len =
		    htole16(off->hdr_len ? off->hdr_len
		                         : (uint16_t)(off->csum_start + off->csum_offset + 2));
	}
	if (off->gso_size) {
		h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		h->gso_size = htole16(off->gso_size);
	}
}

/* One frame alone, after what is queued (frames leave in order), from the
 * caller's buffer: a super-frame, or a frame larger than a slot. */
static int afp_send_alone(struct afp_dev *a, const uint8_t *frame, size_t len,
                          const struct sk_tx_offload *off)
{
	struct virtio_net_hdr h;
	/* The vnet header, the frame, its payload pieces (sk_tx_offload.frags):
	 * the kernel gathers them, nothing is copied here. */
	struct iovec iov[4] = {{&h, sizeof(h)}, {(void *)frame, len}};
	unsigned nfrags = off ? off->nfrags : 0;
	struct msghdr m = {.msg_iov = a->vnet ? iov : iov + 1,
	                   .msg_iovlen = (a->vnet ? 2 : 1) + nfrags};
	ssize_t n;

	for (unsigned i = 0; i < nfrags && i < 2; i++)
		iov[2 + i] = (struct iovec){(void *)off->frags[i].data, off->frags[i].len};

	(void)afp_flush(&a->dev);
	vnet_fill(&h, off);
	do
		n = sendmsg(a->dev.fd, &m, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		a->stats.tx_errors++;
		return tx_err(errno);
	}
	a->stats.tx_frames++;
	return 0;
}

static int afp_queue(struct afp_dev *a, const uint8_t *frame, size_t len,
                     const struct sk_tx_offload *off)
{
	unsigned i = a->tx_count++;

	memcpy(a->tx_buf + (size_t)i * a->tx_slot, frame, len);
	a->tx_iov[i][1].iov_len = len;
	if (a->vnet)
		vnet_fill(&a->tx_vnet[i], off);
	/* The frame is queued: a failure of the batch is counted, and TCP
	 * recovers from it as from any loss on the wire. */
	if (a->tx_count == NETDEV_AFP_TX_BATCH)
		(void)afp_flush(&a->dev);
	return 0;
}

static int afp_send(struct netdev *dev, const uint8_t *frame, size_t len)
{
	struct afp_dev *a = to_afp(dev);

	if (len <= a->tx_slot)
		return afp_queue(a, frame, len, NULL);
	/* Larger than a slot: an MTU set above the interface's. */
	a->stats.tx_unbatched++;
	return afp_send_alone(a, frame, len, NULL);
}

static int afp_send_offload(struct netdev *dev, const uint8_t *frame, size_t len,
                            const struct sk_tx_offload *off)
{
	struct afp_dev *a = to_afp(dev);
	int rc;

	/* Only what the device announced is asked of it (core checks its
	 * configuration against gso_max and tx_csum). */
	if (!a->vnet)
		return -EOPNOTSUPP;
	if (off->csum_start)
		a->stats.tx_csum_offloaded++;
	if (!off->gso_size && !off->nfrags && len <= a->tx_slot)
		return afp_queue(a, frame, len, off);
	rc = afp_send_alone(a, frame, len, off);
	if (rc == 0 && off->gso_size)
		a->stats.tx_gso_frames++;
	return rc;
}

static void afp_close(struct netdev *dev)
{
	struct afp_dev *a = to_afp(dev);

	/* What the last locked section queued is real output (a final RST). */
	(void)afp_flush(dev);
	if (a->dev.fd >= 0)
		close(a->dev.fd);
	free(a->frames);
	free(a->tx_buf);
	free(a);
}

static const struct netdev_ops afp_ops = {
    .send = afp_send,
    .send_offload = afp_send_offload,
    .flush = afp_flush,
    .recv_batch = afp_recv_batch,
    .next_rx_time = NULL,
    .close = afp_close,
};

/* ---- opening ------------------------------------------------------ */

/* Look the interface up without privileges (a plain UDP socket serves the
 * ioctls), so that a missing or down interface is reported as such rather
 * than as a permission problem. */
static int query_iface(struct afp_dev *a, const char *ifname, char *err, size_t errlen)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = -1;

	if (s < 0) {
		snprintf(err, errlen, "cannot query interface '%s': socket: %s", ifname,
		         strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
		if (errno == ENODEV)
			snprintf(err, errlen,
			         "interface '%s' does not exist in this network namespace — "
			         "check SYNACK_IFACE (ip link)",
			         ifname);
		else
			snprintf(err, errlen, "cannot query interface '%s': %s", ifname,
			         strerror(errno));
		goto out;
	}
	a->ifindex = ifr.ifr_ifindex;
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP)) {
		snprintf(err, errlen, "interface '%s' is down — bring it up: ip link set %s up",
		         ifname, ifname);
		goto out;
	}
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0 || ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
		snprintf(err, errlen,
		         "interface '%s' is not an Ethernet interface — synack needs one "
		         "(a veth or a NIC), not loopback or a tunnel",
		         ifname);
		goto out;
	}
	memcpy(a->dev.mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(s, SIOCGIFMTU, &ifr) < 0 || ifr.ifr_mtu < 68) {
		snprintf(err, errlen, "cannot read the MTU of interface '%s'", ifname);
		goto out;
	}
	a->dev.mtu = (unsigned)ifr.ifr_mtu;
	rc = 0;
out:
	close(s);
	return rc;
}

/* Is `fd` (SYNACK_PACKET_FD) really a raw packet socket? */
static int check_inherited(int fd, char *err, size_t errlen)
{
	int domain = 0, type = 0;
	socklen_t len = sizeof(domain);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) {
		if (errno == EBADF)
			snprintf(err, errlen,
			         "SYNACK_PACKET_FD=%d is not an open file descriptor — it must be "
			         "a packet socket inherited from 'synack run'; unset it to let "
			         "synack open its own",
			         fd);
		else
			snprintf(err, errlen,
			         "SYNACK_PACKET_FD=%d is not a socket (%s) — it must be an "
			         "AF_PACKET socket inherited from 'synack run'",
			         fd, strerror(errno));
		return -1;
	}
	len = sizeof(type);
	if (domain != AF_PACKET || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_RAW) {
		snprintf(err, errlen,
		         "SYNACK_PACKET_FD=%d is a socket but not an AF_PACKET SOCK_RAW one "
		         "(domain %d, type %d) — it must come from 'synack run'",
		         fd, domain, type);
		return -1;
	}
	return 0;
}

/* Bind to the interface unless the socket already is bound to it with
 * ETH_P_ALL (an inherited socket may be bound elsewhere, or not at all). */
static int bind_iface(struct afp_dev *a, const char *ifname, char *err, size_t errlen)
{
	struct sockaddr_ll sll;
	socklen_t len = sizeof(sll);

	memset(&sll, 0, sizeof(sll));
	if (getsockname(a->dev.fd, (struct sockaddr *)&sll, &len) == 0 &&
	    sll.sll_ifindex == a->ifindex && sll.sll_protocol == htons(ETH_P_ALL))
		return 0;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = a->ifindex;
	if (bind(a->dev.fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		snprintf(err, errlen, "cannot bind the AF_PACKET socket to '%s': %s", ifname,
		         strerror(errno));
		return -1;
	}
	return 0;
}

static int set_int(int fd, int level, int opt, int v)
{
	return setsockopt(fd, level, opt, &v, sizeof(v));
}

/* The interface's GSO limits (ip link ... gso_max_size / gso_max_segs), as
 * the kernel's own TCP honours them (sk_gso_max_size, tcp_tso_autosize):
 * the kernel checks neither for a packet socket's frame (iflimits.c). */
static void gso_limits(struct afp_dev *a)
{
	uint32_t size = 65536, segs = 65535;
	const uint32_t hdrs = 14 + 20 + 60; /* Ethernet, IPv4, TCP with options */

	(void)netdev_iface_gso_limits(a->ifindex, &size, &segs);
	a->dev.gso_max = size > hdrs + SK_TSO_MAX ? SK_TSO_MAX : size > hdrs ? size - hdrs : 0;
	a->dev.gso_max_segs = segs;
}

/* PACKET_VNET_HDR, when asked for: the offloads follow from it. A kernel
 * that refuses it (or a socket with a ring) leaves the device without
 * them: MSS-sized frames, software checksums, as before. */
static void enable_offloads(struct afp_dev *a, bool want)
{
	int on = 0;
	socklen_t len = sizeof(on);

	/* An inherited socket may carry it from a previous owner: the frames'
	 * layout must match what this device expects either way. */
	if (getsockopt(a->dev.fd, SOL_PACKET, PACKET_VNET_HDR, &on, &len) < 0)
		on = 0;
	if (want != (on != 0) && set_int(a->dev.fd, SOL_PACKET, PACKET_VNET_HDR, want) == 0)
		on = want;
	a->vnet = a->stats.vnet_hdr = on != 0;
	a->dev.tx_csum = a->vnet && want;
	if (a->dev.tx_csum)
		gso_limits(a);
}

static int configure(struct afp_dev *a, const char *ifname, bool offload, char *err, size_t errlen)
{
	int fd = a->dev.fd;
	socklen_t len = sizeof(a->stats.rcvbuf);

	if (set_int(fd, SOL_PACKET, PACKET_AUXDATA, 1) < 0) {
		snprintf(err, errlen, "cannot enable PACKET_AUXDATA on '%s': %s", ifname,
		         strerror(errno));
		return -1;
	}
	/* Optional: older kernels lack it, afp_accept filters anyway. */
	(void)set_int(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
	enable_offloads(a, offload);
	/* The qdisc bypass (__dev_direct_xmit) drops any frame the kernel must
	 * change on the way out (net/core/dev.c: "skb != orig_skb"), and a
	 * super-frame it cuts in software (an interface without TSO, a
	 * gso_max_size below it) is one: with offloads, frames take the
	 * normal transmit path, as the kernel's own TCP does. */
	a->stats.qdisc_bypass = !a->vnet && set_int(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1) == 0;
	if (a->vnet)
		(void)set_int(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 0); /* an inherited socket's */
	/* FORCE needs CAP_NET_ADMIN; without it the plain option still gets
	 * up to net.core.rmem_max. */
	if (set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, AFP_RCVBUF) < 0)
		(void)set_int(fd, SOL_SOCKET, SO_RCVBUF, AFP_RCVBUF);
	if (set_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, AFP_SNDBUF) < 0)
		(void)set_int(fd, SOL_SOCKET, SO_SNDBUF, AFP_SNDBUF);
	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &a->stats.rcvbuf, &len);
	/* recv/send use MSG_DONTWAIT, but an inherited fd must not block
	 * anyone else who might poll it either. */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot make the AF_PACKET socket non-blocking: %s",
		         strerror(errno));
		return -1;
	}
	return 0;
}

/* The transmit batch, sized by the MTU just read; its messages point at
 * their slots once and for all, so send() only copies and sets a length. */
static int alloc_tx(struct afp_dev *a, const char *ifname, char *err, size_t errlen)
{
	/* Ethernet header and a VLAN tag, rounded up to a cache line. */
	a->tx_slot = ((size_t)a->dev.mtu + 18 + 63) & ~(size_t)63;
	a->tx_buf = malloc(NETDEV_AFP_TX_BATCH * a->tx_slot);
	if (!a->tx_buf) {
		snprintf(err, errlen, "out of memory for the transmit batch of '%s'", ifname);
		return -1;
	}
	for (unsigned i = 0; i < NETDEV_AFP_TX_BATCH; i++) {
		struct msghdr *m = &a->tx_msgs[i].msg_hdr;

		/* No address: the socket is bound to the interface. */
		memset(m, 0, sizeof(*m));
		a->tx_iov[i][0].iov_base = &a->tx_vnet[i];
		a->tx_iov[i][0].iov_len = sizeof(a->tx_vnet[i]);
		a->tx_iov[i][1].iov_base = a->tx_buf + (size_t)i * a->tx_slot;
		a->tx_iov[i][1].iov_len = 0;
		m->msg_iov = a->vnet ? &a->tx_iov[i][0] : &a->tx_iov[i][1];
		m->msg_iovlen = a->vnet ? 2 : 1;
	}
	return 0;
}

static int open_socket(struct afp_dev *a, const char *ifname, int inherited_fd, char *err,
                       size_t errlen)
{
	if (inherited_fd >= 0) {
		if (check_inherited(inherited_fd, err, errlen) < 0)
			return -1;
		a->dev.fd = inherited_fd;
		return 0;
	}
	/* Protocol 0: receive nothing until bound, so no frame from another
	 * interface slips in between socket() and bind(). */
	a->dev.fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->dev.fd >= 0)
		return 0;
	if (errno == EPERM || errno == EACCES)
		snprintf(err, errlen,
		         "cannot open AF_PACKET socket on %s: %s — run as root or give "
		         "CAP_NET_RAW (synack run can open it for you)",
		         ifname, strerror(errno));
	else
		snprintf(err, errlen, "cannot open AF_PACKET socket on %s: %s", ifname,
		         strerror(errno));
	return -1;
}

struct netdev *netdev_afpacket_open(const char *ifname, int inherited_fd, char *err, size_t errlen)
{
	const struct netdev_afpacket_opts opts = {.offload = true};

	return netdev_afpacket_open_opts(ifname, inherited_fd, &opts, err, errlen);
}

struct netdev *netdev_afpacket_open_sized(const char *ifname, int inherited_fd, size_t rx_frame_max,
                                          char *err, size_t errlen)
{
	const struct netdev_afpacket_opts opts = {.rx_frame_max = rx_frame_max};

	return netdev_afpacket_open_opts(ifname, inherited_fd, &opts, err, errlen);
}

struct netdev *netdev_afpacket_open_opts(const char *ifname, int inherited_fd,
                                         const struct netdev_afpacket_opts *opts, char *err,
                                         size_t errlen)
{
	struct afp_dev *a;
	size_t rx_frame_max = opts->rx_frame_max;

	if (rx_frame_max == 0)
		rx_frame_max = NETDEV_AFP_RX_FRAME_DEFAULT;
	if (rx_frame_max < 64 || rx_frame_max > 16u * 1024 * 1024) {
		snprintf(err, errlen,
		         "receive buffer of %zu bytes for '%s' is out of range (64..16 MiB)",
		         rx_frame_max, ifname ? ifname : "");
		return NULL;
	}

	if (!ifname || !*ifname || strlen(ifname) >= IFNAMSIZ) {
		snprintf(err, errlen,
		         "interface name '%s' is empty or longer than %d characters — check "
		         "SYNACK_IFACE",
		         ifname ? ifname : "", IFNAMSIZ - 1);
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (a)
		a->frames = malloc((size_t)AFP_BATCH * rx_frame_max);
	if (!a || !a->frames) {
		free(a);
		snprintf(err, errlen, "out of memory for the receive buffers of '%s'", ifname);
		return NULL;
	}
	a->rx_frame_max = rx_frame_max;
	a->dev.ops = &afp_ops;
	a->dev.fd = -1;
	snprintf(a->dev.name, sizeof(a->dev.name), "%s", ifname);

	/* configure decides the offloads, which alloc_tx's messages follow. */
	if (query_iface(a, ifname, err, errlen) < 0 ||
	    open_socket(a, ifname, inherited_fd, err, errlen) < 0 ||
	    configure(a, ifname, opts->offload, err, errlen) < 0 ||
	    alloc_tx(a, ifname, err, errlen) < 0 || bind_iface(a, ifname, err, errlen) < 0) {
		/* An inherited fd stays the caller's on failure. */
		if (a->dev.fd >= 0 && a->dev.fd != inherited_fd)
			close(a->dev.fd);
		free(a->frames);
		free(a->tx_buf);
		free(a);
		return NULL;
	}
	return &a->dev;
}

int netdev_afpacket_get_stats(const struct netdev *dev, struct netdev_afpacket_stats *out)
{
	if (!dev || dev->ops != &afp_ops)
		return -EINVAL;
	*out = ((const struct afp_dev *)dev)->stats;
	return 0;
}
