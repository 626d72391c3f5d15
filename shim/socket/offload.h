/* The offload decision (docs/configuration.md, "Offload decision"): does
 * this AF_INET or AF_INET6 stream socket go through synack or stay a plain
 * kernel socket?
 *
 * Decided at bind/connect/listen, when the address is known. Pure: the
 * answer depends only on the configuration and the address, so it is unit
 * tested. The reason is always filled: the runtime logs it at debug level
 * ("is my traffic going through synack?").
 */
#ifndef SYNACK_SHIM_OFFLOAD_H
#define SYNACK_SHIM_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "../runtime/config.h"
#include "sockaddr.h"

enum shim_offload_op { SHIM_OP_BIND, SHIM_OP_CONNECT, SHIM_OP_LISTEN };

enum shim_offload_verdict {
	SHIM_OFFLOAD,      /* synack carries it */
	SHIM_KERNEL,       /* the kernel carries it: forget our state */
	SHIM_OFFLOAD_FAIL, /* fail the call with errno `err` */
	/* The call fails on the placeholder exactly as Linux fails it (an
	 * IPV6_V6ONLY socket given an IPv4-mapped address), with no side
	 * effect: the socket stays undecided. */
	SHIM_PLACEHOLDER_ANSWERS,
};

struct shim_offload_decision {
	enum shim_offload_verdict verdict;
	int err;          /* SHIM_OFFLOAD_FAIL: positive errno */
	char reason[200]; /* one line, for the log */
};

/* addr: host order (ignored for SHIM_OP_LISTEN on an unbound socket).
 * A missing or invalid configuration fails with ENETDOWN whatever the
 * address, except loopback, which always belongs to the kernel.
 * SYNACK_STRICT=1 turns every fallback to the kernel into a failure
 * (ENETUNREACH for connect, EADDRNOTAVAIL for bind). */
void shim_offload_decide(const struct shim_config *cfg, enum shim_offload_op op, uint32_t addr,
                         struct shim_offload_decision *out);

/* The same for an AF_INET6 stream socket (docs/configuration.md, "Offload
 * decision"): an IPv4-mapped address (::ffff:a.b.c.d, RFC 4291 §2.5.5.2)
 * is decided as that IPv4 address, and :: as INADDR_ANY for bind (a
 * dual-stack socket); a native IPv6 address, connect to :: (this host,
 * ::1), and every address of an IPV6_V6ONLY socket but a mapped one are
 * the kernel's (failures under SYNACK_STRICT, as above, whatever the
 * configuration: synack never carries IPv6). An IPV6_V6ONLY socket given
 * a mapped address gets SHIM_PLACEHOLDER_ANSWERS (Linux: ENETUNREACH for
 * connect, EINVAL for bind). a: NULL for SHIM_OP_LISTEN on an unbound
 * socket. *v4 (when offloaded): the IPv4 address core gets. */
void shim_offload_decide6(const struct shim_config *cfg, enum shim_offload_op op,
                          const struct shim_sa *a, bool v6only, uint32_t *v4,
                          struct shim_offload_decision *out);

/* SO_BINDTODEVICE set while pending: a socket bound to another device
 * than synack's interface is the kernel's (as the kernel would carry it
 * on that device), or fails under SYNACK_STRICT. Changes an SHIM_OFFLOAD
 * verdict only; dev "" (unbound) changes nothing. */
void shim_offload_device(const struct shim_config *cfg, const char *dev, enum shim_offload_op op,
                         struct shim_offload_decision *d);

/* "10.77.0.1:80" into buf (at least 22 bytes). */
const char *shim_fmt_endpoint(char *buf, size_t len, uint32_t addr, uint16_t port);

#endif
