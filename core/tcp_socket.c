/* The TCP socket API of stack.h, with Linux's semantics (tcp_poll,
 * tcp_sendmsg, tcp_recvmsg, inet_shutdown, tcp_close), and the connection
 * life-cycle helpers shared by input and timers. */
#include <errno.h>

#include "seq.h"
#include "tcp.h"
#include "tcp_fsm.h"

/* Linux net.core.rmem_max / wmem_max clamp setsockopt values, which the
 * kernel then doubles (socket(7)); the floor is SOCK_MIN_RCVBUF-ish. */
#define TCP_BUF_OPT_MAX 212992
#define TCP_BUF_MIN     2304

/* ---- helpers for the other tcp files ---- */

uint16_t tcp_mss_ours(const struct sk_stack *st, const struct tcb *t)
{
	/* RFC 9293 §3.7.1: ours = MTU - 40 (IP and TCP headers without
	 * options), lowered by TCP_MAXSEG. */
	uint32_t mss = st->cfg.mtu - 40u;

	if (t->user_mss > 0 && (uint32_t)t->user_mss < mss)
		mss = (uint32_t)t->user_mss;
	return (uint16_t)mss;
}

int tcp_conn_init(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	/* A socket may connect again after a failed attempt, whose receive
	 * ring was kept for reading. The new rings get their storage when
	 * first written (tcp_mem.c): a half-open connection holds none. */
	tcp_ring_release(st, &t->snd);
	tcp_ring_release(st, &t->rcv);
	sk_ringbuf_init(&t->snd, t->sndbuf);
	sk_ringbuf_init(&t->rcv, t->rcvbuf);
	t->iss = sk_tcp_isn(st->cfg.isn_key, t->laddr, t->lport, t->raddr, t->rport, now);
	t->snd_una = t->snd_nxt = t->snd_max = t->iss;
	t->snd_buf_seq = t->iss + 1;
	t->snd_sml = t->iss;
	t->mss_ours = tcp_mss_ours(st, t);
	tcp_opts_init(st, t);
	tcp_set_peer_mss(st, t, -1);
	tcp_rcvbuf_init(t, now);
	t->ssthresh = UINT32_MAX;
	t->cc_ready = true;
	tcp_cc(t)->init(t);
	t->rto = TCP_RTO_INIT;
	t->srtt = t->rttvar = 0;
	t->retries = 0;
	tcp_info_reset(t);
	t->fin_queued = t->fin_rcvd = t->shut_rd = t->shut_wr = false;
	tcp_reass_reset(&t->reass);
	tcp_sack_reset(&t->sb);
	t->in_recovery = false;
	t->recover = t->iss;
	return 0;
}

void tcp_set_peer_mss(struct sk_stack *st, struct tcb *t, int32_t peer_mss)
{
	(void)st;
	/* RFC 9293 §3.7.1: 536 when the SYN has no MSS option; RFC 6691:
	 * the option excludes IP and TCP options, so min() is exact here. */
	uint32_t peer = peer_mss < 0 ? TCP_DEFAULT_MSS : (uint32_t)peer_mss;

	if (peer < TCP_MIN_MSS)
		peer = TCP_MIN_MSS;
	uint32_t mss = peer < t->mss_ours ? peer : t->mss_ours;

	/* Linux mss_cache: the segment's payload also leaves room for the
	 * options every segment carries (the 12-byte TSopt, RFC 7323 §3.2). */
	t->snd_mss = (uint16_t)(mss - tcp_opts_space(t));
	/* RFC 6928: IW = 10 segments of the MSS now known. */
	t->cwnd = TCP_INIT_CWND_SEGS * (uint32_t)t->snd_mss;
}

bool tcp_child_complete(struct sk_stack *st, struct tcb *c)
{
	struct tcb *l = tcp_tcb(st, c->parent);

	if (l->acc_count > l->backlog)
		return false;
	tcp_child_unlink(st, c);
	c->parent = l->id;
	c->in_accept_queue = true;
	c->q_prev = l->acc_tail;
	c->q_next = TCP_NIL;
	if (l->acc_tail != TCP_NIL)
		tcp_tcb(st, l->acc_tail)->q_next = c->id;
	else
		l->acc_head = c->id;
	l->acc_tail = c->id;
	l->acc_count++;
	sk_wake(st, l->id); /* the accept queue grew */
	return true;
}

void tcp_child_unlink(struct sk_stack *st, struct tcb *c)
{
	if (c->parent == TCP_NIL)
		return;
	struct tcb *l = tcp_tcb(st, c->parent);
	int32_t *head = c->in_accept_queue ? &l->acc_head : &l->syn_head;

	if (c->q_prev != TCP_NIL)
		tcp_tcb(st, c->q_prev)->q_next = c->q_next;
	else
		*head = c->q_next;
	if (c->q_next != TCP_NIL)
		tcp_tcb(st, c->q_next)->q_prev = c->q_prev;
	else if (c->in_accept_queue)
		l->acc_tail = c->q_prev;
	if (c->in_accept_queue)
		l->acc_count--;
	else
		l->syn_count--;
	c->parent = c->q_prev = c->q_next = TCP_NIL;
	c->in_accept_queue = false;
}

