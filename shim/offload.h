/* The offload decision (design brief §4): does this AF_INET stream socket
 * go through synack or stay a plain kernel socket?
 *
 * Decided at bind/connect/listen, when the address is known. Pure: the
 * answer depends only on the configuration and the address, so it is unit
 * tested. The reason is always filled: the runtime logs it at debug level
 * ("is my traffic going through synack?").
 */
#ifndef SYNACK_SHIM_OFFLOAD_H
#define SYNACK_SHIM_OFFLOAD_H

#include <stdint.h>

#include "config.h"

enum shim_offload_op { SHIM_OP_BIND, SHIM_OP_CONNECT, SHIM_OP_LISTEN };

enum shim_offload_verdict {
	SHIM_OFFLOAD,      /* synack carries it */
	SHIM_KERNEL,       /* the kernel carries it: forget our state */
	SHIM_OFFLOAD_FAIL, /* fail the call with errno `err` */
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

/* SO_BINDTODEVICE set while pending: a socket bound to another device
 * than synack's interface is the kernel's (as the kernel would carry it
 * on that device), or fails under SYNACK_STRICT. Changes an SHIM_OFFLOAD
 * verdict only; dev "" (unbound) changes nothing. */
void shim_offload_device(const struct shim_config *cfg, const char *dev, enum shim_offload_op op,
                         struct shim_offload_decision *d);

/* "10.77.0.1:80" into buf (at least 22 bytes). */
const char *shim_fmt_endpoint(char *buf, size_t len, uint32_t addr, uint16_t port);

#endif
