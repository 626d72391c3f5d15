/* shim offload decision (docs/configuration.md, "Offload decision"): which
 * AF_INET and AF_INET6 stream sockets synack carries, which stay the
 * kernel's, and strict mode. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "offload.h"

static struct shim_config cfg(bool strict, uint32_t gateway)
{
	struct shim_config c;

	memset(&c, 0, sizeof(c));
	c.valid = true;
	strcpy(c.iface, "veth-sk");
	c.addr = 0x0a4d0001u; /* 10.77.0.1/24 */
	c.prefix_len = 24;
	c.gateway = gateway;
	c.strict = strict;
	return c;
}

static struct shim_offload_decision decide(const struct shim_config *c, enum shim_offload_op op,
                                           uint32_t a)
{
	struct shim_offload_decision d;

	memset(&d, 0xa5, sizeof(d));
	shim_offload_decide(c, op, a, &d);
	cr_assert(d.reason[0] != '\0', "a reason is always given");
	return d;
}

Test(shim_offload, connect_on_link_is_offloaded)
{
	struct shim_config c = cfg(false, 0);

	cr_assert_eq(decide(&c, SHIM_OP_CONNECT, 0x0a4d0002u).verdict, SHIM_OFFLOAD);
}

Test(shim_offload, connect_loopback_goes_to_kernel)
{
	struct shim_config c = cfg(false, 0);
	struct shim_offload_decision d = decide(&c, SHIM_OP_CONNECT, 0x7f000001u);

	cr_assert_eq(d.verdict, SHIM_KERNEL);
	cr_assert(strstr(d.reason, "loopback"), "%s", d.reason);
}

Test(shim_offload, connect_off_link_without_gateway_goes_to_kernel)
{
	struct shim_config c = cfg(false, 0);
	struct shim_offload_decision d = decide(&c, SHIM_OP_CONNECT, 0x0a4e0002u);

	cr_assert_eq(d.verdict, SHIM_KERNEL);
	cr_assert(strstr(d.reason, "SYNACK_GATEWAY"), "%s", d.reason);
}

Test(shim_offload, connect_off_link_with_gateway_is_offloaded)
{
	struct shim_config c = cfg(false, 0x0a4d00feu);

	cr_assert_eq(decide(&c, SHIM_OP_CONNECT, 0x0a4e0002u).verdict, SHIM_OFFLOAD);
}

Test(shim_offload, connect_any_and_multicast_go_to_kernel)
{
	struct shim_config c = cfg(false, 0x0a4d00feu);

	cr_assert_eq(decide(&c, SHIM_OP_CONNECT, 0).verdict, SHIM_KERNEL);
	cr_assert_eq(decide(&c, SHIM_OP_CONNECT, 0xe0000001u).verdict, SHIM_KERNEL);
}

Test(shim_offload, bind_any_or_ours_is_offloaded_other_is_kernel)
{
	struct shim_config c = cfg(false, 0);

	cr_assert_eq(decide(&c, SHIM_OP_BIND, 0).verdict, SHIM_OFFLOAD);
	cr_assert_eq(decide(&c, SHIM_OP_BIND, 0x0a4d0001u).verdict, SHIM_OFFLOAD);
	cr_assert_eq(decide(&c, SHIM_OP_BIND, 0x7f000001u).verdict, SHIM_KERNEL);
	cr_assert_eq(decide(&c, SHIM_OP_BIND, 0x0a4d0009u).verdict, SHIM_KERNEL);
}

Test(shim_offload, listen_unbound_is_offloaded)
{
	struct shim_config c = cfg(false, 0);

	cr_assert_eq(decide(&c, SHIM_OP_LISTEN, 0).verdict, SHIM_OFFLOAD);
}

Test(shim_offload, strict_turns_fallbacks_into_errors)
{
	struct shim_config c = cfg(true, 0);
	struct shim_offload_decision d = decide(&c, SHIM_OP_CONNECT, 0x7f000001u);

	cr_assert_eq(d.verdict, SHIM_OFFLOAD_FAIL);
	cr_assert_eq(d.err, ENETUNREACH);
	cr_assert(strstr(d.reason, "SYNACK_STRICT"), "%s", d.reason);
	d = decide(&c, SHIM_OP_CONNECT, 0x0a4e0002u);
	cr_assert_eq(d.verdict, SHIM_OFFLOAD_FAIL);
	cr_assert_eq(d.err, ENETUNREACH);
	d = decide(&c, SHIM_OP_BIND, 0x0a4d0009u);
	cr_assert_eq(d.verdict, SHIM_OFFLOAD_FAIL);
	cr_assert_eq(d.err, EADDRNOTAVAIL);
	cr_assert_eq(decide(&c, SHIM_OP_CONNECT, 0x0a4d0002u).verdict, SHIM_OFFLOAD);
}