void tcp_close_conn(struct sk_stack *st, struct tcb *t, int err, const char *cause, sk_time_t now)
{
	if (t->state != SK_TCP_CLOSED)
		tcp_set_state(st, t, SK_TCP_CLOSED, cause, now);
	if (err)
		t->err = err;
	t->shut_rd = t->shut_wr = true;
	t->persist = false;
	t->ack_now = false;
	t->rto_at = t->dack_at = t->state_at = SK_TIME_NEVER;
	tcp_timer_update(st, t);
	tcp_conn_remove(st, t); /* the 4-tuple is free for a new incarnation */
	tcp_ring_release(st, &t->snd);
	t->fin_queued = false;
	/* A child still on the accept queue stays for accept() to return
	 * (Linux does the same); a half-open child or an orphan is freed.
	 * The receive ring stays for the owner: data that arrived before a
	 * reset is still readable. */
	if (t->user_owned || (t->parent != TCP_NIL && t->in_accept_queue))
		return;
	tcp_slot_free(st, t);
}

void tcp_abort(struct sk_stack *st, struct tcb *t, int err, const char *cause, sk_time_t now)
{
	/* RFC 9293 §3.10.4 ABORT: a RST in SYN_RECEIVED, ESTABLISHED,
	 * FIN_WAIT_1/2 and CLOSE_WAIT; none in CLOSING, LAST_ACK, TIME_WAIT. */
	switch (t->state) {
	case SK_TCP_SYN_RECEIVED:
	case SK_TCP_ESTABLISHED:
	case SK_TCP_FIN_WAIT_1:
	case SK_TCP_FIN_WAIT_2:
	case SK_TCP_CLOSE_WAIT:
		tcp_send_rst(st, t, now);
		break;
	default:
		break;
	}
	tcp_close_conn(st, t, err, cause, now);
}

static int take_error(struct tcb *t)
{
	int e = t->err;

	t->err = 0;
	return e;
}

/* Bytes queued and never sent (Linux write_seq - snd_nxt). */
static uint32_t notsent(const struct tcb *t)
{
	uint32_t end = t->snd_buf_seq + (uint32_t)sk_ringbuf_len(&t->snd);

	return seq_gt(end, t->snd_max) ? end - t->snd_max : 0;
}

/* Linux tcp_stream_memory_free: TCP_NOTSENT_LOWAT. `wake` (poll and
 * wake-ups) asks for twice the margin send() needs. */
static bool notsent_ok(const struct tcb *t, int wake)
{
	return !t->notsent_lowat || ((uint64_t)notsent(t) << wake) < t->notsent_lowat;
}

/* Linux __sk_stream_is_writeable(sk, 1): free space of at least half the
 * queued, and TCP_NOTSENT_LOWAT. */
static bool writeable(const struct tcb *t)
{
	if (!t->snd.buf)
		return true;
	return sk_ringbuf_space(&t->snd) >= sk_ringbuf_len(&t->snd) / 2 &&
	       sk_ringbuf_space(&t->snd) > 0 && notsent_ok(t, 1);
}

/* How much of `want` bytes sk_sendmsg may queue now. Linux tcp_sendmsg
 * checks sk_stream_memory_free before each new segment: with
 * TCP_NOTSENT_LOWAT, whole segments while the unsent bytes are below it
 * (the last may overshoot, as Linux's does). */
static size_t send_room(const struct tcb *t, size_t want)
{
	uint32_t mss = t->snd_mss ? t->snd_mss : 1;
	uint32_t ns = notsent(t);

	if (!t->notsent_lowat)
		return want;
	if (ns >= t->notsent_lowat)
		return 0;
	uint64_t room = ((uint64_t)(t->notsent_lowat - ns) + mss - 1) / mss * mss;
	return room < want ? (size_t)room : want;
}

void tcp_check_space(struct sk_stack *st, struct tcb *t)
{
	/* Linux tcp_check_space -> sk_stream_write_space: only a socket
	 * that ran out of space is woken, once it is writeable again, so an
	 * edge-triggered EPOLLOUT is not reported again on every ACK. */
	if (!t->nospace || !writeable(t))
		return;
	t->nospace = false;
	sk_wake(st, t->id);
}

