/* The fuzz harnesses' world: see world.h. */
#include "world.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/arp.h"
#include "../../core/byteorder.h"
#include "../../core/ethernet.h"
#include "../../core/ipv4.h"
#include "../../core/tcp.h"

static const uint8_t OUR_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t PEER_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

/* sk_run_timers calls per world: bounds the work of one input. */
#define TIMER_RUNS_MAX 20000
/* Consecutive runs at one instant that leave a deadline due: a timer that
 * never gets done would spin the real runtime loop. */
#define STUCK_RUNS_MAX 1000

#define FRAME_MAX (SK_ETH_HLEN + 65535)

static uint8_t frame_buf[FRAME_MAX];
static bool arp_asked;

static void die(const char *what)
{
	fprintf(stderr, "fuzz world: %s\n", what);
	abort();
}

/* Everything the stack emits must be well-formed (see world.h). */
static void check_tx(const uint8_t *frame, size_t len)
{
	struct sk_eth_repr eth;
	struct sk_ipv4_repr ip;
	struct sk_tcp_repr r;

	if (sk_eth_parse(frame, len, &eth) != 0)
		die("emitted a frame shorter than an Ethernet header");
	if (eth.ethertype == SK_ETHERTYPE_ARP) {
		struct sk_arp_repr arp;

		if (sk_arp_parse(frame + SK_ETH_HLEN, len - SK_ETH_HLEN, &arp) != 0)
			die("emitted an ARP packet its own parser rejects");
		if (arp.op == SK_ARP_REQUEST && arp.tpa == W_PEER_IP)
			arp_asked = true;
		return;
	}
	if (eth.ethertype != SK_ETHERTYPE_IPV4)
		die("emitted a frame of an unknown ethertype");
	if (sk_ipv4_parse(frame + SK_ETH_HLEN, len - SK_ETH_HLEN, true, &ip) != 0)
		die("emitted an IPv4 packet its own parser rejects (header or checksum)");
	if ((size_t)ip.hdr_len + ip.payload_len > W_MTU)
		die("emitted an IPv4 packet larger than the MTU");
	if (ip.src != W_OUR_IP)
		die("emitted an IPv4 packet from another address than ours");
	if (ip.proto != SK_IPPROTO_TCP)
		return;
	const uint8_t *seg = frame + SK_ETH_HLEN + ip.hdr_len;
	if (!sk_tcp_checksum_ok(seg, ip.payload_len, ip.src, ip.dst))
		die("emitted a TCP segment with a bad checksum");
	if (sk_tcp_parse(seg, ip.payload_len, &r) != 0)
		die("emitted a TCP segment its own parser rejects");
	uint32_t first = r.seq + (r.flags & SK_TCP_SYN ? 1u : 0u); /* data follows a SYN */

	for (size_t k = 0; k < r.payload_len; k++)
		if (r.payload[k] != w_byte(first + (uint32_t)k, true)) {
			fprintf(stderr,
			        "fuzz world: emitted byte at seq %u (segment %u+%zu, :%u > :%u) is "
			        "not the application's\n",
			        r.seq + (uint32_t)k, r.seq, r.payload_len, r.src_port, r.dst_port);
			abort();
		}
}

void w_fill(uint8_t *buf, uint32_t seq, size_t n, bool ours)
{
	for (size_t k = 0; k < n; k++)
		buf[k] = w_byte(seq + (uint32_t)k, ours);
}

uint32_t w_send_seq(const struct world *w, int sock)
{
	const struct tcb *t = &tcp_tcbs(sk_tcp_of(w->st))[sock];

	return t->snd_buf_seq + (uint32_t)sk_ringbuf_len(&t->snd);
}

uint32_t w_read_seq(const struct world *w, int sock)
{
	const struct tcb *t = &tcp_tcbs(sk_tcp_of(w->st))[sock];

	return t->rcv_nxt - (t->fin_rcvd ? 1u : 0u) - (uint32_t)sk_ringbuf_len(&t->rcv);
}

