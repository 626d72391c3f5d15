/* Sharing the kernel's address (docs/deployment.md, "Sharing the kernel's
 * address"): when the kernel holds synack's address too, synack reads every
 * frame to it, the kernel's connections' included, and its stack would
 * answer those with RSTs. It speaks for its own ports only: an RST from a
 * port no socket of the stack uses is not sent while the kernel holds the
 * address. (Several synack processes on one interface share one stack
 * (shared/shm_stack.h) and never reset each other's connections.)
 */
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdatomic.h>

#include "../../netdev/netdev.h"
#include "../runtime/config.h"
#include "../runtime/runtime.h"
#include "../shared/shm_stack.h"
#include "../iomux/wait.h"

/* The TCP source port of an outgoing RST, or 0 when frame is not one. */
static uint16_t rst_port(const uint8_t *f, size_t len)
{
	size_t ihl;

	if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00)
		return 0;
	ihl = (size_t)(f[14] & 0x0f) * 4;
	if (f[23] != 6 || ihl < 20 || len < 14 + ihl + 20)
		return 0;
	if (!(f[14 + ihl + 13] & 0x04))
		return 0;
	return (uint16_t)(f[14 + ihl] << 8 | f[14 + ihl + 1]);
}

/* Whether the kernel also holds synack's address. Looked up at most once a
 * second, on the rare path of an RST from a port no socket uses. */
static bool kernel_holds_addr(void)
{
	static _Atomic sk_time_t checked_at;
	static _Atomic bool held;
	sk_time_t now = shim_now_us();
	struct ifaddrs *ifs;
	bool found = false;

	if (checked_at && now - atomic_load(&checked_at) < SK_SEC(1))
		return atomic_load(&held);
	atomic_store(&checked_at, now);
	if (getifaddrs(&ifs) != 0)
		return atomic_load(&held);
	for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next)
		found = i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		        ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr) ==
		            shim_config()->addr;
	freeifaddrs(ifs);
	atomic_store(&held, found);
	return found;
}

/* Under the stack lock (core is transmitting): does a socket of the stack
 * use local port `port`? A scan of the arena, on the RST path only. */
static bool port_in_use(uint16_t port)
{
	const struct sk_stack *st = shm_stack();

	for (int s = st ? sk_next_socket(st, -1) : -1; s >= 0; s = sk_next_socket(st, s)) {
		struct sk_endpoint ep;

		if (sk_getsockname(st, s, &ep) == 0 && ep.port == port)
			return true;
	}
	return false;
}

static bool kernels_rst(const uint8_t *frame, size_t len)
{
	uint16_t port = rst_port(frame, len);

	return port && kernel_holds_addr() && !port_in_use(port);
}

/* Such an RST is reported as sent (nothing to retry). */
static int link_xmit(void *ctx, const uint8_t *frame, size_t len)
{
	return kernels_rst(frame, len) ? 0 : netdev_link_ops.xmit(ctx, frame, len);
}

static int link_xmit_offload(void *ctx, const uint8_t *frame, size_t len,
                             const struct sk_tx_offload *off)
{
	return kernels_rst(frame, len) ? 0 : netdev_link_ops.xmit_offload(ctx, frame, len, off);
}

const struct sk_link_ops shim_link_ops = {.xmit = link_xmit, .xmit_offload = link_xmit_offload};
