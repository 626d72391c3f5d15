/* Environment parsing (see config.h). Every error names the variable, the
 * bad value and a correct example: the user should not need the docs. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((format(printf, 2, 3))) static bool fail(struct shim_config *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->valid = false;
	return false;
}

bool shim_parse_ipv4(const char *s, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned octet = 0;
		int digits = 0;

		while (*s >= '0' && *s <= '9' && digits < 4) {
			octet = octet * 10 + (unsigned)(*s - '0');
			s++;
			digits++;
		}
		if (digits == 0 || digits > 3 || octet > 255)
			return false;
		v = (v << 8) | octet;
		if (i < 3 && *s++ != '.')
			return false;
	}
	if (*s != '\0')
		return false;
	*out = v;
	return true;
}

/* Unsigned decimal in [min, max], whole string. */
static bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_addr(struct shim_config *c, const char *v)
{
	char ip[32];
	const char *slash = strchr(v, '/');
	unsigned long plen;

	if (!slash)
		return fail(c,
		            "SYNACK_ADDR='%s' has no prefix length — use CIDR form, e.g. "
		            "10.77.0.1/24",
		            v);
	if ((size_t)(slash - v) >= sizeof(ip))
		return fail(c,
		            "SYNACK_ADDR='%s' is not an IPv4 address — use CIDR form, e.g. "
		            "10.77.0.1/24",
		            v);
	memcpy(ip, v, (size_t)(slash - v));
	ip[slash - v] = '\0';
	if (!shim_parse_ipv4(ip, &c->addr))
		return fail(c,
		            "SYNACK_ADDR='%s' is not an IPv4 address — use CIDR form, e.g. "
		            "10.77.0.1/24",
		            v);
	if (!parse_uint(slash + 1, 1, 32, &plen))
		return fail(c,
		            "SYNACK_ADDR='%s' has a bad prefix length — use 1 to 32, e.g. "
		            "10.77.0.1/24",
		            v);
	c->prefix_len = (uint8_t)plen;
	if (c->addr == 0 || (c->addr >> 24) == 127 || (c->addr >> 28) >= 14)
		return fail(c,
		            "SYNACK_ADDR='%s' is not a usable host address (zero, loopback, "
		            "multicast or reserved) — use e.g. 10.77.0.1/24",
		            v);
	if (plen <= 30) {
		uint32_t host_mask = (1u << (32 - plen)) - 1;
		uint32_t host = c->addr & host_mask;

		if (host == 0 || host == host_mask)
			return fail(c,
			            "SYNACK_ADDR='%s' is the network or broadcast address of its "
			            "prefix — pick a host address, e.g. 10.77.0.1/24",
			            v);
	}
	return true;
}

static bool same_subnet(uint32_t a, uint32_t b, unsigned plen)
{
	uint32_t mask = plen == 0 ? 0 : ~0u << (32 - plen);

	return (a & mask) == (b & mask);
}

static bool parse_gateway(struct shim_config *c, const char *v)
{
	if (!shim_parse_ipv4(v, &c->gateway))
		return fail(c, "SYNACK_GATEWAY='%s' is not an IPv4 address — use e.g. 10.77.0.254",
		            v);
	if (!same_subnet(c->gateway, c->addr, c->prefix_len) || c->gateway == c->addr)
		return fail(c,
		            "SYNACK_GATEWAY='%s' is not another host on SYNACK_ADDR's subnet — a "
		            "gateway must be on-link",
		            v);
	return true;
}

static bool parse_log(struct shim_config *c, const char *v)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(v, names[i]) == 0) {
			c->log_level = (enum sk_log_level)i;
			return true;
		}
	}
	return fail(c, "SYNACK_LOG='%s' is not a log level — use error, warn, info or debug", v);
}

/* A numeric variable with its range and an example for the message. */
struct num_var {
	const char *name;
	unsigned long min, max;
	const char *example;
};

