/* The operator's query socket (see query.h). Runs in the runtime thread
 * only: every function here but shim_query_stop is a libev callback or
 * called from the loop's set-up. */
#include "query.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "../fd/fdtable.h"
#include "../fd/internal_fd.h"
#include "log.h"
#include "../intercept/real.h"
#include "runtime.h"
#include "../shared/shm_stack.h"
#include "stats.h"
#include "../iomux/wait.h"

#define QUERY_MAX_CLIENTS 8
/* An answer is at most this long (about 20000 sockets); the rest is
 * replaced by a "truncated" line. */
#define QUERY_REPLY_MAX (8u << 20)
/* The stack lock is released and taken again after this many sockets,
 * so a long listing never holds the program's threads up for long. */
#define QUERY_SOCKS_PER_LOCK 256
/* A client that has not sent its request or read its answer by then is
 * dropped. */
#define QUERY_CLIENT_TIMEOUT 5.

struct reply {
	char *p;
	size_t len, cap, limit;
	bool full; /* a line did not fit under limit: the rest is left out */
};

struct client {
	bool open;
	bool denied; /* another user (SO_PEERCRED): answered with an error */
	int fd;
	ev_io w;
	ev_tstamp since;
	char req[64];
	size_t reqlen;
	struct reply out;
	size_t sent;
};

static struct {
	pid_t pid; /* who opened fd (daemon()'s child replaces it) */
	int fd;
	struct ev_loop *loop;
	ev_io w;
	ev_timer reaper;
	struct client c[QUERY_MAX_CLIENTS];
} q = {.fd = -1};

/* ---- the answer ---------------------------------------------------- */

