/* The packet filter of the AF_PACKET device (netdev/afpacket_filter.c), run
 * by the kernel itself on crafted frames.
 *
 * Each test makes its own network namespace (Criterion runs every test in
 * a process of its own; the namespace and the veth pair in it die with
 * that process). The device is opened on one end of a veth pair; frames are
 * written on the other end with a raw packet socket, so they arrive on the
 * device's interface exactly as a peer's would: with a VLAN tag removed by
 * the receive path, multicast and broadcast as such. Every frame ends with
 * a marker byte naming it. A last frame that must pass (IPv4 to our
 * address) is the sentinel: everything written before it has been through
 * the filter once it is read. The writer stays on one CPU, so the frames
 * are queued in the order written (one backlog queue per CPU). Each test
 * compares the set of markers read with the set expected; the control
 * (no filter) shows that every frame would reach the device otherwise.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_packet.h>
#include <net/ethernet.h>

#include "../../core/byteorder.h"
#include "../../netdev/netdev.h"
#include "shell.h"

#define OUR_IP   0x0a4d0901u /* 10.77.9.1: the address the filter is for */
#define OTHER_IP 0x0a4d0909u /* 10.77.9.9: another host on the link */
#define PEER_IP  0x0a4d0902u

/* The frames of the battery, by marker. */
enum {
	M_IPV4_US = 1,    /* pass */
	M_ARP_REQ_US,     /* pass: who has our address */
	M_ARP_REQ_OTHER,  /* pass: all ARP (a known neighbour's refresh) */
	M_ARP_GRATUITOUS, /* pass */
	M_IPV4_OTHER,     /* drop: another host's address, sent to our MAC */
	M_IPV4_BCAST,     /* drop: subnet broadcast */
	M_IPV4_LBCAST,    /* drop: limited broadcast */
	M_IPV4_MCAST,     /* drop: 224.0.0.1 */
	M_IPV6,           /* drop */
	M_IPV4_SHORT,     /* drop: ends before the destination address */
	M_VLAN_IPV4_US,   /* drop: tagged (the kernel strips the tag) */
	M_COUNT,
	M_LATE = 0x80, /* frames_queued_before_the_filter_are_still_read */
	M_SENTINEL = 0xee
};

static const unsigned passing[] = {M_IPV4_US, M_ARP_REQ_US, M_ARP_REQ_OTHER, M_ARP_GRATUITOUS};

static char our_if[IFNAMSIZ], peer_if[IFNAMSIZ];
static struct netdev *dev;
static int writer = -1;
static const uint8_t peer_mac[6] = {0x02, 0x77, 0x09, 0x00, 0x00, 0x02};

static void setup(void)
{
	cpu_set_t one;

	cr_assert_eq(geteuid(), 0, "this suite needs root (it creates a network namespace)");
	snprintf(our_if, sizeof(our_if), "skf%da", (int)getpid());
	snprintf(peer_if, sizeof(peer_if), "skf%db", (int)getpid());
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
	/* No IPv6: the kernel's own neighbour discovery would be noise. The
	 * namespace has no IPv4 address, so its kernel answers nothing. */
	sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
	sh("ip link add %s type veth peer name %s", our_if, peer_if);
	sh("ip link set %s up && ip link set %s up", our_if, peer_if);
	writer = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	cr_assert_geq(writer, 0, "packet socket: %s", strerror(errno));
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
}

static void teardown(void)
{
	netdev_close(dev);
	dev = NULL;
	if (writer >= 0)
		close(writer);
	writer = -1;
}

TestSuite(afp_filter, .init = setup, .fini = teardown, .timeout = 60);

/* ---- frames --------------------------------------------------------- */

/* Write a frame of len bytes from the peer's end; its last byte is the
 * marker. */
static void put(uint8_t *f, size_t len, uint8_t marker)
{
	struct sockaddr_ll to = {.sll_family = AF_PACKET};
	ssize_t n;

	f[len - 1] = marker;
	to.sll_ifindex = (int)if_nametoindex(peer_if);
	n = sendto(writer, f, len, 0, (struct sockaddr *)&to, sizeof(to));
	cr_assert_eq(n, (ssize_t)len, "sendto: %s", strerror(errno));
}

