/* IPv4 and IPv4-mapped socket addresses (see sockaddr.h). */
#include "sockaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int shim_sa_parse(int family, const struct sockaddr *sa, socklen_t len, struct shim_sa *out)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET6) {
		struct sockaddr_in6 sin6;
		static const uint8_t any[16];

		/* tcp_v6_connect, __inet6_bind: the length first, then the
		 * family. sin6_scope_id (the last 4 bytes) may be absent. */
		if (!sa || len < SHIM_SIN6_LEN_MIN)
			return -EINVAL;
		memset(&sin6, 0, sizeof(sin6));
		memcpy(&sin6, sa, len < sizeof(sin6) ? len : sizeof(sin6));
		if (sin6.sin6_family != AF_INET6)
			return -EAFNOSUPPORT;
		memcpy(out->v6, &sin6.sin6_addr, 16);
		out->port = ntohs(sin6.sin6_port);
		if (memcmp(out->v6, any, 16) == 0) {
			out->kind = SHIM_SA_V6_ANY;
		} else if (memcmp(out->v6, mapped_prefix, 12) == 0) {
			out->kind = SHIM_SA_V4;
			out->mapped = true;
			out->addr = (uint32_t)out->v6[12] << 24 | (uint32_t)out->v6[13] << 16 |
			            (uint32_t)out->v6[14] << 8 | out->v6[15];
		} else {
			out->kind = SHIM_SA_V6;
		}
		return 0;
	}
	{
		struct sockaddr_in sin;

		if (!sa || len < sizeof(sin))
			return -EINVAL;
		memcpy(&sin, sa, sizeof(sin));
		if (sin.sin_family != AF_INET)
			return -EAFNOSUPPORT;
		out->kind = SHIM_SA_V4;
		out->addr = ntohl(sin.sin_addr.s_addr);
		out->port = ntohs(sin.sin_port);
		return 0;
	}
}

void shim_sa_fill(int family, bool v6_any, struct sockaddr *sa, socklen_t *len, uint32_t addr,
                  uint16_t port)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	const void *src = &sin;
	socklen_t full = sizeof(sin);

	if (!sa || !len)
		return;
	if (family == AF_INET6) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		if (addr != 0 || !v6_any) {
			memcpy(&sin6.sin6_addr, mapped_prefix, 12);
			sin6.sin6_addr.s6_addr[12] = (uint8_t)(addr >> 24);
			sin6.sin6_addr.s6_addr[13] = (uint8_t)(addr >> 16);
			sin6.sin6_addr.s6_addr[14] = (uint8_t)(addr >> 8);
			sin6.sin6_addr.s6_addr[15] = (uint8_t)addr;
		}
		src = &sin6;
		full = sizeof(sin6);
	} else {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(addr);
		sin.sin_port = htons(port);
	}
	memcpy(sa, src, *len < full ? *len : full);
	*len = full;
}

const char *shim_sa_format(int family, const struct shim_sa *a, char *buf, size_t len)
{
	char text[INET6_ADDRSTRLEN] = "?";

	if (family != AF_INET6) {
		snprintf(buf, len, "%u.%u.%u.%u:%u", a->addr >> 24, (a->addr >> 16) & 255,
		         (a->addr >> 8) & 255, a->addr & 255, (unsigned)a->port);
		return buf;
	}
	inet_ntop(AF_INET6, a->v6, text, sizeof(text));
	snprintf(buf, len, "[%s]:%u", text, (unsigned)a->port);
	return buf;
}
