/* The shim's configuration, read from the environment (docs/configuration.md).
 *
 * Parsing is pure (the environment comes through a lookup callback) so unit
 * tests feed it tables. A bad or missing value does not abort the program:
 * the result is marked invalid with one line saying what is wrong and how to
 * fix it; the runtime prints that line once and the program's AF_INET
 * stream sockets then fail with ENETDOWN at bind/connect/listen.
 */
#ifndef SYNACK_SHIM_CONFIG_H
#define SYNACK_SHIM_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#define SHIM_CONFIG_STACK_MAX 48

#include "../../core/stack.h"
#include "../../netdev/netdev.h"

#define SHIM_CONFIG_ERR_MAX  320
#define SHIM_CONFIG_PATH_MAX 512

struct shim_config {
	bool valid;
	char err[SHIM_CONFIG_ERR_MAX]; /* when !valid: one line, no newline */

	char iface[IFNAMSIZ]; /* SYNACK_IFACE (required) */
	uint32_t addr;        /* SYNACK_ADDR (required, CIDR), host order */
	uint8_t prefix_len;
	uint32_t gateway; /* SYNACK_GATEWAY, host order; 0 = none */
	unsigned mtu;     /* SYNACK_MTU; 0 = the interface's */

	uint32_t msl_ms;         /* SYNACK_MSL_MS, default 30000 */
	uint32_t fin_timeout_ms; /* SYNACK_FIN_TIMEOUT_MS, default 60000 */
	uint32_t syn_retries;    /* SYNACK_SYN_RETRIES, default 6 */
	uint32_t linger_ms;      /* SYNACK_LINGER_MS, default 2000 */
	uint32_t max_sockets;    /* SYNACK_MAX_SOCKETS, socket arena size, default 4096 */
	uint32_t max_time_wait;  /* SYNACK_MAX_TIME_WAIT, TIME_WAIT table size, 0: 4 * max_sockets */
	uint8_t cc;          /* SYNACK_CC: 0 cubic (default), 1 reno (SK_OPT_CONGESTION values) */
	uint32_t rcvbuf_max; /* SYNACK_RCVBUF_MAX, autotuning cap, default 4 MiB */
	uint32_t syn_backlog; /* SYNACK_SYN_BACKLOG, a listener's SYN queue, default 256 */
	uint8_t syncookies;   /* SYNACK_SYNCOOKIES: 0, 1 (default) or 2, as tcp_syncookies */
	/* SYNACK_MEM_MAX, bytes of ring memory of all connections; 0 = no
	 * cap; SHIM_MEM_MAX_AUTO (unset): a quarter of the machine's RAM. */
	uint64_t mem_max;

	enum sk_log_level log_level;     /* SYNACK_LOG, default warn */
	bool trace_states;               /* SYNACK_TRACE=states */
	bool strict;                     /* SYNACK_STRICT=1 */
	char pcap[SHIM_CONFIG_PATH_MAX]; /* SYNACK_PCAP; "" = none */
	int packet_fd;                   /* SYNACK_PACKET_FD; -1 = open our own */
	bool offload;           /* SYNACK_OFFLOAD, default 1: ask for GSO and checksum offload */
	bool run_to_completion; /* SYNACK_RUN_TO_COMPLETION, default 1 (rt_wait) */
	uint32_t busy_poll_us;  /* SYNACK_BUSY_POLL_US, default 0: spin this long before sleeping */

	bool packet_filter; /* SYNACK_BPF, default 1: the kernel drops others' frames */
	char stats[SHIM_CONFIG_PATH_MAX]; /* SYNACK_STATS: counters at exit; "" = none */
	/* SYNACK_STACK: the shared stack's name; "" = from the network
	 * namespace and the interface (shared/shm_stack.h). */
	char stack[SHIM_CONFIG_STACK_MAX];

	bool impair; /* SYNACK_IMPAIR given */
	struct netdev_impair_cfg impair_cfg;
};

/* Returns the value of an environment variable, or NULL when unset. */
typedef const char *(*shim_env_fn)(const char *name, void *ctx);

/* Fill *c from the environment. Returns true when valid; otherwise c->err
 * holds the first problem found. Every field has its default even then. */
bool shim_config_parse(struct shim_config *c, shim_env_fn env, void *ctx);

#define SHIM_MEM_MAX_AUTO UINT64_MAX

/* Copy the TCP settings that core takes in struct sk_config (congestion
 * control, the autotuning cap, the socket arena's size, the SYN queue,
 * SYN cookies, the ring memory cap) into *sc. */
void shim_config_stack(const struct shim_config *c, struct sk_config *sc);

/* Parse "a.b.c.d" (strict dotted quad) into host order. */
bool shim_parse_ipv4(const char *s, uint32_t *out);

#endif
