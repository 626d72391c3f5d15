/* The TIME_WAIT table (core/tcp_timewait.c): a connection the program
 * closed waits out 2·MSL in a small entry of its own, not in a socket
 * slot. A server that closes first (HTTP/1.0) leaves one per connection;
 * they must cost no slot, stay bounded (the oldest ends early when the
 * table is full, as Linux past tcp_max_tw_buckets), and still do what
 * TIME_WAIT is for: re-ACK the peer's FIN, keep the 4-tuple and the port,
 * ignore a RST (RFC 1337), let a new SYN reopen the tuple (RFC 6191).
 *
 * An arena of 8 slots. Fake time; MSL 30 s. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../core/tcp.h"
#include "harness.h"

#define S(x)     SK_TCP_##x
#define SLOTS    8
#define PEER_ISN 5000u
#define FULL     "recycled: TIME_WAIT table full"

static struct harness *h;
static uint32_t tw_cap; /* 0: the default, 4 * SLOTS */

/* Log lines of the stack (at WARN and above), to see the warning. */
static char logged[16][256];
static size_t nlogged;

static void grab_log(void *ctx, enum sk_log_level level, const char *msg)
{
	(void)ctx;
	if (level <= SK_LOG_WARN && nlogged < sizeof(logged) / sizeof(logged[0]))
		snprintf(logged[nlogged++], sizeof(logged[0]), "%s", msg);
}

static void small_arena(struct sk_config *cfg)
{
	cfg->max_sockets = SLOTS;
	cfg->max_time_wait = tw_cap;
}

static void start(uint32_t cap)
{
	if (h)
		h_free(h);
	tw_cap = cap;
	h = h_new(small_arena);
	h->auto_arp = true;
	h->st->hooks.log = grab_log;
	nlogged = 0;
}

static void setup(void)
{
	h = NULL;
	start(0);
}

static void teardown(void)
{
	h_free(h);
	h = NULL;
}

TestSuite(timewait, .init = setup, .fini = teardown);

/* The peer's segment from its port `port` to our listener's. */
static struct sk_tcp_repr from(uint16_t port, uint8_t flags, uint32_t seq, uint32_t ack)
{
	struct sk_tcp_repr r = h_seg(flags, seq, ack);

	r.src_port = port;
	return r;
}

/* The peer at `port` opens a connection to listener l: SYN, our SYN+ACK,
 * its ACK; accepted. Returns the socket; *iss gets our ISN. */
static int accepted(int l, uint16_t port, uint32_t *iss)
{
	h_send(h, from(port, S(SYN), PEER_ISN, 0));
	struct h_tcp sa = h_expect_tcp(h, S(SYN) | S(ACK));
	cr_assert_eq(sa.r.dst_port, port);
	cr_assert_eq(sa.r.ack, PEER_ISN + 1);
	h_send(h, from(port, S(ACK), PEER_ISN + 1, sa.r.seq + 1));
	h_expect_nothing(h);
	int c = sk_accept(h->st, l, NULL);
	cr_assert_geq(c, 0, "port %u: accept %d", port, c);
	if (iss)
		*iss = sa.r.seq;
	return c;
}

/* A connection from `port` that the server (us) closes first, in TIME_WAIT
 * with the application gone: the HTTP/1.0 pattern of ab against nginx.
 * Returns the socket number it had. */
static int server_closed(int l, uint16_t port)
{
	uint32_t iss;
	int c = accepted(l, port, &iss);

	sk_close(h->st, c, h->now);
	h_expect_tcp(h, S(FIN) | S(ACK));
	h_send(h, from(port, S(FIN) | S(ACK), PEER_ISN + 1, iss + 2));
	struct h_tcp ack = h_expect_tcp(h, S(ACK));
	cr_assert_eq(ack.r.ack, PEER_ISN + 2);
	cr_assert_eq(h_last_event(h, c)->to, S(TIME_WAIT));
	return c;
}

/* TIME_WAIT -> CLOSED events with this cause (NULL: any). */
static size_t ended(const char *cause)
{
	size_t n = 0;

	for (size_t i = 0; i < h->nevents; i++)
		if (h->events[i].from == S(TIME_WAIT) && h->events[i].to == S(CLOSED) &&
		    (!cause || strcmp(h->events[i].cause, cause) == 0))
			n++;
	return n;
}

static const struct sk_state_change *last_ended(void)
{
	for (size_t i = h->nevents; i-- > 0;)
		if (h->events[i].from == S(TIME_WAIT) && h->events[i].to == S(CLOSED))
			return &h->events[i];
	cr_assert_fail("no TIME_WAIT ended");
	return NULL;
}

