/* setsockopt / getsockopt. Pending sockets: the kernel's placeholder
 * answers (so its validation and errno are exactly Linux's) and accepted
 * values are recorded for the offload. Offloaded sockets: core answers the
 * options it implements, the shim the few it owns (timeouts, linger, type
 * queries), the placeholder those that only need storing and Linux's
 * validation (SO_PRIORITY, SO_BINDTODEVICE, TCP_FASTOPEN); anything else
 * is ENOPROTOOPT. */
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/time.h>

#include "../runtime/config.h"
#include "../runtime/log.h"

#include "intercept.h"
#include "../socket/opts.h"
#include "../socket/sockio.h"
#include "../socket/tcp_info.h"

static int set_timeout(int64_t *field, const void *val, socklen_t len)
{
	struct timeval tv;

	if (len < sizeof(tv))
		return -EINVAL;
	memcpy(&tv, val, sizeof(tv));
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	/* Negative means "no timeout" on Linux, like zero. */
	*field = tv.tv_sec < 0 ? 0 : (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	return 0;
}

/* Linux do_ip_setsockopt: IP_TOS, IP_TTL, IP_BIND_ADDRESS_NO_PORT... take
 * an int, or one byte when optlen is shorter (0 when it is 0). */
static int ip_optval(const void *val, socklen_t len)
{
	unsigned char c;
	int v = 0;

	if (len >= sizeof(int)) {
		memcpy(&v, val, sizeof(v));
	} else if (len >= 1) {
		memcpy(&c, val, 1);
		v = c;
	}
	return v;
}

/* An option the placeholder validates and keeps for us: its answer. */
static int on_placeholder(int fd, int level, int name, const void *val, socklen_t len)
{
	return REAL(setsockopt)(fd, level, name, val, len) < 0 ? -errno : 0;
}

static int set_ip(struct shim_ofd *o, int fd, int name, const void *val, socklen_t len)
{
	int v = ip_optval(val, len), r;
	enum sk_opt opt;

	switch (name) {
	case IP_BIND_ADDRESS_NO_PORT:
		o->opts.bind_no_port = v != 0;
		return 0;
	case IP_TOS:
		/* Linux __ip_sock_set_tos also sets SO_PRIORITY from the TOS
		 * (rt_tos2priority): the placeholder, which keeps it, too. */
		on_placeholder(fd, IPPROTO_IP, IP_TOS, val, len);
		opt = SK_OPT_IP_TOS;
		break;
	case IP_TTL:
		if ((int)len < 1)
			return -EINVAL;
		opt = SK_OPT_IP_TTL;
		break;
	default:
		return -ENOPROTOOPT;
	}
	r = sk_setopt(rt_lock(), o->sock, opt, v);
	rt_unlock();
	return r;
}

/* SO_BUSY_POLL accepted by the placeholder (so optlen held an int, and it
 * was not negative): the copy the waits read. */
static void note_busy_poll(struct shim_ofd *o, const void *val)
{
	int v;

	memcpy(&v, val, sizeof(v));
	atomic_store(&o->busy_poll_us, (unsigned)v);
}

static int set_busy_poll(struct shim_ofd *o, int fd, const void *val, socklen_t len)
{
	int r = on_placeholder(fd, SOL_SOCKET, SO_BUSY_POLL, val, len);

	if (r == 0)
		note_busy_poll(o, val);
	return r;
}

/* SO_BINDTODEVICE on an offloaded socket: the placeholder checks the name
 * as Linux (ENODEV, EPERM); synack's own interface, or none, is accepted.
 * Another device would take the connection off synack's stack, which it
 * cannot leave: EINVAL, said in the log. */
static int set_bindtodevice(struct shim_ofd *o, int fd, const void *val, socklen_t len)
{
	char name[IFNAMSIZ] = "";
	int r = on_placeholder(fd, SOL_SOCKET, SO_BINDTODEVICE, val, len);
	size_t n = len < IFNAMSIZ - 1 ? len : IFNAMSIZ - 1; /* sock_setbindtodevice */

	if (r < 0)
		return r;
	if (val && (int)len > 0)
		memcpy(name, val, n);
	name[n] = '\0';
	if (name[0] && strcmp(name, shim_config()->iface) != 0) {
		REAL(setsockopt)(fd, SOL_SOCKET, SO_BINDTODEVICE, "", 0);
		shim_log(SK_LOG_ERROR,
		         "fd %d: SO_BINDTODEVICE %s: this socket is served by synack on %s and "
		         "cannot move to another device (EINVAL); set it before bind/connect/listen "
		         "to leave the socket to the kernel",
		         fd, name, shim_config()->iface);
		return -EINVAL;
	}
	(void)o;
	return 0;
}

/* TCP Fast Open, answered as Linux with net.ipv4.tcp_fastopen = 0: a
 * listener's TCP_FASTOPEN queue length is accepted and read back (nothing
 * uses it), TCP_FASTOPEN_CONNECT is EOPNOTSUPP (do_tcp_setsockopt). */
static int set_fastopen(struct shim_ofd *o, int fd, int name, const void *val, socklen_t len)
{
	enum sk_tcp_state s;
	int v;

	if (len < sizeof(int))
		return -EINVAL;
	memcpy(&v, val, sizeof(v));
	if (name == TCP_FASTOPEN_CONNECT)
		return v < 0 || v > 1 ? -EINVAL : -EOPNOTSUPP;
	s = sk_sock_state(rt_lock(), o->sock);
	rt_unlock();
	if (v < 0 || (s != SK_TCP_CLOSED && s != SK_TCP_LISTEN))
		return -EINVAL;
	return on_placeholder(fd, IPPROTO_TCP, TCP_FASTOPEN, val, len);
}

/* IPPROTO_IPV6 on an AF_INET6 socket synack serves (its traffic is IPv4):
 * as Linux for a v4-mapped socket, the options are kept and validated, and
 * shape IPv6 packets only, so the placeholder keeps them (IPV6_TCLASS does
 * not set the IPv4 TOS: IP_TOS does, set_ip). IPV6_V6ONLY cannot change
 * on a socket with a port (do_ipv6_setsockopt: EINVAL). An AF_INET socket
 * has no IPv6 level: ENOPROTOOPT, as ip_setsockopt answers. */
static int set_ipv6(struct shim_ofd *o, int fd, int name, const void *val, socklen_t len)
{
	if (o->family != AF_INET6)
		return -ENOPROTOOPT;
	if (name == IPV6_V6ONLY)
		return -EINVAL;
	return on_placeholder(fd, IPPROTO_IPV6, name, val, len);
}

static int set_offloaded(struct shim_ofd *o, int fd, int level, int name, const void *val,
                         socklen_t len)
{
	int opt = shim_opt_lookup(level, name), v, r;

	if (level == SOL_SOCKET && name == SO_BUSY_POLL)
		return set_busy_poll(o, fd, val, len);
	if (!val && !(level == SOL_SOCKET && name == SO_BINDTODEVICE))
		return -EFAULT;
	if (level == IPPROTO_IP)
		return set_ip(o, fd, name, val, len);
	if (level == IPPROTO_IPV6)
		return set_ipv6(o, fd, name, val, len);
	if (level == SOL_SOCKET && name == SO_PRIORITY)
		return on_placeholder(fd, level, name, val, len);
	if (level == SOL_SOCKET && name == SO_BINDTODEVICE)
		return set_bindtodevice(o, fd, val, len);
	if (level == IPPROTO_TCP && (name == TCP_FASTOPEN || name == TCP_FASTOPEN_CONNECT))
		return set_fastopen(o, fd, name, val, len);
	if (level == SOL_SOCKET && name == SO_RCVTIMEO)
		return set_timeout(&o->rcvtimeo_us, val, len);
	if (level == SOL_SOCKET && name == SO_SNDTIMEO)
		return set_timeout(&o->sndtimeo_us, val, len);
	if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
		v = shim_congestion_parse(val, len);
		if (v < 0)
			return v;
		opt = SK_OPT_CONGESTION;
	} else if (level == SOL_SOCKET && name == SO_LINGER) {
		struct linger l;

		if (len < sizeof(l))
			return -EINVAL;
		memcpy(&l, val, sizeof(l));
		opt = SK_OPT_LINGER_ABORT;
		v = l.l_onoff && l.l_linger == 0;
	} else if (opt < 0) {
		return -ENOPROTOOPT;
	} else {
		if (len < sizeof(int))
			return -EINVAL;
		memcpy(&v, val, sizeof(v));
	}
	r = sk_setopt(rt_lock(), o->sock, (enum sk_opt)opt, v);
	rt_unlock();
	if (r == 0 && opt != SK_OPT_CONGESTION)
		shim_opts_record(&o->opts, level, name, val, len);
	return r;
}

