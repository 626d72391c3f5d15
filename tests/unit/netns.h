/* A private two-namespace lab for the suites that need a real kernel peer:
 * two anonymous network namespaces ("ours" and the peer's) joined by a
 * veth pair. Anonymous namespaces live only as long as the processes in
 * them and the fds naming them, so a test's lab goes with its process
 * (Criterion runs each test in its own) whatever happens. Needs root. */
#ifndef SYNACK_TESTS_NETNS_H
#define SYNACK_TESTS_NETNS_H

#include <net/if.h>

struct netns_lab {
	int ours, peer; /* the namespaces (fds), -1 when down */
	char our_if[IFNAMSIZ], peer_if[IFNAMSIZ];
};

/* Make the lab: interfaces <prefix><pid>a (ours: up, no address) and
 * <prefix><pid>b (the peer's: peer_cidr, up), no IPv6 on either side, lo
 * up in the peer. The calling thread is left in our namespace. */
void netns_lab_up(struct netns_lab *lab, const char *prefix, const char *peer_cidr);
/* Close the namespace fds (the kernel removes the namespaces and the veth
 * once no process is left in them). */
void netns_lab_down(struct netns_lab *lab);
/* Move the calling thread into ns (a netns_lab fd); fails the test if it
 * cannot. */
void netns_enter(int ns);

#endif
