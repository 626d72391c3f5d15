/* The offload decision (see offload.h). */
#include "offload.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *shim_fmt_endpoint(char *buf, size_t len, uint32_t a, uint16_t port)
{
	snprintf(buf, len, "%u.%u.%u.%u:%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255,
	         port);
	return buf;
}

__attribute__((format(printf, 4, 5))) static void
set(struct shim_offload_decision *d, enum shim_offload_verdict v, int err, const char *fmt, ...)
{
	va_list ap;

	d->verdict = v;
	d->err = err;
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
}

/* A fallback to the kernel, or its failure under SYNACK_STRICT. */
static void kernel(const struct shim_config *cfg, struct shim_offload_decision *d, int strict_err,
                   const char *why)
{
	if (cfg->strict)
		set(d, SHIM_OFFLOAD_FAIL, strict_err, "refused (SYNACK_STRICT=1): %s", why);
	else
		set(d, SHIM_KERNEL, 0, "kernel: %s", why);
}

static bool on_link(const struct shim_config *cfg, uint32_t a)
{
	uint32_t mask = ~0u << (32 - cfg->prefix_len);

	return (a & mask) == (cfg->addr & mask);
}

static void decide_connect(const struct shim_config *cfg, uint32_t a,
                           struct shim_offload_decision *d)
{
	if (a == 0) {
		/* Linux connects 0.0.0.0 to the local host. */
		kernel(cfg, d, ENETUNREACH, "destination 0.0.0.0 means this host");
	} else if ((a >> 28) >= 14 || a == 0xffffffffu) {
		kernel(cfg, d, ENETUNREACH, "multicast/broadcast destination");
	} else if (on_link(cfg, a)) {
		set(d, SHIM_OFFLOAD, 0, "synack: destination on-link via %s", cfg->iface);
	} else if (cfg->gateway) {
		set(d, SHIM_OFFLOAD, 0, "synack: destination via gateway on %s", cfg->iface);
	} else {
		kernel(cfg, d, ENETUNREACH,
		       "destination off-link and no SYNACK_GATEWAY: not reachable through synack");
	}
}

static void decide_bind(const struct shim_config *cfg, uint32_t a, struct shim_offload_decision *d)
{
	if (a == 0)
		set(d, SHIM_OFFLOAD, 0, "synack: bound to INADDR_ANY, served on %s", cfg->iface);
	else if (a == cfg->addr)
		set(d, SHIM_OFFLOAD, 0, "synack: bound to synack's address");
	else
		kernel(cfg, d, EADDRNOTAVAIL, "bound to an address that is not SYNACK_ADDR's");
}

/* ::1 (RFC 4291 §2.5.3) */
static bool v6_loopback(const uint8_t v6[16])
{
	static const uint8_t lo[16] = {[15] = 1};

	return memcmp(v6, lo, 16) == 0;
}

void shim_offload_decide6(const struct shim_config *cfg, enum shim_offload_op op,
                          const struct shim_sa *a, bool v6only, uint32_t *v4,
                          struct shim_offload_decision *d)
{
	int strict_err = op == SHIM_OP_CONNECT ? ENETUNREACH : EADDRNOTAVAIL;
	char why[160], ep[64];

	*v4 = 0;
	if (v6only && (!a || a->kind != SHIM_SA_V4)) {
		snprintf(why, sizeof(why),
		         "IPV6_V6ONLY socket (%s): IPv6 only, which synack does not carry",
		         a ? shim_sa_format(AF_INET6, a, ep, sizeof(ep)) : "listening on ::");
		kernel(cfg, d, strict_err, why);
		return;
	}
	if (!a) {
		shim_offload_decide(cfg, op, 0, d);
		return;
	}
	switch (a->kind) {
	case SHIM_SA_V4:
		if (v6only) {
			/* tcp_v6_connect: ENETUNREACH; __inet6_bind: EINVAL. */
			set(d, SHIM_PLACEHOLDER_ANSWERS, 0,
			    "IPV6_V6ONLY socket given the IPv4-mapped %s: refused as Linux does",
			    shim_sa_format(AF_INET6, a, ep, sizeof(ep)));
			return;
		}
		*v4 = a->addr;
		shim_offload_decide(cfg, op, a->addr, d);
		return;
	case SHIM_SA_V6_ANY:
		if (op == SHIM_OP_CONNECT) {
			/* tcp_v6_connect: :: means this host, ::1. */
			kernel(cfg, d, ENETUNREACH, "destination :: means this host (::1)");
			return;
		}
		shim_offload_decide(cfg, op, 0, d);
		return;
	case SHIM_SA_V6:
		snprintf(why, sizeof(why),
		         "%s IPv6 address %s: synack carries IPv4 only (and IPv4-mapped "
		         "::ffff:a.b.c.d)",
		         v6_loopback(a->v6) ? "loopback" : "native",
		         shim_sa_format(AF_INET6, a, ep, sizeof(ep)));
		kernel(cfg, d, strict_err, why);
		return;
	}
}

void shim_offload_device(const struct shim_config *cfg, const char *dev, enum shim_offload_op op,
                         struct shim_offload_decision *d)
{
	char why[96];

	if (d->verdict != SHIM_OFFLOAD || !dev[0] || strcmp(dev, cfg->iface) == 0)
		return;
	snprintf(why, sizeof(why), "SO_BINDTODEVICE %.16s, not synack's %.16s", dev, cfg->iface);
	kernel(cfg, d, op == SHIM_OP_CONNECT ? ENETUNREACH : EADDRNOTAVAIL, why);
}

void shim_offload_decide(const struct shim_config *cfg, enum shim_offload_op op, uint32_t addr,
                         struct shim_offload_decision *d)
{
	bool loopback = (addr >> 24) == 127 && op != SHIM_OP_LISTEN;

	if (loopback) {
		kernel(cfg, d, op == SHIM_OP_CONNECT ? ENETUNREACH : EADDRNOTAVAIL,
		       "loopback address");
		return;
	}
	if (!cfg->valid) {
		set(d, SHIM_OFFLOAD_FAIL, ENETDOWN, "refused: synack is not configured (%s)",
		    cfg->err);
		return;
	}
	switch (op) {
	case SHIM_OP_CONNECT:
		decide_connect(cfg, addr, d);
		break;
	case SHIM_OP_BIND:
		decide_bind(cfg, addr, d);
		break;
	case SHIM_OP_LISTEN:
		set(d, SHIM_OFFLOAD, 0, "synack: listening unbound, served on %s", cfg->iface);
		break;
	}
}
