/* socket, bind, listen, connect, accept/accept4, getsockname, getpeername,
 * shutdown; and the offload decision taken at bind/connect/listen
 * (docs/configuration.md, "Offload decision"). AF_INET6 sockets are
 * served through IPv4-mapped addresses (sockaddr.h); a listener on every
 * address listens on the kernel's side too (kside.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "../iomux/epoll.h"
#include "intercept.h"
#include "../socket/kside.h"
#include "../runtime/log.h"
#include "../socket/offload.h"
#include "../socket/opts.h"
#include "../shared/shm_stack.h"
#include "../socket/sockaddr.h"
#include "../socket/sockio.h"
#include "../iomux/wait.h"

SHIM_EXPORT int socket(int domain, int type, int protocol)
{
	struct shim_ofd *o;
	int fd;

	shim_init();
	fd = shim_new_fd(REAL(socket)(domain, type, protocol));
	if (fd < 0 || shim_inside())
		return fd;
	/* Mask SOCK_NONBLOCK|SOCK_CLOEXEC before classifying. */
	if ((domain != AF_INET && domain != AF_INET6) || (type & 0xf) != SOCK_STREAM ||
	    (protocol != 0 && protocol != IPPROTO_TCP))
		return fd;
	o = ofd_new(SHIM_OFD_PENDING);
	if (!o || fdt_install(fd, o) < 0) {
		shim_log(SK_LOG_WARN,
		         "fd %d cannot be tracked (out of memory or beyond the table): "
		         "it stays a kernel socket",
		         fd);
		free(o);
		return fd;
	}
	o->nonblock = (type & SOCK_NONBLOCK) != 0;
	o->family = domain;
	atomic_store(&o->busy_poll_us, shim_busy_poll_default(fd));
	return fd;
}

/* The pending socket at fd is the kernel's from now on. */
static void to_kernel(struct shim_ofd *o, int fd, const char *reason)
{
	shim_log(SK_LOG_DEBUG, "fd %d: %s", fd, reason);
	fdt_forget(o);
}

/* Give a pending description its core socket, options replayed. */
static int activate(struct shim_ofd *o, int fd, const char *reason)
{
	struct sk_stack *st;
	int r = rt_start(), sock;

	if (r < 0)
		return r;
	st = rt_lock();
	sock = sk_socket(st);
	if (sock >= 0) {
		shm_sock_take(sock);
		shim_opts_replay(st, sock, &o->opts);
	}
	rt_unlock();
	if (sock < 0)
		return sock;
	o->sock = sock;
	o->kind = SHIM_OFD_SYNACK;
	shim_epoll_adopt_pending(o);
	shim_log(SK_LOG_DEBUG, "fd %d: %s", fd, reason);
	shim_opts_report_unsupported(&o->opts, fd);
	return 0;
}

/* Back to pending after a failed first bind/connect: the decision may
 * come out differently for the next address. */
static void deactivate(struct shim_ofd *o)
{
	struct sk_stack *st = rt_lock();

	shim_epoll_forget(o);
	sockio_core_close(st, o->sock);
	rt_unlock();
	o->sock = -1;
	o->kind = SHIM_OFD_PENDING;
	o->bound_any = false;
	o->v4_any_mapped = false;
}

/* IPV6_V6ONLY as the placeholder has it: set by the program while
 * pending, or the default of net.ipv6.bindv6only. */
static bool v6only(int fd)
{
	int v = 0;
	socklen_t l = sizeof(v);

	return REAL(getsockopt)(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &l) == 0 && v;
}

/* Decide for a pending socket (a: NULL for listen). Returns 1 = now
 * offloaded (*v4: the IPv4 address core gets), 0 = the caller passes the
 * call to the kernel (the socket is the kernel's, or stays undecided when
 * the placeholder answers with Linux's error), or -errno. */
static int decide(struct shim_ofd *o, int fd, enum shim_offload_op op, const struct shim_sa *a,
                  uint32_t *v4)
{
	struct shim_offload_decision d;
	int r;

	if (o->family == AF_INET6) {
		shim_offload_decide6(shim_config(), op, a, v6only(fd), v4, &d);
	} else {
		*v4 = a ? a->addr : 0;
		shim_offload_decide(shim_config(), op, *v4, &d);
	}
	shim_offload_device(shim_config(), o->opts.bound_dev, op, &d);
	switch (d.verdict) {
	case SHIM_PLACEHOLDER_ANSWERS:
		shim_log(SK_LOG_DEBUG, "fd %d: %s", fd, d.reason);
		return 0;
	case SHIM_KERNEL:
		to_kernel(o, fd, d.reason);
		return 0;
	case SHIM_OFFLOAD_FAIL:
		if (d.err == ENETDOWN)
			rt_start(); /* prints the configuration problem, once */
		shim_log(d.err == ENETDOWN ? SK_LOG_DEBUG : SK_LOG_ERROR, "fd %d: %s", fd,
		         d.reason);
		return -d.err;
	case SHIM_OFFLOAD:
		break;
	}
	r = activate(o, fd, d.reason);
	return r < 0 ? r : 1;
}