Test(shim_offload, invalid_config_fails_with_enetdown_except_loopback)
{
	struct shim_config c = cfg(false, 0);
	struct shim_offload_decision d;

	c.valid = false;
	strcpy(c.err, "SYNACK_IFACE is not set");
	d = decide(&c, SHIM_OP_CONNECT, 0x0a4d0002u);
	cr_assert_eq(d.verdict, SHIM_OFFLOAD_FAIL);
	cr_assert_eq(d.err, ENETDOWN);
	cr_assert(strstr(d.reason, "SYNACK_IFACE is not set"), "%s", d.reason);
	cr_assert_eq(decide(&c, SHIM_OP_LISTEN, 0).err, ENETDOWN);
	cr_assert_eq(decide(&c, SHIM_OP_BIND, 0).err, ENETDOWN);
	cr_assert_eq(decide(&c, SHIM_OP_CONNECT, 0x7f000001u).verdict, SHIM_KERNEL);
}

Test(shim_offload, endpoint_format)
{
	char buf[24];

	cr_assert_str_eq(shim_fmt_endpoint(buf, sizeof(buf), 0x0a4d0001u, 40000),
	                 "10.77.0.1:40000");
}

/* SO_BINDTODEVICE set before the decision (shim_offload_device). */
static struct shim_offload_decision decide_dev(const struct shim_config *c,
                                               enum shim_offload_op op, uint32_t a,
                                               const char *dev)
{
	struct shim_offload_decision d = decide(c, op, a);

	shim_offload_device(c, dev, op, &d);
	return d;
}

Test(shim_offload, bound_to_synacks_device_or_none_is_offloaded)
{
	struct shim_config c = cfg(false, 0);

	cr_expect_eq(decide_dev(&c, SHIM_OP_CONNECT, 0x0a4d0002u, "veth-sk").verdict, SHIM_OFFLOAD);
	cr_expect_eq(decide_dev(&c, SHIM_OP_LISTEN, 0, "").verdict, SHIM_OFFLOAD);
}

Test(shim_offload, bound_to_another_device_is_the_kernels)
{
	struct shim_config c = cfg(false, 0);
	struct shim_offload_decision d = decide_dev(&c, SHIM_OP_CONNECT, 0x0a4d0002u, "lo");

	cr_expect_eq(d.verdict, SHIM_KERNEL);
	cr_expect(strstr(d.reason, "SO_BINDTODEVICE lo"), "%s", d.reason);
	cr_expect_eq(decide_dev(&c, SHIM_OP_BIND, 0, "eth0").verdict, SHIM_KERNEL);
	/* A decision that was the kernel's already stays so. */
	cr_expect_eq(decide_dev(&c, SHIM_OP_CONNECT, 0x7f000001u, "lo").verdict, SHIM_KERNEL);
}

Test(shim_offload, bound_to_another_device_fails_in_strict_mode)
{
	struct shim_config c = cfg(true, 0);
	struct shim_offload_decision d = decide_dev(&c, SHIM_OP_CONNECT, 0x0a4d0002u, "lo");

	cr_expect_eq(d.verdict, SHIM_OFFLOAD_FAIL);
	cr_expect_eq(d.err, ENETUNREACH);
	cr_expect_eq(decide_dev(&c, SHIM_OP_BIND, 0, "lo").err, EADDRNOTAVAIL);
}

/* ---- AF_INET6 sockets (shim_offload_decide6) ---- */

static struct shim_sa sa6(const char *text, uint16_t port)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct shim_sa a;

	cr_assert_eq(inet_pton(AF_INET6, text, &sin6.sin6_addr), 1, "%s", text);
	cr_assert_eq(shim_sa_parse(AF_INET6, (struct sockaddr *)&sin6, sizeof(sin6), &a), 0);
	return a;
}

static struct shim_offload_decision decide6(const struct shim_config *c, enum shim_offload_op op,
                                            const char *addr, bool v6only, uint32_t *v4)
{
	struct shim_offload_decision d;
	struct shim_sa a;

	memset(&d, 0xa5, sizeof(d));
	if (addr)
		a = sa6(addr, 80);
	shim_offload_decide6(c, op, addr ? &a : NULL, v6only, v4, &d);
	cr_assert(d.reason[0] != '\0', "a reason is always given");
	return d;
}

Test(shim_offload, v4_mapped_destinations_are_decided_as_their_ipv4_address)
{
	struct shim_config c = cfg(false, 0);
	uint32_t v4 = 0;

	cr_assert_eq(decide6(&c, SHIM_OP_CONNECT, "::ffff:10.77.0.2", false, &v4).verdict,
	             SHIM_OFFLOAD);
	cr_assert_eq(v4, 0x0a4d0002u);
	cr_assert_eq(decide6(&c, SHIM_OP_CONNECT, "::ffff:127.0.0.1", false, &v4).verdict,
	             SHIM_KERNEL);
	cr_assert_eq(decide6(&c, SHIM_OP_CONNECT, "::ffff:10.78.0.2", false, &v4).verdict,
	             SHIM_KERNEL, "off-link without a gateway, as for AF_INET");
	cr_assert_eq(decide6(&c, SHIM_OP_BIND, "::ffff:10.77.0.1", false, &v4).verdict,
	             SHIM_OFFLOAD);
	cr_assert_eq(v4, 0x0a4d0001u);
	cr_assert_eq(decide6(&c, SHIM_OP_BIND, "::ffff:0.0.0.0", false, &v4).verdict,
	             SHIM_OFFLOAD);
	cr_assert_eq(v4, 0);
}

