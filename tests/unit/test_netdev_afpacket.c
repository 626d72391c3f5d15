/* The AF_PACKET device against a real kernel peer.
 *
 * Each test builds its own lab: two anonymous network namespaces (ours and
 * the peer's) joined by a veth pair, the peer at 10.77.9.2/24. Anonymous
 * namespaces live only as long as this test process (Criterion runs each
 * test in its own) and the peer children that die with it, so the lab is
 * torn down by the kernel whatever happens — assertion failure, crash or
 * timeout — and nothing leaks into the host. The device is opened in our
 * namespace; the peer's side is driven by `ip` and by forked children that
 * enter the peer namespace.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>

#include "../../netdev/netdev.h"
#include "netns.h"
#include "shell.h"

#define OUR_IP   0x0a4d0901u /* 10.77.9.1: ours, no kernel address */
#define PEER_IP  0x0a4d0902u /* 10.77.9.2: the kernel peer */
#define OUR_PORT 5555
#define WAIT_MS  10000 /* generous: only a failing test waits it out */

static struct netns_lab lab = {.ours = -1, .peer = -1};
static pid_t peer_child = -1;
static struct netdev *dev;

static void lab_up(void)
{
	netns_lab_up(&lab, "sk", "10.77.9.2/24");
}

static void lab_down(void)
{
	netdev_close(dev);
	dev = NULL;
	if (peer_child > 0) {
		kill(peer_child, SIGKILL);
		waitpid(peer_child, NULL, 0);
		peer_child = -1;
	}
	/* Closing the namespace fds lets the kernel destroy them (and the
	 * veth with them) once this process exits. */
	netns_lab_down(&lab);
}

TestSuite(afpacket, .init = lab_up, .fini = lab_down, .timeout = 60);

static void open_dev(int inherited_fd)
{
	char err[256] = "";

	dev = netdev_afpacket_open(lab.our_if, inherited_fd, err, sizeof(err));
	cr_assert_not_null(dev, "open failed: %s", err);
}

/* Run fn in a child inside the peer namespace; it dies with us. */
static void in_peer(void (*fn)(void))
{
	peer_child = fork();
	cr_assert_geq(peer_child, 0);
	if (peer_child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(55);
		if (setns(lab.peer, CLONE_NEWNET) < 0)
			_exit(2);
		fn();
		_exit(0);
	}
}

/* ---- frames --------------------------------------------------------- */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += rd16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

struct seen {
	uint8_t data[70000];
	size_t len;
	unsigned flags;
};

typedef bool (*frame_pred)(const struct netdev_frame *f);

/* Frames from our own MAC read back: must stay 0 (PACKET_IGNORE_OUTGOING). */
static unsigned own_frames_seen;

/* Receive until pred matches (copying the frame into *out) or WAIT_MS. */
static bool wait_frame(frame_pred pred, struct seen *out)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct netdev_frame fr[16];
		struct pollfd pfd = {.fd = dev->fd, .events = POLLIN};
		long ms;
		int n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (ms >= WAIT_MS)
			return false;
		poll(&pfd, 1, (int)(WAIT_MS - ms));
		n = netdev_recv_batch(dev, fr, 16, 0);
		cr_assert_geq(n, 0, "recv_batch: %s", strerror(-n));
		for (int i = 0; i < n; i++) {
			if (fr[i].len >= 14 && memcmp(fr[i].data + 6, dev->mac, 6) == 0)
				own_frames_seen++;
			if (pred(&fr[i])) {
				cr_assert_leq(fr[i].len, sizeof(out->data));
				memcpy(out->data, fr[i].data, fr[i].len);
				out->len = fr[i].len;
				out->flags = fr[i].flags;
				return true;
			}
		}
	}
}

static void build_arp_request(uint8_t f[42])
{
	memset(f, 0, 42);
	memset(f, 0xff, 6);
	memcpy(f + 6, dev->mac, 6);
	wr16(f + 12, 0x0806);
	wr16(f + 14, 1);      /* Ethernet */
	wr16(f + 16, 0x0800); /* IPv4 */
	f[18] = 6;
	f[19] = 4;
	wr16(f + 20, 1); /* request */
	memcpy(f + 22, dev->mac, 6);
	wr32(f + 28, OUR_IP);
	wr32(f + 38, PEER_IP);
}

