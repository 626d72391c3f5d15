/* Port registry (see portreg.h). */
#include "portreg.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../netdev/netdev.h"
#include "internal_fd.h"
#include "log.h"
#include "real.h"
#include "runtime.h"
#include "wait.h"

/* Ports this process registered (a port may back several sockets: a
 * listener bound again after close...). Read by the transmit path under
 * the stack lock, written by socket calls: atomics keep both simple. */
static _Atomic uint16_t owned[65536];

static socklen_t port_name(struct sockaddr_un *sa, uint16_t port)
{
	uint32_t a = shim_config()->addr;
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* sun_path[0] = 0: the abstract namespace, per network namespace. */
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "synack-port/%u.%u.%u.%u/%u",
	             a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff, (unsigned)port);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* A bound registry socket for port (an internal fd), or -errno. */
static int bind_name(uint16_t port)
{
	struct sockaddr_un sa;
	socklen_t len = port_name(&sa, port);
	int fd = REAL(socket)(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	if (REAL(bind)(fd, (struct sockaddr *)&sa, len) < 0) {
		err = errno;
		REAL(close)(fd);
		return -err;
	}
	return fd;
}

void portreg_claim(struct shim_ofd *o)
{
	struct sk_endpoint ep;
	int r, fd;

	if (o->regport || o->kind != SHIM_OFD_SYNACK || o->sock < 0)
		return;
	r = sk_getsockname(rt_lock(), o->sock, &ep);
	rt_unlock();
	if (r < 0 || ep.port == 0)
		return;
	o->regport = ep.port;
	o->regfd = -1;
	atomic_fetch_add(&owned[ep.port], 1);
	if (atomic_load(&owned[ep.port]) > 1)
		return; /* another of our sockets holds the name */
	shim_sig_enter();
	shim_inside_depth++;
	fd = bind_name(ep.port);
	if (fd >= 0) {
		o->regfd = shim_internal_adopt(fd);
	} else if (fd == -EADDRINUSE) {
		shim_log(SK_LOG_WARN,
		         "port %u is also used by another synack process on this interface: the "
		         "two stacks will disturb each other's connections on it",
		         (unsigned)ep.port);
	}
	shim_inside_depth--;
	shim_sig_leave();
}

void portreg_release(struct shim_ofd *o)
{
	if (!o->regport)
		return;
	atomic_fetch_sub(&owned[o->regport], 1);
	if (o->regfd >= 0)
		shim_internal_close(o->regfd);
	o->regport = 0;
	o->regfd = -1;
}

void portreg_after_fork_child(void)
{
	/* The registry fds were internal and are closed with the others; the
	 * names stay the parent's. */
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		atomic_store_explicit(&owned[i], 0, memory_order_relaxed);
}

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

/* Whether the kernel also holds synack's address: it then shares it with
 * synack, which speaks for its own ports only (docs/deployment.md, "Sharing
 * the kernel's address"). Looked up at most once a second, on the rare path
 * of an RST from a port no synack process holds. */
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

/* True when frame is an RST from a port another synack process holds, or
 * from any port this process does not use while the kernel holds the
 * address too (the kernel's connections are not synack's to reset). */
static bool foreign_rst(const uint8_t *frame, size_t len)
{
	uint16_t port = rst_port(frame, len);

	if (port && !atomic_load(&owned[port])) {
		int fd = bind_name(port);

		if (fd == -EADDRINUSE)
			return true;
		if (fd >= 0)
			REAL(close)(fd);
		return kernel_holds_addr();
	}
	return false;
}

/* Another synack process's connection, or the kernel's, is not ours to
 * reset: such an RST is reported as sent (nothing to retry). */
static int portreg_xmit(void *ctx, const uint8_t *frame, size_t len)
{
	return foreign_rst(frame, len) ? 0 : netdev_link_ops.xmit(ctx, frame, len);
}

static int portreg_xmit_offload(void *ctx, const uint8_t *frame, size_t len,
                                const struct sk_tx_offload *off)
{
	return foreign_rst(frame, len) ? 0 : netdev_link_ops.xmit_offload(ctx, frame, len, off);
}

const struct sk_link_ops portreg_link_ops = {.xmit = portreg_xmit,
                                             .xmit_offload = portreg_xmit_offload};