bool tcp_rcv_ready(const struct tcb *t)
{
	size_t avail = sk_ringbuf_len(&t->rcv);
	size_t lowat = t->rcvlowat > 0 ? (size_t)t->rcvlowat : 1;
	/* What is left of the window we offered (Linux tcp_receive_window). */
	uint32_t wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;

	/* Linux tcp_epollin_ready: SO_RCVLOWAT bytes, or fewer when the
	 * window left is down to one segment (the peer cannot send the rest:
	 * waiting for it would never end). */
	return avail > 0 && (avail >= lowat || wnd <= t->mss_ours);
}

/* Linux tcp_disconnect after a failed attempt (inet_stream_connect's
 * sock_error path): back to a fresh CLOSED socket that may connect again;
 * what the attempt left (shutdown bits, buffers, peer) goes. The pending
 * error was taken by the caller. */
static void disconnect(struct sk_stack *st, struct tcb *t)
{
	tcp_ring_release(st, &t->snd);
	tcp_ring_release(st, &t->rcv);
	tcp_reass_reset(&t->reass);
	t->shut_rd = t->shut_wr = false;
	t->fin_queued = t->fin_rcvd = false;
	t->ever_connected = false;
	t->nospace = false;
	t->raddr = 0;
	t->rport = 0;
	/* tcp_disconnect ends with sk_error_report: the readiness changed. */
	sk_wake(st, t->id);
}

/* ---- the socket table ---- */

static struct tcb *sock_tcb(const struct sk_stack *st, int sock)
{
	if (sock < 0 || (uint32_t)sock >= sk_tcp_of(st)->hwm)
		return NULL;
	struct tcb *t = &tcp_tcbs(sk_tcp_of(st))[sock];

	return t->in_use && t->user_owned ? t : NULL;
}

int sk_socket(struct sk_stack *st)
{
	struct tcb *t = tcp_slot_alloc(st);

	if (!t)
		return -ENOBUFS;
	t->user_owned = true;
	return t->id;
}

int sk_bind(struct sk_stack *st, int sock, uint32_t addr, uint16_t port)
{
	struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return -EBADF;
	if (t->in_bind_table || t->state != SK_TCP_CLOSED)
		return -EINVAL;
	if (addr != 0 && addr != st->cfg.addr)
		return -EADDRNOTAVAIL;
	return tcp_bind_port(st, t, addr, port);
}

int sk_bind_for_connect(struct sk_stack *st, int sock, uint32_t addr, uint16_t port)
{
	struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return -EBADF;
	if (t->in_bind_table || t->state != SK_TCP_CLOSED)
		return -EINVAL;
	return tcp_bind_ephemeral(st, t, addr, port);
}

int sk_listen(struct sk_stack *st, int sock, int backlog, sk_time_t now)
{
	tcp_clock(st, now);
	struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return -EBADF;
	if (backlog < 0)
		backlog = 0;
	if ((uint32_t)backlog > sk_tcp_of(st)->nslots)
		backlog = (int)sk_tcp_of(st)->nslots;
	if (t->state == SK_TCP_LISTEN) {
		t->backlog = (uint32_t)backlog; /* Linux: listen() again resizes */
		return 0;
	}
	if (t->state != SK_TCP_CLOSED || t->ever_connected)
		return -EINVAL;
	if (!t->in_bind_table) {
		int err = tcp_bind_port(st, t, 0, 0);
		if (err)
			return err;
	} else if (tcp_bind_conflict(st, t, t->laddr, t->lport)) {
		/* Two SO_REUSEADDR sockets may share a port, not a listen:
		 * Linux inet_csk_listen_start checks the port again, now that
		 * others may listen on an overlapping address (a listener on
		 * the specific address refuses one on INADDR_ANY, and back). */
		return -EADDRINUSE;
	}
	t->backlog = (uint32_t)backlog;
	t->err = 0;
	t->shut_rd = t->shut_wr = false;
	tcp_set_state(st, t, SK_TCP_LISTEN, "listen()", now);
	return 0;
}

/* Abort every child of a listener (close, shutdown, LISTEN -> SYN_SENT):
 * nobody will accept them. */
static void drop_children(struct sk_stack *st, struct tcb *l, sk_time_t now)
{
	int32_t *lists[2] = {&l->syn_head, &l->acc_head};

	for (int i = 0; i < 2; i++) {
		while (*lists[i] != TCP_NIL) {
			struct tcb *c = tcp_tcb(st, *lists[i]);

			tcp_child_unlink(st, c);
			tcp_abort(st, c, 0, "listener closed", now);
			if (c->in_use) /* already CLOSED: close_conn had kept it */
				tcp_slot_free(st, c);
		}
	}
}

/* The SYN of an active open from socket t, bound and with (addr, port)
 * checked. `from` is CLOSED or LISTEN. */
