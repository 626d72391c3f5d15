/* The GSO limits of an interface (`ip link set IF gso_max_size N
 * gso_max_segs M`), read with one RTM_GETLINK request (rtnetlink(7)):
 * sysfs does not show them, and the kernel does not enforce them on the
 * frames of a packet socket (their vnet header leaves gso_segs unknown), so
 * the AF_PACKET device honours them itself, as the kernel's own TCP does
 * (sk_gso_max_size, tcp_tso_autosize). */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iflimits.h"

int netdev_iface_gso_limits(int ifindex, uint32_t *max_size, uint32_t *max_segs)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
	    .nh = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
	           .nlmsg_type = RTM_GETLINK,
	           .nlmsg_flags = NLM_F_REQUEST,
	           .nlmsg_seq = 1},
	    .ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex},
	};
	/* One link's attributes fit in a few KiB; the kernel truncates
	 * (MSG_TRUNC) rather than overflow. */
	union {
		struct nlmsghdr nh;
		char buf[16384];
	} resp;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	ssize_t n;
	int rc = -ENOENT;

	if (fd < 0)
		return -errno;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		rc = -errno;
		goto out;
	}
	do
		n = recv(fd, &resp, sizeof(resp), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	for (struct nlmsghdr *nh = &resp.nh; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
		if (nh->nlmsg_type == NLMSG_ERROR || nh->nlmsg_type != RTM_NEWLINK ||
		    nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
			break;
		struct ifinfomsg *ifi = NLMSG_DATA(nh);
		int len = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));

		for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
			uint32_t v;

			if (RTA_PAYLOAD(a) < sizeof(v))
				continue;
			memcpy(&v, RTA_DATA(a), sizeof(v));
			if (a->rta_type == IFLA_GSO_MAX_SIZE)
				*max_size = v;
			else if (a->rta_type == IFLA_GSO_MAX_SEGS)
				*max_segs = v;
		}
		rc = 0;
		break;
	}
out:
	close(fd);
	return rc;
}