void w_check_read(uint32_t seq, const uint8_t *buf, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (buf[k] != w_byte(seq + (uint32_t)k, false)) {
			fprintf(stderr,
			        "fuzz world: sk_recv returned a wrong byte at seq %u (read of %zu from %u)\n",
			        seq + (uint32_t)k, n, seq);
			abort();
		}
}

static int fake_xmit(void *ctx, const uint8_t *frame, size_t len)
{
	struct world *w = ctx;

	w->tx_frames++;
	check_tx(frame, len);
	return 0;
}

void w_input(struct world *w, const uint8_t *frame, size_t len, unsigned rx_flags)
{
	/* A private copy of exactly len bytes: ASan then catches a read
	 * past the frame. */
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		die("out of memory");
	memcpy(copy, frame, len);
	sk_input(w->st, copy, len, rx_flags, w->now);
	free(copy);
}

static void eth_to_us(uint8_t *frame, uint16_t ethertype)
{
	struct sk_eth_repr eth = {.ethertype = ethertype};

	memcpy(eth.dst, OUR_MAC, 6);
	memcpy(eth.src, PEER_MAC, 6);
	sk_eth_emit(&eth, frame);
}

void w_input_ip(struct world *w, const uint8_t *pkt, size_t len, unsigned rx_flags)
{
	if (len > FRAME_MAX - SK_ETH_HLEN)
		len = FRAME_MAX - SK_ETH_HLEN;
	eth_to_us(frame_buf, SK_ETHERTYPE_IPV4);
	memmove(frame_buf + SK_ETH_HLEN, pkt, len);
	w_input(w, frame_buf, SK_ETH_HLEN + len, rx_flags);
}

static void arp_from_peer(struct world *w, uint16_t op)
{
	uint8_t frame[SK_ETH_HLEN + SK_ARP_LEN];
	struct sk_arp_repr arp = {.op = op, .spa = W_PEER_IP, .tpa = W_OUR_IP};

	eth_to_us(frame, SK_ETHERTYPE_ARP);
	if (op == SK_ARP_REQUEST)
		memcpy(frame, sk_eth_broadcast, 6);
	memcpy(arp.sha, PEER_MAC, 6);
	if (op == SK_ARP_REPLY)
		memcpy(arp.tha, OUR_MAC, 6);
	sk_arp_emit(&arp, frame + SK_ETH_HLEN);
	w_input(w, frame, sizeof(frame), 0);
}

void w_send_tcp(struct world *w, const struct sk_tcp_repr *seg, bool bad_csum)
{
	uint8_t *tcp = frame_buf + SK_ETH_HLEN + SK_IPV4_HLEN;
	size_t room = FRAME_MAX - SK_ETH_HLEN - SK_IPV4_HLEN;
	size_t hlen = sk_tcp_emit(seg, tcp);
	size_t plen = seg->payload_len < room - hlen ? seg->payload_len : room - hlen;

	eth_to_us(frame_buf, SK_ETHERTYPE_IPV4);
	if (plen)
		memcpy(tcp + hlen, seg->payload, plen);
	sk_tcp_set_checksum(tcp, hlen + plen, W_PEER_IP, W_OUR_IP);
	if (bad_csum)
		tcp[16] ^= 0x5a;
	struct sk_ipv4_repr ip = {
	    .src = W_PEER_IP,
	    .dst = W_OUR_IP,
	    .proto = SK_IPPROTO_TCP,
	    .ttl = 64,
	    .df = true,
	    .payload_len = (uint16_t)(hlen + plen),
	};
	sk_ipv4_emit(&ip, frame_buf + SK_ETH_HLEN);
	w_input(w, frame_buf, SK_ETH_HLEN + SK_IPV4_HLEN + hlen + plen, 0);
}

void w_advance(struct world *w, sk_time_t dt)
{
	sk_time_t target = w->now + dt;
	int stuck = 0;

	while (w->timer_runs < TIMER_RUNS_MAX) {
		sk_time_t d = sk_next_deadline(w->st);

		if (d == SK_TIME_NEVER || d > target)
			break;
		if (d > w->now) {
			w->now = d;
			stuck = 0;
		} else if (++stuck > STUCK_RUNS_MAX) {
			die("a timer stays due after sk_run_timers (it would spin the runtime loop)");
		}
		sk_run_timers(w->st, w->now);
		w->timer_runs++;
		/* The peer answers our ARP requests, as a live host would. */
		if (arp_asked) {
			arp_asked = false;
			arp_from_peer(w, SK_ARP_REPLY);
		}
	}
	if (target > w->now)
		w->now = target;
	sk_run_timers(w->st, w->now);
}

