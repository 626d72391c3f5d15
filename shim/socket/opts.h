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
 * as Linux's child does (not SO_PRIORITY, which Linux 6 leaves at 0), and
 * for AF_INET6 its IPV6_TCLASS and IPV6_UNICAST_HOPS. */
void shim_opts_inherit_placeholder(int lfd, int nfd, int family);

/* Warn about an option set before offload that synack ignores. */
void shim_opts_report_unsupported(const struct shim_opts *opts, int fd);

#endif