static bool parse_num(struct shim_config *c, shim_env_fn env, void *ctx, const struct num_var *nv,
                      uint32_t *out)
{
	const char *v = env(nv->name, ctx);
	unsigned long n;

	if (!v)
		return true;
	if (!parse_uint(v, nv->min, nv->max, &n))
		return fail(c, "%s='%s' is not a number from %lu to %lu — use e.g. %s=%s", nv->name,
		            v, nv->min, nv->max, nv->name, nv->example);
	*out = (uint32_t)n;
	return true;
}

static void defaults(struct shim_config *c)
{
	memset(c, 0, sizeof(*c));
	c->valid = true;
	c->msl_ms = 30000;
	c->fin_timeout_ms = 60000;
	c->syn_retries = 6;
	c->offload = true;
	c->run_to_completion = true;
	c->linger_ms = 2000;
	c->max_sockets = 4096;    /* core's default (sk_config_defaults) */
	c->cc = 0;                /* cubic, as Linux */
	c->rcvbuf_max = 4u << 20; /* core's default (sk_config_defaults) */
	c->syn_backlog = 256;     /* core's default */
	c->syncookies = 1;        /* core's default, Linux's */
	c->mem_max = SHIM_MEM_MAX_AUTO;
	c->log_level = SK_LOG_WARN;
	c->packet_fd = -1;
	c->packet_filter = true;
}

/* A 0/1 switch. */
static bool parse_flag(struct shim_config *c, const char *name, const char *v, bool *out)
{
	if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
		return fail(c, "%s='%s' must be 0 or 1", name, v);
	*out = v[0] == '1';
	return true;
}

/* A file path, stored whole or refused. */
static bool parse_path(struct shim_config *c, const char *name, const char *v, char *out,
                       size_t size)
{
	if (strlen(v) >= size)
		return fail(c, "%s path is longer than %d characters", name, (int)size - 1);
	strcpy(out, v);
	return true;
}

/* Settings that change how we report problems come first, so that the
 * log level is right even when a later variable is bad. */
static bool parse_early(struct shim_config *c, shim_env_fn env, void *ctx)
{
	const char *v;

	if ((v = env("SYNACK_LOG", ctx)) && !parse_log(c, v))
		return false;
	if ((v = env("SYNACK_STRICT", ctx)) && !parse_flag(c, "SYNACK_STRICT", v, &c->strict))
		return false;
	if ((v = env("SYNACK_TRACE", ctx))) {
		if (strcmp(v, "states") != 0 && v[0] != '\0')
			return fail(c,
			            "SYNACK_TRACE='%s' is not a trace kind — the only one is "
			            "SYNACK_TRACE=states",
			            v);
		c->trace_states = v[0] != '\0';
	}
	return true;
}

static bool parse_link(struct shim_config *c, shim_env_fn env, void *ctx)
{
	const char *v = env("SYNACK_IFACE", ctx);
	uint32_t mtu = 0;
	static const struct num_var mtu_var = {"SYNACK_MTU", 68, 9000, "1500"};

	if (!v || !v[0])
		return fail(c, "SYNACK_IFACE is not set — name the interface synack owns, e.g. "
		               "SYNACK_IFACE=veth-sk");
	if (strlen(v) >= sizeof(c->iface) || strchr(v, '/') || strchr(v, ' '))
		return fail(c,
		            "SYNACK_IFACE='%s' is not a valid interface name (at most %d "
		            "characters, no '/' or space)",
		            v, (int)sizeof(c->iface) - 1);
	strcpy(c->iface, v);

	v = env("SYNACK_ADDR", ctx);
	if (!v || !v[0])
		return fail(c, "SYNACK_ADDR is not set — give synack's address in CIDR form, e.g. "
		               "SYNACK_ADDR=10.77.0.1/24");
	if (!parse_addr(c, v))
		return false;
	if ((v = env("SYNACK_GATEWAY", ctx)) && v[0] && !parse_gateway(c, v))
		return false;
	if (!parse_num(c, env, ctx, &mtu_var, &mtu))
		return false;
	c->mtu = mtu;
	return true;
}