/* A pending socket's options that are not plain ints for core: the kernel
 * placeholder accepted them; record what the offload must replay. True
 * when handled here. */
static bool record_pending_special(struct shim_ofd *o, int level, int name, const void *val,
                                   socklen_t len)
{
	int v;

	if (level == IPPROTO_IP && (name == IP_TOS || name == IP_TTL)) {
		int opt = name == IP_TOS ? SK_OPT_IP_TOS : SK_OPT_IP_TTL;

		o->opts.value[opt] = ip_optval(val, len);
		o->opts.set_mask |= 1u << opt;
		return true;
	}
	if (level == IPPROTO_IP && name == IP_BIND_ADDRESS_NO_PORT) {
		o->opts.bind_no_port = ip_optval(val, len) != 0;
		return true;
	}
	if (level == SOL_SOCKET && name == SO_BINDTODEVICE) {
		size_t n = len < sizeof(o->opts.bound_dev) - 1 ? len : sizeof(o->opts.bound_dev) - 1;

		memcpy(o->opts.bound_dev, val ? val : "", val ? n : 0);
		o->opts.bound_dev[val ? n : 0] = '\0';
		return true;
	}
	if (level == SOL_SOCKET && name == SO_BUSY_POLL) {
		note_busy_poll(o, val);
		return true;
	}
	/* Kept by the placeholder itself, which answers for them later
	 * (IPV6_V6ONLY is read from it by the offload decision). */
	if ((level == SOL_SOCKET && name == SO_PRIORITY) ||
	    (level == IPPROTO_TCP && name == TCP_FASTOPEN) || level == IPPROTO_IPV6)
		return true;
	if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
		v = shim_congestion_parse(val, len);
		if (v < 0)
			/* The kernel has it (e.g. bbr), synack does not: the
			 * offload warns instead of silently using CUBIC. */
			return false;
		o->opts.value[SK_OPT_CONGESTION] = v;
		o->opts.set_mask |= 1u << SK_OPT_CONGESTION;
		return true;
	}
	return false;
}

