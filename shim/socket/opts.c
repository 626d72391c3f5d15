/* Option mapping and recording (see opts.h). */
#include "opts.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "../runtime/log.h"

struct opt_map {
	int level, name;
	enum sk_opt opt;
};

static const struct opt_map map[] = {
    {SOL_SOCKET, SO_REUSEADDR, SK_OPT_REUSEADDR}, {SOL_SOCKET, SO_KEEPALIVE, SK_OPT_KEEPALIVE},
    {SOL_SOCKET, SO_RCVBUF, SK_OPT_RCVBUF},       {SOL_SOCKET, SO_SNDBUF, SK_OPT_SNDBUF},
    {IPPROTO_TCP, TCP_NODELAY, SK_OPT_NODELAY},   {IPPROTO_TCP, TCP_MAXSEG, SK_OPT_MAXSEG},
    {IPPROTO_TCP, TCP_KEEPIDLE, SK_OPT_KEEPIDLE}, {IPPROTO_TCP, TCP_KEEPINTVL, SK_OPT_KEEPINTVL},
    {IPPROTO_TCP, TCP_KEEPCNT, SK_OPT_KEEPCNT},   {IPPROTO_TCP, TCP_QUICKACK, SK_OPT_QUICKACK},
    /* ms, as Linux; core ends unacknowledged data and dead keepalive with ETIMEDOUT */
    {IPPROTO_TCP, TCP_USER_TIMEOUT, SK_OPT_USER_TIMEOUT},
    /* partial segments held until uncorked or 200 ms (MSG_MORE: sockio_send) */
    {IPPROTO_TCP, TCP_CORK, SK_OPT_CORK},
    /* POLLIN and data wakes from this many bytes; blocking recv waits for them (sockio_recv) */
    {SOL_SOCKET, SO_RCVLOWAT, SK_OPT_RCVLOWAT},
    /* POLLOUT and send() while unsent bytes are below it (tcp_stream_memory_free) */
    {IPPROTO_TCP, TCP_NOTSENT_LOWAT, SK_OPT_NOTSENT_LOWAT},
    /* seconds; a bare-ACK handshake waits for data (core/tcp_defer.c) */
    {IPPROTO_TCP, TCP_DEFER_ACCEPT, SK_OPT_DEFER_ACCEPT},
    /* several sockets on one port, SYNs spread by a hash of the 4-tuple
     * (core/tcp_table.c); set while pending it is on the placeholder too,
     * so a listener on every address shares the kernel's side alike */
    {SOL_SOCKET, SO_REUSEPORT, SK_OPT_REUSEPORT},
};

int shim_opt_lookup(int level, int name)
{
	for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].level == level && map[i].name == name)
			return (int)map[i].opt;
	return -1;
}

/* Options the shim itself answers (not core's). */
static bool shim_handled(int level, int name)
{
	return level == SOL_SOCKET &&
	       (name == SO_LINGER || name == SO_RCVTIMEO || name == SO_SNDTIMEO);
}

void shim_opts_record(struct shim_opts *opts, int level, int name, const void *val, unsigned len)
{
	int opt = shim_opt_lookup(level, name);

	if (opt >= 0 && len >= sizeof(int)) {
		memcpy(&opts->value[opt], val, sizeof(int));
		opts->set_mask |= 1u << opt;
	} else if (level == SOL_SOCKET && name == SO_LINGER && len >= sizeof(struct linger)) {
		struct linger l;

		memcpy(&l, val, sizeof(l));
		opts->linger_onoff = l.l_onoff;
		opts->linger_secs = l.l_linger;
		opts->value[SK_OPT_LINGER_ABORT] = l.l_onoff && l.l_linger == 0;
		opts->set_mask |= 1u << SK_OPT_LINGER_ABORT;
	} else if (opt < 0 && !shim_handled(level, name) && !opts->unsupported_name &&
	           !opts->unsupported_level) {
		opts->unsupported_level = level;
		opts->unsupported_name = name;
	}
}

void shim_opts_replay(struct sk_stack *st, int sock, const struct shim_opts *opts)
{
	for (int i = 0; i < SK_OPT__COUNT; i++) {
		int r;

		if (!(opts->set_mask & (1u << i)))
			continue;
		r = sk_setopt(st, sock, (enum sk_opt)i, opts->value[i]);
		if (r < 0)
			shim_log(SK_LOG_WARN,
			         "option %d recorded before offload rejected by synack: %s", i,
			         strerror(-r));
	}
}

void shim_opts_report_unsupported(const struct shim_opts *opts, int fd)
{
	if (opts->unsupported_level || opts->unsupported_name)
		shim_log(SK_LOG_WARN,
		         "fd %d: socket option (level %d, name %d) was set before offload; synack "
		         "does not implement it and ignores it",
		         fd, opts->unsupported_level, opts->unsupported_name);
}
