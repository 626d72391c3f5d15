/* `synack check [--iface IF] [--addr A/N]`: can this machine run synack
 * with these settings? One line per check, "ok: ..." or
 * "problem: ... — fix: ...", exit status 1 when any problem was found
 * (docs/deployment.md explains each fix at length).
 *
 * The checks, in order: the settings parse (the library's own parser,
 * config.c, so the verdict and the message are the ones the program would
 * print); the interface exists, is up with a carrier, is Ethernet, its MTU;
 * a packet socket opens and binds to it (CAP_NET_RAW); the kernel grants
 * PACKET_VNET_HDR (offloads) and the interface's TSO state (ethtool); no
 * kernel address anywhere in this namespace is synack's (else the kernel
 * answers synack's peers with RSTs), unless the nftables table "synack" of
 * docs/deployment.md keeps it out of the way; no nftables netdev egress
 * chain on the interface (the only hook synack's frames go through). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "../runtime/config.h"

static int problems;

static void __attribute__((format(printf, 1, 2))) ok(const char *fmt, ...)
{
	va_list ap;

	fputs("ok: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* what — fix: how */
static void __attribute__((format(printf, 1, 2))) problem(const char *fmt, ...)
{
	va_list ap;

	problems++;
	fputs("problem: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

struct overlay {
	const char *iface, *addr;
};

static const char *env_overlay(const char *name, void *ctx)
{
	const struct overlay *o = ctx;

	if (!strcmp(name, "SYNACK_IFACE") && o->iface)
		return o->iface;
	if (!strcmp(name, "SYNACK_ADDR") && o->addr)
		return o->addr;
	/* A packet fd is `synack run`'s business, not a setting to check. */
	if (!strcmp(name, "SYNACK_PACKET_FD"))
		return NULL;
	return getenv(name);
}

static const char *ip(uint32_t a, char *buf)
{
	struct in_addr in = {htonl(a)};

	return inet_ntop(AF_INET, &in, buf, INET_ADDRSTRLEN);
}

/* The nftables ruleset, if nft is there and we may read it ("" if not). */
static char *ruleset(const char **why)
{
	FILE *p = popen("nft list ruleset 2>&1", "re");
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	int rc;

	*why = NULL;
	if (!p || !buf) {
		*why = "nft cannot be run";
		free(buf);
		if (p)
			pclose(p);
		return NULL;
	}
	for (size_t n; (n = fread(buf + len, 1, cap - 1 - len, p)) > 0;) {
		len += n;
		if (len + 1 == cap) {
			char *b = realloc(buf, cap * 2);

			if (!b)
				break;
			buf = b;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	rc = pclose(p);
	if (rc != 0) {
		*why = WIFEXITED(rc) && WEXITSTATUS(rc) == 127 ? "nft is not installed"
		       : strstr(buf, "ermission") || strstr(buf, "not permitted")
		           ? "not permitted (CAP_NET_ADMIN)"
		           : "nft failed";
		free(buf);
		return NULL;
	}
	return buf;
}

/* "table inet synack" in the ruleset: docs/deployment.md's rule. */
static bool has_synack_table(const char *rules)
{
	for (const char *p = rules; p && (p = strstr(p, "table ")); p++) {
		char fam[16], name[64];

		if ((p == rules || p[-1] == '\n') && sscanf(p, "table %15s %63s", fam, name) == 2 &&
		    !strcmp(name, "synack"))
			return true;
	}
	return false;
}

/* netdev chains hooked at egress on iface: the hook synack's frames pass
 * (dev_queue_xmit). Ingress chains and the ip/inet families never see them:
 * a packet socket reads frames before them. Reports each; returns the
 * number. */
static int egress_chains(const char *rules, const char *iface)
{
	char table[64] = "", chain[64] = "", quoted[IFNAMSIZ + 2];
	bool netdev = false;
	int found = 0;

	snprintf(quoted, sizeof(quoted), "\"%s\"", iface);
	for (const char *l = rules; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		char line[512];
		char fam[16];

		snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1),
		         l);
		if (sscanf(line, "table %15s %63s", fam, table) == 2)
			netdev = !strcmp(fam, "netdev");
		else if (sscanf(line, " chain %63s", chain) == 1)
			;
		else if (netdev && strstr(line, "hook egress") &&
		         (strstr(line, quoted) || strstr(line, iface))) {
			problem("nftables chain netdev %s %s filters %s's egress, which synack's "
			        "frames pass — fix: make sure it accepts them, or remove it (nft "
			        "delete chain netdev %s %s)",
			        table, chain, iface, table, chain);
			found++;
		}
		l = nl ? nl + 1 : NULL;
	}
	return found;
}

static void check_addresses(uint32_t addr, const char *iface, const char *rules)
{
	struct ifaddrs *ifs, *i;
	char a[INET_ADDRSTRLEN];
	bool clash = false;
	int plen = 32;

	if (getifaddrs(&ifs) != 0) {
		problem("cannot list the kernel's addresses: %s — fix: run where /proc and netlink "
		        "are available",
		        strerror(errno));
		return;
	}
	for (i = ifs; i; i = i->ifa_next) {
		uint32_t k;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		k = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
		if (k != addr)
			continue;
		clash = true;
		if (i->ifa_netmask)
			plen = __builtin_popcount(
			    ((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
		if (rules && has_synack_table(rules))
			ok("the kernel also holds %s (on %s), and the nftables table \"synack\" "
			   "keeps it from answering synack's ports (docs/deployment.md)",
			   ip(addr, a), i->ifa_name);
		else
			problem(
			    "the kernel also holds %s (on %s): it would answer synack's peers "
			    "itself and reset synack's connections — fix: ip addr del %s/%d dev "
			    "%s, or give synack an address of its own (a macvlan child: synack "
			    "iface add), or share it with the nftables rule of docs/deployment.md",
			    ip(addr, a), i->ifa_name, ip(addr, a), plen, i->ifa_name);
	}
	freeifaddrs(ifs);
	if (!clash)
		ok("no kernel address in this network namespace is %s", ip(addr, a));
	(void)iface;
}

/* The packet socket: CAP_NET_RAW, the bind to the interface, offloads.
 * Opened with protocol 0 and bound with ETH_P_ALL, as netdev/afpacket.c
 * does: a socket opened with ETH_P_ALL would hook every interface, and its
 * bind would move that hook after an RCU grace period (~10 ms). */
static void check_packet_socket(int ifindex, const char *iface)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	int one = 1, fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		if (errno == EPERM || errno == EACCES)
			problem(
			    "no CAP_NET_RAW: a packet socket cannot be opened — fix: run as root, "
			    "or give the synack tool the capability (setcap cap_net_raw+ep "
			    "\"$(command -v synack)\"): `synack run` opens the packet socket and "
			    "hands it to the program, which needs no privilege");
		else
			problem("a packet socket cannot be opened: %s — fix: a kernel with "
			        "CONFIG_PACKET (modprobe af_packet)",
			        strerror(errno));
		return;
	}
	if (ifindex <= 0) {
		ok("CAP_NET_RAW: a packet socket opens");
		close(fd);
		return;
	}
	sll.sll_ifindex = ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
		problem("a packet socket cannot bind to %s: %s — fix: check the interface (ip link "
		        "show %s)",
		        iface, strerror(errno), iface);
		close(fd);
		return;
	}
	ok("CAP_NET_RAW: a packet socket opens and binds to %s", iface);
	/* netdev/afpacket.c asks the same (SYNACK_OFFLOAD=1). */
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) == 0)
		ok("offloads: the kernel grants PACKET_VNET_HDR (TCP super-frames, checksums left "
		   "to the device)");
	else
		ok("offloads: the kernel refuses PACKET_VNET_HDR (%s): frames fit the MTU and "
		   "checksums are computed in software, which is slower but works",
		   strerror(errno));
	close(fd);
}