static int start_connect(struct sk_stack *st, struct tcb *t, uint32_t addr, uint16_t port,
                         const char *cause, sk_time_t now)
{
	if (!sk_ip_route_ok(st, addr))
		return -ENETUNREACH;
	if (!t->in_bind_table) {
		int err = tcp_bind_ephemeral(st, t, addr, port);
		if (err)
			return err;
	}
	uint32_t laddr = st->cfg.addr;

	if (tcp_conn_lookup(st, laddr, t->lport, addr, port))
		return -EADDRNOTAVAIL; /* this 4-tuple is taken */
	t->laddr = laddr;
	t->raddr = addr;
	t->rport = port;
	if (tcp_conn_init(st, t, now) < 0)
		return -ENOBUFS;
	t->err = 0;
	t->connecting = true; /* Linux: sock->state = SS_CONNECTING */
	tcp_conn_insert(st, t);
	st->stats.tcp_conn_active++;
	tcp_set_state(st, t, SK_TCP_SYN_SENT, cause, now);
	tcp_output(st, t, now); /* <SEQ=ISS><CTL=SYN> */
	return -EINPROGRESS;
}

int sk_connect(struct sk_stack *st, int sock, uint32_t addr, uint16_t port, sk_time_t now)
{
	tcp_clock(st, now);
	struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return -EBADF;
	if (t->connecting) {
		/* Linux __inet_stream_connect, SS_CONNECTING: still in the
		 * handshake, EALREADY; connected, 0 (SS_CONNECTED, later calls
		 * get EISCONN); closed by RST, timeout or ICMP (sock_error):
		 * the pending error, taken, or ECONNABORTED, and the socket is
		 * disconnected. Only the next call starts a new attempt. */
		if (t->state == SK_TCP_SYN_SENT || t->state == SK_TCP_SYN_RECEIVED)
			return -EALREADY;
		t->connecting = false;
		if (t->state != SK_TCP_CLOSED)
			return 0;
		int err = take_error(t);

		disconnect(st, t);
		return -(err ? err : ECONNABORTED);
	}
	if (t->state != SK_TCP_CLOSED || t->ever_connected)
		return -EISCONN;
	return start_connect(st, t, addr, port, "connect()", now);
}

int sk_tcp_listen_connect(struct sk_stack *st, int sock, uint32_t addr, uint16_t port,
                          sk_time_t now)
{
	tcp_clock(st, now);
	struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return -EBADF;
	if (t->state != SK_TCP_LISTEN)
		return -EINVAL;
	drop_children(st, t, now);
	/* RFC 9293 §3.10.2 SEND, LISTEN STATE: "If the foreign socket is
	 * specified, then change the connection from passive to active". */
	return start_connect(st, t, addr, port, "send on a listener", now);
}

int sk_accept(struct sk_stack *st, int sock, struct sk_endpoint *peer)
{
	struct tcb *l = sock_tcb(st, sock);

	if (!l)
		return -EBADF;
	if (l->state != SK_TCP_LISTEN)
		return -EINVAL;
	if (l->acc_head == TCP_NIL)
		return -EAGAIN;
	struct tcb *c = tcp_tcb(st, l->acc_head);

	tcp_child_unlink(st, c);
	c->user_owned = true;
	if (peer)
		*peer = (struct sk_endpoint){c->raddr, c->rport};
	return c->id;
}

/* Queue our FIN after the data (RFC 9293 §3.10.4 CLOSE): the state moves
 * now, the FIN goes out when the send ring has drained into segments. */
static void queue_fin(struct sk_stack *st, struct tcb *t, const char *cause, sk_time_t now)
{
	if (t->fin_queued)
		return;
	t->shut_wr = true;
	switch (t->state) {
	case SK_TCP_SYN_RECEIVED:
	case SK_TCP_ESTABLISHED:
		t->fin_queued = true;
		tcp_set_state(st, t, SK_TCP_FIN_WAIT_1, cause, now);
		break;
	case SK_TCP_CLOSE_WAIT:
		t->fin_queued = true;
		tcp_set_state(st, t, SK_TCP_LAST_ACK, cause, now);
		break;
	default:
		return;
	}
	tcp_output(st, t, now);
}

ssize_t sk_send(struct sk_stack *st, int sock, const void *buf, size_t len, sk_time_t now)
{
	return sk_sendmsg(st, sock, buf, len, 0, now);
}