static void __attribute__((format(printf, 2, 3))) put(struct reply *r, const char *fmt, ...)
{
	va_list ap;
	size_t need;
	int n;

	if (r->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	need = r->len + (size_t)n + 1;
	if (need > r->limit) {
		r->full = true;
		return;
	}
	if (need > r->cap) {
		size_t cap = r->cap ? r->cap : 16384;
		char *p;

		while (cap < need)
			cap *= 2;
		if (!(p = realloc(r->p, cap))) {
			r->full = true;
			return;
		}
		r->p = p;
		r->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(r->p + r->len, r->cap - r->len, fmt, ap);
	va_end(ap);
	r->len += (size_t)n;
}

static const char *ip(uint32_t a, char *buf)
{
	snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	return buf;
}

/* The program's fd of each of its sockets (fdtable.h), sorted by socket. */
struct fd_of {
	int sock, fd;
};
struct fd_map {
	struct fd_of *v;
	size_t n, cap;
};

static void collect_fd(int fd, struct shim_ofd *o, void *arg)
{
	struct fd_map *m = arg;

	if (ofd_core_sock(o) < 0)
		return;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct fd_of *v = realloc(m->v, cap * sizeof(*v));

		if (!v)
			return;
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n++] = (struct fd_of){o->sock, fd};
}

static int by_sock(const void *a, const void *b)
{
	const struct fd_of *x = a, *y = b;

	return x->sock != y->sock ? (x->sock > y->sock) - (x->sock < y->sock)
	                          : (x->fd > y->fd) - (x->fd < y->fd);
}

/* sk_tcp_info's fields, as they are named there. */
#define INFO_FIELDS(X)                                                                             \
	X(ca_state)                                                                                \
	X(retransmits)                                                                             \
	X(options)                                                                                 \
	X(snd_wscale)                                                                              \
	X(rcv_wscale)                                                                              \
	X(rto_us)                                                                                  \
	X(ato_us)                                                                                  \
	X(snd_mss)                                                                                 \
	X(rcv_mss)                                                                                 \
	X(advmss)                                                                                  \
	X(unacked)                                                                                 \
	X(sacked)                                                                                  \
	X(pmtu)                                                                                    \
	X(rtt_us)                                                                                  \
	X(rttvar_us)                                                                               \
	X(snd_cwnd)                                                                                \
	X(snd_ssthresh)                                                                            \
	X(bytes_acked)                                                                             \
	X(bytes_received)                                                                          \
	X(bytes_sent)                                                                              \
	X(bytes_retrans)                                                                           \
	X(total_retrans)                                                                           \
	X(notsent_bytes)                                                                           \
	X(snd_wnd)

static void put_sock(struct reply *r, const struct sk_stack *st, int s,
                     const struct sk_sock_view *v, const struct fd_map *m, sk_time_t now)
{
	static const char *const cc_names[] = {"cubic", "reno"};
	char a[16], b[16];
	size_t i = 0, lo = 0, hi = m->n;
	int cc;

	put(r, "sock id=%d fds=", s);
	/* The first pair of this socket (binary search), then its run. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->v[mid].sock < s)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; v->user_owned && i < m->n && m->v[i].sock == s; i++)
		put(r, "%s%d", i > lo ? "," : "", m->v[i].fd);
	if (i == lo)
		put(r, "-");
	put(r, " owned=%d parent=%d state=%d local=%s:%u peer=%s:%u rq=%" PRIu32 " sq=%" PRIu32,
	    v->user_owned, v->parent, (int)v->info.state, ip(v->local.addr, a), v->local.port,
	    ip(v->remote.addr, b), v->remote.port, v->rx_queued, v->tx_queued);
	if (v->since != SK_TIME_NEVER && now >= v->since)
		put(r, " age_us=%" PRIu64, (uint64_t)(now - v->since));
	if (v->user_owned && sk_getopt(st, s, SK_OPT_CONGESTION, &cc) == 0 && cc >= 0 && cc < 2)
		put(r, " cc=%s", cc_names[cc]);
#define FIELD(f) put(r, " " #f "=%" PRIu64, (uint64_t)v->info.f);
	INFO_FIELDS(FIELD)
#undef FIELD
	put(r, "\n");
}

static void build(struct reply *r, bool socks)
{
	const struct shim_config *cfg = shim_config();
	struct shim_stats_snap snap;
	struct fd_map m = {0};
	struct sk_stack *st;
	char comm[64] = "?", a[16], b[16], stats[8192]; /* ~95 counters of at most 56 bytes */
	struct sk_tw_view tw;
	int fd = REAL(open)("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? REAL(read)(fd, comm, sizeof(comm) - 1) : -1;
	sk_time_t now;
	int s, listed = 0;

	if (fd >= 0)
		REAL(close)(fd);
	if (n > 0) {
		comm[n] = '\0';
		comm[strcspn(comm, "\n")] = '\0';
		for (char *c = comm; *c; c++)
			if (*c == ' ' || *c == '=' || (unsigned char)*c < 32)
				*c = '_';
	}
	st = rt_lock();
	now = shim_now_us();
	shim_stats_take(st, &snap);
	if (socks) {
		/* Lock order: the stack, then the fd table (runtime.c). */
		fdt_foreach(collect_fd, &m);
		qsort(m.v, m.n, sizeof(*m.v), by_sock);
	}
	rt_unlock();
	put(r, "synack 1 pid=%d uid=%u comm=%s iface=%s addr=%s/%u uptime_us=%" PRIu64 "\n",
	    (int)getpid(), (unsigned)geteuid(), comm, cfg->iface, ip(cfg->addr, a), cfg->prefix_len,
	    (uint64_t)(now - rt_epoch()));
	shim_stats_format(&snap, "stat ", "gauge ", stats, sizeof(stats));
	put(r, "%s", stats);
	if (socks) {
		st = rt_lock();
		now = shim_now_us();
		for (s = sk_next_socket(st, -1); s >= 0 && !r->full; s = sk_next_socket(st, s)) {
			struct sk_sock_view v;

			/* Each socket once across the stack's processes: by
			 * its owner (shm_stack.h). */
			if (shm_sock_mine(s) && sk_sock_view(st, s, &v) == 0)
				put_sock(r, st, s, &v, &m, now);
			if (++listed % QUERY_SOCKS_PER_LOCK == 0) {
				rt_unlock(); /* the program's threads get their turn */
				st = rt_lock();
				now = shim_now_us();
			}
		}
		/* The TIME_WAIT table's connections belong to no process. */
		for (s = shm_orphans_mine() ? sk_time_wait_next(st, -1, &tw) : -1;
		     s >= 0 && !r->full; s = sk_time_wait_next(st, s, &tw)) {
			if (++listed % QUERY_SOCKS_PER_LOCK == 0) {
				rt_unlock(); /* as above; the walk goes on by index */
				st = rt_lock();
				now = shim_now_us();
			}
			put(r,
			    "sock id=-1 fds=- owned=0 parent=-1 state=%d local=%s:%u peer=%s:%u rq=0 "
			    "sq=0 expires_us=%" PRIu64 "\n",
			    (int)SK_TCP_TIME_WAIT, ip(tw.local.addr, a), tw.local.port,
			    ip(tw.remote.addr, b), tw.remote.port,
			    (uint64_t)(tw.expires > now ? tw.expires - now : 0));
		}
		rt_unlock();
	}
	free(m.v);
	/* The bound is on what comes before these two lines: a record cut
	 * short goes, the tail says so. */
	r->limit += 64;
	if (r->full) {
		while (r->len > 0 && r->p[r->len - 1] != '\n')
			r->len--;
		r->full = false;
		put(r, "truncated\n");
	}
	put(r, "end\n");
}

/* ---- connections --------------------------------------------------- */

static void client_free(struct client *c, bool stop)
{
	if (!c->open)
		return;
	if (stop)
		ev_io_stop(q.loop, &c->w);
	shim_internal_close(c->fd);
	free(c->out.p);
	memset(c, 0, sizeof(*c));
}

static bool any_client(void)
{
	for (int i = 0; i < QUERY_MAX_CLIENTS; i++)
		if (q.c[i].open)
			return true;
	return false;
}

static void client_done(struct client *c)
{
	client_free(c, true);
	if (!any_client())
		ev_timer_stop(q.loop, &q.reaper);
}

/* Write what the client can take now; close once all is sent. */
static void client_write(struct client *c)
{
	while (c->sent < c->out.len) {
		ssize_t n = REAL(send)(c->fd, c->out.p + c->sent, c->out.len - c->sent,
		                       MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0)
			break;
		c->sent += (size_t)n;
	}
	client_done(c);
}

static void answer(struct client *c)
{
	c->req[strcspn(c->req, "\r\n")] = '\0';
	c->out.limit = QUERY_REPLY_MAX;
	if (c->denied)
		put(&c->out, "error permission denied: only the process's user or root may query "
		             "it\n");
	else if (!strcmp(c->req, "ss") || !strcmp(c->req, "stat"))
		build(&c->out, !strcmp(c->req, "ss"));
	else
		put(&c->out, "error unknown request '%.32s' (ss, stat)\n", c->req);
	if (c->out.full || !c->out.p) {
		client_done(c);
		return;
	}
	ev_io_stop(q.loop, &c->w);
	ev_io_set(&c->w, c->fd, EV_WRITE);
	ev_io_start(q.loop, &c->w);
	client_write(c);
}

static void client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = w->data;

	(void)loop;
	if (revents & EV_WRITE) {
		client_write(c);
		return;
	}
	for (;;) {
		ssize_t n = REAL(recv)(c->fd, c->req + c->reqlen, sizeof(c->req) - 1 - c->reqlen,
		                       MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			client_done(c); /* gone before asking */
			return;
		}
		c->reqlen += (size_t)n;
		c->req[c->reqlen] = '\0';
		if (strchr(c->req, '\n') || c->reqlen == sizeof(c->req) - 1) {
			answer(c);
			return;
		}
	}
}

/* Only the process's own user and root may read it (unix(7) SO_PEERCRED). */
static bool allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid() || cred.uid == getuid();
}

