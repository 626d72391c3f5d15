/* The state trace line (see trace.h). */
#include "trace.h"

#include <inttypes.h>
#include <stdio.h>

#include "../socket/offload.h"

size_t shim_trace_format(char *buf, size_t len, const struct sk_state_change *ev, sk_time_t epoch)
{
	char l[24], r[24], mss[16] = "";
	sk_time_t t = ev->now >= epoch ? ev->now - epoch : 0;
	int n;

	if (ev->to == SK_TCP_ESTABLISHED)
		snprintf(mss, sizeof(mss), " mss %u", ev->mss);
	n = snprintf(buf, len, "synack: trace %" PRIu64 ".%03u %s > %s %s -> %s (%s)%s\n", t / 1000,
	             (unsigned)(t % 1000),
	             shim_fmt_endpoint(l, sizeof(l), ev->local.addr, ev->local.port),
	             shim_fmt_endpoint(r, sizeof(r), ev->remote.addr, ev->remote.port),
	             sk_tcp_state_name(ev->from), sk_tcp_state_name(ev->to),
	             ev->cause ? ev->cause : "?", mss);
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}