ssize_t sk_sendmsg(struct sk_stack *st, int sock, const void *buf, size_t len, int flags,
                   sk_time_t now)
{
	tcp_clock(st, now);
	struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return -EBADF;
	/* Linux sk_stream_wait_connect: an error first, then "still
	 * connecting" (the shim waits for POLLOUT), else a broken pipe. */
	if (t->state != SK_TCP_ESTABLISHED && t->state != SK_TCP_CLOSE_WAIT) {
		if (t->err)
			return -take_error(t);
		if (t->state == SK_TCP_SYN_SENT || t->state == SK_TCP_SYN_RECEIVED)
			return -EAGAIN;
		return -EPIPE;
	}
	if (t->err)
		return -take_error(t);
	if (t->shut_wr)
		return -EPIPE;
	if (len == 0)
		return 0;
	/* The send ring's storage, on the first send (tcp_mem.c). Linux
	 * would wait for memory under tcp_mem; a socket with nothing in
	 * flight would never be woken for it, so the caller is told now. */
	if (send_room(t, len) > 0 && sk_ringbuf_space(&t->snd) > 0 &&
	    tcp_ring_reserve(st, &t->snd) < 0)
		return -ENOBUFS;
	size_t n = 0, room;
	bool more = t->more;

	/* MSG_MORE (tcp_cork.c): this call's partial segment waits for the
	 * next; a send without it releases what earlier ones held. */
	t->more = (flags & SK_MSG_MORE) != 0;
	while (n < len && (room = send_room(t, len - n)) > 0) {
		size_t w = sk_ringbuf_write(&t->snd, (const uint8_t *)buf + n, room);

		n += w;
		if (w < room || n == len || !t->notsent_lowat)
			break;
		/* TCP_NOTSENT_LOWAT: push, then see how much is unsent. */
		tcp_output(st, t, now);
	}
	/* Linux tcp_sendmsg (wait_for_space): out of space, SOCK_NOSPACE,
	 * so the ACK that makes room wakes this writer (tcp_check_space). */
	if (n < len)
		t->nospace = true;
	if (n == 0) {
		t->more = more;
		return -EAGAIN;
	}
	tcp_output(st, t, now);
	return (ssize_t)n;
}

ssize_t sk_recv(struct sk_stack *st, int sock, void *buf, size_t len, int flags, sk_time_t now)
{
	tcp_clock(st, now);
	struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return -EBADF;
	if (t->state == SK_TCP_LISTEN)
		return -ENOTCONN;
	size_t n = (flags & SK_MSG_PEEK) ? sk_ringbuf_peek(&t->rcv, 0, buf, len)
	                                 : sk_ringbuf_read(&t->rcv, buf, len);

	if (n > 0) {
		if (!(flags & SK_MSG_PEEK)) {
			tcp_rcvbuf_adjust(st, t, n, now); /* may grow the window */
			tcp_window_update(st, t, now);
		}
		return (ssize_t)n;
	}
	if (len == 0 && tcp_state_synchronized(t->state))
		return 0;
	/* tcp_recvmsg's order: end of stream, a pending error (once), a
	 * read shutdown, never connected, else try again. */
	if (t->fin_rcvd)
		return 0;
	if (t->err)
		return -take_error(t);
	if (t->shut_rd)
		return 0;
	if (t->state == SK_TCP_CLOSED)
		return -ENOTCONN;
	return -EAGAIN;
}

int sk_recv_direct_begin(struct sk_stack *st, int sock, void *buf, size_t len)
{
	struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return -EBADF;
	if (len == 0 || !buf)
		return -EINVAL;
	if (t->direct_buf)
		return -EBUSY;
	t->direct_buf = buf;
	t->direct_len = len;
	t->direct_done = 0;
	t->direct_owner = st->owner; /* buf is this process's (tcp_rcv_direct) */
	return 0;
}

size_t sk_recv_direct_end(struct sk_stack *st, int sock, sk_time_t now)
{
	tcp_clock(st, now);
	struct tcb *t = sock_tcb(st, sock);
	size_t n;

	if (!t || !t->direct_buf)
		return 0;
	n = t->direct_done;
	t->direct_buf = NULL;
	t->direct_len = t->direct_done = 0;
	if (n > 0)
		tcp_rcvbuf_adjust(st, t, n, now); /* read, as by sk_recv */
	return n;
}

int sk_shutdown(struct sk_stack *st, int sock, int how, sk_time_t now)
{
	tcp_clock(st, now);
	struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return -EBADF;
	if (how != SK_SHUT_RD && how != SK_SHUT_WR && how != SK_SHUT_RDWR)
		return -EINVAL;
	bool rd = how != SK_SHUT_WR, wr = how != SK_SHUT_RD;

	/* Linux inet_shutdown, state by state. */
	switch (t->state) {
	case SK_TCP_CLOSED:
		t->shut_rd |= rd;
		t->shut_wr |= wr;
		return -ENOTCONN;
	case SK_TCP_LISTEN:
		if (rd) {
			drop_children(st, t, now);
			tcp_set_state(st, t, SK_TCP_CLOSED, "shutdown()", now);
		}
		return 0;
	case SK_TCP_SYN_SENT:
		/* tcp_disconnect: the attempt ends, the socket may connect
		 * again (inet_shutdown: SS_UNCONNECTED). */
		tcp_close_conn(st, t, 0, "shutdown()", now);
		t->shut_rd = t->shut_wr = false;
		t->connecting = false;
		return 0;
	default:
		if (rd && !t->shut_rd) {
			t->shut_rd = true;
			sk_wake(st, t->id);
		}
		if (wr)
			queue_fin(st, t, "shutdown()", now);
		return 0;
	}
}