static struct tcb *conn_tcb(struct world *w, int i)
{
	return tcp_conn_lookup(w->st, W_OUR_IP, w->c[i].lport, W_PEER_IP, w->c[i].rport);
}

/* A connection the program closed in TIME_WAIT is in the TIME_WAIT table
 * (core/tcp_timewait.c), not the arena. */
static struct tcp_tw *conn_tw(struct world *w, int i)
{
	return tcp_tw_lookup(w->st, W_OUR_IP, w->c[i].lport, W_PEER_IP, w->c[i].rport);
}

enum sk_tcp_state w_sync(struct world *w, int i)
{
	struct w_conn *c = &w->c[i];

	if (i == W_C_LISTEN)
		return c->sock >= 0 ? sk_sock_state(w->st, c->sock) : SK_TCP_CLOSED;
	struct tcb *t = conn_tcb(w, i);
	struct tcp_tw *tw = t ? NULL : conn_tw(w, i);

	if (tw) {
		c->peer_seq = tw->rcv_nxt;
		c->snd_una = c->snd_max = tw->snd_nxt;
		c->ts = tw->ts_ok;
		return SK_TCP_TIME_WAIT;
	}
	if (!t)
		return SK_TCP_CLOSED;
	c->peer_seq = t->rcv_nxt;
	c->snd_una = t->snd_una;
	c->snd_max = t->snd_max;
	c->ts = t->ts_ok;
	return t->state;
}

struct sk_tcp_repr w_seg(struct world *w, int i)
{
	struct w_conn *c = &w->c[i];
	struct tcb *t = i == W_C_LISTEN ? NULL : conn_tcb(w, i);
	struct tcp_tw *tw = i == W_C_LISTEN || t ? NULL : conn_tw(w, i);
	struct sk_tcp_repr r = {
	    .src_port = c->rport,
	    .dst_port = c->lport,
	    .seq = c->peer_seq,
	    .ack = c->snd_una,
	    .flags = SK_TCP_ACK,
	    .window = 65535,
	    .mss = -1,
	    .wscale = -1,
	};

	if (c->ts) {
		/* The peer's timestamp clock runs at 1 ms, as ours. */
		c->peer_ts = 5000 + (uint32_t)(w->now / 1000);
		r.has_timestamp = true;
		r.ts_val = c->peer_ts;
		r.ts_ecr = t    ? tcp_ts_now(t, w->now)
		           : tw ? tcp_ts_clock(tw->ts_offset, w->now)
		                : 0;
	}
	return r;
}

/* ---- the script ---------------------------------------------------- */

static void expect_state(struct world *w, int i, enum sk_tcp_state want, const char *what)
{
	enum sk_tcp_state got = w_sync(w, i);

	if (got != want) {
		fprintf(stderr, "fuzz world: %s is %s, want %s\n", what, sk_tcp_state_name(got),
		        sk_tcp_state_name(want));
		abort();
	}
}

/* The peer's SYN options: MSS 1460, SACK permitted, window scale 7, and
 * timestamps when ts. */
static void syn_options(struct sk_tcp_repr *r, bool ts, bool all)
{
	if (!all)
		return;
	r->mss = 1460;
	r->sack_permitted = true;
	r->wscale = 7;
	r->has_timestamp = ts;
	r->ts_val = ts ? 4000 : 0;
}

