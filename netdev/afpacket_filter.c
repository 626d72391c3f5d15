/* The packet filter of the AF_PACKET device (netdev_afpacket_filter in
 * netdev.h).
 *
 * A packet socket bound with ETH_P_ALL is handed every frame of its
 * interface, so every synack process on an interface reads and parses
 * every frame on it, the other processes' traffic included, and core drops
 * what is not for it (core/input.c). A classic BPF program attached with
 * SO_ATTACH_FILTER (Documentation/networking/filter.rst in the kernel) makes
 * the kernel drop those frames before they are queued: no copy, no
 * recvmmsg slot, no wake-up of the runtime thread for them.
 *
 * What passes, and why:
 *  - IPv4 whose destination is our address. Broadcast and multicast do not:
 *    core joins no group and answers no broadcast (RFC 1122 §3.2.1.3, see
 *    core/input.c), it would drop them.
 *  - Every ARP frame, not only requests for us and replies to us: core
 *    refreshes a neighbour it already knows from any ARP packet that
 *    neighbour sends (RFC 826's merge flag: gratuitous ARP after a MAC
 *    change, requests for other hosts) and warns when another host claims
 *    our address (core/arp_cache.c). ARP is rare enough that passing all of
 *    it costs nothing.
 *  - Nothing VLAN-tagged: the kernel strips the tag before packet sockets see
 *    the frame, and what is left would pass for an untagged frame; the
 *    ancillary load SKF_AD_VLAN_TAG_PRESENT tells. afpacket.c drops those
 *    frames too (TP_STATUS_VLAN_VALID); here they are never queued.
 * The destination MAC is not checked: every synack process on an interface
 * shares its MAC, so it would not tell them apart, and core checks it.
 *
 * The filter only applies to frames that arrive after it is attached:
 * frames already queued on the socket (since bind, or, for a socket handed
 * down by `synack run`, since that command opened it) are still read.
 * core drops the ones that are not ours, as it did without a filter.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "netdev.h"

/* Offsets in an untagged Ethernet II frame: the type, and the destination
 * of an IPv4 header that follows it (RFC 791 §3.1). */
#define OFF_ETHERTYPE 12
#define OFF_IPV4_DST  (14 + 16)

/* Instruction indices, so the relative jumps below are computed, not
 * counted by hand. */
enum {
	I_VLAN_LD,
	I_VLAN_JEQ,
	I_TYPE_LD,
	I_ARP_JEQ,
	I_IPV4_JEQ,
	I_DST_LD,
	I_DST_JEQ,
	I_ACCEPT,
	I_DROP,
	I_COUNT
};

/* Jump from instruction `from` to `to` (BPF jumps count from the next). */
#define J(from, to) ((__u8)((to) - (from)-1))

int netdev_afpacket_filter(struct netdev *dev, uint32_t addr, char *err, size_t errlen)
{
	struct sock_filter code[I_COUNT] = {
	    [I_VLAN_LD] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT),
	    [I_VLAN_JEQ] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, J(I_VLAN_JEQ, I_DROP)),
	    [I_TYPE_LD] = BPF_STMT(BPF_LD | BPF_H | BPF_ABS, OFF_ETHERTYPE),
	    [I_ARP_JEQ] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_ARP, J(I_ARP_JEQ, I_ACCEPT), 0),
	    [I_IPV4_JEQ] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, J(I_IPV4_JEQ, I_DROP)),
	    /* An absolute load converts from network byte order: A holds
	     * the destination in host order, as `addr` is. A frame too short
	     * to hold it ends the program, which then drops it. */
	    [I_DST_LD] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, OFF_IPV4_DST),
	    [I_DST_JEQ] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, addr, 0, J(I_DST_JEQ, I_DROP)),
	    /* The return value is how many bytes to keep: all of them (GSO
	     * super-frames are 64 KiB). */
	    [I_ACCEPT] = BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
	    [I_DROP] = BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = {.len = I_COUNT, .filter = code};

	if (!dev || dev->fd < 0) {
		snprintf(err, errlen, "device '%s' has no packet socket to filter",
		         dev ? dev->name : "");
		return -EBADF;
	}
	if (setsockopt(dev->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot attach the packet filter to '%s': %s", dev->name,
		         strerror(e));
		return -e;
	}
	return 0;
}
