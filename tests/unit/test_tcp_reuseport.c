/* SO_REUSEPORT groups at segment level: a SYN to a port where several
 * sockets listen goes to one of them chosen by a keyed hash of its 4-tuple
 * (Linux inet_lhash2_lookup -> reuseport_select_sock), always the same
 * one for one 4-tuple while the group is unchanged; only listeners take
 * part; the group on the segment's own address is preferred over the one
 * on INADDR_ANY; SYN queues and SYN cookies stay per listener; a listener
 * that closes resets its children not yet accepted and leaves the port
 * to the others (no migration: Linux's tcp_migrate_req = 0). */
#include <criterion/criterion.h>
#include <errno.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN  7000u
#define SYN_QUEUE 2
#define S(x)      SK_TCP_##x

static struct harness *h;

static void small_syn_queue(struct sk_config *cfg)
{
	cfg->syn_backlog = SYN_QUEUE;
}

static void setup(void)
{
	h = h_new(NULL);
	h->auto_arp = true;
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(reuseport, .init = setup, .fini = teardown);

/* A socket with SO_REUSEPORT bound to (addr, H_OUR_PORT); listening with
 * a backlog of 512 when `listen`. */
static int member(uint32_t addr, bool listen)
{
	int s = sk_socket(h->st);

	cr_assert_geq(s, 0);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_REUSEPORT, 1), 0);
	cr_assert_eq(sk_bind(h->st, s, addr, H_OUR_PORT), 0);
	if (listen)
		cr_assert_eq(sk_listen(h->st, s, 512, h->now), 0);
	return s;
}

/* The harness records at most H_MAX_EVENTS state changes; these tests
 * send hundreds of SYNs and look at listeners, not at transitions. */
static void forget_events(void)
{
	h->nevents = 0;
}

/* A SYN from port sport: the listener whose SYN queue its child joined
 * (the SYN,ACK is consumed). */
static int syn_to(uint16_t sport)
{
	struct sk_tcp_repr r = h_seg(S(SYN), PEER_ISN, 0);

	r.src_port = sport;
	forget_events();
	h_send(h, r);
	h_expect_tcp(h, S(SYN) | S(ACK));
	struct tcb *c = tcp_conn_lookup(h->st, H_OUR_IP, H_OUR_PORT, H_PEER_IP, sport);

	cr_assert_not_null(c, "a child for port %u", sport);
	cr_assert_neq(c->parent, TCP_NIL);
	return c->parent;
}

/* The peer gives up the half-open connection from sport (RST in window):
 * the child goes, and the 4-tuple is free for a new SYN. */
static void rst_from(uint16_t sport)
{
	struct sk_tcp_repr r = h_seg(S(RST), PEER_ISN + 1, 0);

	r.src_port = sport;
	forget_events();
	h_send(h, r);
	cr_assert_null(tcp_conn_lookup(h->st, H_OUR_IP, H_OUR_PORT, H_PEER_IP, sport));
}

/* n SYNs from ports first... counted per listener in count[] (indexed like
 * socks[], k of them); fails on a SYN that reached none of them. */
static void spread(uint16_t first, int n, const int *socks, int k, int *count)
{
	for (int i = 0; i < k; i++)
		count[i] = 0;
	for (int p = 0; p < n; p++) {
		int l = syn_to((uint16_t)(first + p)), i = 0;

		while (i < k && socks[i] != l)
			i++;
		cr_assert_lt(i, k, "port %d reached socket %d, not one of the group", first + p, l);
		count[i]++;
	}
}

Test(reuseport, syns_from_many_ports_are_spread_over_four_listeners)
{
	int socks[4], count[4];

	for (int i = 0; i < 4; i++)
		socks[i] = member(H_OUR_IP, true);
	spread(1000, 400, socks, 4, count);
	/* About 100 each; a keyed hash (the harness's fixed key) spreads
	 * them well, far from these bounds. */
	for (int i = 0; i < 4; i++)
		cr_expect_geq(count[i], 50, "listener %d got %d of 400", i, count[i]);
}

Test(reuseport, two_listeners_on_any_both_take_connections_to_accept)
{
	int socks[2] = {member(0, true), member(0, true)}, count[2] = {0, 0};

	for (uint16_t p = 2000; p < 2040; p++) {
		struct sk_tcp_repr syn = h_seg(S(SYN), PEER_ISN, 0);

		syn.src_port = p;
		h_send(h, syn);
		struct h_tcp sa = h_expect_tcp(h, S(SYN) | S(ACK));
		struct sk_tcp_repr ack = h_seg(S(ACK), PEER_ISN + 1, sa.r.seq + 1);

		ack.src_port = p;
		forget_events();
		h_send(h, ack);
	}
	h_expect_nothing(h);
	for (int i = 0; i < 2; i++)
		while (sk_accept(h->st, socks[i], NULL) >= 0)
			count[i]++;
	cr_expect_eq(count[0] + count[1], 40);
	cr_expect_gt(count[0], 0);
	cr_expect_gt(count[1], 0);
}

Test(reuseport, one_four_tuple_always_reaches_the_same_listener)
{
	int socks[4];

	for (int i = 0; i < 4; i++)
		socks[i] = member(H_OUR_IP, true);
	for (uint16_t p = 3000; p < 3064; p++) {
		int first = syn_to(p);

		for (int again = 0; again < 3; again++) {
			rst_from(p);
			cr_expect_eq(syn_to(p), first, "port %u", p);
		}
		rst_from(p);
	}
	(void)socks;
}

