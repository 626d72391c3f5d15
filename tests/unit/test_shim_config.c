/* shim configuration: defaults, every variable, and the one-line errors a
 * user sees for bad values. The environment is a table, not the process
 * environment. */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"

struct kv {
	const char *k, *v;
};

static const char *lookup(const char *name, void *ctx)
{
	for (const struct kv *e = ctx; e->k; e++)
		if (strcmp(e->k, name) == 0)
			return e->v;
	return NULL;
}

#define ENV(...) ((struct kv[]){__VA_ARGS__, {NULL, NULL}})
#define BASE                                                                                       \
	{"SYNACK_IFACE", "veth-sk"},                                                               \
	{                                                                                          \
		"SYNACK_ADDR", "10.77.0.1/24"                                                      \
	}

static struct shim_config parse_ok(struct kv *env)
{
	struct shim_config c;

	cr_assert(shim_config_parse(&c, lookup, env), "unexpected error: %s", c.err);
	cr_assert(c.valid);
	return c;
}

static struct shim_config parse_bad(struct kv *env)
{
	struct shim_config c;

	cr_assert_not(shim_config_parse(&c, lookup, env));
	cr_assert_not(c.valid);
	cr_assert(strchr(c.err, '\n') == NULL, "error is one line");
	return c;
}

Test(shim_config, minimal_has_documented_defaults)
{
	struct shim_config c = parse_ok(ENV(BASE));

	cr_assert_str_eq(c.iface, "veth-sk");
	cr_assert_eq(c.addr, 0x0a4d0001u);
	cr_assert_eq(c.prefix_len, 24);
	cr_assert_eq(c.gateway, 0);
	cr_assert_eq(c.mtu, 0, "0 = the interface's MTU");
	cr_assert_eq(c.msl_ms, 30000);
	cr_assert_eq(c.fin_timeout_ms, 60000);
	cr_assert_eq(c.syn_retries, 6);
	cr_assert_eq(c.linger_ms, 2000);
	cr_assert_eq(c.cc, 0, "cubic");
	cr_assert_eq(c.rcvbuf_max, 4u << 20);
	cr_assert_eq(c.max_sockets, 4096);
	cr_assert_eq(c.log_level, SK_LOG_WARN);
	cr_assert_not(c.trace_states);
	cr_assert_not(c.strict);
	cr_assert_not(c.impair);
	cr_assert_eq(c.pcap[0], '\0');
	cr_assert_eq(c.packet_fd, -1);
	cr_assert(c.packet_filter, "SYNACK_BPF defaults to 1");
	cr_assert_eq(c.stats[0], '\0');
}

Test(shim_config, every_variable_is_read)
{
	struct shim_config c = parse_ok(
	    ENV(BASE, {"SYNACK_GATEWAY", "10.77.0.254"}, {"SYNACK_MTU", "1400"},
	        {"SYNACK_MSL_MS", "100"}, {"SYNACK_FIN_TIMEOUT_MS", "200"},
	        {"SYNACK_SYN_RETRIES", "2"}, {"SYNACK_LINGER_MS", "0"}, {"SYNACK_LOG", "debug"},
	        {"SYNACK_TRACE", "states"}, {"SYNACK_STRICT", "1"}, {"SYNACK_PCAP", "/tmp/x.pcap"},
	        {"SYNACK_PACKET_FD", "5"}, {"SYNACK_IMPAIR", "loss=2%,seed=7"},
	        {"SYNACK_CC", "reno"}, {"SYNACK_RCVBUF_MAX", "65536"},
	        {"SYNACK_MAX_SOCKETS", "16384"}, {"SYNACK_BPF", "0"},
	        {"SYNACK_STATS", "/tmp/x.stats"}));

	cr_assert_eq(c.gateway, 0x0a4d00feu);
	cr_assert_eq(c.mtu, 1400);
	cr_assert_eq(c.msl_ms, 100);
	cr_assert_eq(c.fin_timeout_ms, 200);
	cr_assert_eq(c.syn_retries, 2);
	cr_assert_eq(c.linger_ms, 0);
	cr_assert_eq(c.log_level, SK_LOG_DEBUG);
	cr_assert(c.trace_states);
	cr_assert(c.strict);
	cr_assert_str_eq(c.pcap, "/tmp/x.pcap");
	cr_assert_eq(c.packet_fd, 5);
	cr_assert(c.impair);
	cr_assert_float_eq(c.impair_cfg.loss_pct, 2.0, 1e-9);
	cr_assert_eq(c.impair_cfg.seed, 7);
	cr_assert_eq(c.cc, 1);
	cr_assert_eq(c.rcvbuf_max, 65536);
	cr_assert_eq(c.max_sockets, 16384);
	cr_assert_not(c.packet_filter);
	cr_assert_str_eq(c.stats, "/tmp/x.stats");
}