Test(timewait, time_waits_hold_no_slot)
{
	int l = h_listen(h, 16);

	/* Three times as many as the arena has slots. */
	for (int i = 0; i < 3 * SLOTS; i++) {
		server_closed(l, (uint16_t)(1000 + i));
		h->nevents = 0;
	}
	cr_expect_eq(sk_time_wait_count(h->st), 3 * SLOTS);
	cr_expect_eq(sk_get_stats(h->st)->tcp_tw_recycled, 0);
	cr_expect_eq(sk_next_socket(h->st, sk_next_socket(h->st, -1)), -1,
	             "only the listener is in the arena");
	for (int i = 1; i < SLOTS; i++)
		cr_expect_geq(sk_socket(h->st), 0, "socket %d of %d", i, SLOTS);
	cr_expect_eq(nlogged, 0);
	/* Each still answers its peer's FIN again. */
	h_send(h, from(1005, S(FIN) | S(ACK), PEER_ISN + 1, 0));
	struct h_tcp again = h_expect_tcp(h, S(ACK));
	cr_expect_eq(again.r.dst_port, 1005);
	cr_expect_eq(again.r.ack, PEER_ISN + 2);
}

Test(timewait, a_full_table_ends_the_oldest_first)
{
	start(4);
	int l = h_listen(h, 16);
	int socks[6];

	for (int i = 0; i < 6; i++) {
		socks[i] = server_closed(l, (uint16_t)(1000 + i));
		h_advance(h, SK_SEC(1));
	}
	cr_expect_eq(sk_time_wait_count(h->st), 4);
	cr_expect_eq(sk_get_stats(h->st)->tcp_tw_recycled, 2);
	cr_expect_eq(ended(FULL), 2);
	(void)socks;
	/* One warning for the burst, naming the setting. */
	cr_expect_eq(nlogged, 1);
	cr_expect(strstr(logged[0], "TIME_WAIT table full"), "%s", logged[0]);
	cr_expect(strstr(logged[0], "SYNACK_MAX_TIME_WAIT"), "%s", logged[0]);
	/* Ports 1000 and 1001 went: a FIN from there meets only the
	 * listener, which resets it; 1002 still re-ACKs. */
	h_send(h, from(1000, S(FIN) | S(ACK), PEER_ISN + 1, 77));
	struct h_tcp rst = h_expect_tcp(h, S(RST));
	cr_expect_eq(rst.r.seq, 77);
	h_send(h, from(1002, S(FIN) | S(ACK), PEER_ISN + 1, 0));
	cr_expect_eq(h_expect_tcp(h, S(ACK)).r.dst_port, 1002);
}

Test(timewait, the_peer_s_FIN_again_is_acked_and_restarts_2MSL)
{
	int l = h_listen(h, 16);
	int a = server_closed(l, 1000);

	h_advance(h, SK_SEC(1));
	server_closed(l, 1001);
	/* 1000's FIN comes again 50 s in: ACKed, and its 2 MSL start over,
	 * so it now ends after 1001's (the FIFO keeps expiry order). */
	h_advance(h, SK_SEC(49));
	h_send(h, from(1000, S(FIN) | S(ACK), PEER_ISN + 1, 0));
	h_advance(h, SK_MS(1)); /* the ARP entry aged out: the ACK waits for it */
	struct h_tcp ack = h_expect_tcp(h, S(ACK));
	cr_expect_eq(ack.r.dst_port, 1000);
	cr_expect_eq(ack.r.ack, PEER_ISN + 2);
	h_advance(h, SK_SEC(11)); /* 61 s after 1001 entered */
	cr_expect_eq(sk_time_wait_count(h->st), 1);
	cr_expect_eq(last_ended()->remote.port, 1001);
	cr_expect_str_eq(last_ended()->cause, "2MSL timeout");
	h_advance(h, SK_SEC(48)); /* 59 s after the FIN */
	cr_expect_eq(sk_time_wait_count(h->st), 1);
	h_advance(h, SK_SEC(2));
	cr_expect_eq(sk_time_wait_count(h->st), 0);
	/* The end is traced under the socket number it had. */
	cr_expect_eq(last_ended()->sock, a);
	cr_expect_eq(last_ended()->remote.port, 1000);
	h_expect_nothing(h);
}

Test(timewait, RST_is_ignored_and_stray_segments_get_the_ACK)
{
	int l = h_listen(h, 16);

	server_closed(l, 1000);
	/* RFC 1337: no TIME_WAIT assassination. */
	h_send(h, from(1000, S(RST), PEER_ISN + 2, 0));
	h_expect_nothing(h);
	cr_expect_eq(sk_time_wait_count(h->st), 1);
	/* Data past the peer's FIN: <SEQ=SND.NXT><ACK=RCV.NXT>. */
	struct sk_tcp_repr d = h_data(PEER_ISN + 2, 0, "x", 1);
	d.src_port = 1000;
	h_send(h, d);
	struct h_tcp ack = h_expect_tcp(h, S(ACK));
	cr_expect_eq(ack.r.ack, PEER_ISN + 2);
	/* A SYN below the old sequence space: a challenge ACK, it stays
	 * (RFC 5961 §4.2). */
	h_advance(h, SK_SEC(1));
	h_send(h, from(1000, S(SYN), PEER_ISN, 0));
	ack = h_expect_tcp(h, S(ACK));
	cr_expect_eq(ack.r.ack, PEER_ISN + 2);
	cr_expect_eq(sk_time_wait_count(h->st), 1);
}