static size_t eth(uint8_t *f, const uint8_t dst[6], uint16_t type)
{
	memset(f, 0, 128);
	memcpy(f, dst, 6);
	memcpy(f + 6, peer_mac, 6);
	sk_wr16(f + 12, type);
	return 14;
}

/* An IPv4 header (UDP, no payload but padding) at f + off. */
static void ipv4(uint8_t *f, size_t off, uint32_t dst)
{
	f[off] = 0x45;
	sk_wr16(f + off + 2, 28);
	f[off + 8] = 64;
	f[off + 9] = 17;
	sk_wr32(f + off + 12, PEER_IP);
	sk_wr32(f + off + 16, dst);
}

static void put_ipv4(const uint8_t dst_mac[6], uint32_t dst, size_t len, uint8_t marker)
{
	uint8_t f[128];

	ipv4(f, eth(f, dst_mac, ETH_P_IP), dst);
	put(f, len, marker);
}

static void put_arp(const uint8_t dst_mac[6], uint16_t op, uint32_t spa, uint32_t tpa,
                    uint8_t marker)
{
	uint8_t f[128];
	size_t o = eth(f, dst_mac, ETH_P_ARP);

	sk_wr16(f + o, 1);
	sk_wr16(f + o + 2, ETH_P_IP);
	f[o + 4] = 6;
	f[o + 5] = 4;
	sk_wr16(f + o + 6, op);
	memcpy(f + o + 8, peer_mac, 6);
	sk_wr32(f + o + 14, spa);
	sk_wr32(f + o + 24, tpa);
	put(f, 60, marker);
}

static void put_battery(void)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
	const uint8_t *us = dev->mac;
	uint8_t f[128];
	size_t o;

	put_ipv4(us, OUR_IP, 64, M_IPV4_US);
	put_arp(bcast, 1, PEER_IP, OUR_IP, M_ARP_REQ_US);
	put_arp(bcast, 1, PEER_IP, OTHER_IP, M_ARP_REQ_OTHER);
	put_arp(bcast, 2, PEER_IP, PEER_IP, M_ARP_GRATUITOUS);
	put_ipv4(us, OTHER_IP, 64, M_IPV4_OTHER);
	put_ipv4(bcast, 0x0a4d09ffu, 64, M_IPV4_BCAST);
	put_ipv4(bcast, 0xffffffffu, 64, M_IPV4_LBCAST);
	put_ipv4(mcast, 0xe0000001u, 64, M_IPV4_MCAST);
	/* IPv6 with our IPv4 address where an IPv4 destination would be:
	 * only the ethertype tells. */
	o = eth(f, us, ETH_P_IPV6);
	f[o] = 0x60;
	sk_wr32(f + o + 16, OUR_IP);
	put(f, 80, M_IPV6);
	/* 14 + 16 bytes: the IPv4 header stops where the destination starts. */
	put_ipv4(us, OUR_IP, 14 + 16, M_IPV4_SHORT);
	/* 802.1Q, VLAN 5, then IPv4 to our address. */
	o = eth(f, us, ETH_P_8021Q);
	sk_wr16(f + o, 5);
	sk_wr16(f + o + 2, ETH_P_IP);
	ipv4(f, o + 4, OUR_IP);
	put(f, 68, M_VLAN_IPV4_US);
}

/* Read until the sentinel; the markers of the frames read before it. */
static void read_until_sentinel(bool got[256])
{
	struct pollfd pfd = {.fd = dev->fd, .events = POLLIN};
	int quiet = 0;

	memset(got, 0, 256 * sizeof(bool));
	put_ipv4(dev->mac, OUR_IP, 64, M_SENTINEL);
	for (;;) {
		struct netdev_frame fr[16];
		int n = netdev_recv_batch(dev, fr, 16, 0);

		cr_assert_geq(n, 0, "recv_batch: %s", strerror(-n));
		for (int i = 0; i < n; i++) {
			uint8_t m = fr[i].data[fr[i].len - 1];

			if (m == M_SENTINEL)
				return;
			got[m] = true;
		}
		/* Only a lost sentinel waits 100 quiet periods of 100 ms. */
		if (n == 0 && poll(&pfd, 1, 100) == 0)
			cr_assert_lt(++quiet, 100, "the sentinel frame never arrived");
	}
}