static void check_interface(const char *iface, int *ifindex, unsigned want_mtu)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unsigned char *mac;

	*ifindex = (int)if_nametoindex(iface);
	if (*ifindex == 0) {
		problem("interface %s does not exist in this network namespace — fix: name an "
		        "existing one (ip -br link), or make one: synack iface add %s --parent "
		        "IF (a macvlan child of a real interface)",
		        iface, iface);
		if (fd >= 0)
			close(fd);
		return;
	}
	ok("interface %s exists (index %d)", iface, *ifindex);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
		problem("cannot read %s's flags: %s — fix: check it with ip link show %s", iface,
		        strerror(errno), iface);
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		problem("%s is down — fix: ip link set %s up", iface, iface);
	} else if (!(ifr.ifr_flags & IFF_RUNNING)) {
		problem("%s is up but has no carrier (no cable, or its peer or parent is down) — "
		        "fix: connect it; for a veth or macvlan, bring up the other end or the "
		        "parent",
		        iface);
	} else {
		ok("%s is up, with a carrier", iface);
	}
	if (fd >= 0 && ioctl(fd, SIOCGIFHWADDR, &ifr) == 0) {
		mac = (unsigned char *)ifr.ifr_hwaddr.sa_data;
		if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
			problem(
			    "%s is not an Ethernet interface (ARPHRD %d: loopback, tun, "
			    "WireGuard...) — fix: synack needs Ethernet frames: use an Ethernet "
			    "interface, a veth, or a macvlan child of one",
			    iface, ifr.ifr_hwaddr.sa_family);
		else
			ok("%s is Ethernet, MAC %02x:%02x:%02x:%02x:%02x:%02x", iface, mac[0],
			   mac[1], mac[2], mac[3], mac[4], mac[5]);
	}
	if (fd >= 0 && ioctl(fd, SIOCGIFMTU, &ifr) == 0) {
		unsigned mtu = (unsigned)ifr.ifr_mtu;

		if (mtu < 68 || mtu > 9000)
			problem("%s's MTU %u is outside what synack takes (68..9000) — fix: "
			        "ip link set %s mtu 1500, or SYNACK_MTU=N within both",
			        iface, mtu, iface);
		else if (want_mtu && want_mtu > mtu)
			problem(
			    "SYNACK_MTU=%u is above %s's MTU %u: larger frames would be dropped — "
			    "fix: SYNACK_MTU=%u or less, or unset it",
			    want_mtu, iface, mtu, mtu);
		else
			ok("MTU %u (synack's MSS %u)", want_mtu ? want_mtu : mtu,
			   (want_mtu ? want_mtu : mtu) - 40);
	}
	if (fd >= 0) {
		struct ethtool_value ev = {.cmd = ETHTOOL_GTSO};

		ifr.ifr_data = (void *)&ev;
		if (ioctl(fd, SIOCETHTOOL, &ifr) == 0)
			ok("%s: TCP segmentation offload is %s%s", iface, ev.data ? "on" : "off",
			   ev.data ? "" : " (super-frames are cut in software by the kernel)");
		close(fd);
	}
}