Test(shim_config, missing_iface_says_which_variable)
{
	struct shim_config c = parse_bad(ENV({"SYNACK_ADDR", "10.77.0.1/24"}));

	cr_assert(strstr(c.err, "SYNACK_IFACE is not set"), "%s", c.err);
}

Test(shim_config, missing_addr_gives_an_example)
{
	struct shim_config c = parse_bad(ENV({"SYNACK_IFACE", "veth-sk"}));

	cr_assert(strstr(c.err, "SYNACK_ADDR is not set"), "%s", c.err);
	cr_assert(strstr(c.err, "10.77.0.1/24"), "%s", c.err);
}

Test(shim_config, addr_without_prefix_asks_for_cidr)
{
	struct shim_config c =
	    parse_bad(ENV({"SYNACK_IFACE", "veth-sk"}, {"SYNACK_ADDR", "10.77.0.1"}));

	cr_assert_str_eq(c.err, "SYNACK_ADDR='10.77.0.1' has no prefix length — use CIDR form, "
	                        "e.g. 10.77.0.1/24");
}

Test(shim_config, addr_rejects_bad_octets_and_prefixes)
{
	static const char *const bad[] = {"10.77.0.256/24", "10.77.0/24",     "10.77.0.1.2/24",
	                                  "a.b.c.d/24",     "10.77.0.1/0",    "10.77.0.1/33",
	                                  "10.77.0.1/",     "10.77.0.1/x",    "127.0.0.1/8",
	                                  "10.77.0.0/24",   "10.77.0.255/24", "224.0.0.1/24"};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct shim_config c =
		    parse_bad(ENV({"SYNACK_IFACE", "veth-sk"}, {"SYNACK_ADDR", bad[i]}));

		cr_assert(strstr(c.err, "SYNACK_ADDR='"), "%s: %s", bad[i], c.err);
		cr_assert(strstr(c.err, bad[i]), "message names the value: %s", c.err);
	}
}

Test(shim_config, slash_32_and_31_are_host_addresses)
{
	struct shim_config c =
	    parse_ok(ENV({"SYNACK_IFACE", "veth-sk"}, {"SYNACK_ADDR", "10.77.0.0/31"}));

	cr_assert_eq(c.prefix_len, 31);
	c = parse_ok(ENV({"SYNACK_IFACE", "veth-sk"}, {"SYNACK_ADDR", "10.77.3.3/32"}));
	cr_assert_eq(c.prefix_len, 32);
}

Test(shim_config, gateway_must_be_on_link)
{
	struct shim_config c = parse_bad(ENV(BASE, {"SYNACK_GATEWAY", "10.78.0.1"}));

	cr_assert(strstr(c.err, "SYNACK_GATEWAY='10.78.0.1' is not another host"), "%s", c.err);
	c = parse_bad(ENV(BASE, {"SYNACK_GATEWAY", "10.77.0.1"}));
	cr_assert(strstr(c.err, "SYNACK_GATEWAY"), "own address is no gateway: %s", c.err);
	c = parse_bad(ENV(BASE, {"SYNACK_GATEWAY", "gw"}));
	cr_assert(strstr(c.err, "not an IPv4 address"), "%s", c.err);
}