SHIM_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct shim_ofd *o;
	int r;

	if (shim_bypass(fd) || !(o = fdt_get(fd)))
		return REAL(setsockopt)(fd, level, name, val, len);
	if (o->kind == SHIM_OFD_PENDING) {
		r = REAL(setsockopt)(fd, level, name, val, len);
		if (r == 0) {
			if (!record_pending_special(o, level, name, val, len))
				shim_opts_record(&o->opts, level, name, val, len);
			if (level == SOL_SOCKET && name == SO_RCVTIMEO)
				set_timeout(&o->rcvtimeo_us, val, len);
			if (level == SOL_SOCKET && name == SO_SNDTIMEO)
				set_timeout(&o->sndtimeo_us, val, len);
		}
		ofd_put(o);
		return r;
	}
	r = o->kind == SHIM_OFD_SYNACK ? sockio_usable(o, fd) : -ENOTSOCK;
	if (r == 0)
		r = set_offloaded(o, fd, level, name, val, len);
	if (r == 0 && o->kside_bound)
		/* The kernel's side of the listener (kside.h) takes it too:
		 * its connections inherit it, as from a Linux listener. */
		(void)REAL(setsockopt)(fd, level, name, val, len);
	ofd_put(o);
	return (int)shim_ret(r);
}