void sk_close(struct sk_stack *st, int sock, sk_time_t now)
{
	tcp_clock(st, now);
	struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return;
	t->user_owned = false;
	t->direct_buf = NULL; /* a reader's buffer is the reader's again */
	switch (t->state) {
	case SK_TCP_CLOSED:
		tcp_slot_free(st, t);
		return;
	case SK_TCP_LISTEN:
		drop_children(st, t, now);
		tcp_set_state(st, t, SK_TCP_CLOSED, "close()", now);
		tcp_slot_free(st, t);
		return;
	case SK_TCP_SYN_SENT:
		tcp_close_conn(st, t, 0, "close()", now);
		return;
	default:
		break;
	}
	if (t->linger_abort) {
		/* SO_LINGER {1, 0}: abortive close, RST and free at once. */
		tcp_abort(st, t, 0, "close() with SO_LINGER 0", now);
		return;
	}
	if (sk_ringbuf_len(&t->rcv) > 0) {
		/* RFC 9293 §3.10.4 / RFC 2525 §2.17, as Linux: closing with
		 * unread data tells the peer with a RST that it was lost. */
		tcp_abort(st, t, 0, "close() with unread data", now);
		return;
	}
	t->shut_rd = true;
	queue_fin(st, t, "close()", now);
	if (t->state == SK_TCP_FIN_WAIT_2 && t->state_at == SK_TIME_NEVER) {
		t->state_at = now + SK_MS(st->cfg.fin_timeout_ms);
		tcp_timer_update(st, t);
	}
	/* Closed in TIME_WAIT: an orphan now, the rest of its life is the
	 * TIME_WAIT table's. */
	if (t->state == SK_TCP_TIME_WAIT)
		tcp_tw_adopt(st, t, now);
}

unsigned sk_poll(const struct sk_stack *st, int sock)
{
	struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return SK_POLLERR | SK_POLLHUP;
	/* Linux tcp_poll(), line by line. */
	if (t->state == SK_TCP_LISTEN)
		return t->acc_head != TCP_NIL ? SK_POLLIN | SK_POLLRDNORM : 0;
	unsigned mask = 0;

	if ((t->shut_rd && t->shut_wr) || t->state == SK_TCP_CLOSED)
		mask |= SK_POLLHUP;
	if (t->shut_rd)
		mask |= SK_POLLIN | SK_POLLRDNORM | SK_POLLRDHUP;
	if (t->state != SK_TCP_SYN_SENT && t->state != SK_TCP_SYN_RECEIVED) {
		/* tcp_stream_is_readable: SO_RCVLOWAT bytes (an EOF or a
		 * read shutdown set POLLIN above whatever is queued). */
		if (tcp_rcv_ready(t))
			mask |= SK_POLLIN | SK_POLLRDNORM;
		if (!t->shut_wr) {
			if (writeable(t))
				mask |= SK_POLLOUT | SK_POLLWRNORM;
			else
				/* As tcp_poll: whoever saw "not writeable"
				 * gets the wake when space opens again. */
				t->nospace = true;
		} else {
			mask |= SK_POLLOUT | SK_POLLWRNORM;
		}
	}
	if (t->err)
		mask |= SK_POLLERR;
	return mask;
}

int sk_take_error(struct sk_stack *st, int sock)
{
	struct tcb *t = sock_tcb(st, sock);

	return t ? take_error(t) : EBADF;
}

static int clamp_buf(int v)
{
	if (v > TCP_BUF_OPT_MAX)
		v = TCP_BUF_OPT_MAX;
	v *= 2; /* socket(7): the kernel doubles the value */
	return v < TCP_BUF_MIN ? TCP_BUF_MIN : v;
}

