/* Many short connections to one peer, as an HTTP/1.0 client makes them:
 * the ephemeral port of each (RFC 6056 §3.3.3, Algorithm 3) and its
 * timestamps (RFC 7323 §5.4, an offset per address pair). A peer that
 * closed first keeps the old 4-tuple in TIME_WAIT; a new SYN on it must
 * come as late as possible and with a higher TSval (RFC 6191), or the SYN
 * waits a 1 s RTO (docs/performance.md §4). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 9000u
#define PEER_TS  700000u
#define RANGE    (TCP_EPHEMERAL_HI - TCP_EPHEMERAL_LO + 1)

static struct harness *h;

static void setup(void)
{
	h = h_new(NULL);
	h->auto_arp = true;
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_reconnect, .init = setup, .fini = teardown);

/* The port after p in the ephemeral range. */
static uint16_t next_port(uint16_t p)
{
	return p == TCP_EPHEMERAL_HI ? TCP_EPHEMERAL_LO : (uint16_t)(p + 1);
}

/* connect() from an unbound socket to the peer; returns its SYN. */
static struct h_tcp connect_syn(int *sock)
{
	int s = sk_socket(h->st);

	cr_assert_geq(s, 0);
	cr_assert_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	if (sock)
		*sock = s;
	return h_expect_tcp(h, SK_TCP_SYN);
}

/* A connect() that is given up in SYN_SENT (nothing on the wire); returns
 * the port it had. The event log is emptied: thousands of these overflow it. */
static uint16_t connect_and_drop(void)
{
	int s = sk_socket(h->st);
	struct sk_endpoint ep;

	cr_assert_geq(s, 0);
	cr_assert_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	cr_assert_eq(sk_getsockname(h->st, s, &ep), 0);
	h_clear(h);
	sk_close(h->st, s, h->now);
	h->nevents = 0;
	return ep.port;
}

/* A peer segment to our port `port`, with a timestamp echoing `ecr`. */
static struct sk_tcp_repr to_port(struct sk_tcp_repr r, uint16_t port, uint32_t tsval, uint32_t ecr)
{
	r.dst_port = port;
	r.has_timestamp = true;
	r.ts_val = tsval;
	r.ts_ecr = ecr;
	return r;
}

Test(tcp_reconnect, a_syn_after_the_peer_closed_first_has_a_new_port_and_a_higher_tsval)
{
	/* Connection 1: handshake with timestamps, the peer closes first
	 * (it keeps the 4-tuple in TIME_WAIT), then we close. */
	int s = -1;
	struct h_tcp syn = connect_syn(&s);
	uint16_t port = syn.r.src_port;
	struct sk_tcp_repr sa = h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, syn.r.seq + 1);

	sa.mss = 1460;
	h_send(h, to_port(sa, port, PEER_TS, syn.r.ts_val));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	h_advance(h, SK_MS(10));
	h_send(h, to_port(h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 1, syn.r.seq + 1), port,
	                  PEER_TS + 10, ack.r.ts_val));
	h_expect_tcp(h, SK_TCP_ACK);
	h_advance(h, SK_MS(5));
	sk_close(h->st, s, h->now);
	struct h_tcp fin = h_expect_tcp(h, SK_TCP_FIN | SK_TCP_ACK);
	h_send(h, to_port(h_seg(SK_TCP_ACK, PEER_ISN + 2, syn.r.seq + 2), port, PEER_TS + 15,
	                  fin.r.ts_val));
	h_expect_nothing(h);
	cr_assert_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);

	/* Connection 2, 1 ms later: the peer's TIME_WAIT accepts its SYN
	 * only with a TSval above the last one it saw (RFC 6191). */
	h_advance(h, SK_MS(1));
	struct h_tcp syn2 = connect_syn(NULL);
	cr_expect_neq(syn2.r.src_port, port, "the 4-tuple in the peer's TIME_WAIT is not reused");
	cr_expect_eq(syn2.r.src_port, next_port(port), "RFC 6056 §3.3.3: the next port");
	cr_expect_eq(syn2.r.ts_val - fin.r.ts_val, 1,
	             "one offset per address pair: TSval %u continues the old connection's %u",
	             syn2.r.ts_val, fin.r.ts_val);
}