Test(timewait, a_new_SYN_above_the_old_sequence_space_reopens_the_tuple)
{
	int l = h_listen(h, 16);

	server_closed(l, 1000);
	h_send(h, from(1000, S(SYN), PEER_ISN + 100000, 0));
	struct h_tcp sa = h_expect_tcp(h, S(SYN) | S(ACK));
	cr_expect_eq(sa.r.ack, PEER_ISN + 100001);
	cr_expect_eq(sk_time_wait_count(h->st), 0);
	cr_expect_eq(ended("new SYN reuses the 4-tuple"), 1);
}

Test(timewait, the_port_stays_taken_until_it_ends)
{
	int l = h_listen(h, 16);

	server_closed(l, 1000);
	sk_close(h->st, l, h->now);
	/* Linux: a TIME_WAIT holds its local port; a new socket may share it
	 * only if both set SO_REUSEADDR (the listener did not). */
	int s = sk_socket(h->st), one = 1;
	cr_assert_geq(s, 0);
	cr_expect_eq(sk_bind(h->st, s, 0, H_OUR_PORT), -EADDRINUSE);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_REUSEADDR, one), 0);
	cr_expect_eq(sk_bind(h->st, s, 0, H_OUR_PORT), -EADDRINUSE);
	h_advance(h, SK_SEC(61));
	cr_expect_eq(sk_bind(h->st, s, 0, H_OUR_PORT), 0);
}

Test(timewait, SO_REUSEADDR_on_both_shares_the_port)
{
	int l = sk_socket(h->st), one = 1;

	cr_assert_eq(sk_setopt(h->st, l, SK_OPT_REUSEADDR, one), 0);
	cr_assert_eq(sk_bind(h->st, l, 0, H_OUR_PORT), 0);
	cr_assert_eq(sk_listen(h->st, l, 16, h->now), 0);
	server_closed(l, 1000);
	sk_close(h->st, l, h->now);
	int s = sk_socket(h->st);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_REUSEADDR, one), 0);
	cr_expect_eq(sk_bind(h->st, s, 0, H_OUR_PORT), 0, "a restarted server binds again");
}

Test(timewait, a_TIME_WAIT_the_application_holds_stays_in_its_slot_until_close)
{
	uint32_t iss;
	int s = h_established(h, PEER_ISN, &iss);

	/* shutdown(SHUT_WR), then the peer's FIN: TIME_WAIT, still ours. */
	cr_assert_eq(sk_shutdown(h->st, s, SK_SHUT_WR, h->now), 0);
	h_expect_tcp(h, S(FIN) | S(ACK));
	h_send(h, h_seg(S(FIN) | S(ACK), PEER_ISN + 1, iss + 2));
	h_expect_tcp(h, S(ACK));
	cr_expect_eq(sk_sock_state(h->st, s), S(TIME_WAIT));
	cr_expect_eq(sk_time_wait_count(h->st), 0);
	/* Closed, it moves to the table without a word; its slot is free. */
	h_advance(h, SK_SEC(10));
	sk_close(h->st, s, h->now);
	h_expect_nothing(h);
	cr_expect_eq(sk_time_wait_count(h->st), 1);
	cr_expect_eq(sk_socket(h->st), s);
	/* It keeps the deadline it had: 2 MSL from the FIN, not from close. */
	h_advance(h, SK_SEC(51));
	cr_expect_eq(sk_time_wait_count(h->st), 0);
}

Test(timewait, thousands_in_a_row_stay_within_the_table)
{
	start(100);
	int l = h_listen(h, 16);

	/* 2000 connections closed by the server, a new one every 10 ms:
	 * 20 s, less than 2 MSL, so only the table's bound ends them. Every
	 * connection is accepted (none refused), the table never holds more
	 * than its 100, and the arena stays free. */
	for (int i = 0; i < 2000; i++) {
		server_closed(l, (uint16_t)(1000 + i));
		cr_assert_leq(sk_time_wait_count(h->st), 100);
		h->nevents = 0;
		h_advance(h, SK_MS(10));
	}
	cr_expect_eq(sk_time_wait_count(h->st), 100);
	cr_expect_eq(sk_get_stats(h->st)->tcp_tw_recycled, 1900);
	cr_expect_eq(sk_get_stats(h->st)->tcp_syncookies_sent, 0);
	cr_expect_eq(sk_tcp_of(h->st)->tw_used, 100, "entries are reused, not spread");
	for (int i = 1; i < SLOTS; i++)
		cr_expect_geq(sk_socket(h->st), 0);
}