Test(shim_config, numbers_out_of_range_name_the_range)
{
	struct shim_config c = parse_bad(ENV(BASE, {"SYNACK_MTU", "60"}));

	cr_assert_str_eq(c.err, "SYNACK_MTU='60' is not a number from 68 to 9000 — use e.g. "
	                        "SYNACK_MTU=1500");
	c = parse_bad(ENV(BASE, {"SYNACK_MSL_MS", "-1"}));
	cr_assert(strstr(c.err, "SYNACK_MSL_MS='-1'"), "%s", c.err);
	c = parse_bad(ENV(BASE, {"SYNACK_SYN_RETRIES", "6x"}));
	cr_assert(strstr(c.err, "SYNACK_SYN_RETRIES='6x'"), "%s", c.err);
	c = parse_bad(ENV(BASE, {"SYNACK_FIN_TIMEOUT_MS", ""}));
	cr_assert(strstr(c.err, "SYNACK_FIN_TIMEOUT_MS"), "%s", c.err);
}

Test(shim_config, log_level_names)
{
	struct shim_config c = parse_ok(ENV(BASE, {"SYNACK_LOG", "error"}));

	cr_assert_eq(c.log_level, SK_LOG_ERROR);
	c = parse_ok(ENV(BASE, {"SYNACK_LOG", "info"}));
	cr_assert_eq(c.log_level, SK_LOG_INFO);
	c = parse_bad(ENV(BASE, {"SYNACK_LOG", "verbose"}));
	cr_assert_str_eq(
	    c.err, "SYNACK_LOG='verbose' is not a log level — use error, warn, info or debug");
}

Test(shim_config, log_level_is_kept_when_a_later_variable_is_bad)
{
	struct shim_config c = parse_bad(ENV({"SYNACK_LOG", "debug"}, {"SYNACK_ADDR", "x"}));

	cr_assert_eq(c.log_level, SK_LOG_DEBUG);
}

Test(shim_config, trace_and_strict_values)
{
	struct shim_config c = parse_bad(ENV(BASE, {"SYNACK_TRACE", "all"}));

	cr_assert(strstr(c.err, "SYNACK_TRACE=states"), "%s", c.err);
	c = parse_bad(ENV(BASE, {"SYNACK_STRICT", "yes"}));
	cr_assert_str_eq(c.err, "SYNACK_STRICT='yes' must be 0 or 1");
	c = parse_ok(ENV(BASE, {"SYNACK_STRICT", "0"}));
	cr_assert_not(c.strict);
}

Test(shim_config, packet_filter_and_stats_values)
{
	static char longpath[SHIM_CONFIG_PATH_MAX + 1];
	struct shim_config c = parse_bad(ENV(BASE, {"SYNACK_BPF", "off"}));

	cr_assert_str_eq(c.err, "SYNACK_BPF='off' must be 0 or 1");
	c = parse_ok(ENV(BASE, {"SYNACK_BPF", "1"}));
	cr_assert(c.packet_filter);
	memset(longpath, 'a', SHIM_CONFIG_PATH_MAX);
	c = parse_bad(ENV(BASE, {"SYNACK_STATS", longpath}));
	cr_assert(strstr(c.err, "SYNACK_STATS path is longer than"), "%s", c.err);
}

Test(shim_config, iface_name_too_long)
{
	struct shim_config c = parse_bad(
	    ENV({"SYNACK_IFACE", "an-interface-name-too-long"}, {"SYNACK_ADDR", "10.77.0.1/24"}));

	cr_assert(strstr(c.err, "not a valid interface name"), "%s", c.err);
}

Test(shim_config, bad_impairment_reports_netdev_reason)
{
	struct shim_config c = parse_bad(ENV(BASE, {"SYNACK_IMPAIR", "loss=200%"}));

	cr_assert(strstr(c.err, "SYNACK_IMPAIR='loss=200%' is invalid: "), "%s", c.err);
}

Test(shim_config, packet_fd_must_be_a_number)
{
	struct shim_config c = parse_bad(ENV(BASE, {"SYNACK_PACKET_FD", "three"}));

	cr_assert(strstr(c.err, "SYNACK_PACKET_FD='three'"), "%s", c.err);
}