int sk_setopt(struct sk_stack *st, int sock, enum sk_opt opt, int value)
{
	struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return -EBADF;
	switch (opt) {
	case SK_OPT_REUSEADDR:
		t->reuseaddr = value != 0;
		return 0;
	case SK_OPT_REUSEPORT:
		/* Read by bind and listen (tcp_bind_conflict) and by the
		 * listener lookup: as Linux's sk_reuseport, it may change
		 * at any time and counts when it is read. */
		t->reuseport = value != 0;
		return 0;
	case SK_OPT_KEEPALIVE:
		/* Linux tcp_set_keepalive: switching it on starts the timer. */
		if ((value != 0) != t->keepalive) {
			t->keepalive = value != 0;
			tcp_ka_rearm(st, t, true, sk_tcp_of(st)->last_now);
		}
		return 0;
	case SK_OPT_USER_TIMEOUT:
		if (value < 0)
			return -EINVAL; /* Linux do_tcp_setsockopt */
		t->user_timeout = (uint32_t)value;
		return 0;
	case SK_OPT_CORK:
		tcp_cork_set(st, t, value != 0, sk_tcp_of(st)->last_now);
		return 0;
	case SK_OPT_NODELAY:
		t->nodelay = value != 0;
		/* Linux pushes what Nagle was holding back. */
		if (t->nodelay && tcp_state_synchronized(t->state))
			tcp_output(st, t, sk_tcp_of(st)->last_now);
		return 0;
	case SK_OPT_MAXSEG:
		/* Linux do_tcp_setsockopt: 0 or TCP_MIN_MSS (88)..65535. */
		if (value != 0 && (value < 88 || value > 65535))
			return -EINVAL;
		t->user_mss = value;
		return 0;
	case SK_OPT_KEEPIDLE:
	case SK_OPT_KEEPINTVL:
		if (value < 1 || value > 32767)
			return -EINVAL;
		if (opt == SK_OPT_KEEPIDLE) {
			t->keepidle = value;
			tcp_ka_rearm(st, t, false, sk_tcp_of(st)->last_now); /* as Linux */
		} else {
			t->keepintvl = value;
		}
		return 0;
	case SK_OPT_KEEPCNT:
		if (value < 1 || value > 127)
			return -EINVAL;
		t->keepcnt = value;
		return 0;
	case SK_OPT_RCVBUF:
		t->rcvbuf = (uint32_t)clamp_buf(value);
		t->rcvbuf_locked = true; /* Linux SOCK_RCVBUF_LOCK: no autotuning */
		return 0;
	case SK_OPT_SNDBUF:
		t->sndbuf = (uint32_t)clamp_buf(value);
		return 0;
	case SK_OPT_QUICKACK:
		t->quickack = value != 0;
		if (t->quickack && t->dack_at != SK_TIME_NEVER) {
			t->ack_now = true;
			tcp_output(st, t, sk_tcp_of(st)->last_now);
		}
		return 0;
	case SK_OPT_LINGER_ABORT:
		t->linger_abort = value != 0;
		return 0;
	case SK_OPT_RCVLOWAT:
		/* Linux sock_setsockopt: negative is INT_MAX; tcp_set_rcvlowat
		 * caps it at half the receive buffer (more could never be
		 * queued), 0 is 1. */
		if (value < 0 || (uint32_t)value > t->rcvbuf / 2)
			value = (int)(t->rcvbuf / 2);
		t->rcvlowat = value ? value : 1;
		/* tcp_set_rcvlowat -> tcp_data_ready: readers wake if what is
		 * queued is enough now. */
		if (tcp_rcv_ready(t))
			sk_wake(st, t->id);
		return 0;
	case SK_OPT_IP_TOS:
		/* Linux __ip_sock_set_tos on a stream socket: the ECN bits
		 * stay the stack's. */
		t->ip_tos = (uint8_t)(value & ~3);
		return 0;
	case SK_OPT_IP_TTL:
		if (value != -1 && (value < 1 || value > 255))
			return -EINVAL; /* do_ip_setsockopt */
		t->ip_ttl = value == -1 ? 0 : (uint8_t)value;
		return 0;
	case SK_OPT_NOTSENT_LOWAT:
		t->notsent_lowat = (uint32_t)value;
		/* Linux: sk->sk_write_space, which wakes if writeable now. */
		if (tcp_state_synchronized(t->state) && writeable(t)) {
			t->nospace = false;
			sk_wake(st, t->id);
		}
		return 0;
	case SK_OPT_DEFER_ACCEPT:
		t->defer_accept = (uint32_t)tcp_defer_from_secs(value);
		return 0;
	case SK_OPT_CONGESTION: {
		const struct cc_ops *cc = tcp_cc_get(value);

		if (!cc)
			return -ENOENT; /* Linux: an unknown algorithm name */
		uint8_t was = t->cc_algo;

		t->cc_algo = (uint8_t)value;
		if (t->cc_ready && was != t->cc_algo) {
			/* Linux tcp_set_congestion_control: switching mid-
			 * connection keeps cwnd/ssthresh, resets the state. */
			cc->init(t);
		}
		return 0;
	}
	default:
		return -ENOPROTOOPT;
	}
}