Test(shim_offload, the_unspecified_address_is_every_address_for_bind_and_this_host_for_connect)
{
	struct shim_config c = cfg(false, 0);
	uint32_t v4 = 1;
	struct shim_offload_decision d = decide6(&c, SHIM_OP_BIND, "::", false, &v4);

	cr_assert_eq(d.verdict, SHIM_OFFLOAD);
	cr_assert_eq(v4, 0);
	cr_assert_eq(decide6(&c, SHIM_OP_LISTEN, NULL, false, &v4).verdict, SHIM_OFFLOAD);
	d = decide6(&c, SHIM_OP_CONNECT, "::", false, &v4);
	cr_assert_eq(d.verdict, SHIM_KERNEL);
	cr_assert(strstr(d.reason, "::1"), "%s", d.reason);
}

Test(shim_offload, native_ipv6_is_the_kernels_whatever_the_configuration)
{
	struct shim_config c = cfg(false, 0);
	struct shim_offload_decision d;
	uint32_t v4;

	d = decide6(&c, SHIM_OP_CONNECT, "2001:db8::1", false, &v4);
	cr_assert_eq(d.verdict, SHIM_KERNEL);
	cr_assert(strstr(d.reason, "[2001:db8::1]:80"), "the address is named: %s", d.reason);
	d = decide6(&c, SHIM_OP_CONNECT, "::1", false, &v4);
	cr_assert_eq(d.verdict, SHIM_KERNEL);
	cr_assert(strstr(d.reason, "loopback"), "%s", d.reason);
	cr_assert_eq(decide6(&c, SHIM_OP_BIND, "fe80::1", false, &v4).verdict, SHIM_KERNEL);
	c.valid = false;
	strcpy(c.err, "SYNACK_IFACE is not set");
	cr_assert_eq(decide6(&c, SHIM_OP_CONNECT, "2001:db8::1", false, &v4).verdict, SHIM_KERNEL,
	             "never ENETDOWN: synack has nothing to do with it");
	cr_assert_eq(decide6(&c, SHIM_OP_CONNECT, "::ffff:10.77.0.2", false, &v4).err, ENETDOWN);
}

Test(shim_offload, a_v6only_socket_is_the_kernels_and_refuses_mapped_addresses_as_linux)
{
	struct shim_config c = cfg(false, 0);
	struct shim_offload_decision d;
	uint32_t v4;

	cr_assert_eq(decide6(&c, SHIM_OP_BIND, "::", true, &v4).verdict, SHIM_KERNEL);
	cr_assert_eq(decide6(&c, SHIM_OP_LISTEN, NULL, true, &v4).verdict, SHIM_KERNEL);
	d = decide6(&c, SHIM_OP_CONNECT, "::ffff:10.77.0.2", true, &v4);
	cr_assert_eq(d.verdict, SHIM_PLACEHOLDER_ANSWERS);
	cr_assert(strstr(d.reason, "IPV6_V6ONLY"), "%s", d.reason);
	c.strict = true;
	cr_assert_eq(decide6(&c, SHIM_OP_CONNECT, "::ffff:10.77.0.2", true, &v4).verdict,
	             SHIM_PLACEHOLDER_ANSWERS, "Linux's own error, strict or not");
	d = decide6(&c, SHIM_OP_BIND, "::", true, &v4);
	cr_assert_eq(d.verdict, SHIM_OFFLOAD_FAIL);
	cr_assert_eq(d.err, EADDRNOTAVAIL);
	cr_assert(strstr(d.reason, "SYNACK_STRICT") && strstr(d.reason, "IPV6_V6ONLY"), "%s",
	          d.reason);
}

Test(shim_offload, strict_refuses_native_ipv6_naming_the_address)
{
	struct shim_config c = cfg(true, 0);
	struct shim_offload_decision d;
	uint32_t v4;

	d = decide6(&c, SHIM_OP_CONNECT, "2001:db8::7", false, &v4);
	cr_assert_eq(d.verdict, SHIM_OFFLOAD_FAIL);
	cr_assert_eq(d.err, ENETUNREACH);
	cr_assert(strstr(d.reason, "[2001:db8::7]:80"), "%s", d.reason);
	d = decide6(&c, SHIM_OP_BIND, "2001:db8::7", false, &v4);
	cr_assert_eq(d.err, EADDRNOTAVAIL);
	d = decide6(&c, SHIM_OP_CONNECT, "::", false, &v4);
	cr_assert_eq(d.err, ENETUNREACH);
}
