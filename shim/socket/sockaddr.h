/* Socket addresses of the two families synack serves (docs/compatibility.md,
 * "IPv6 sockets"): struct sockaddr_in, and struct sockaddr_in6 whose IPv4
 * traffic synack carries under IPv4-mapped addresses (RFC 4291 §2.5.5.2,
 * ::ffff:a.b.c.d), as Linux's AF_INET6 TCP sockets do (tcp_v6_connect and
 * __inet6_bind hand a mapped address to the IPv4 code).
 *
 * Pure: parsed and written here, decided in offload.c; unit tested
 * (tests/unit/test_shim_sockaddr.c).
 */
#ifndef SYNACK_SHIM_SOCKADDR_H
#define SYNACK_SHIM_SOCKADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum shim_sa_kind {
	SHIM_SA_V4,     /* sockaddr_in, or ::ffff:a.b.c.d: `addr` */
	SHIM_SA_V6_ANY, /* :: (the unspecified IPv6 address) */
	SHIM_SA_V6,     /* any other IPv6 address: native IPv6, the kernel's */
};

struct shim_sa {
	enum shim_sa_kind kind;
	bool mapped;   /* given as ::ffff:a.b.c.d (SHIM_SA_V4 of an AF_INET6 socket) */
	uint32_t addr; /* host order (SHIM_SA_V4) */
	uint16_t port; /* host order */
	uint8_t v6[16];
};

/* Linux's SIN6_LEN_RFC2133: an AF_INET6 address may omit sin6_scope_id. */
#define SHIM_SIN6_LEN_MIN 24

/* Parse the address bind/connect got on a socket of `family` (AF_INET or
 * AF_INET6). 0, or Linux's answer: -EINVAL (NULL, or shorter than a
 * sockaddr_in, or than SHIM_SIN6_LEN_MIN), -EAFNOSUPPORT (another family). */
int shim_sa_parse(int family, const struct sockaddr *sa, socklen_t len, struct shim_sa *out);

/* Write (addr, port) as a socket of `family` reports it in getsockname,
 * getpeername, accept: a struct sockaddr_in, or a struct sockaddr_in6 with
 * ::ffff:a.b.c.d (flowinfo and scope 0). With `v6_any`, address 0 reads
 * :: (a socket bound to :: that is not connected) rather than
 * ::ffff:0.0.0.0. The kernel's truncation rule: copy what fits, *len set
 * to the full length. Nothing when sa or len is NULL. */
void shim_sa_fill(int family, bool v6_any, struct sockaddr *sa, socklen_t *len, uint32_t addr,
                  uint16_t port);

/* "10.77.0.2:80", "[::ffff:10.77.0.2]:80", "[2001:db8::1]:80" (for the
 * log); `family` says how it was given. */
const char *shim_sa_format(int family, const struct shim_sa *a, char *buf, size_t len);

#endif