int cli_check(int argc, char **argv)
{
	static const struct option opts[] = {{"iface", required_argument, NULL, 'i'},
	                                     {"addr", required_argument, NULL, 'a'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	struct overlay ov = {0};
	struct shim_config cfg;
	const char *why;
	char *rules;
	int c, ifindex = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+i:a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			ov.iface = optarg;
			break;
		case 'a':
			ov.addr = optarg;
			break;
		case 'h':
			puts("usage: synack check [--iface IF] [--addr A/N]   (default: "
			     "SYNACK_IFACE, "
			     "SYNACK_ADDR)");
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc)
		return cli_fail(2, "check: unexpected '%s'", argv[optind]);
	problems = 0;
	shim_config_parse(&cfg, env_overlay, &ov);
	if (!cfg.valid) {
		/* config.c's lines read "what — use ...": the fix is the second half. */
		char *dash = strstr(cfg.err, " — ");

		if (dash) {
			*dash = '\0';
			problem("settings: %s — fix: %s", cfg.err, dash + strlen(" — "));
		} else {
			problem("settings: %s — fix: see synack(7)", cfg.err);
		}
	} else {
		char a[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];

		ok("settings: interface %s, address %s/%u%s%s", cfg.iface, ip(cfg.addr, a),
		   cfg.prefix_len, cfg.gateway ? ", gateway " : "",
		   cfg.gateway ? ip(cfg.gateway, g) : "");
	}
	if (cfg.iface[0])
		check_interface(cfg.iface, &ifindex, cfg.mtu);
	check_packet_socket(ifindex, cfg.iface);
	rules = ruleset(&why);
	if (cfg.addr)
		check_addresses(cfg.addr, cfg.iface, rules);
	if (!rules)
		ok("nftables: not checked (%s); only netdev egress chains on the interface could "
		   "drop synack's frames",
		   why);
	else if (ifindex > 0 && egress_chains(rules, cfg.iface) == 0)
		ok("nftables: no netdev egress chain on %s (ip and inet rules never see synack's "
		   "frames)",
		   cfg.iface);
	free(rules);
	return problems ? 1 : 0;
}