/* A passive open on :80 from rport, completed unless syn_only. */
static void passive(struct world *w, int i, uint16_t rport, uint32_t isn, bool syn_only)
{
	struct w_conn *c = &w->c[i];
	struct sk_tcp_repr syn = {.src_port = rport,
	                          .dst_port = 80,
	                          .seq = isn,
	                          .flags = SK_TCP_SYN,
	                          .window = 65535,
	                          .mss = -1,
	                          .wscale = -1};

	c->lport = 80;
	c->rport = rport;
	c->sock = -1;
	syn_options(&syn, true, true);
	w_send_tcp(w, &syn, false);
	expect_state(w, i, SK_TCP_SYN_RECEIVED, "a passive child after the SYN");
	if (syn_only)
		return;
	w->now += SK_MS(1);
	struct sk_tcp_repr ack = w_seg(w, i);
	ack.ack = c->snd_max;
	w_send_tcp(w, &ack, false);
	expect_state(w, i, SK_TCP_ESTABLISHED, "a passive child after the ACK");
	struct sk_endpoint peer;
	c->sock = sk_accept(w->st, w->c[W_C_LISTEN].sock, &peer);
	if (c->sock < 0)
		die("sk_accept failed");
}

/* An active open from lport to rport, answered with a SYN+ACK carrying
 * all options (ts: with timestamps), none when !opts. */
static void active(struct world *w, int i, uint16_t lport, uint16_t rport, bool answer, bool opts,
                   bool ts)
{
	struct w_conn *c = &w->c[i];

	c->lport = lport;
	c->rport = rport;
	c->sock = sk_socket(w->st);
	if (c->sock < 0 || sk_bind(w->st, c->sock, 0, lport) != 0 ||
	    sk_connect(w->st, c->sock, W_PEER_IP, rport, w->now) != -EINPROGRESS)
		die("an active open failed to start");
	expect_state(w, i, SK_TCP_SYN_SENT, "an active open");
	if (!answer)
		return;
	uint32_t syn_ts = tcp_ts_now(conn_tcb(w, i), w->now);
	w->now += SK_MS(1);
	struct sk_tcp_repr sa = {.src_port = rport,
	                         .dst_port = lport,
	                         .seq = 3000000u + 1000000u * (uint32_t)i,
	                         .ack = c->snd_max,
	                         .flags = SK_TCP_SYN | SK_TCP_ACK,
	                         .window = 65535,
	                         .mss = -1,
	                         .wscale = -1};
	syn_options(&sa, ts, opts);
	sa.ts_ecr = ts ? syn_ts : 0;
	if (!opts)
		sa.mss = 1460;
	w_send_tcp(w, &sa, false);
	expect_state(w, i, SK_TCP_ESTABLISHED, "an active open after the SYN+ACK");
}

static void peer_fin(struct world *w, int i)
{
	struct sk_tcp_repr fin = w_seg(w, i);

	fin.ack = w->c[i].snd_max;
	fin.flags = SK_TCP_FIN | SK_TCP_ACK;
	w_send_tcp(w, &fin, false);
}

struct world *w_new(void)
{
	static uint8_t data[20000];
	struct world *w = calloc(1, sizeof(*w));

	if (!w)
		die("out of memory");
	arp_asked = false;
	sk_config_defaults(&w->cfg);
	memcpy(w->cfg.mac, OUR_MAC, 6);
	w->cfg.addr = W_OUR_IP;
	w->cfg.prefix_len = 24;
	w->cfg.gateway = 0x0a4d00feu; /* 10.77.0.254, which never answers ARP */
	w->cfg.mtu = W_MTU;
	w->cfg.msl_ms = 1000;
	w->cfg.fin_timeout_ms = 3000;
	w->cfg.max_sockets = 32;
	w->cfg.rcvbuf = 16384;
	w->cfg.rcvbuf_max = 131072;
	w->cfg.sndbuf = 65536;
	for (int i = 0; i < 16; i++)
		w->cfg.isn_key[i] = (uint8_t)(i * 7 + 1);
	w->cfg.rng_seed = 42;
	const struct sk_link_ops link = {.xmit = fake_xmit};
	const struct sk_hooks hooks = {0};
	w->now = SK_SEC(1);
	w->st = sk_stack_new(&w->cfg, &link, w, &hooks);
	if (!w->st)
		die("sk_stack_new failed");
	arp_from_peer(w, SK_ARP_REQUEST); /* RFC 826 merge: the peer's MAC is known */