static void send_arp_request(void)
{
	uint8_t f[42];
	int rc;

	build_arp_request(f);
	cr_assert_eq(netdev_send(dev, f, sizeof(f)), 0);
	rc = netdev_flush(dev);
	cr_assert_eq(rc, 0, "flush: %s", strerror(-rc));
}

static const uint8_t *our_mac_for_pred;

static bool is_arp_reply_to_us(const struct netdev_frame *f)
{
	const uint8_t *p = f->data;

	return f->len >= 42 && rd16(p + 12) == 0x0806 && rd16(p + 20) == 2 &&
	       rd32(p + 28) == PEER_IP && rd32(p + 38) == OUR_IP &&
	       memcmp(p + 32, our_mac_for_pred, 6) == 0;
}

static void check_arp_exchange(void)
{
	static struct seen reply;

	our_mac_for_pred = dev->mac;
	send_arp_request();
	cr_assert(wait_frame(is_arp_reply_to_us, &reply), "no ARP reply from the kernel peer");
	cr_assert_eq(memcmp(reply.data, dev->mac, 6), 0, "reply addressed to our MAC");
	cr_assert_eq(own_frames_seen, 0, "our own request was read back");
}

/* ---- opening -------------------------------------------------------- */

Test(afpacket, reads_mac_and_mtu_of_the_interface)
{
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	sh("ip link set %s mtu 1400", lab.our_if);
	open_dev(-1);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", lab.our_if);
	cr_assert_eq(ioctl(s, SIOCGIFHWADDR, &ifr), 0);
	close(s);
	cr_assert_arr_eq(dev->mac, ifr.ifr_hwaddr.sa_data, 6);
	cr_assert_eq(dev->mtu, 1400);
	cr_assert_str_eq(dev->name, lab.our_if);
	cr_assert_geq(dev->fd, 0);
	cr_assert_neq(fcntl(dev->fd, F_GETFL) & O_NONBLOCK, 0);
}

Test(afpacket, root_gets_a_large_receive_buffer_and_offloads)
{
	struct netdev_afpacket_stats st;

	open_dev(-1);
	cr_assert_eq(netdev_afpacket_get_stats(dev, &st), 0);
	/* SO_RCVBUFFORCE passes rmem_max; the kernel reports double. */
	cr_assert_geq(st.rcvbuf, 32 * 1024 * 1024, "rcvbuf %d", st.rcvbuf);
	/* PACKET_VNET_HDR granted: super-frames up to the interface's
	 * gso_max_size (64 KiB on a veth) and checksum offload; no qdisc
	 * bypass, which would drop what the kernel must cut in software. */
	cr_assert(st.vnet_hdr);
	cr_assert(dev->tx_csum);
	cr_assert_geq(dev->gso_max, 60000, "gso_max %u", dev->gso_max);
	cr_assert_gt(dev->gso_max_segs, 1);
	cr_assert(!st.qdisc_bypass);
	cr_assert_eq(netdev_afpacket_get_stats(NULL, &st), -EINVAL);
}

Test(afpacket, without_offloads_frames_bypass_the_qdisc)
{
	struct netdev_afpacket_stats st;
	char err[256] = "";

	dev = netdev_afpacket_open_sized(lab.our_if, -1, 0, err, sizeof(err));
	cr_assert_not_null(dev, "open failed: %s", err);
	cr_assert_eq(netdev_afpacket_get_stats(dev, &st), 0);
	cr_assert(!st.vnet_hdr);
	cr_assert_eq(dev->gso_max, 0);
	cr_assert(!dev->tx_csum);
	cr_assert(st.qdisc_bypass);
}

Test(afpacket, frame_sent_reaches_the_kernel_peer_which_answers_arp)
{
	open_dev(-1);
	check_arp_exchange();
}

Test(afpacket, empty_receive_returns_zero_without_blocking)
{
	struct netdev_frame fr[4];

	open_dev(-1);
	/* Our namespace's kernel may still emit frames, but they are outgoing
	 * and ignored, so the queue is empty. */
	cr_assert_eq(netdev_recv_batch(dev, fr, 4, 0), 0);
}

/* ---- transmit batch ------------------------------------------------- */

/* Is an ARP reply to us pending within ms? (Drains what it reads.) */
static bool arp_reply_within(int ms)
{
	struct pollfd pfd;
	struct netdev_frame fr[16];
	int n;

	our_mac_for_pred = dev->mac;
	pfd.fd = dev->fd;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, ms) > 0) {
		n = netdev_recv_batch(dev, fr, 16, 0);
		cr_assert_geq(n, 0);
		for (int i = 0; i < n; i++)
			if (is_arp_reply_to_us(&fr[i]))
				return true;
	}
	return false;
}