static bool passes(unsigned m)
{
	for (size_t i = 0; i < sizeof(passing) / sizeof(passing[0]); i++)
		if (passing[i] == m)
			return true;
	return false;
}

static void attach(struct netdev *d)
{
	char err[200] = "";
	int rc = netdev_afpacket_filter(d, OUR_IP, err, sizeof(err));

	cr_assert_eq(rc, 0, "netdev_afpacket_filter: %d, %s", rc, err);
}

static void open_dev(int inherited_fd)
{
	char err[256] = "";

	dev = netdev_afpacket_open(our_if, inherited_fd, err, sizeof(err));
	cr_assert_not_null(dev, "open failed: %s", err);
}

/* With the filter on dev (the AF_PACKET device `inner`, or a decorator of
 * it): exactly the passing frames are read, and the tagged one never
 * reaches afpacket.c. */
static void check_filtered(struct netdev *inner)
{
	struct netdev_afpacket_stats st;
	bool got[256];

	put_battery();
	read_until_sentinel(got);
	for (unsigned m = 1; m < M_COUNT; m++)
		cr_expect_eq(got[m], passes(m), "frame %u: %s", m,
		             got[m] ? "read, should have been dropped" : "dropped, should pass");
	cr_assert_eq(netdev_afpacket_get_stats(inner, &st), 0);
	cr_expect_eq(st.rx_ignored, 0, "the VLAN-tagged frame reached the socket");
}

Test(afp_filter, passes_ipv4_to_our_address_and_arp_only)
{
	open_dev(-1);
	attach(dev);
	check_filtered(dev);
}

Test(afp_filter, control_without_the_filter_every_frame_reaches_the_device)
{
	struct netdev_afpacket_stats st;
	bool got[256];

	open_dev(-1);
	put_battery();
	read_until_sentinel(got);
	/* Every untagged frame is read; afpacket.c drops the tagged one. */
	for (unsigned m = 1; m < M_COUNT; m++)
		cr_expect_eq(got[m], m != M_VLAN_IPV4_US, "frame %u", m);
	cr_assert_eq(netdev_afpacket_get_stats(dev, &st), 0);
	cr_expect_eq(st.rx_ignored, 1);
}

Test(afp_filter, inherited_socket_through_a_decorator)
{
	/* A socket opened and bound as `synack run` does (SYNACK_PACKET_FD),
	 * and the filter attached through the outermost device. */
	struct netdev_impair_cfg none = {0};
	struct sockaddr_ll sll = {.sll_family = AF_PACKET};
	struct netdev *afp;
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));

	cr_assert_geq(fd, 0);
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(our_if);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	open_dev(fd);
	afp = dev;
	dev = netdev_impair_wrap(afp, &none);
	cr_assert_not_null(dev);
	attach(dev);
	check_filtered(afp);
}

Test(afp_filter, frames_queued_before_the_filter_are_still_read)
{
	/* The documented window: the filter judges frames as they arrive,
	 * not those already queued. core drops those. */
	bool got[256];

	open_dev(-1);
	put_ipv4(dev->mac, OTHER_IP, 64, M_IPV4_OTHER);
	attach(dev);
	put_ipv4(dev->mac, OTHER_IP, 64, M_LATE);
	read_until_sentinel(got);
	cr_expect(got[M_IPV4_OTHER], "the frame queued before the filter was lost");
	cr_expect(!got[M_LATE], "the same frame after the filter passed");
}

Test(afp_filter, a_device_without_a_socket_is_refused)
{
	struct memlink *link = memlink_new(1500, 4);
	char err[200] = "";

	cr_assert_eq(netdev_afpacket_filter(memlink_end(link, 0), OUR_IP, err, sizeof(err)),
	             -EBADF);
	cr_assert_neq(err[0], '\0');
	memlink_free(link);
}