static void refuse(int fd, const char *why)
{
	(void)!REAL(send)(fd, why, strlen(why), MSG_DONTWAIT | MSG_NOSIGNAL);
	shim_internal_close(fd);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	for (;;) {
		int fd = REAL(accept4)(q.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c = NULL;

		if (fd < 0)
			return; /* EAGAIN, or a client that went away */
		fd = shim_internal_adopt(fd);
		for (int i = 0; i < QUERY_MAX_CLIENTS && !c; i++)
			if (!q.c[i].open)
				c = &q.c[i];
		if (!c) {
			refuse(fd, "error busy: too many queries at once, try again\n");
			continue;
		}
		c->open = true;
		/* A refusal too is an answer to the request, read first: a
		 * socket closed with its request unread would reset the
		 * client's connection before it reads why. */
		c->denied = !allowed(fd);
		c->fd = fd;
		c->since = ev_now(q.loop);
		ev_io_init(&c->w, client_cb, c->fd, EV_READ);
		c->w.data = c;
		ev_io_start(q.loop, &c->w);
		if (!ev_is_active(&q.reaper))
			ev_timer_again(q.loop, &q.reaper);
		client_cb(q.loop, &c->w, EV_READ); /* the request is often there already */
	}
}

static void reaper_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w, (void)revents;
	for (int i = 0; i < QUERY_MAX_CLIENTS; i++)
		if (q.c[i].open && ev_now(loop) - q.c[i].since > QUERY_CLIENT_TIMEOUT)
			client_free(&q.c[i], true);
	if (!any_client())
		ev_timer_stop(loop, &q.reaper);
}

/* ---- life ---------------------------------------------------------- */

void shim_query_stop(void)
{
	for (int i = 0; i < QUERY_MAX_CLIENTS; i++)
		client_free(&q.c[i], false);
	if (q.fd >= 0)
		shim_internal_close(q.fd);
	q.fd = -1;
	q.loop = NULL;
}

void shim_query_start(struct ev_loop *loop)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len;
	int fd, n;

	if (q.fd >= 0 || q.pid != getpid())
		shim_query_stop(); /* another process's (daemon()), or a restart */
	q.pid = getpid();
	/* sun_path[0] = '\0': an abstract name, no file, gone with the
	 * process (unix(7)). */
	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, SHIM_QUERY_PREFIX "%d", (int)q.pid);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	/* Moved out of the program's fd range before anything else is done
	 * with it (internal_fd.h). */
	fd = shim_internal_adopt(
	    REAL(socket)(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (fd < 0 || REAL(bind)(fd, (struct sockaddr *)&sa, len) != 0 ||
	    REAL(listen)(fd, QUERY_MAX_CLIENTS) != 0) {
		shim_log(SK_LOG_INFO, "no query socket @%s (synack ss, synack stat): %s",
		         sa.sun_path + 1, strerror(errno));
		shim_internal_close(fd);
		return;
	}
	q.fd = fd;
	q.loop = loop;
	ev_io_init(&q.w, accept_cb, q.fd, EV_READ);
	ev_io_start(loop, &q.w);
	ev_init(&q.reaper, reaper_cb);
	q.reaper.repeat = 1.;
}