Test(afpacket, sent_frames_wait_for_flush_then_leave_in_one_batch)
{
	struct netdev_afpacket_stats st;
	uint8_t f[42];

	open_dev(-1);
	build_arp_request(f);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(netdev_send(dev, f, sizeof(f)), 0);
	cr_assert_eq(netdev_afpacket_get_stats(dev, &st), 0);
	cr_assert_eq(st.tx_frames, 0, "queued, not sent");
	cr_assert_not(arp_reply_within(200), "a frame left before the flush");
	cr_assert_eq(netdev_flush(dev), 0);
	cr_assert_eq(netdev_afpacket_get_stats(dev, &st), 0);
	cr_assert_eq(st.tx_frames, 10);
	cr_assert_eq(st.tx_batches, 1, "one sendmmsg for the ten");
	cr_assert(arp_reply_within(WAIT_MS), "the peer got the requests");
	cr_assert_eq(netdev_flush(dev), 0, "an empty flush is a no-op");
	cr_assert_eq(netdev_afpacket_get_stats(dev, &st), 0);
	cr_assert_eq(st.tx_batches, 1);
}

Test(afpacket, a_full_batch_leaves_without_flush)
{
	struct netdev_afpacket_stats st;
	uint8_t f[42];

	open_dev(-1);
	build_arp_request(f);
	for (int i = 0; i < NETDEV_AFP_TX_BATCH + 3; i++)
		cr_assert_eq(netdev_send(dev, f, sizeof(f)), 0);
	cr_assert_eq(netdev_afpacket_get_stats(dev, &st), 0);
	cr_assert_eq(st.tx_frames, NETDEV_AFP_TX_BATCH);
	cr_assert_eq(st.tx_batches, 1);
	cr_assert_eq(netdev_flush(dev), 0);
	cr_assert_eq(netdev_afpacket_get_stats(dev, &st), 0);
	cr_assert_eq(st.tx_frames, NETDEV_AFP_TX_BATCH + 3);
	cr_assert_eq(st.tx_batches, 2);
	cr_assert_eq(st.tx_errors, 0);
}

Test(afpacket, frame_larger_than_a_slot_leaves_alone_after_the_queue)
{
	struct netdev_afpacket_stats st;
	static uint8_t big[1514];
	uint8_t f[42];

	/* Slots are sized by the MTU seen at open; a larger MTU later means
	 * frames that do not fit. */
	sh("ip link set %s mtu 1400", lab.our_if);
	open_dev(-1);
	sh("ip link set %s mtu 1500", lab.our_if);
	build_arp_request(f);
	memcpy(big, f, sizeof(f));
	cr_assert_eq(netdev_send(dev, f, sizeof(f)), 0);
	cr_assert_eq(netdev_send(dev, big, sizeof(big)), 0);
	cr_assert_eq(netdev_afpacket_get_stats(dev, &st), 0);
	cr_assert_eq(st.tx_frames, 2, "the queued frame went first, then the big one");
	cr_assert_eq(st.tx_batches, 1);
	cr_assert_eq(st.tx_unbatched, 1);
	cr_assert(arp_reply_within(WAIT_MS));
}

Test(afpacket, frames_the_kernel_refuses_are_dropped_and_counted)
{
	struct netdev_afpacket_stats st;
	uint8_t f[42];

	open_dev(-1);
	build_arp_request(f);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(netdev_send(dev, f, sizeof(f)), 0);
	sh("ip link set %s down", lab.our_if);
	cr_assert_eq(netdev_flush(dev), -ENETDOWN);
	cr_assert_eq(netdev_afpacket_get_stats(dev, &st), 0);
	cr_assert_eq(st.tx_errors, 5, "each frame tried, each dropped");
	cr_assert_eq(st.tx_frames, 0);
	cr_assert_eq(netdev_flush(dev), 0, "the batch is empty afterwards");
	sh("ip link set %s up", lab.our_if);
	/* The socket still owes one report of the down (packet_notifier set
	 * sk_err): the next transmission returns it, once. */
	cr_assert_eq(netdev_send(dev, f, sizeof(f)), 0);
	(void)netdev_flush(dev);
	check_arp_exchange();
}