Test(shim_config, ipv4_parser_is_strict)
{
	uint32_t a;

	cr_assert(shim_parse_ipv4("0.0.0.0", &a));
	cr_assert_eq(a, 0);
	cr_assert(shim_parse_ipv4("255.255.255.255", &a));
	cr_assert_eq(a, 0xffffffffu);
	cr_assert_not(shim_parse_ipv4("1.2.3", &a));
	cr_assert_not(shim_parse_ipv4("1.2.3.4 ", &a));
	cr_assert_not(shim_parse_ipv4("1..3.4", &a));
	cr_assert_not(shim_parse_ipv4("0001.2.3.4", &a));
	cr_assert_not(shim_parse_ipv4("", &a));
}

Test(shim_config, congestion_control_names)
{
	struct shim_config c = parse_ok(ENV(BASE, {"SYNACK_CC", "reno"}));

	cr_assert_eq(c.cc, 1);
	c = parse_ok(ENV(BASE, {"SYNACK_CC", "cubic"}));
	cr_assert_eq(c.cc, 0);
	c = parse_ok(ENV(BASE, {"SYNACK_CC", ""}));
	cr_assert_eq(c.cc, 0, "empty: the default");
	c = parse_bad(ENV(BASE, {"SYNACK_CC", "bbr"}));
	cr_assert_str_eq(c.err, "SYNACK_CC='bbr' is not a congestion control synack has — use "
	                        "cubic (the default) or reno");
	c = parse_bad(ENV(BASE, {"SYNACK_CC", "Reno"}));
	cr_assert(strstr(c.err, "SYNACK_CC='Reno'"), "names are exact, as Linux's: %s", c.err);
}

Test(shim_config, rcvbuf_max_range)
{
	struct shim_config c = parse_ok(ENV(BASE, {"SYNACK_RCVBUF_MAX", "0"}));

	cr_assert_eq(c.rcvbuf_max, 0, "0: no autotuning");
	c = parse_ok(ENV(BASE, {"SYNACK_RCVBUF_MAX", "1073741824"}));
	cr_assert_eq(c.rcvbuf_max, 1u << 30);
	c = parse_bad(ENV(BASE, {"SYNACK_RCVBUF_MAX", "1073741825"}));
	cr_assert_str_eq(c.err, "SYNACK_RCVBUF_MAX='1073741825' is not a number from 0 to "
	                        "1073741824 — use e.g. SYNACK_RCVBUF_MAX=4194304");
	c = parse_bad(ENV(BASE, {"SYNACK_RCVBUF_MAX", "4M"}));
	cr_assert(strstr(c.err, "SYNACK_RCVBUF_MAX='4M'"), "%s", c.err);
}

Test(shim_config, tcp_settings_reach_the_stack_config)
{
	struct shim_config c =
	    parse_ok(ENV(BASE, {"SYNACK_CC", "reno"}, {"SYNACK_RCVBUF_MAX", "1048576"}));
	struct sk_config sc;

	sk_config_defaults(&sc);
	cr_assert_eq(sc.default_cc, 0);
	cr_assert_eq(sc.rcvbuf_max, 4u << 20, "the shim's default is core's");
	shim_config_stack(&c, &sc);
	cr_assert_eq(sc.default_cc, 1);
	cr_assert_eq(sc.rcvbuf_max, 1u << 20);
}