	struct w_conn *l = &w->c[W_C_LISTEN];
	l->lport = 80;
	l->rport = 1100;
	l->sock = sk_socket(w->st);
	if (l->sock < 0 || sk_bind(w->st, l->sock, 0, 80) != 0 ||
	    sk_listen(w->st, l->sock, 8, w->now) != 0)
		die("the listener failed");

	passive(w, W_C_SYN_RCVD, 1001, 1000000, true);
	passive(w, W_C_EST_PASSIVE, 1002, 2000000, false);

	/* ESTABLISHED with 20 000 bytes queued (an initial window in flight)
	 * and 500 bytes held out of order 1000 bytes above RCV.NXT. */
	active(w, W_C_EST_ACTIVE, 40000, 5000, true, true, true);
	struct w_conn *e = &w->c[W_C_EST_ACTIVE];
	w_fill(data, w_send_seq(w, e->sock), sizeof(data), true);
	if (sk_send(w->st, e->sock, data, sizeof(data), w->now) != (ssize_t)sizeof(data))
		die("sk_send of the initial data failed");
	w_sync(w, W_C_EST_ACTIVE);
	struct sk_tcp_repr ooo = w_seg(w, W_C_EST_ACTIVE);
	ooo.seq += 1000;
	w_fill(data, ooo.seq, 500, false);
	ooo.payload = data;
	ooo.payload_len = 500;
	w_send_tcp(w, &ooo, false);
	expect_state(w, W_C_EST_ACTIVE, SK_TCP_ESTABLISHED, "the connection with data in flight");
	if (conn_tcb(w, W_C_EST_ACTIVE)->reass.n != 1)
		die("the out-of-order data is not held");

	/* FIN_WAIT_2: no options at all on this one. */
	active(w, W_C_FIN_WAIT_2, 40001, 5001, true, false, false);
	sk_shutdown(w->st, w->c[W_C_FIN_WAIT_2].sock, SK_SHUT_WR, w->now);
	w_sync(w, W_C_FIN_WAIT_2);
	struct sk_tcp_repr ack = w_seg(w, W_C_FIN_WAIT_2);
	ack.ack = w->c[W_C_FIN_WAIT_2].snd_max;
	w_send_tcp(w, &ack, false);
	expect_state(w, W_C_FIN_WAIT_2, SK_TCP_FIN_WAIT_2, "the half-closed connection");

	/* TIME_WAIT, orphaned: timestamps only. */
	active(w, W_C_TIME_WAIT, 40002, 5002, true, true, true);
	sk_shutdown(w->st, w->c[W_C_TIME_WAIT].sock, SK_SHUT_WR, w->now);
	w_sync(w, W_C_TIME_WAIT);
	peer_fin(w, W_C_TIME_WAIT);
	sk_close(w->st, w->c[W_C_TIME_WAIT].sock, w->now);
	w->c[W_C_TIME_WAIT].sock = -1;
	expect_state(w, W_C_TIME_WAIT, SK_TCP_TIME_WAIT, "the closed connection");

	/* CLOSE_WAIT: 100 bytes and the peer's FIN, unread. */
	passive(w, W_C_CLOSE_WAIT, 1003, 6000000, false);
	struct sk_tcp_repr d = w_seg(w, W_C_CLOSE_WAIT);
	w_fill(data, d.seq, 100, false);
	d.payload = data;
	d.payload_len = 100;
	d.flags |= SK_TCP_PSH;
	w_send_tcp(w, &d, false);
	w_sync(w, W_C_CLOSE_WAIT);
	peer_fin(w, W_C_CLOSE_WAIT);
	expect_state(w, W_C_CLOSE_WAIT, SK_TCP_CLOSE_WAIT, "the connection the peer closed");

	active(w, W_C_SYN_SENT, 40003, 5003, false, false, false);

	for (int i = 0; i < W_NCONN; i++)
		w_sync(w, i);
	w->timer_runs = 0;
	return w;
}

void w_free(struct world *w)
{
	if (!w)
		return;
	sk_stack_free(w->st);
	free(w);
}
