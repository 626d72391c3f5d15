/* sk_get_info: the per-connection figures behind TCP_INFO (stack.h).
 *
 * Everything here is read from the TCB as the protocol code keeps it; the
 * conversions are Linux's tcp_get_info() ones (segments for the windows,
 * µs for the timers) so the shim can copy the figures into struct
 * tcp_info unchanged. */
#include <errno.h>
#include <string.h>

#include "tcp.h"

/* include/uapi/linux/tcp.h */
#define TCPI_OPT_TIMESTAMPS 1
#define TCPI_OPT_SACK       2
#define TCPI_OPT_WSCALE     4
/* include/net/tcp.h: the ssthresh of a connection that never lost. */
#define TCP_INFINITE_SSTHRESH 0x7fffffffu
/* include/net/inet_connection_sock.h enum tcp_ca_state */
enum { CA_OPEN = 0, CA_DISORDER = 1, CA_RECOVERY = 3, CA_LOSS = 4 };

static uint32_t clamp_u32(sk_time_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static uint32_t segs_up(uint32_t bytes, uint32_t mss)
{
	return mss ? (bytes + mss - 1) / mss : 0;
}

static uint8_t ca_state(const struct tcb *t)
{
	if (t->retries > 0)
		return CA_LOSS;
	if (t->in_recovery)
		return CA_RECOVERY;
	return t->dupacks > 0 ? CA_DISORDER : CA_OPEN;
}

static uint32_t sacked_bytes(const struct tcb *t)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < t->sb.n; i++)
		n += t->sb.blk[i].right - t->sb.blk[i].left;
	return n;
}

void tcp_info_reset(struct tcb *t)
{
	t->total_retrans = 0;
	t->bytes_sent = t->bytes_retrans = t->bytes_acked = t->bytes_received = 0;
}

void tcp_count_retrans(struct sk_stack *st, struct tcb *t, uint32_t bytes)
{
	/* Linux __tcp_retransmit_skb: total_retrans per segment,
	 * bytes_retrans by payload. */
	st->stats.tcp_retransmits++;
	t->total_retrans++;
	t->bytes_retrans += bytes;
}

static void fill_info(const struct sk_stack *st, const struct tcb *t, struct sk_tcp_info *out)
{
	memset(out, 0, sizeof(*out));
	out->state = t->state;
	out->ca_state = ca_state(t);
	out->retransmits = t->retries > UINT8_MAX ? UINT8_MAX : (uint8_t)t->retries;
	if (t->ts_ok)
		out->options |= TCPI_OPT_TIMESTAMPS;
	if (t->sack_ok)
		out->options |= TCPI_OPT_SACK;
	if (t->ws_ok) {
		out->options |= TCPI_OPT_WSCALE;
		out->snd_wscale = t->snd_wscale;
		out->rcv_wscale = t->rcv_wscale;
	}
	out->rto_us = clamp_u32(t->rto);
	out->ato_us = (uint32_t)TCP_DELACK;
	out->snd_mss = t->snd_mss;
	out->advmss = t->mss_ours;
	out->rcv_mss = t->mss_ours < t->snd_mss ? t->mss_ours : t->snd_mss;
	out->pmtu = st->cfg.mtu;
	out->rtt_us = clamp_u32(t->srtt);
	out->rttvar_us = clamp_u32(t->rttvar);
	out->snd_cwnd = segs_up(t->cwnd, t->snd_mss);
	/* core's "never lost" is UINT32_MAX bytes; Linux's is this constant. */
	out->snd_ssthresh = t->ssthresh == UINT32_MAX ? TCP_INFINITE_SSTHRESH
	                                              : t->ssthresh / (t->snd_mss ? t->snd_mss : 1);

	if (t->state == SK_TCP_LISTEN) {
		/* Linux tcp_get_info() on a listener. */
		out->unacked = t->acc_count;
		out->sacked = t->backlog;
		return;
	}
	out->unacked = segs_up(t->snd_max - t->snd_una, t->snd_mss);
	out->sacked = t->sack_ok ? sacked_bytes(t) / (t->snd_mss ? t->snd_mss : 1) : 0;
	out->snd_wnd = t->snd_wnd;
	out->total_retrans = t->total_retrans;
	if (t->ever_connected) {
		uint32_t unsent = 0, ring_end = t->snd_buf_seq + (uint32_t)sk_ringbuf_len(&t->snd);

		out->bytes_acked = t->bytes_acked;
		out->bytes_received = t->bytes_received;
		out->bytes_sent = t->bytes_sent;
		out->bytes_retrans = t->bytes_retrans;
		/* SND.MAX counts the FIN once sent; data beyond it is unsent. */
		if ((int32_t)(ring_end - t->snd_max) > 0)
			unsent = ring_end - t->snd_max;
		out->notsent_bytes = unsent;
	}
}

/* The slot of any socket in use, or NULL. */
static const struct tcb *slot(const struct sk_stack *st, int sock)
{
	const struct tcb *t;

	if (sock < 0 || (uint32_t)sock >= sk_tcp_of(st)->hwm)
		return NULL;
	t = &tcp_tcbs(sk_tcp_of(st))[sock];
	return t->in_use ? t : NULL;
}

int sk_get_info(const struct sk_stack *st, int sock, struct sk_tcp_info *out)
{
	const struct tcb *t = slot(st, sock);

	if (!t || !t->user_owned)
		return -EBADF;
	fill_info(st, t, out);
	return 0;
}

int sk_sock_parent(const struct sk_stack *st, int sock)
{
	const struct tcb *t = slot(st, sock);

	return t && t->parent != TCP_NIL ? t->parent : -1;
}

int sk_sock_view(const struct sk_stack *st, int sock, struct sk_sock_view *out)
{
	const struct tcb *t = slot(st, sock);

	if (!t)
		return -EBADF;
	memset(out, 0, sizeof(*out));
	out->user_owned = t->user_owned;
	out->parent = t->parent == TCP_NIL ? -1 : t->parent;
	out->since = t->since;
	fill_info(st, t, &out->info);
	if (t->state == SK_TCP_LISTEN) {
		/* Linux inet_diag (tcp_diag_get_info) on a listener. */
		out->local = (struct sk_endpoint){t->laddr, t->lport};
		out->rx_queued = t->acc_count;
		out->tx_queued = t->backlog;
		return 0;
	}
	/* A connection's local address is ours even when bound to any (the
	 * state trace says the same: tcp_set_state). */
	out->local = (struct sk_endpoint){t->laddr ? t->laddr : (t->lport ? st->cfg.addr : 0),
	                                  t->lport};
	if (t->state != SK_TCP_CLOSED)
		out->remote = (struct sk_endpoint){t->raddr, t->rport};
	out->rx_queued = (uint32_t)sk_ringbuf_len(&t->rcv);
	out->tx_queued = (uint32_t)sk_ringbuf_len(&t->snd);
	return 0;
}
