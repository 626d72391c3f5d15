/* `synack iface add NAME --parent IF [--mode macvlan|ipvlan]` and
 * `synack iface del NAME`: a child interface of a real one for synack to
 * own (docs/deployment.md), made with rtnetlink (rtnetlink(7)), so no
 * iproute2 is needed.
 *
 * A macvlan child (mode bridge) has its own MAC: the parent hands it the
 * frames addressed to that MAC, and synack answers ARP for its address
 * with it. The kernel gets no IPv4 address on it, IPv6 is turned off on it
 * (no router solicitations or neighbour discovery from the kernel), and
 * arp_ignore=8 keeps the kernel from answering ARP there for the host's
 * other addresses (ip-sysctl.rst). An ipvlan child (mode l2) shares the
 * parent's MAC and receives only the unicast frames for addresses the
 * kernel holds on it: see docs/deployment.md for what that asks. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

struct req {
	struct nlmsghdr n;
	struct ifinfomsg i;
	char buf[1024];
};

static struct rtattr *attr(struct req *r, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->n.nlmsg_len));

	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	r->n.nlmsg_len = NLMSG_ALIGN(r->n.nlmsg_len) + RTA_ALIGN(a->rta_len);
	return a;
}

/* Close a nested attribute opened with attr(r, type, NULL, 0). */
static void nest_end(struct req *r, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)r + r->n.nlmsg_len - (char *)nest);
}

/* Send r and read the kernel's answer: 0 or -errno. A reply of type
 * RTM_NEWLINK is copied to *reply when it is given. */
static int talk(struct req *r, char *reply, size_t rlen)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	char buf[16384];
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), err = -EPROTO;
	ssize_t n;

	if (fd < 0)
		return -errno;
	r->n.nlmsg_seq = 1;
	if (sendto(fd, r, r->n.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
				close(fd);
				return err;
			}
			if (h->nlmsg_type == RTM_NEWLINK && reply) {
				memcpy(reply, h, h->nlmsg_len < rlen ? h->nlmsg_len : rlen);
				err = 0;
			}
			if (h->nlmsg_type == NLMSG_DONE || !(h->nlmsg_flags & NLM_F_MULTI)) {
				close(fd);
				return err;
			}
		}
	}
	err = n < 0 ? -errno : err;
	close(fd);
	return err;
}

static void req_init(struct req *r, unsigned short type, unsigned short flags)
{
	memset(r, 0, sizeof(*r));
	r->n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	r->n.nlmsg_type = type;
	r->n.nlmsg_flags = NLM_F_REQUEST | flags;
	r->i.ifi_family = AF_UNSPEC;
}

/* IFLA_INFO_KIND of the link named name ("" when it has none: a physical
 * interface), or -errno. */
static int link_kind(const char *name, char *kind, size_t len)
{
	struct req r;
	char reply[16384];
	int err;

	req_init(&r, RTM_GETLINK, 0);
	attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
	if ((err = talk(&r, reply, sizeof(reply))) < 0)
		return err;
	struct nlmsghdr *h = (struct nlmsghdr *)reply;
	struct ifinfomsg *ifi = NLMSG_DATA(h);
	int alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));

	kind[0] = '\0';
	for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		if (a->rta_type != IFLA_LINKINFO)
			continue;
		int ilen = (int)RTA_PAYLOAD(a);
		for (struct rtattr *b = RTA_DATA(a); RTA_OK(b, ilen); b = RTA_NEXT(b, ilen))
			if (b->rta_type == IFLA_INFO_KIND)
				snprintf(kind, len, "%.*s", (int)RTA_PAYLOAD(b),
				         (char *)RTA_DATA(b));
	}
	return 0;
}

/* Write value to /proc/sys/PATH (a sysctl); false when it cannot. */
static bool sysctl_set(const char *path, const char *value)
{
	char p[256];
	int fd;
	bool ok;

	snprintf(p, sizeof(p), "/proc/sys/%s", path);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
	close(fd);
	return ok;
}