SHIM_EXPORT int listen(int fd, int backlog)
{
	struct shim_ofd *o;
	int r = 0;

	if (shim_bypass(fd) || !(o = fdt_get(fd)))
		return REAL(listen)(fd, backlog);
	if (o->kind == SHIM_OFD_PENDING) {
		uint32_t v4;

		r = decide(o, fd, SHIM_OP_LISTEN, NULL, &v4);
		if (r == 0) {
			ofd_put(o);
			return REAL(listen)(fd, backlog);
		}
		/* Unbound: listening on every address (Linux autobinds to
		 * INADDR_ANY, or :: for AF_INET6). */
		o->bound_any = true;
	} else if (o->kind == SHIM_OFD_SYNACK) {
		r = sockio_usable(o, fd);
	} else {
		r = -ENOTSOCK;
	}
	if (r >= 0) {
		struct sk_stack *st = rt_lock();

		r = sk_listen(st, o->sock, backlog, shim_now_us());
		rt_unlock();
		if (r == 0)
			kside_listen(o, fd, backlog);
	}
	ofd_put(o);
	return (int)shim_ret(r);
}

/* bind on every address: the kernel's side of the port too (kside.h). An
 * EADDRINUSE there is the program's answer (the port is taken on this
 * host), after core's bind is undone by the caller. */
static int bind_kside(struct shim_ofd *o, int fd)
{
	struct sk_endpoint ep;
	int r;

	if (!kside_wanted(o))
		return 0;
	r = sk_getsockname(rt_lock(), o->sock, &ep);
	rt_unlock();
	if (r == 0)
		r = kside_bind(o, fd, ep.port);
	if (r < 0 && r != -EADDRINUSE) {
		/* EACCES (a port below ip_unprivileged_port_start)...: the
		 * port works on synack's side, as before. */
		shim_log(SK_LOG_WARN,
		         "fd %d: port %u cannot be bound on the kernel's side too (%s): only "
		         "connections to synack's address will reach it",
		         fd, (unsigned)ep.port, strerror(-r));
		r = 0;
	}
	return r;
}

/* The core half of bind/connect on an offloaded socket. */
static int core_addr_op(struct shim_ofd *o, int fd, enum shim_offload_op op, uint32_t a,
                        uint16_t port)
{
	struct sk_endpoint ep;
	int r;

	if (op == SHIM_OP_CONNECT) {
		/* An unbound socket gets its ephemeral port first, as connect
		 * would pick it. */
		struct sk_stack *st = rt_lock();

		if (sk_getsockname(st, o->sock, &ep) == 0 && ep.port == 0 &&
		    sk_sock_state(st, o->sock) == SK_TCP_CLOSED)
			sk_bind_for_connect(st, o->sock, a, port);
		rt_unlock();
		return sockio_connect(o, a, port);
	}
	if (port == 0 && o->opts.bind_no_port) {
		/* IP_BIND_ADDRESS_NO_PORT (Linux __inet_bind): the address
		 * now, the port at connect(), which picks it for the
		 * destination (core_addr_op above). */
		if (a != 0 && a != shim_config()->addr)
			return -EADDRNOTAVAIL;
		o->noport_bound = true;
		o->noport_addr = a;
		return 0;
	}
	r = sk_bind(rt_lock(), o->sock, a, port);
	rt_unlock();
	if (r == 0)
		r = bind_kside(o, fd);
	return r;
}

/* The first connect of a socket synack bound to every address (INADDR_ANY,
 * ::), towards a destination synack does not serve (loopback, native IPv6):
 * its placeholder, bound to the same port on the kernel's side (kside.h),
 * takes the connection, as it would have if the socket had been decided at
 * connect. 1 = the kernel's now (pass the call through), 0 = synack's
 * destination, or -errno (SYNACK_STRICT). */
