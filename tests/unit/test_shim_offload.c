/* shim offload decision (design brief §4): which AF_INET stream sockets
 * synack carries, which stay the kernel's, and strict mode. */
#include <criterion/criterion.h>
#include <errno.h>
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
