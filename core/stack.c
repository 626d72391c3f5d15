/* The stack object: configuration, life cycle, the timer questions, and
 * the services every layer uses (log, randomness, counters). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arp_cache.h"
#include "stack_impl.h"

#define DEFAULT_MTU        1500
#define DEFAULT_PREFIX_LEN 24
#define MIN_MTU            68 /* RFC 791: every host must take a 68-byte datagram */
#define MAX_MTU            9000
#define LOG_LINE_MAX       256

void sk_config_defaults(struct sk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->prefix_len = DEFAULT_PREFIX_LEN;
	cfg->mtu = DEFAULT_MTU;
	cfg->msl_ms = 30000;
	cfg->fin_timeout_ms = 60000;
	cfg->syn_retries = 6;
	cfg->max_sockets = 4096;
	cfg->max_time_wait = 0; /* 4 * max_sockets */
	cfg->rcvbuf = 256 * 1024;
	cfg->sndbuf = 256 * 1024;
	cfg->rcvbuf_max = 4 * 1024 * 1024;
	cfg->syn_backlog = 256;
	cfg->syncookies = 1; /* Linux's default */
	cfg->default_cc = 0; /* CUBIC, RFC 9438 */
}

void sk_log(struct sk_stack *st, enum sk_log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;

	if (!st->hooks.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	st->hooks.log(st->hooks.ctx, level, line);
}

/* splitmix64 (Steele, Lea, Flood 2014): tiny, full period, good enough for
 * ephemeral ports; the ISN uses its own keyed hash (RFC 6528). */
uint64_t sk_rand64(struct sk_stack *st)
{
	uint64_t z = (st->rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* One reason per line, so the shim can print it as is. */
static bool config_valid(struct sk_stack *st)
{
	const struct sk_config *c = &st->cfg;

	if (!sk_eth_is_unicast(c->mac)) {
		sk_log(st, SK_LOG_ERROR,
		       "config: the MAC address must be a nonzero unicast address");
		return false;
	}
	if (c->prefix_len < 1 || c->prefix_len > 32) {
		sk_log(st, SK_LOG_ERROR, "config: prefix length %u is outside 1..32",
		       (unsigned)c->prefix_len);
		return false;
	}
	if (c->addr == 0 || sk_ipv4_is_martian(c->addr)) {
		sk_log(st, SK_LOG_ERROR,
		       "config: address %u.%u.%u.%u cannot be a host address (zero, loopback, "
		       "multicast or reserved)",
		       c->addr >> 24, (c->addr >> 16) & 0xff, (c->addr >> 8) & 0xff,
		       c->addr & 0xff);
		return false;
	}
	if (c->gateway &&
	    (c->gateway == c->addr || !sk_ipv4_same_subnet(c->gateway, c->addr, c->prefix_len))) {
		sk_log(st, SK_LOG_ERROR,
		       "config: gateway %u.%u.%u.%u is not another host of our /%u network",
		       c->gateway >> 24, (c->gateway >> 16) & 0xff, (c->gateway >> 8) & 0xff,
		       c->gateway & 0xff, (unsigned)c->prefix_len);
		return false;
	}
	if (c->mtu < MIN_MTU || c->mtu > MAX_MTU) {
		sk_log(st, SK_LOG_ERROR, "config: MTU %u is outside %d..%d", (unsigned)c->mtu,
		       MIN_MTU, MAX_MTU);
		return false;
	}
	if (c->max_sockets == 0 || c->rcvbuf == 0 || c->sndbuf == 0) {
		sk_log(st, SK_LOG_ERROR, "config: max_sockets, rcvbuf and sndbuf must be nonzero");
		return false;
	}
	if (c->syncookies > 2) {
		sk_log(st, SK_LOG_ERROR, "config: syncookies %u is not 0, 1 or 2",
		       (unsigned)c->syncookies);
		return false;
	}
	if (c->default_cc > 1) {
		sk_log(st, SK_LOG_ERROR,
		       "config: default congestion control %u is neither 0 (CUBIC) nor 1 (NewReno)",
		       (unsigned)c->default_cc);
		return false;
	}
	if (c->tso_max > SK_TSO_MAX) {
		sk_log(st, SK_LOG_ERROR, "config: tso_max %u is above %u (64 KiB of IPv4)",
		       (unsigned)c->tso_max, SK_TSO_MAX);
		return false;
	}
	/* A super-frame's segments get their checksums from whoever cuts it:
	 * virtio's GSO_TCPV4 comes with NEEDS_CSUM. */
	if (c->tso_max && !c->tx_csum_offload) {
		sk_log(st, SK_LOG_ERROR, "config: tso_max needs tx_csum_offload");
		return false;
	}
	if ((c->tso_max || c->tx_csum_offload) && !st->link.xmit_offload) {
		sk_log(st, SK_LOG_ERROR,
		       "config: tso_max or tx_csum_offload set, but the link has no xmit_offload");
		return false;
	}
	return true;
}

void sk_stack_bind(struct sk_stack *st, const struct sk_link_ops *link, void *link_ctx,
                   const struct sk_hooks *hooks, const struct sk_mem_ops *mem, uint32_t owner)
{
	st->link = *link;
	st->link_ctx = link_ctx;
	st->hooks = hooks ? *hooks : (struct sk_hooks){0};
	st->mem = mem ? *mem : sk_mem_libc;
	st->owner = owner;
}

void sk_stack_bind_device(struct sk_stack *st, uint32_t tso_max, uint32_t tso_max_segs,
                          bool tx_csum_offload)
{
	/* What sk_stack_new checks of a configuration, here made to hold:
	 * no offload without the link's way to ask for it. */
	if (!st->link.xmit_offload)
		tso_max = 0, tx_csum_offload = false;
	if (tso_max > SK_TSO_MAX)
		tso_max = SK_TSO_MAX;
	if (!tx_csum_offload)
		tso_max = 0;
	st->cfg.tso_max = tso_max;
	st->cfg.tso_max_segs = tso_max_segs;
	st->cfg.tx_csum_offload = tx_csum_offload;
}

struct sk_stack *sk_stack_new_in(const struct sk_config *cfg, const struct sk_link_ops *link,
                                 void *link_ctx, const struct sk_hooks *hooks,
                                 const struct sk_mem_ops *mem)
{
	struct sk_stack *st = sk_mem_alloc(mem, sizeof(*st));

	if (!st) {
		if (hooks && hooks->log)
			hooks->log(hooks->ctx, SK_LOG_ERROR, "out of memory creating the stack");
		return NULL;
	}
	sk_stack_bind(st, link, link_ctx, hooks, mem, 1);
	st->cfg = *cfg;
	static const uint8_t no_key[sizeof(cfg->ts_key)];
	if (memcmp(st->cfg.ts_key, no_key, sizeof(no_key)) == 0)
		memcpy(st->cfg.ts_key, st->cfg.isn_key, sizeof(st->cfg.ts_key));
	st->rng_state = cfg->rng_seed;
	if (!config_valid(st) || !link->xmit) {
		if (!link->xmit)
			sk_log(st, SK_LOG_ERROR, "config: the link has no xmit callback");
		sk_mem_free(mem, st, sizeof(*st));
		return NULL;
	}
	/* The IPv4 identification only has to differ between packets in
	 * flight (RFC 6864 §4: DF packets may even reuse it); start anywhere. */
	st->ip_id = (uint16_t)sk_rand64(st);
	sk_rel_set(&st->arp, sk_arp_cache_new(st));
	if (st->arp)
		sk_rel_set(&st->tcp, sk_tcp_new(st));
	if (!st->arp || !st->tcp) {
		sk_log(st, SK_LOG_ERROR, "out of memory creating the stack");
		sk_stack_free(st);
		return NULL;
	}
	return st;
}

struct sk_stack *sk_stack_new(const struct sk_config *cfg, const struct sk_link_ops *link,
                              void *link_ctx, const struct sk_hooks *hooks)
{
	return sk_stack_new_in(cfg, link, link_ctx, hooks, &sk_mem_libc);
}

const struct sk_config *sk_stack_config(const struct sk_stack *st)
{
	return &st->cfg;
}

size_t sk_stack_size_hint(const struct sk_config *cfg)
{
	return sizeof(struct sk_stack) + sk_arp_cache_size_hint(cfg->mtu) + sk_tcp_size_hint(cfg);
}

void sk_stack_free(struct sk_stack *st)
{
	if (!st)
		return;
	if (st->tcp)
		sk_tcp_free(st, sk_tcp_of(st));
	sk_arp_cache_free(st, sk_rel_get(&st->arp)); /* NULL when sk_stack_new failed early */
	sk_loop_free(st);
	sk_mem_free(&st->mem, st, sizeof(*st));
}

sk_time_t sk_next_deadline(const struct sk_stack *st)
{
	sk_time_t arp = sk_arp_next_deadline(sk_arp_of(st));
	sk_time_t tcp = sk_tcp_next_deadline(sk_tcp_of(st));
	sk_time_t loop = sk_loop_next_deadline(st);
	sk_time_t d = arp < tcp ? arp : tcp;

	return loop < d ? loop : d;
}

/* Packets to ourselves first (they were sent before any timer due now
 * fired). ARP next: a neighbour that just failed reports to TCP before TCP
 * retransmits towards it. */
void sk_run_timers(struct sk_stack *st, sk_time_t now)
{
	sk_loop_run(st, now);
	sk_arp_run_timers(st, now);
	sk_tcp_run_timers(st, now);
}

const struct sk_stats *sk_get_stats(const struct sk_stack *st)
{
	return &st->stats;
}