static int connect_to_kernel(struct shim_ofd *o, int fd, const struct shim_sa *sa)
{
	struct shim_offload_decision d;
	struct sk_stack *st;
	uint32_t v4;
	bool fresh;

	if (!o->kside_bound || o->kside_listening || o->connecting)
		return 0;
	if (o->family == AF_INET6)
		shim_offload_decide6(shim_config(), SHIM_OP_CONNECT, sa, false, &v4, &d);
	else
		shim_offload_decide(shim_config(), SHIM_OP_CONNECT, sa->addr, &d);
	if (d.verdict == SHIM_OFFLOAD || d.verdict == SHIM_PLACEHOLDER_ANSWERS)
		return 0;
	st = rt_lock();
	fresh = sk_sock_state(st, o->sock) == SK_TCP_CLOSED;
	rt_unlock();
	if (!fresh)
		return 0;
	if (d.verdict == SHIM_OFFLOAD_FAIL) {
		shim_log(SK_LOG_ERROR, "fd %d: %s", fd, d.reason);
		return -d.err;
	}
	shim_epoll_return(o);
	st = rt_lock();
	sockio_core_close(st, o->sock);
	rt_unlock();
	o->sock = -1;
	o->kind = SHIM_OFD_PENDING;
	to_kernel(o, fd, d.reason);
	return 1;
}

/* bind and connect: the same decision path, a different core call.
 * *pass: the socket is the kernel's, call the real function. */
static int addr_call(int fd, const struct sockaddr *addr, socklen_t len, enum shim_offload_op op,
                     bool *pass)
{
	struct shim_ofd *o;
	struct shim_sa sa;
	uint32_t a;
	int r;

	*pass = shim_bypass(fd) || !(o = fdt_get(fd));
	if (*pass)
		return 0;
	if (o->kind == SHIM_OFD_PENDING && op == SHIM_OP_CONNECT && addr &&
	    len >= sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC) {
		/* Dissolving an association the socket does not have yet:
		 * the kernel answers that one. */
		*pass = true;
		ofd_put(o);
		return 0;
	}
	r = shim_sa_parse(o->family, addr, len, &sa);
	if (r == 0 && o->kind == SHIM_OFD_PENDING) {
		/* A port the kernel's side already uses, picked by core for
		 * bind(port 0): try another one, a few times. */
		for (int tries = 0; tries < 8; tries++) {
			r = decide(o, fd, op, &sa, &a);
			*pass = r == 0;
			if (r <= 0)
				break;
			if (op == SHIM_OP_BIND) {
				o->bound_any = a == 0;
				o->v4_any_mapped = a == 0 && sa.mapped;
			}
			r = core_addr_op(o, fd, op, a, sa.port);
			/* A first bind/connect that failed outright (not a
			 * handshake under way or refused later) leaves the
			 * socket undecided. */
			if (r < 0 &&
			    (op == SHIM_OP_BIND || r == -ENETUNREACH || r == -EADDRNOTAVAIL))
				deactivate(o);
			if (!(r == -EADDRINUSE && op == SHIM_OP_BIND && sa.port == 0))
				break;
		}
	} else if (r == 0 && o->kind == SHIM_OFD_SYNACK) {
		r = sockio_usable(o, fd);
		if (r == 0 && op == SHIM_OP_CONNECT)
			r = connect_to_kernel(o, fd, &sa);
		if (r == 1)
			*pass = true;
		else if (r == 0 && sa.kind != SHIM_SA_V4)
			/* Bound or connected through IPv4 already: no IPv6
			 * address can follow (Linux: EINVAL for a second
			 * bind, EAFNOSUPPORT/ENETUNREACH for connect). */
			r = op == SHIM_OP_BIND ? -EINVAL : -ENETUNREACH;
		else if (r == 0)
			r = core_addr_op(o, fd, op, sa.addr, sa.port);
	} else if (r == 0) {
		r = -ENOTSOCK;
	}
	ofd_put(o);
	return r;
}

SHIM_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	bool pass;
	int r = addr_call(fd, addr, len, SHIM_OP_BIND, &pass);

	return pass ? REAL(bind)(fd, addr, len) : (int)shim_ret(r);
}

SHIM_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	bool pass;
	int r = addr_call(fd, addr, len, SHIM_OP_CONNECT, &pass);

	return pass ? REAL(connect)(fd, addr, len) : (int)shim_ret(r);
}