Test(tcp_reconnect, connections_to_one_peer_share_one_timestamp_offset)
{
	struct h_tcp a = connect_syn(NULL);
	struct h_tcp b = connect_syn(NULL);
	uint32_t off = sk_tcp_ts_offset(h->cfg.isn_key, H_OUR_IP, H_PEER_IP);

	cr_expect_neq(a.r.src_port, b.r.src_port);
	cr_expect_eq(a.r.ts_val, (uint32_t)(h->now / 1000) + off,
	             "a 1 ms clock plus the pair's offset");
	cr_expect_eq(b.r.ts_val, a.r.ts_val, "same peer, same instant: same TSval");
	/* Another peer sees another offset, and none is the uptime. */
	cr_expect_neq(sk_tcp_ts_offset(h->cfg.isn_key, H_OUR_IP, H_PEER_IP + 1), off);
	cr_expect_neq(sk_tcp_ts_offset(h->cfg.isn_key, H_PEER_IP, H_OUR_IP), off,
	              "the pair is ordered: local, remote");
	cr_expect_neq(off, 0);
}

Test(tcp_reconnect, a_thousand_connections_take_consecutive_ports_and_increasing_tsvals)
{
	uint8_t *seen = calloc(RANGE, 1);
	uint16_t prev = 0;
	uint32_t prev_ts = 0;

	cr_assert(seen);
	for (int i = 0; i < 1000; i++) {
		int s;
		struct h_tcp syn = connect_syn(&s);
		uint16_t p = syn.r.src_port;

		cr_assert(p >= TCP_EPHEMERAL_LO && p <= TCP_EPHEMERAL_HI, "port %u out of range",
		          p);
		cr_assert_not(seen[p - TCP_EPHEMERAL_LO], "port %u reused by connection %d", p, i);
		seen[p - TCP_EPHEMERAL_LO] = 1;
		if (i > 0) {
			cr_assert_eq(p, next_port(prev), "connection %d: port %u after %u", i, p,
			             prev);
			cr_assert_eq(syn.r.ts_val - prev_ts, 1, "connection %d: TSval 1 ms on", i);
		}
		prev = p;
		prev_ts = syn.r.ts_val;
		sk_close(h->st, s, h->now);
		h_expect_nothing(h);
		h->nevents = 0;
		h_advance(h, SK_MS(1));
	}
	free(seen);
}

Test(tcp_reconnect, a_port_comes_back_only_after_the_whole_range)
{
	uint8_t *seen = calloc(RANGE, 1);
	uint16_t first = connect_and_drop();

	cr_assert(seen);
	seen[first - TCP_EPHEMERAL_LO] = 1;
	for (uint32_t i = 1; i < RANGE; i++) {
		uint16_t p = connect_and_drop();

		cr_assert(p >= TCP_EPHEMERAL_LO && p <= TCP_EPHEMERAL_HI, "port %u out of range",
		          p);
		cr_assert_not(seen[p - TCP_EPHEMERAL_LO], "port %u back after %u connections", p,
		              i);
		seen[p - TCP_EPHEMERAL_LO] = 1;
	}
	cr_expect_eq(connect_and_drop(), first, "connection %u wraps to the first port", RANGE);
	free(seen);
}

static void other_key(struct sk_config *cfg)
{
	cfg->isn_key[0] ^= 1;
}

Test(tcp_reconnect, the_first_port_depends_on_the_secret)
{
	uint16_t a = connect_and_drop();

	h_free(h);
	h = h_new(other_key);
	h->auto_arp = true;
	uint16_t b = connect_and_drop();
	/* 1 in 28232 that two keys agree; these two are fixed and do not. */
	cr_expect_neq(a, b, "an off-path attacker cannot guess the start: %u", a);
	cr_expect_neq(a, TCP_EPHEMERAL_LO);
}

