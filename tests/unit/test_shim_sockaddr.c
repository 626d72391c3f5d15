/* shim/socket/sockaddr.c: the addresses bind/connect get and getsockname,
 * getpeername, accept return, for AF_INET and for AF_INET6 sockets served
 * through IPv4-mapped addresses (RFC 4291 §2.5.5.2), with Linux's lengths
 * and errors. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "sockaddr.h"

static struct sockaddr_in6 in6(const char *text, uint16_t port)
{
	struct sockaddr_in6 s = {.sin6_family = AF_INET6, .sin6_port = htons(port)};

	cr_assert_eq(inet_pton(AF_INET6, text, &s.sin6_addr), 1);
	return s;
}

Test(shim_sockaddr, mapped_any_and_native_ipv6_are_told_apart)
{
	struct sockaddr_in6 s = in6("::ffff:10.77.0.2", 8080);
	struct shim_sa a;

	cr_assert_eq(shim_sa_parse(AF_INET6, (struct sockaddr *)&s, sizeof(s), &a), 0);
	cr_assert_eq(a.kind, SHIM_SA_V4);
	cr_assert(a.mapped);
	cr_assert_eq(a.addr, 0x0a4d0002u);
	cr_assert_eq(a.port, 8080);
	s = in6("::", 80);
	cr_assert_eq(shim_sa_parse(AF_INET6, (struct sockaddr *)&s, sizeof(s), &a), 0);
	cr_assert_eq(a.kind, SHIM_SA_V6_ANY);
	s = in6("::ffff:0.0.0.0", 80);
	cr_assert_eq(shim_sa_parse(AF_INET6, (struct sockaddr *)&s, sizeof(s), &a), 0);
	cr_assert_eq(a.kind, SHIM_SA_V4);
	cr_assert_eq(a.addr, 0);
	const char *native[] = {"::1", "2001:db8::1", "fe80::1", "::10.77.0.2", "::fffe:10.77.0.2"};
	for (unsigned i = 0; i < sizeof(native) / sizeof(native[0]); i++) {
		s = in6(native[i], 80);
		cr_assert_eq(shim_sa_parse(AF_INET6, (struct sockaddr *)&s, sizeof(s), &a), 0);
		cr_assert_eq(a.kind, SHIM_SA_V6, "%s is native IPv6", native[i]);
	}
}

Test(shim_sockaddr, lengths_and_families_as_linux)
{
	struct sockaddr_in6 s = in6("::ffff:10.77.0.2", 80);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct shim_sa a;

	/* SIN6_LEN_RFC2133: without sin6_scope_id is enough. */
	cr_assert_eq(shim_sa_parse(AF_INET6, (struct sockaddr *)&s, 24, &a), 0);
	cr_assert_eq(a.addr, 0x0a4d0002u);
	cr_assert_eq(shim_sa_parse(AF_INET6, (struct sockaddr *)&s, 23, &a), -EINVAL);
	cr_assert_eq(shim_sa_parse(AF_INET6, NULL, sizeof(s), &a), -EINVAL);
	cr_assert_eq(shim_sa_parse(AF_INET6, (struct sockaddr *)&sin, sizeof(sin), &a), -EINVAL,
	             "a sockaddr_in is too short for an AF_INET6 socket");
	s.sin6_family = AF_INET;
	cr_assert_eq(shim_sa_parse(AF_INET6, (struct sockaddr *)&s, sizeof(s), &a), -EAFNOSUPPORT);
	cr_assert_eq(shim_sa_parse(AF_INET, (struct sockaddr *)&sin, sizeof(sin) - 1, &a), -EINVAL);
	sin.sin_family = AF_INET6;
	cr_assert_eq(shim_sa_parse(AF_INET, (struct sockaddr *)&sin, sizeof(sin), &a),
	             -EAFNOSUPPORT);
}

Test(shim_sockaddr, an_ipv6_socket_reports_mapped_addresses)
{
	struct sockaddr_in6 out;
	socklen_t len = sizeof(out);
	char text[INET6_ADDRSTRLEN];

	memset(&out, 0xa5, sizeof(out));
	shim_sa_fill(AF_INET6, true, (struct sockaddr *)&out, &len, 0x0a4d0001u, 40000);
	cr_assert_eq(len, sizeof(struct sockaddr_in6));
	cr_assert_eq(out.sin6_family, AF_INET6);
	cr_assert_eq(ntohs(out.sin6_port), 40000);
	cr_assert_eq(out.sin6_flowinfo, 0);
	cr_assert_eq(out.sin6_scope_id, 0);
	cr_assert_str_eq(inet_ntop(AF_INET6, &out.sin6_addr, text, sizeof(text)),
	                 "::ffff:10.77.0.1");
	shim_sa_fill(AF_INET6, true, (struct sockaddr *)&out, &len, 0, 80);
	cr_assert_str_eq(inet_ntop(AF_INET6, &out.sin6_addr, text, sizeof(text)), "::",
	                 "a dual-stack socket bound to :: reads ::");
	shim_sa_fill(AF_INET6, false, (struct sockaddr *)&out, &len, 0, 80);
	cr_assert_str_eq(inet_ntop(AF_INET6, &out.sin6_addr, text, sizeof(text)), "::ffff:0.0.0.0");
}

Test(shim_sockaddr, short_buffers_get_a_prefix_and_the_full_length)
{
	struct sockaddr_in6 out;
	struct sockaddr_in sin;
	socklen_t len = 8;

	memset(&out, 0xa5, sizeof(out));
	shim_sa_fill(AF_INET6, true, (struct sockaddr *)&out, &len, 0x0a4d0001u, 80);
	cr_assert_eq(len, sizeof(struct sockaddr_in6));
	cr_assert_eq(out.sin6_family, AF_INET6);
	cr_assert_eq(((unsigned char *)&out)[8], 0xa5, "nothing written past the buffer");
	len = sizeof(sin);
	shim_sa_fill(AF_INET, true, (struct sockaddr *)&sin, &len, 0x0a4d0001u, 80);
	cr_assert_eq(len, sizeof(sin));
	cr_assert_eq(sin.sin_family, AF_INET);
	cr_assert_eq(ntohl(sin.sin_addr.s_addr), 0x0a4d0001u);
}
