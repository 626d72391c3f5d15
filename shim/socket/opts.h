/* Socket options: which (level, name) pairs synack implements, how they
 * map to core options, and recording them (design brief §4: options set
 * before the offload decision are applied to the placeholder and replayed
 * on the core socket). Unknown options on an offloaded socket answer
 * ENOPROTOOPT — never a silent lie. */
#ifndef SYNACK_SHIM_OPTS_H
#define SYNACK_SHIM_OPTS_H

#include <stdbool.h>

#include "../../core/stack.h"
#include "../fd/fdtable.h"

/* The core option for (level, name), or -1 when it is not a plain int
 * option synack implements. */
int shim_opt_lookup(int level, int name);

/* Record a value set on a pending socket (the kernel accepted it). */
void shim_opts_record(struct shim_opts *opts, int level, int name, const void *val, unsigned len);

/* Apply what was recorded to a fresh core socket (under the stack lock). */
void shim_opts_replay(struct sk_stack *st, int sock, const struct shim_opts *opts);

/* An accepted connection's placeholder takes the listener's SO_BINDTODEVICE,
 * as Linux's child does (not SO_PRIORITY, which Linux 6 leaves at 0), for
 * AF_INET6 its IPV6_TCLASS and IPV6_UNICAST_HOPS, and its SO_BUSY_POLL,
 * busy_poll_us (the listener's description has it). */
void shim_opts_inherit_placeholder(int lfd, int nfd, int family, unsigned busy_poll_us);

/* SO_BUSY_POLL (Linux's sk_ll_usec) lives in the placeholder, which
 * validates it as the running kernel does (negative: EINVAL; raising it
 * without CAP_NET_ADMIN: EPERM on the kernels that ask for that) and
 * answers getsockopt; the description keeps a copy for the waits
 * (fdtable.h busy_poll_us). */

/* The value a new socket starts with: net.core.busy_read, which the kernel
 * gave the placeholder fd (sock_init_data). Read from the first placeholder
 * and remembered. */
unsigned shim_busy_poll_default(int fd);

/* The value placeholder fd holds (0 when it cannot say). */
unsigned shim_busy_poll_of(int fd);

/* Warn about an option set before offload that synack ignores. */
void shim_opts_report_unsupported(const struct shim_opts *opts, int fd);

#endif