Test(afpacket, decorators_pass_flush_through)
{
	struct netdev_afpacket_stats st;
	struct netdev_impair_cfg cfg = {0};
	struct netdev *afp, *outer;
	char err[256] = "", path[] = "/tmp/synack-afp-flush-XXXXXX";
	uint8_t f[42];
	int tmp = mkstemp(path);

	cr_assert_geq(tmp, 0);
	close(tmp);
	open_dev(-1);
	afp = dev;
	outer = netdev_impair_wrap(afp, &cfg);
	cr_assert_not_null(outer);
	outer = netdev_pcap_wrap(outer, path, err, sizeof(err));
	cr_assert_not_null(outer, "%s", err);
	dev = outer; /* lab_down closes the whole chain */
	build_arp_request(f);
	cr_assert_eq(netdev_send(outer, f, sizeof(f)), 0);
	cr_assert_eq(netdev_afpacket_get_stats(afp, &st), 0);
	cr_assert_eq(st.tx_frames, 0);
	cr_assert_eq(netdev_flush(outer), 0);
	cr_assert_eq(netdev_afpacket_get_stats(afp, &st), 0);
	cr_assert_eq(st.tx_frames, 1);
	unlink(path);
}

/* ---- TCP from the kernel peer --------------------------------------- */

/* When the test opens this pipe, the peer child writes only once it says
 * go (the test has something to tell the peer's TCP first). */
static int go_pipe[2] = {-1, -1};

static void peer_connects_and_sends_1m(void)
{
	static char buf[1024 * 1024];
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(OUR_PORT)};
	int s = socket(AF_INET, SOCK_STREAM, 0);
	char go;

	sin.sin_addr.s_addr = htonl(OUR_IP);
	memset(buf, 'x', sizeof(buf));
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		_exit(3);
	if (go_pipe[0] >= 0 && read(go_pipe[0], &go, 1) != 1)
		_exit(5);
	if (write(s, buf, sizeof(buf)) < 0)
		_exit(4);
	pause();
}

static bool is_syn_to_us(const struct netdev_frame *f)
{
	const uint8_t *p = f->data;

	return f->len >= 54 && rd16(p + 12) == 0x0800 && p[23] == 6 && rd32(p + 30) == OUR_IP &&
	       (p[14] & 0xf) == 5 && rd16(p + 36) == OUR_PORT && (p[47] & 0x12) == 0x02;
}

static bool is_data_to_us(const struct netdev_frame *f)
{
	const uint8_t *p = f->data;

	return f->len > 54 && rd16(p + 12) == 0x0800 && p[23] == 6 && rd32(p + 30) == OUR_IP &&
	       (p[14] & 0xf) == 5 && rd16(p + 36) == OUR_PORT &&
	       rd16(p + 16) > 20 + ((p[46] >> 4) * 4);
}

static bool is_ack_to_us(const struct netdev_frame *f)
{
	const uint8_t *p = f->data;

	return f->len >= 54 && rd16(p + 12) == 0x0800 && p[23] == 6 && rd32(p + 30) == OUR_IP &&
	       (p[14] & 0xf) == 5 && rd16(p + 36) == OUR_PORT && (p[47] & 0x12) == 0x10;
}

/* The kernel peer learns our MAC for good, so TCP tests do not depend on
 * when it decides to re-resolve. */
static void peer_knows_us(void)
{
	char mac[18];

	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", dev->mac[0], dev->mac[1],
	         dev->mac[2], dev->mac[3], dev->mac[4], dev->mac[5]);
	netns_enter(lab.peer);
	sh("ip neigh replace 10.77.9.1 lladdr %s dev %s nud permanent", mac, lab.peer_if);
	netns_enter(lab.ours);
}

/* A segment of ours on the connection the SYN in `syn` opens: our ISN is
 * 1000, `flags` and `seq` as given, the MSS option when mss > 0, window
 * scaling when wscale >= 0, a 65535 window (scaled after the SYN), and
 * correct checksums (the kernel verifies what we send). */