Test(reuseport, a_bound_member_that_does_not_listen_gets_none)
{
	int socks[3] = {member(H_OUR_IP, true), member(H_OUR_IP, false), member(H_OUR_IP, true)};
	int count[3];

	spread(4000, 200, socks, 3, count);
	cr_expect_eq(count[1], 0, "the socket that only bound got %d", count[1]);
	cr_expect_gt(count[0], 0);
	cr_expect_gt(count[2], 0);
}

Test(reuseport, closing_one_listener_resets_its_children_and_leaves_the_port_to_the_others)
{
	int socks[4], count[4];

	for (int i = 0; i < 4; i++)
		socks[i] = member(H_OUR_IP, true);
	spread(5000, 100, socks, 4, count);
	cr_assert_gt(count[1], 0);
	uint64_t rst_before = sk_get_stats(h->st)->tcp_rst_sent;

	sk_close(h->st, socks[1], h->now);
	/* Its half-open children are reset (Linux inet_csk_listen_stop
	 * without tcp_migrate_req), the others' are left alone. */
	forget_events();
	for (int i = 0; i < count[1]; i++)
		h_expect_tcp(h, S(RST) | S(ACK));
	h_expect_nothing(h);
	cr_expect_eq(sk_get_stats(h->st)->tcp_rst_sent - rst_before, (uint64_t)count[1]);

	int rest[3] = {socks[0], socks[2], socks[3]}, after[3];

	spread(6000, 300, rest, 3, after);
	for (int i = 0; i < 3; i++)
		cr_expect_gt(after[i], 0, "listener %d got none after the close", rest[i]);
}

Test(reuseport, the_group_on_our_address_is_preferred_over_the_one_on_any)
{
	int any[2] = {member(0, true), member(0, true)};
	int own[2] = {member(H_OUR_IP, true), member(H_OUR_IP, true)}, count[2];

	spread(7000, 100, own, 2, count);
	cr_expect_gt(count[0], 0);
	cr_expect_gt(count[1], 0);
	for (uint16_t p = 7000; p < 7100; p++)
		rst_from(p);
	sk_close(h->st, own[0], h->now);
	sk_close(h->st, own[1], h->now);
	spread(7100, 100, any, 2, count);
	cr_expect_gt(count[0], 0);
	cr_expect_gt(count[1], 0);
}

Test(reuseport, a_lone_listener_with_the_option_takes_everything)
{
	int l = member(H_OUR_IP, true), count;

	spread(8000, 20, &l, 1, &count);
	cr_expect_eq(count, 20);
}

Test(reuseport, a_plain_listener_is_untouched_by_the_group_lookup)
{
	/* No option: the first listener found answers, as before groups. */
	int l = h_listen(h, 16), count;

	spread(8100, 10, &l, 1, &count);
	cr_expect_eq(count, 10);
}

Test(reuseport, syn_queues_and_cookies_stay_per_listener)
{
	h_free(h); /* a stack with a SYN queue of SYN_QUEUE instead */
	h = h_new(small_syn_queue);
	h->auto_arp = true;
	int socks[2] = {member(H_OUR_IP, true), member(H_OUR_IP, true)};
	int half_open[2] = {0, 0}, cookies = 0;
	uint16_t cookie_port[40];
	struct h_tcp cookie_sa[40];

	for (uint16_t p = 9000; p < 9040; p++) {
		struct sk_tcp_repr r = h_seg(S(SYN), PEER_ISN, 0);

		r.src_port = p;
		forget_events();
		h_send(h, r);
		struct h_tcp sa = h_expect_tcp(h, S(SYN) | S(ACK));
		struct tcb *c = tcp_conn_lookup(h->st, H_OUR_IP, H_OUR_PORT, H_PEER_IP, p);

		if (c) {
			half_open[c->parent == socks[1]]++;
		} else {
			cookie_port[cookies] = p;
			cookie_sa[cookies++] = sa;
		}
	}
	/* Each listener's SYN queue filled on its own: SYN_QUEUE each, the
	 * rest answered with cookies. */
	cr_expect_eq(half_open[0], SYN_QUEUE);
	cr_expect_eq(half_open[1], SYN_QUEUE);
	cr_expect_eq(cookies, 40 - 2 * SYN_QUEUE);
	cr_expect_eq(sk_get_stats(h->st)->tcp_syncookies_sent, (uint64_t)cookies);
	/* A cookie's ACK hashes like its SYN: it reaches the listener that
	 * sent the cookie, which completes the connection. */
	int parent[40];

	for (int i = 0; i < cookies; i++) {
		struct sk_tcp_repr ack = h_seg(S(ACK), PEER_ISN + 1, cookie_sa[i].r.seq + 1);

		ack.src_port = cookie_port[i];
		forget_events();
		h_send(h, ack);
		struct tcb *c =
		    tcp_conn_lookup(h->st, H_OUR_IP, H_OUR_PORT, H_PEER_IP, cookie_port[i]);

		cr_assert_not_null(c, "the cookie of port %u made a connection", cookie_port[i]);
		parent[i] = c->parent;
	}
	h_expect_nothing(h);
	cr_expect_eq(sk_get_stats(h->st)->tcp_syncookies_ok, (uint64_t)cookies);
	/* The listener that took it is the one a SYN of that 4-tuple
	 * reaches once the SYN queues have room again. */
	for (uint16_t p = 9000; p < 9040; p++)
		rst_from(p);
	for (int i = 0; i < cookies; i++) {
		cr_expect_eq(syn_to(cookie_port[i]), parent[i], "port %u", cookie_port[i]);
		rst_from(cookie_port[i]);
	}
}
