/* setsockopt / getsockopt. Pending sockets: the kernel's placeholder
 * answers (so its validation and errno are exactly Linux's) and accepted
 * values are recorded for the offload. Offloaded sockets: core answers the
 * options it implements, the shim the few it owns (timeouts, linger, type
 * queries); anything else is ENOPROTOOPT. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/time.h>

#include "intercept.h"
#include "opts.h"
#include "sockio.h"
#include "tcp_info.h"

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

static int set_offloaded(struct shim_ofd *o, int level, int name, const void *val, socklen_t len)
{
	int opt = shim_opt_lookup(level, name), v, r;

	if (!val)
		return -EFAULT;
	if (level == SOL_SOCKET && name == SO_RCVTIMEO)
		return set_timeout(&o->rcvtimeo_us, val, len);
	if (level == SOL_SOCKET && name == SO_SNDTIMEO)
		return set_timeout(&o->sndtimeo_us, val, len);
	if (level == SOL_SOCKET && name == SO_REUSEPORT) {
		if (len < sizeof(int))
			return -EINVAL;
		memcpy(&v, val, sizeof(v));
		o->opts.reuseport = v != 0;
		return 0;
	}
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

	if (level == SOL_SOCKET && name == SO_REUSEPORT && len >= sizeof(int)) {
		memcpy(&v, val, sizeof(v));
		o->opts.reuseport = v != 0;
		return true;
	}
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
		r = set_offloaded(o, level, name, val, len);
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

static int get_offloaded(struct shim_ofd *o, int level, int name, void *val, socklen_t *len)
{
	int opt = shim_opt_lookup(level, name), v, r = 0;

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
			v = AF_INET;
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
		case SO_REUSEPORT:
			v = o->opts.reuseport;
			return put_out(val, len, &v, sizeof(v));
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
		r = get_offloaded(o, level, name, val, len);
	ofd_put(o);
	return (int)shim_ret(r);
}