static void send_tcp(const struct seen *syn, uint8_t flags, uint32_t seq, uint16_t mss, int wscale)
{
	const uint8_t *s = syn->data;
	uint8_t f[14 + 20 + 28] = {0};
	uint8_t *ip = f + 14, *tcp = f + 34;
	size_t opt = 0, tcp_len;
	uint32_t sum;

	if (mss > 0) {
		tcp[20] = 2;
		tcp[21] = 4;
		wr16(tcp + 22, mss);
		opt = 4;
	}
	if (wscale >= 0) {
		tcp[20 + opt] = 1; /* NOP, then window scale */
		tcp[21 + opt] = 3;
		tcp[22 + opt] = 3;
		tcp[23 + opt] = (uint8_t)wscale;
		opt += 4;
	}
	tcp_len = 20 + opt;
	memcpy(f, s + 6, 6);
	memcpy(f + 6, dev->mac, 6);
	wr16(f + 12, 0x0800);
	ip[0] = 0x45;
	wr16(ip + 2, (uint16_t)(20 + tcp_len));
	wr16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	wr32(ip + 12, OUR_IP);
	wr32(ip + 16, PEER_IP);
	wr16(ip + 10, csum_fold(csum_add(0, ip, 20)));
	wr16(tcp, OUR_PORT);
	wr16(tcp + 2, rd16(s + 34));
	wr32(tcp + 4, seq);
	wr32(tcp + 8, rd32(s + 38) + 1);
	tcp[12] = (uint8_t)((tcp_len / 4) << 4);
	tcp[13] = flags;
	wr16(tcp + 14, 65535);
	sum = csum_add(0, ip + 12, 8) + 6 + (uint32_t)tcp_len;
	wr16(tcp + 16, csum_fold(csum_add(sum, tcp, tcp_len)));
	cr_assert_eq(netdev_send(dev, f, 14 + 20 + tcp_len), 0);
	cr_assert_eq(netdev_flush(dev), 0);
}

Test(afpacket, kernel_tcp_frames_carry_csum_trusted)
{
	static struct seen syn;

	open_dev(-1);
	peer_knows_us();
	in_peer(peer_connects_and_sends_1m);
	cr_assert(wait_frame(is_syn_to_us, &syn), "no SYN from the kernel peer");
	cr_assert_neq(syn.flags & SK_RX_CSUM_TRUSTED, 0,
	              "a locally generated SYN on veth has a partial checksum: "
	              "TP_STATUS_CSUMNOTREADY must map to SK_RX_CSUM_TRUSTED");
}

Test(afpacket, gso_super_frame_from_the_peer_arrives_whole)
{
	static struct seen syn, data;
	struct netdev_afpacket_stats st;
	size_t biggest = 0;

	open_dev(-1);
	peer_knows_us();
	in_peer(peer_connects_and_sends_1m);
	cr_assert(wait_frame(is_syn_to_us, &syn), "no SYN from the kernel peer");
	send_tcp(&syn, 0x12, 1000, 1460, -1); /* SYN+ACK */
	/* The first flight (the initial window of ten segments) leaves in
	 * bursts of several segments, which veth hands over as super-frames.
	 * We never ACK, so only that flight and retransmissions come. */
	while (biggest <= 1514 && wait_frame(is_data_to_us, &data)) {
		cr_assert_eq(rd16(data.data + 16) + 14u, data.len, "IP length = frame length");
		cr_assert_neq(data.flags & SK_RX_CSUM_TRUSTED, 0);
		if (data.len > biggest)
			biggest = data.len;
	}
	cr_assert_gt(biggest, 1514, "no frame larger than the MTU: largest %zu", biggest);
	cr_assert_eq(netdev_afpacket_get_stats(dev, &st), 0);
	cr_assert_eq(st.rx_truncated, 0);
	cr_assert_gt(st.rx_frames, 0);
}

/* Receive (handing nothing up that is longer than `limit`) until a
 * truncated frame was counted or WAIT_MS passed. */
static bool wait_truncation(size_t limit)
{
	struct netdev_afpacket_stats st = {0};
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct netdev_frame fr[16];
		struct pollfd pfd = {.fd = dev->fd, .events = POLLIN};
		int n;

		cr_assert_eq(netdev_afpacket_get_stats(dev, &st), 0);
		if (st.rx_truncated > 0)
			return true;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >=
		    WAIT_MS)
			return false;
		poll(&pfd, 1, 100);
		n = netdev_recv_batch(dev, fr, 16, 0);
		cr_assert_geq(n, 0, "recv_batch: %s", strerror(-n));
		for (int i = 0; i < n; i++)
			cr_assert_leq(fr[i].len, limit,
			              "a frame longer than the buffer was handed up");
	}
}

/* A frame longer than a receive buffer (in production: a BIG TCP
 * super-frame past 64 KiB) must be counted and dropped, never handed up
 * cut short. The kernel's burst sizes depend on load, so the test does not
 * try to provoke a 64 KiB+ frame: it opens the device with 1 KiB buffers,
 * and every full-sized data segment from the peer is then too long. */
