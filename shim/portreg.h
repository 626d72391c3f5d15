/* Port registry: several synack processes on one interface (design brief
 * §10, "AF_PACKET interference").
 *
 * Every synack process on an interface sees every frame, and its stack
 * answers a segment of a connection it does not know with an RST. When a
 * synack program fork+execs another one (curl from a script...), the two
 * stacks share the address and the first would reset the second's
 * connections. So each process registers the local ports its sockets use
 * as abstract AF_UNIX names ("synack-port/ADDR/PORT": the kernel keeps them
 * unique per network namespace and drops them when the process goes), and
 * an RST whose source port this process does not use but another synack
 * process has registered is not sent.
 *
 * When the kernel holds synack's address too (docs/deployment.md, "Sharing
 * the kernel's address"), every port no synack process uses is the
 * kernel's: no RST leaves from one of those either.
 */
#ifndef SYNACK_SHIM_PORTREG_H
#define SYNACK_SHIM_PORTREG_H

#include <stdint.h>

#include "../core/stack.h"
#include "fdtable.h"

/* The link core transmits through: netdev_link_ops, minus RSTs for ports
 * another synack process owns, or the kernel. ctx is the netdev. */
extern const struct sk_link_ops portreg_link_ops;

/* After bind/listen/connect of o: register its local port once (under no
 * lock). A port another synack process holds is reported in the log. */
void portreg_claim(struct shim_ofd *o);

/* o's core socket is closed: drop its registration. */
void portreg_release(struct shim_ofd *o);

/* fork child without the stack: nothing registered is this process's. */
void portreg_after_fork_child(void);

#endif
