/* PACKET_FANOUT for the packet sockets of one shared stack (see
 * netdev_afpacket_fanout in netdev.h).
 *
 * Every process using a shared stack reads frames from its own packet
 * socket (a fork child shares its parent's). Without a fanout group each
 * socket gets a copy of every frame and the stack would process each frame
 * once per process: duplicate ACKs that look like loss to TCP. In one group
 * the kernel hands each frame to exactly one socket (packet(7)); the hash
 * mode keeps a flow on one socket, so its frames stay in order. */
#include <errno.h>
#include <linux/if_packet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "netdev.h"

int netdev_afpacket_fanout(struct netdev *dev, uint16_t group, char *err, size_t errlen)
{
	int arg = (int)group | (PACKET_FANOUT_HASH << 16);

	if (!dev || dev->fd < 0) {
		snprintf(err, errlen, "device '%s' has no packet socket", dev ? dev->name : "?");
		return -EINVAL;
	}
	if (setsockopt(dev->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot join packet fanout group %u on '%s': %s", group,
		         dev->name, strerror(e));
		return -e;
	}
	return 0;
}

uint16_t netdev_afpacket_fanout_group(const struct netdev *dev)
{
	int arg = 0;
	socklen_t len = sizeof(arg);

	if (!dev || dev->fd < 0 || getsockopt(dev->fd, SOL_PACKET, PACKET_FANOUT, &arg, &len) < 0)
		return 0;
	return (uint16_t)(arg & 0xffff); /* id | mode << 16 | flags << 24 */
}