static int put_out(void *val, socklen_t *len, const void *src, socklen_t srclen)
{
	if (!val || !len)
		return -EFAULT;
	if ((int)*len < 0)
		return -EINVAL;
	memcpy(val, src, *len < srclen ? *len : srclen);
	*len = *len < srclen ? *len : srclen;
	return 0;
}

/* do_ip_getsockopt: one byte when the buffer is shorter than an int and
 * the value fits. */
static int put_ip(void *val, socklen_t *len, int v)
{
	if (!val || !len)
		return -EFAULT;
	if ((int)*len < 0)
		return -EINVAL;
	if (*len < sizeof(int) && *len > 0 && v >= 0 && v <= 255) {
		unsigned char c = (unsigned char)v;

		*len = 1;
		memcpy(val, &c, 1);
		return 0;
	}
	return put_out(val, len, &v, sizeof(v));
}

static int get_ip(struct shim_ofd *o, int name, void *val, socklen_t *len)
{
	int v, r;

	switch (name) {
	case IP_BIND_ADDRESS_NO_PORT:
		return put_ip(val, len, o->opts.bind_no_port);
	case IP_TOS:
	case IP_TTL:
		r = sk_getopt(rt_lock(), o->sock, name == IP_TOS ? SK_OPT_IP_TOS : SK_OPT_IP_TTL, &v);
		rt_unlock();
		return r < 0 ? r : put_ip(val, len, v);
	default:
		return -ENOPROTOOPT;
	}
}

static int get_offloaded(struct shim_ofd *o, int fd, int level, int name, void *val,
                         socklen_t *len)
{
	int opt = shim_opt_lookup(level, name), v, r = 0;

	if (level == IPPROTO_IP)
		return get_ip(o, name, val, len);
	if (o->family == AF_INET && level != SOL_SOCKET && level != IPPROTO_TCP)
		/* tcp_getsockopt hands other levels to ip_getsockopt, which
		 * knows only SOL_IP (ipv6_getsockopt: ENOPROTOOPT). */
		return -EOPNOTSUPP;
	if (level == IPPROTO_IPV6) {
		/* set_ipv6: an offloaded AF_INET6 socket is never V6ONLY. */
		v = 0;
		if (name == IPV6_V6ONLY)
			return put_out(val, len, &v, sizeof(v));
		return REAL(getsockopt)(fd, level, name, val, len) < 0 ? -errno : 0;
	}
	if ((level == SOL_SOCKET &&
	     (name == SO_PRIORITY || name == SO_BINDTODEVICE || name == SO_BUSY_POLL)) ||
	    (level == IPPROTO_TCP && (name == TCP_FASTOPEN || name == TCP_FASTOPEN_CONNECT)))
		return REAL(getsockopt)(fd, level, name, val, len) < 0 ? -errno : 0;

	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_ERROR:
			v = sk_take_error(rt_lock(), o->sock);
			rt_unlock();
			return put_out(val, len, &v, sizeof(v));
		case SO_TYPE:
			v = SOCK_STREAM;
			return put_out(val, len, &v, sizeof(v));
		case SO_DOMAIN:
			v = o->family;
			return put_out(val, len, &v, sizeof(v));
		case SO_PROTOCOL:
			v = IPPROTO_TCP;
			return put_out(val, len, &v, sizeof(v));
		case SO_ACCEPTCONN:
			opt = SK_OPT_ACCEPTCONN;
			break;
		case SO_RCVTIMEO:
		case SO_SNDTIMEO: {
			int64_t us = name == SO_RCVTIMEO ? o->rcvtimeo_us : o->sndtimeo_us;
			struct timeval tv = {.tv_sec = us / 1000000, .tv_usec = us % 1000000};

			return put_out(val, len, &tv, sizeof(tv));
		}
		case SO_LINGER: {
			struct linger l = {.l_onoff = o->opts.linger_onoff,
			                   .l_linger = o->opts.linger_secs};

			return put_out(val, len, &l, sizeof(l));
		}
		}
	}
	if (level == IPPROTO_TCP && name == TCP_INFO) {
		struct sk_tcp_info info;

		r = sk_get_info(rt_lock(), o->sock, &info);
		rt_unlock();
		return r < 0 ? r : shim_tcp_info_get(&info, val, len);
	}
	if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
		r = sk_getopt(rt_lock(), o->sock, SK_OPT_CONGESTION, &v);
		rt_unlock();
		return r < 0 ? r : shim_congestion_get(v, val, len);
	}
	if (opt < 0)
		return -ENOPROTOOPT;
	r = sk_getopt(rt_lock(), o->sock, (enum sk_opt)opt, &v);
	rt_unlock();
	return r < 0 ? r : put_out(val, len, &v, sizeof(v));
}