/* The names Linux gives these algorithms (tcp_ca_find), in
 * SK_OPT_CONGESTION's order. */
static bool parse_cc(struct shim_config *c, const char *v)
{
	static const char *const names[] = {"cubic", "reno"};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(v, names[i]) == 0) {
			c->cc = (uint8_t)i;
			return true;
		}
	}
	return fail(c,
	            "SYNACK_CC='%s' is not a congestion control synack has — use cubic (the "
	            "default) or reno",
	            v);
}

static bool parse_tcp(struct shim_config *c, shim_env_fn env, void *ctx)
{
	static const struct num_var msl = {"SYNACK_MSL_MS", 1, 600000, "30000"};
	static const struct num_var fin = {"SYNACK_FIN_TIMEOUT_MS", 1, 3600000, "60000"};
	static const struct num_var syn = {"SYNACK_SYN_RETRIES", 0, 127, "6"};
	static const struct num_var linger = {"SYNACK_LINGER_MS", 0, 600000, "2000"};
	/* Every slot is a ~1.2 KiB TCB allocated at start: 2^20 is ~1.2 GiB. */
	static const struct num_var socks = {"SYNACK_MAX_SOCKETS", 1, 1u << 20, "16384"};
	/* About 80 bytes an entry, touched only when used. */
	static const struct num_var tws = {"SYNACK_MAX_TIME_WAIT", 0, 1u << 24, "65536"};
	/* RFC 7323 §2.3: a window of at most 2^30 bytes (shift 14). */
	static const struct num_var rcvbuf_max = {"SYNACK_RCVBUF_MAX", 0, 1u << 30, "4194304"};
	/* Linux's net.core.busy_read takes µs too; a second is plenty. */
	static const struct num_var busy = {"SYNACK_BUSY_POLL_US", 0, 1000000, "0"};
	static const struct num_var syn_backlog = {"SYNACK_SYN_BACKLOG", 1, 65535, "1024"};
	static const struct num_var cookies = {"SYNACK_SYNCOOKIES", 0, 2, "1"};
	const char *v = env("SYNACK_CC", ctx);
	uint32_t n = c->syncookies;
	unsigned long mem;

	if (v && v[0] && !parse_cc(c, v))
		return false;
	if (!parse_num(c, env, ctx, &cookies, &n))
		return false;
	c->syncookies = (uint8_t)n;
	/* Bytes, up to 1 TiB; 0 lifts the cap. */
	if ((v = env("SYNACK_MEM_MAX", ctx))) {
		if (!parse_uint(v, 0, 1ul << 40, &mem))
			return fail(c,
			            "SYNACK_MEM_MAX='%s' is not a number of bytes from 0 to "
			            "1099511627776 — use e.g. SYNACK_MEM_MAX=1073741824 (0: no cap)",
			            v);
		c->mem_max = mem;
	}
	return parse_num(c, env, ctx, &syn_backlog, &c->syn_backlog) &&
	       parse_num(c, env, ctx, &rcvbuf_max, &c->rcvbuf_max) &&
	       parse_num(c, env, ctx, &msl, &c->msl_ms) &&
	       parse_num(c, env, ctx, &fin, &c->fin_timeout_ms) &&
	       parse_num(c, env, ctx, &syn, &c->syn_retries) &&
	       parse_num(c, env, ctx, &linger, &c->linger_ms) &&
	       parse_num(c, env, ctx, &busy, &c->busy_poll_us) &&
	       parse_num(c, env, ctx, &socks, &c->max_sockets) &&
	       parse_num(c, env, ctx, &tws, &c->max_time_wait);
}

/* A name for /dev/shm: letters, digits, '.', '_' and '-', not starting
 * with '.'. */