Test(shim_config, max_sockets_sizes_the_arena_within_bounds)
{
	struct shim_config c = parse_ok(ENV(BASE, {"SYNACK_MAX_SOCKETS", "65536"}));
	struct sk_config sc;

	sk_config_defaults(&sc);
	cr_assert_eq(sc.max_sockets, 4096);
	shim_config_stack(&c, &sc);
	cr_assert_eq(sc.max_sockets, 65536);
	c = parse_ok(ENV(BASE, {"SYNACK_MAX_SOCKETS", "1"}));
	cr_assert_eq(c.max_sockets, 1);
	c = parse_ok(ENV(BASE, {"SYNACK_MAX_SOCKETS", "1048576"}));
	cr_assert_eq(c.max_sockets, 1u << 20);
	c = parse_bad(ENV(BASE, {"SYNACK_MAX_SOCKETS", "0"}));
	cr_assert_str_eq(c.err, "SYNACK_MAX_SOCKETS='0' is not a number from 1 to 1048576 — use "
	                        "e.g. SYNACK_MAX_SOCKETS=16384");
	c = parse_bad(ENV(BASE, {"SYNACK_MAX_SOCKETS", "1048577"}));
	cr_assert(strstr(c.err, "SYNACK_MAX_SOCKETS='1048577'"), "%s", c.err);
	c = parse_bad(ENV(BASE, {"SYNACK_MAX_SOCKETS", "64k"}));
	cr_assert(strstr(c.err, "SYNACK_MAX_SOCKETS='64k'"), "%s", c.err);
}

Test(shim_config, syn_queue_cookies_and_ring_memory_reach_the_stack_config)
{
	struct shim_config c = parse_ok(ENV(BASE));
	struct sk_config sc;

	sk_config_defaults(&sc);
	cr_assert_eq(sc.syn_backlog, 256);
	cr_assert_eq(sc.syncookies, 1);
	cr_assert_eq(sc.mem_max, 0, "core: no cap");
	shim_config_stack(&c, &sc);
	cr_assert_eq(sc.syn_backlog, 256, "the shim's default is core's");
	cr_assert_eq(sc.syncookies, 1);
	cr_assert_gt(sc.mem_max, 0, "the shim's default: a quarter of the RAM");
	c = parse_ok(ENV(BASE, {"SYNACK_SYN_BACKLOG", "1024"}, {"SYNACK_SYNCOOKIES", "2"},
	                 {"SYNACK_MEM_MAX", "1073741824"}));
	shim_config_stack(&c, &sc);
	cr_assert_eq(sc.syn_backlog, 1024);
	cr_assert_eq(sc.syncookies, 2);
	cr_assert_eq(sc.mem_max, 1u << 30);
	c = parse_ok(ENV(BASE, {"SYNACK_MEM_MAX", "0"}));
	shim_config_stack(&c, &sc);
	cr_assert_eq(sc.mem_max, 0, "0 lifts the cap");
	c = parse_bad(ENV(BASE, {"SYNACK_SYNCOOKIES", "3"}));
	cr_assert_str_eq(c.err, "SYNACK_SYNCOOKIES='3' is not a number from 0 to 2 — use e.g. "
	                        "SYNACK_SYNCOOKIES=1");
	c = parse_bad(ENV(BASE, {"SYNACK_SYN_BACKLOG", "0"}));
	cr_assert_str_eq(c.err, "SYNACK_SYN_BACKLOG='0' is not a number from 1 to 65535 — use "
	                        "e.g. SYNACK_SYN_BACKLOG=1024");
	c = parse_bad(ENV(BASE, {"SYNACK_MEM_MAX", "-1"}));
	cr_assert_str_eq(c.err, "SYNACK_MEM_MAX='-1' is not a number of bytes from 0 to "
	                        "1099511627776 — use e.g. SYNACK_MEM_MAX=1073741824 (0: no cap)");
}

Test(shim_config, stack_name_defaults_to_the_interface_and_is_checked)
{
	struct shim_config c = parse_ok(ENV(BASE));

	cr_assert_str_empty(c.stack);
	c = parse_ok(ENV(BASE, {"SYNACK_STACK", "web-1.a_b"}));
	cr_assert_str_eq(c.stack, "web-1.a_b");
	static const char *const bad[] = {"../x", "a/b", ".hidden", "sp ace",
	                                  "0123456789012345678901234567890123456789012345678"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = parse_bad(ENV(BASE, {"SYNACK_STACK", bad[i]}));
		cr_assert(strstr(c.err, "SYNACK_STACK="), "%s", c.err);
		cr_assert(strstr(c.err, "e.g. SYNACK_STACK=web"), "%s", c.err);
	}
}