SHIM_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct shim_ofd *o, *n;
	struct sk_endpoint peer;
	unsigned busy;
	long err;
	int sock, nfd;

	if (shim_bypass(fd))
		return shim_new_fd(REAL(accept4)(fd, addr, len, flags));
	o = shim_synack_ofd(fd, &err);
	if (!o)
		return err ? (int)shim_ret(err) : shim_new_fd(REAL(accept4)(fd, addr, len, flags));
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
		ofd_put(o);
		return (int)shim_ret(-EINVAL);
	}
	if (o->kside_listening) {
		int kfd = -1;

		sock = kside_accept(o, fd, flags, &peer, &kfd, addr, len);
		if (sock == KSIDE_KERNEL) {
			/* A kernel connection (loopback...): the program's
			 * plain kernel socket from now on. */
			ofd_put(o);
			return shim_new_fd(kfd);
		}
	} else {
		sock = sockio_accept(o, &peer, o->nonblock);
	}
	if (sock < 0) {
		ofd_put(o);
		return (int)shim_ret(sock);
	}
	nfd = REAL(socket)(o->family, SOCK_STREAM | flags, 0);
	n = nfd >= 0 ? ofd_new(SHIM_OFD_SYNACK) : NULL;
	if (!n || fdt_install(nfd, n) < 0) {
		int e = nfd < 0 ? errno : ENOMEM;
		struct sk_stack *st = rt_lock();

		sockio_core_close(st, sock);
		rt_unlock();
		if (nfd >= 0)
			REAL(close)(nfd);
		free(n);
		ofd_put(o);
		return (int)shim_ret(-e);
	}
	n->sock = sock;
	n->nonblock = (flags & SOCK_NONBLOCK) != 0;
	n->family = o->family;
	/* Linux copies the listener's timeouts into the child socket... */
	n->rcvtimeo_us = o->rcvtimeo_us;
	n->sndtimeo_us = o->sndtimeo_us;
	busy = atomic_load(&o->busy_poll_us);
	atomic_store(&n->busy_poll_us, busy);
	ofd_put(o);
	/* ... and the options its placeholder keeps (SO_BINDTODEVICE...). */
	shim_opts_inherit_placeholder(fd, nfd, n->family, busy);
	shim_sa_fill(n->family, false, addr, len, peer.addr, peer.port);
	return nfd;
}

SHIM_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (shim_bypass(fd))
		return shim_new_fd(REAL(accept)(fd, addr, len));
	return accept4(fd, addr, len, 0);
}

typedef int (*name_fn)(const struct sk_stack *, int, struct sk_endpoint *);

static int get_name(int fd, struct sockaddr *addr, socklen_t *len, name_fn fn,
                    int (*real)(int, struct sockaddr *, socklen_t *))
{
	struct sk_endpoint ep;
	struct shim_ofd *o;
	long err;
	int r;

	o = shim_offloaded(fd, &err);
	if (!o)
		return err ? (int)shim_ret(err) : real(fd, addr, len);
	if (!addr || !len) {
		ofd_put(o);
		return (int)shim_ret(-EFAULT);
	}
	r = fn(rt_lock(), o->sock, &ep);
	rt_unlock();
	if (r == 0 && fn == sk_getsockname && ep.port == 0 && o->noport_bound)
		ep.addr = o->noport_addr; /* bound without a port (IP_BIND_ADDRESS_NO_PORT) */
	if (r == 0)
		/* Linux reports an AF_INET6 socket bound to :: as ::, to
		 * ::ffff:0.0.0.0 as that. */
		shim_sa_fill(o->family, !o->v4_any_mapped, addr, len, ep.addr, ep.port);
	ofd_put(o);
	return (int)shim_ret(r);
}

SHIM_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return get_name(fd, addr, len, sk_getsockname, REAL(getsockname));
}

SHIM_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return get_name(fd, addr, len, sk_getpeername, REAL(getpeername));
}

SHIM_EXPORT int shutdown(int fd, int how)
{
	struct sk_stack *st;
	struct shim_ofd *o;
	long err;
	int r;

	o = shim_offloaded(fd, &err);
	if (!o)
		return err ? (int)shim_ret(err) : REAL(shutdown)(fd, how);
	if (how < SHUT_RD || how > SHUT_RDWR) {
		ofd_put(o);
		return (int)shim_ret(-EINVAL);
	}
	st = rt_lock();
	r = sk_shutdown(st, o->sock, how, shim_now_us());
	sockio_deliver_own(st); /* a FIN to ourselves */
	/* Threads of this process blocked on the socket must see it, every
	 * one (blocked accepts too). */
	wait_wake_every(o->sock);
	rt_unlock();
	if (o->kside_listening)
		(void)REAL(shutdown)(fd, how); /* the kernel's side stops too */
	ofd_put(o);
	return (int)shim_ret(r);
}
