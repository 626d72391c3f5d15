/* SYNACK_BPF: the kernel hands this process only its own frames (see
 * netdev/afpacket_filter.c for what passes and why). */
#include "packet_filter.h"

#include "log.h"
#include "runtime.h"

/* Written under the runtime's start lock, read after rt_running(). */
static struct netdev *device;
static bool filtered;

void shim_packet_device_opened(struct netdev *afp)
{
	const struct shim_config *c = shim_config();
	char err[256] = "";
	uint32_t a = c->addr;

	device = afp;
	filtered = false;
	if (!c->packet_filter) {
		shim_log(SK_LOG_DEBUG, "SYNACK_BPF=0: no packet filter, every frame on %s is read",
		         afp->name);
		return;
	}
	/* The same on an inherited socket (SYNACK_PACKET_FD) as on our own.
	 * What was queued before this point is still read: core drops what
	 * is not ours, as without a filter. */
	if (netdev_afpacket_filter(afp, a, err, sizeof(err)) < 0) {
		shim_log(SK_LOG_WARN,
		         "%s — going on without it: synack reads every frame on %s and drops "
		         "the ones not for it (SYNACK_BPF=0 does not try)",
		         err, afp->name);
		return;
	}
	filtered = true;
	shim_log(SK_LOG_DEBUG, "packet filter on %s: IPv4 to %u.%u.%u.%u and ARP only", afp->name,
	         a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

struct netdev *shim_packet_device(void)
{
	return device;
}

bool shim_packet_filter_attached(void)
{
	return filtered;
}