SHIM_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct shim_ofd *o;
	int r;

	if (shim_bypass(fd) || !(o = fdt_get(fd)))
		return REAL(getsockopt)(fd, level, name, val, len);
	if (o->kind != SHIM_OFD_SYNACK) {
		ofd_put(o);
		return REAL(getsockopt)(fd, level, name, val, len);
	}
	r = sockio_usable(o, fd);
	if (r == 0)
		r = get_offloaded(o, fd, level, name, val, len);
	ofd_put(o);
	return (int)shim_ret(r);
}

void shim_opts_inherit_placeholder(int lfd, int nfd, int family, unsigned busy_poll_us)
{
	static const int v6[] = {IPV6_TCLASS, IPV6_UNICAST_HOPS};
	char dev[IFNAMSIZ];
	socklen_t l = sizeof(dev);
	int v = (int)busy_poll_us;

	if (REAL(getsockopt)(lfd, SOL_SOCKET, SO_BINDTODEVICE, dev, &l) == 0 && l > 1)
		REAL(setsockopt)(nfd, SOL_SOCKET, SO_BINDTODEVICE, dev, l);
	/* sk_clone_lock copies sk_ll_usec; a new placeholder already has
	 * the default. */
	if (busy_poll_us != shim_busy_poll_default(nfd))
		REAL(setsockopt)(nfd, SOL_SOCKET, SO_BUSY_POLL, &v, sizeof(v));
	/* tcp_v6_syn_recv_sock copies the listener's IPv6 settings into a
	 * v4-mapped child. */
	for (unsigned i = 0; family == AF_INET6 && i < sizeof(v6) / sizeof(v6[0]); i++) {
		l = sizeof(v);
		if (REAL(getsockopt)(lfd, IPPROTO_IPV6, v6[i], &v, &l) == 0)
			REAL(setsockopt)(nfd, IPPROTO_IPV6, v6[i], &v, l);
	}
}

unsigned shim_busy_poll_of(int fd)
{
	int v = 0;
	socklen_t l = sizeof(v);

	return REAL(getsockopt)(fd, SOL_SOCKET, SO_BUSY_POLL, &v, &l) == 0 && v > 0 ? (unsigned)v
	                                                                            : 0;
}

unsigned shim_busy_poll_default(int fd)
{
	/* -1: not read yet. Should the sysctl change while the program runs,
	 * its later placeholders say the new value and their waits spin for
	 * this one, until the program sets SO_BUSY_POLL. */
	static atomic_int busy_read = -1;
	int v = atomic_load(&busy_read);

	if (v < 0) {
		v = (int)shim_busy_poll_of(fd);
		atomic_store(&busy_read, v);
	}
	return (unsigned)v;
}