Test(tcp_reconnect, a_port_in_use_is_skipped)
{
	int s1, x = sk_socket(h->st);
	uint16_t p = connect_syn(&s1).r.src_port;

	/* The port the next connect would take is bound explicitly. */
	cr_assert_eq(sk_bind(h->st, x, 0, next_port(p)), 0);
	cr_expect_eq(connect_syn(NULL).r.src_port, next_port(next_port(p)));
}

Test(tcp_reconnect, bind_for_connect_picks_the_port_connect_would)
{
	int s = sk_socket(h->st);
	struct sk_endpoint ep;

	/* The shim binds first so it can register the port before the SYN. */
	cr_assert_eq(sk_bind_for_connect(h->st, s, H_PEER_IP, H_PEER_PORT), 0);
	cr_assert_eq(sk_getsockname(h->st, s, &ep), 0);
	cr_expect_eq(sk_bind_for_connect(h->st, s, H_PEER_IP, H_PEER_PORT), -EINVAL,
	             "already bound");
	cr_assert_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_SYN).r.src_port, ep.port);
	cr_expect_eq(connect_syn(NULL).r.src_port, next_port(ep.port), "one sequence for both");
}

static void many_sockets(struct sk_config *cfg)
{
	cfg->max_sockets = RANGE + 2;
}

Test(tcp_reconnect, no_free_port_is_eaddrnotavail)
{
	h_free(h);
	h = h_new(many_sockets);
	h->auto_arp = true;
	for (uint32_t p = TCP_EPHEMERAL_LO; p <= TCP_EPHEMERAL_HI; p++)
		cr_assert_eq(sk_bind(h->st, sk_socket(h->st), 0, (uint16_t)p), 0);
	int s = sk_socket(h->st);

	cr_expect_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EADDRNOTAVAIL);
	cr_expect_eq(sk_bind_for_connect(h->st, s, H_PEER_IP, H_PEER_PORT), -EADDRNOTAVAIL);
	h_expect_nothing(h);
	/* One port freed: connect finds it wherever the counter stands. */
	sk_close(h->st, 0, h->now);
	cr_expect_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_SYN).r.src_port, TCP_EPHEMERAL_LO);
}

/* Two synack processes of one host: different ISN keys, the shim's shared
 * ts_key (the boot id). A client run again must continue the TSvals of the
 * previous run towards the same peer, whose TIME_WAIT would otherwise
 * refuse the reused 4-tuple. */
static void process_a(struct sk_config *cfg)
{
	memset(cfg->isn_key, 0xa1, sizeof(cfg->isn_key));
	memset(cfg->ts_key, 0x5c, sizeof(cfg->ts_key));
}

static void process_b(struct sk_config *cfg)
{
	memset(cfg->isn_key, 0xb2, sizeof(cfg->isn_key));
	memset(cfg->ts_key, 0x5c, sizeof(cfg->ts_key));
}

static struct h_tcp syn_of(struct harness *x)
{
	int s = sk_socket(x->st);

	x->auto_arp = true;
	cr_assert_geq(s, 0);
	cr_assert_eq(sk_connect(x->st, s, H_PEER_IP, H_PEER_PORT, x->now), -EINPROGRESS);
	return h_expect_tcp(x, SK_TCP_SYN);
}

Test(tcp_reconnect, processes_sharing_the_ts_key_share_the_timestamp_offset)
{
	struct harness *a = h_new(process_a), *b = h_new(process_b);
	struct h_tcp sa = syn_of(a), sb = syn_of(b);

	cr_expect_eq(a->now, b->now);
	cr_expect_eq(sa.r.ts_val, sb.r.ts_val, "same host clock, same ts_key: same TSval");
	cr_expect_neq(sa.r.seq, sb.r.seq, "the ISN keys still differ");
	h_free(a);
	h_free(b);
}

Test(tcp_reconnect, without_a_ts_key_the_isn_key_keys_the_offset)
{
	struct h_tcp syn = connect_syn(NULL);

	cr_expect_eq(syn.r.ts_val, (uint32_t)(h->now / 1000) +
	                               sk_tcp_ts_offset(h->cfg.isn_key, H_OUR_IP, H_PEER_IP));
}