int sk_getopt(const struct sk_stack *st, int sock, enum sk_opt opt, int *value)
{
	const struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return -EBADF;
	switch (opt) {
	case SK_OPT_REUSEADDR:
		*value = t->reuseaddr;
		return 0;
	case SK_OPT_REUSEPORT:
		*value = t->reuseport;
		return 0;
	case SK_OPT_KEEPALIVE:
		*value = t->keepalive;
		return 0;
	case SK_OPT_NODELAY:
		*value = t->nodelay;
		return 0;
	case SK_OPT_MAXSEG:
		/* Linux: the effective MSS once connected, else the user's
		 * value or 536 (TCP_MSS_DEFAULT). */
		if (tcp_state_synchronized(t->state))
			*value = t->snd_mss;
		else
			*value = t->user_mss ? t->user_mss : TCP_DEFAULT_MSS;
		return 0;
	case SK_OPT_KEEPIDLE:
		*value = t->keepidle;
		return 0;
	case SK_OPT_KEEPINTVL:
		*value = t->keepintvl;
		return 0;
	case SK_OPT_KEEPCNT:
		*value = t->keepcnt;
		return 0;
	case SK_OPT_USER_TIMEOUT:
		*value = (int)t->user_timeout;
		return 0;
	case SK_OPT_CORK:
		*value = t->cork;
		return 0;
	case SK_OPT_RCVBUF:
		*value = (int)t->rcvbuf;
		return 0;
	case SK_OPT_SNDBUF:
		*value = (int)t->sndbuf;
		return 0;
	case SK_OPT_QUICKACK:
		*value = t->quickack;
		return 0;
	case SK_OPT_LINGER_ABORT:
		*value = t->linger_abort;
		return 0;
	case SK_OPT_RCVLOWAT:
		*value = t->rcvlowat > 0 ? t->rcvlowat : 1;
		return 0;
	case SK_OPT_ACCEPTCONN:
		*value = t->state == SK_TCP_LISTEN;
		return 0;
	case SK_OPT_CONGESTION:
		*value = t->cc_algo;
		return 0;
	case SK_OPT_IP_TOS:
		*value = t->ip_tos;
		return 0;
	case SK_OPT_IP_TTL:
		*value = t->ip_ttl ? t->ip_ttl : 64; /* net.ipv4.ip_default_ttl */
		return 0;
	case SK_OPT_NOTSENT_LOWAT:
		*value = (int)t->notsent_lowat;
		return 0;
	case SK_OPT_DEFER_ACCEPT:
		*value = tcp_defer_to_secs((int)t->defer_accept);
		return 0;
	default:
		return -ENOPROTOOPT;
	}
}

int sk_getsockname(const struct sk_stack *st, int sock, struct sk_endpoint *out)
{
	const struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return -EBADF;
	*out = (struct sk_endpoint){t->laddr, t->lport};
	return 0;
}

int sk_getpeername(const struct sk_stack *st, int sock, struct sk_endpoint *out)
{
	const struct tcb *t = sock_tcb(st, sock);

	if (!t)
		return -EBADF;
	/* Linux inet_getname: no peer while CLOSED, SYN_SENT or listening. */
	if (t->rport == 0 || t->state == SK_TCP_CLOSED || t->state == SK_TCP_SYN_SENT ||
	    t->state == SK_TCP_LISTEN)
		return -ENOTCONN;
	*out = (struct sk_endpoint){t->raddr, t->rport};
	return 0;
}

enum sk_tcp_state sk_sock_state(const struct sk_stack *st, int sock)
{
	const struct tcb *t = sock_tcb(st, sock);

	return t ? t->state : SK_TCP_CLOSED;
}

size_t sk_rx_queued(const struct sk_stack *st, int sock)
{
	const struct tcb *t = sock_tcb(st, sock);

	return t ? sk_ringbuf_len(&t->rcv) : 0;
}

size_t sk_tx_queued(const struct sk_stack *st, int sock)
{
	const struct tcb *t = sock_tcb(st, sock);

	return t ? sk_ringbuf_len(&t->snd) : 0;
}

bool sk_quiescent(const struct sk_stack *st)
{
	/* A scan of the arena: called by the exit linger, not per segment. */
	for (uint32_t i = 0; i < sk_tcp_of(st)->hwm; i++) {
		const struct tcb *t = &tcp_tcbs(sk_tcp_of(st))[i];

		if (!t->in_use)
			continue;
		switch (t->state) {
		case SK_TCP_SYN_SENT:
		case SK_TCP_SYN_RECEIVED:
		case SK_TCP_FIN_WAIT_1:
		case SK_TCP_CLOSING:
		case SK_TCP_LAST_ACK:
			return false;
		default:
			if (sk_ringbuf_len(&t->snd) > 0)
				return false;
		}
	}
	return true;
}

uint32_t sk_socket_limit(const struct sk_stack *st)
{
	return sk_tcp_of(st)->hwm;
}

int sk_next_socket(const struct sk_stack *st, int after)
{
	for (uint32_t i = after < 0 ? 0 : (uint32_t)after + 1; i < sk_tcp_of(st)->hwm; i++)
		if (tcp_tcbs(sk_tcp_of(st))[i].in_use)
			return (int)i;
	return -1;
}