static int add(const char *name, const char *parent, const char *mode)
{
	bool macvlan = !strcmp(mode, "macvlan");
	unsigned parent_index = if_nametoindex(parent);
	struct rtattr *info, *data;
	struct req r;
	char path[128];
	int err;

	if (strlen(name) >= IFNAMSIZ)
		return cli_fail(2, "iface: '%s' is longer than %d characters", name, IFNAMSIZ - 1);
	if (!parent_index)
		return cli_fail(1,
		                "iface: parent %s does not exist in this network namespace (ip -br "
		                "link lists them)",
		                parent);
	if (if_nametoindex(name))
		return cli_fail(1,
		                "iface: %s exists already — pick another name, or synack iface del "
		                "%s first",
		                name, name);
	req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
	/* Created up: the parent decides the carrier. */
	r.i.ifi_flags = IFF_UP;
	r.i.ifi_change = IFF_UP;
	attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
	attr(&r, IFLA_LINK, &parent_index, sizeof(parent_index));
	info = attr(&r, IFLA_LINKINFO, NULL, 0);
	attr(&r, IFLA_INFO_KIND, mode, strlen(mode));
	data = attr(&r, IFLA_INFO_DATA, NULL, 0);
	if (macvlan) {
		uint32_t m = MACVLAN_MODE_BRIDGE;

		attr(&r, IFLA_MACVLAN_MODE, &m, sizeof(m));
	} else {
		uint16_t m = IPVLAN_MODE_L2;

		attr(&r, IFLA_IPVLAN_MODE, &m, sizeof(m));
	}
	nest_end(&r, data);
	nest_end(&r, info);
	err = talk(&r, NULL, 0);
	if (err == -EPERM)
		return cli_fail(1, "iface: creating %s needs CAP_NET_ADMIN (run as root)", name);
	if (err == -EOPNOTSUPP || err == -ENOENT)
		return cli_fail(1, "iface: the kernel has no %s driver (modprobe %s): %s", mode,
		                mode, strerror(-err));
	if (err < 0)
		return cli_fail(1, "iface: cannot create %s %s on %s: %s", mode, name, parent,
		                strerror(-err));
	snprintf(path, sizeof(path), "net/ipv6/conf/%s/disable_ipv6", name);
	sysctl_set(path, "1"); /* absent without IPv6: nothing to turn off */
	snprintf(path, sizeof(path), "net/ipv4/conf/%s/arp_ignore", name);
	if (!sysctl_set(path, "8"))
		fprintf(stderr,
		        "synack: iface: warning: could not set %s to 8: the kernel may "
		        "answer ARP on %s for the host's own addresses\n",
		        path, name);
	printf("%s: %s child of %s, up, no kernel address — use it with synack run --iface %s "
	       "--addr A/N\n",
	       name, mode, parent, name);
	return 0;
}

static int del(const char *name)
{
	char kind[32];
	struct req r;
	int err = link_kind(name, kind, sizeof(kind));

	if (err == -ENODEV)
		return cli_fail(1, "iface: %s does not exist in this network namespace", name);
	if (err < 0)
		return cli_fail(1, "iface: cannot look at %s: %s", name, strerror(-err));
	/* Never a real NIC, a veth or a bridge by mistake. */
	if (strcmp(kind, "macvlan") && strcmp(kind, "ipvlan"))
		return cli_fail(1,
		                "iface: %s is not a macvlan or ipvlan child (its kind: %s): synack "
		                "iface del removes only those",
		                name, kind[0] ? kind : "none, a physical or loopback interface");
	req_init(&r, RTM_DELLINK, NLM_F_ACK);
	attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
	err = talk(&r, NULL, 0);
	if (err == -EPERM)
		return cli_fail(1, "iface: removing %s needs CAP_NET_ADMIN (run as root)", name);
	if (err < 0)
		return cli_fail(1, "iface: cannot remove %s: %s", name, strerror(-err));
	printf("%s: removed\n", name);
	return 0;
}

int cli_iface(int argc, char **argv)
{
	static const struct option opts[] = {{"parent", required_argument, NULL, 'p'},
	                                     {"mode", required_argument, NULL, 'm'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *parent = NULL, *mode = "macvlan";
	int c;

	if (argc < 2 || (strcmp(argv[1], "add") && strcmp(argv[1], "del"))) {
		fputs("usage: synack iface add NAME --parent IF [--mode macvlan|ipvlan]\n"
		      "       synack iface del NAME\n",
		      argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "p:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			parent = optarg;
			break;
		case 'm':
			mode = optarg;
			break;
		case 'h':
			puts("usage: synack iface add NAME --parent IF [--mode macvlan|ipvlan]\n"
			     "       synack iface del NAME");
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc - 1)
		return cli_fail(2, "iface %s: give one interface name", argv[1]);
	if (!strcmp(argv[1], "del")) {
		if (parent)
			return cli_fail(2, "iface del takes no --parent");
		return del(argv[optind]);
	}
	if (!parent)
		return cli_fail(2, "iface add: --parent IF is required (the real interface, e.g. "
		                   "eth0)");
	if (strcmp(mode, "macvlan") && strcmp(mode, "ipvlan"))
		return cli_fail(2, "iface add: --mode is macvlan or ipvlan, not '%s'", mode);
	return add(argv[optind], parent, mode);
}
