/* The two-namespace lab (see netns.h). */
#include "netns.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shell.h"

void netns_enter(int ns)
{
	cr_assert_eq(setns(ns, CLONE_NEWNET), 0, "setns: %s", strerror(errno));
}

void netns_lab_up(struct netns_lab *lab, const char *prefix, const char *peer_cidr)
{
	cr_assert_eq(geteuid(), 0, "this suite needs root (it creates network namespaces)");
	/* Names carry the pid so that two suites running at once never meet,
	 * even if someone reuses a namespace by mistake. */
	snprintf(lab->our_if, sizeof(lab->our_if), "%s%da", prefix, (int)getpid());
	snprintf(lab->peer_if, sizeof(lab->peer_if), "%s%db", prefix, (int)getpid());
	lab->ours = lab->peer = -1;
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
	lab->ours = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	/* No IPv6: the kernels' neighbour discovery would be noise. */
	sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
	lab->peer = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	cr_assert(lab->ours >= 0 && lab->peer >= 0);
	sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
	sh("ip link set lo up");
	netns_enter(lab->ours);
	sh("ip link add %s type veth peer name %s netns /proc/%d/fd/%d", lab->our_if, lab->peer_if,
	   (int)getpid(), lab->peer);
	sh("ip link set %s up", lab->our_if);
	netns_enter(lab->peer);
	sh("ip addr add %s dev %s && ip link set %s up", peer_cidr, lab->peer_if, lab->peer_if);
	netns_enter(lab->ours);
}

void netns_lab_down(struct netns_lab *lab)
{
	if (lab->ours >= 0)
		close(lab->ours);
	if (lab->peer >= 0)
		close(lab->peer);
	lab->ours = lab->peer = -1;
}