static bool parse_stack_name(struct shim_config *c, const char *v)
{
	size_t n = strlen(v);
	bool ok = n > 0 && n < sizeof(c->stack) && v[0] != '.';

	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)v[i]) || v[i] == '.' || v[i] == '_' || v[i] == '-';
	if (!ok)
		return fail(c,
		            "SYNACK_STACK='%s' is not a stack name: use up to %d letters, digits, '.', "
		            "'_' or '-', e.g. SYNACK_STACK=web",
		            v, (int)sizeof(c->stack) - 1);
	memcpy(c->stack, v, n + 1);
	return true;
}

static bool parse_devices(struct shim_config *c, shim_env_fn env, void *ctx)
{
	const char *v;

	if ((v = env("SYNACK_STACK", ctx)) && v[0] && !parse_stack_name(c, v))
		return false;

	if ((v = env("SYNACK_PCAP", ctx)) && v[0] &&
	    !parse_path(c, "SYNACK_PCAP", v, c->pcap, sizeof(c->pcap)))
		return false;
	if ((v = env("SYNACK_STATS", ctx)) && v[0] &&
	    !parse_path(c, "SYNACK_STATS", v, c->stats, sizeof(c->stats)))
		return false;
	if ((v = env("SYNACK_BPF", ctx)) && v[0] &&
	    !parse_flag(c, "SYNACK_BPF", v, &c->packet_filter))
		return false;
	if ((v = env("SYNACK_PACKET_FD", ctx)) && v[0]) {
		unsigned long fd;

		if (!parse_uint(v, 0, 1u << 20, &fd))
			return fail(c,
			            "SYNACK_PACKET_FD='%s' is not a file descriptor number — it is "
			            "set by `synack run`, unset it to let synack open its own",
			            v);
		c->packet_fd = (int)fd;
	}
	if ((v = env("SYNACK_OFFLOAD", ctx))) {
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
			return fail(
			    c,
			    "SYNACK_OFFLOAD='%s' must be 0 (MSS-sized frames, software "
			    "checksums) or 1 (TCP super-frames and checksum offload when the "
			    "kernel grants them, the default)",
			    v);
		c->offload = v[0] == '1';
	}
	if ((v = env("SYNACK_RUN_TO_COMPLETION", ctx))) {
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
			return fail(
			    c,
			    "SYNACK_RUN_TO_COMPLETION='%s' must be 0 (blocked threads sleep "
			    "until the runtime thread wakes them) or 1 (a blocked thread "
			    "processes arriving frames itself, the default)",
			    v);
		c->run_to_completion = v[0] == '1';
	}
	if ((v = env("SYNACK_IMPAIR", ctx)) && v[0]) {
		char why[200] = "";

		if (netdev_impair_parse(v, &c->impair_cfg, why, sizeof(why)) != 0)
			return fail(c,
			            "SYNACK_IMPAIR='%s' is invalid: %s — use e.g. "
			            "loss=2%%,dup=1%%,reorder=3%%,delay=5ms,seed=42",
			            v, why);
		c->impair = true;
	}
	return true;
}

void shim_config_stack(const struct shim_config *c, struct sk_config *sc)
{
	sc->default_cc = c->cc;
	sc->rcvbuf_max = c->rcvbuf_max;
	sc->max_sockets = c->max_sockets;
	sc->max_time_wait = c->max_time_wait;
	sc->syn_backlog = c->syn_backlog;
	sc->syncookies = c->syncookies;
	sc->mem_max = c->mem_max;
	if (c->mem_max == SHIM_MEM_MAX_AUTO) {
		/* A quarter of the RAM: what the rings may hold at most
		 * (their capacity is counted, not their use, unlike Linux's
		 * tcp_mem, whose hard limit is about 9 % of it). */
		long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

		sc->mem_max = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size / 4 : 0;
	}
}

bool shim_config_parse(struct shim_config *c, shim_env_fn env, void *ctx)
{
	defaults(c);
	return parse_early(c, env, ctx) && parse_link(c, env, ctx) && parse_tcp(c, env, ctx) &&
	       parse_devices(c, env, ctx);
}