Test(afpacket, frame_longer_than_the_buffer_is_counted_and_dropped)
{
	static struct seen syn, data;
	struct netdev_afpacket_stats st = {0};
	char err[256] = "";

	dev = netdev_afpacket_open_sized(lab.our_if, -1, 1024, err, sizeof(err));
	cr_assert_not_null(dev, "open failed: %s", err);
	peer_knows_us();
	cr_assert_eq(pipe(go_pipe), 0);
	in_peer(peer_connects_and_sends_1m);
	cr_assert(wait_frame(is_syn_to_us, &syn), "no SYN from the kernel peer");
	send_tcp(&syn, 0x12, 1000, 1460, -1); /* SYN+ACK, MSS 1460 */
	/* Small frames still come through whole. */
	cr_assert(wait_frame(is_ack_to_us, &data), "no ACK of our SYN+ACK");
	cr_assert_eq(write(go_pipe[1], "g", 1), 1);
	/* The peer's full segments never come through whole. */
	cr_assert(wait_truncation(1024), "no truncated frame counted");
	cr_assert_eq(netdev_afpacket_get_stats(dev, &st), 0);
	cr_assert_gt(st.rx_truncated, 0);
	/* The device keeps working after dropping it. */
	check_arp_exchange();
}

Test(afpacket, receive_buffer_size_out_of_range_is_refused)
{
	char err[256] = "";

	cr_assert_null(netdev_afpacket_open_sized(lab.our_if, -1, 16, err, sizeof(err)));
	cr_assert(strstr(err, "out of range"), "unclear error: %s", err);
}

/* ---- errors --------------------------------------------------------- */

static void open_fails(const char *ifname, int fd, const char *must_say)
{
	char err[256] = "";

	cr_assert_null(netdev_afpacket_open(ifname, fd, err, sizeof(err)));
	cr_assert(strstr(err, must_say), "error must say '%s': %s", must_say, err);
	cr_assert_eq(strchr(err, '\n'), NULL, "one line");
}

Test(afpacket, missing_interface_is_named_with_the_fix)
{
	open_fails("nosuch0", -1, "interface 'nosuch0' does not exist");
	open_fails("nosuch0", -1, "SYNACK_IFACE");
	open_fails("", -1, "SYNACK_IFACE");
	open_fails("name-far-too-long-for-linux", -1, "longer than 15");
}

Test(afpacket, interface_down_or_not_ethernet_is_refused)
{
	sh("ip link set %s down", lab.our_if);
	open_fails(lab.our_if, -1, "is down");
	open_fails(lab.our_if, -1, "ip link set");
	sh("ip link set lo up");
	open_fails("lo", -1, "not an Ethernet interface");
}

Test(afpacket, inherited_fd_that_is_not_a_packet_socket_is_refused)
{
	int p[2], udp = socket(AF_INET, SOCK_DGRAM, 0);
	int dgram = socket(AF_PACKET, SOCK_DGRAM, 0);

	cr_assert_eq(pipe(p), 0);
	open_fails(lab.our_if, p[0], "SYNACK_PACKET_FD");
	open_fails(lab.our_if, p[0], "not a socket");
	open_fails(lab.our_if, udp, "not an AF_PACKET SOCK_RAW");
	open_fails(lab.our_if, dgram, "not an AF_PACKET SOCK_RAW");
	close(p[1]);
	open_fails(lab.our_if, 999, "not an open file descriptor");
	/* The caller keeps what it passed in. */
	cr_assert_neq(fcntl(p[0], F_GETFD), -1);
	cr_assert_neq(fcntl(udp, F_GETFD), -1);
}

Test(afpacket, inherited_packet_socket_is_adopted_and_bound)
{
	int fd = socket(AF_PACKET, SOCK_RAW, 0); /* unbound, as a parent might pass it */
	struct sockaddr_ll sll;
	socklen_t len = sizeof(sll);

	cr_assert_geq(fd, 0);
	open_dev(fd);
	cr_assert_eq(dev->fd, fd);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sll, &len), 0);
	cr_assert_eq(sll.sll_ifindex, (int)if_nametoindex(lab.our_if));
	check_arp_exchange();
}

Test(afpacket, fd_moved_by_the_shim_keeps_working)
{
	int high;

	open_dev(-1);
	high = fcntl(dev->fd, F_DUPFD_CLOEXEC, 900);
	cr_assert_geq(high, 900);
	close(dev->fd);
	dev->fd = high;
	check_arp_exchange();
}
