/* A full socket arena recycles TIME_WAIT (core/tcp_table.c, Linux's
 * tcp_max_tw_buckets): a server that closes first leaves one TIME_WAIT per
 * connection for 2·MSL; once they fill the arena, the next SYN or
 * sk_socket() takes the slot of the oldest orphaned TIME_WAIT instead of
 * failing. Nothing else is ever recycled: listeners, live connections and
 * sockets the application holds (even in TIME_WAIT) keep their slots.
 *
 * An arena of 8 slots: a listener and 7 server-closed connections fill it.
 * Fake time; MSL 30 s, so no TIME_WAIT ends by itself during a test. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../core/tcp.h"
#include "harness.h"

#define S(x)     SK_TCP_##x
#define SLOTS    8
#define PEER_ISN 5000u
#define CAUSE    "recycled: socket table full"

static struct harness *h;

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
}

static void setup(void)
{
	h = h_new(small_arena);
	h->auto_arp = true;
	h->st->hooks.log = grab_log;
	nlogged = 0;
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tw_recycle, .init = setup, .fini = teardown);

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
	cr_assert_geq(c, 0);
	if (iss)
		*iss = sa.r.seq;
	return c;
}

/* A connection from `port` that the server (us) closes first, in TIME_WAIT
 * with the application gone: the HTTP/1.0 pattern of ab against nginx. */
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

static size_t recycled_events(void)
{
	size_t n = 0;

	for (size_t i = 0; i < h->nevents; i++)
		if (h->events[i].from == S(TIME_WAIT) && h->events[i].to == S(CLOSED) &&
		    strcmp(h->events[i].cause, CAUSE) == 0)
			n++;
	return n;
}

/* The last TIME_WAIT -> CLOSED event with the recycling cause. */
static const struct sk_state_change *last_recycled(void)
{
	for (size_t i = h->nevents; i-- > 0;)
		if (h->events[i].from == S(TIME_WAIT) && h->events[i].to == S(CLOSED) &&
		    strcmp(h->events[i].cause, CAUSE) == 0)
			return &h->events[i];
	cr_assert_fail("no TIME_WAIT was recycled");
	return NULL;
}

/* Listener in slot 0, 7 TIME_WAITs from ports 1000..1006 (1000 oldest),
 * one second apart: the arena is full. */
static int full_of_time_wait(int tw[SLOTS - 1])
{
	int l = h_listen(h, 16);

	for (int i = 0; i < SLOTS - 1; i++) {
		tw[i] = server_closed(l, (uint16_t)(1000 + i));
		h_advance(h, SK_SEC(1));
	}
	cr_assert_eq(sk_get_stats(h->st)->tcp_tw_recycled, 0);
	return l;
}

Test(tw_recycle, next_SYN_gets_its_SYN_ACK_from_the_oldest_TIME_WAITs_slot)
{
	int tw[SLOTS - 1];

	full_of_time_wait(tw);
	h_send(h, from(2000, S(SYN), PEER_ISN, 0));
	struct h_tcp sa = h_expect_tcp(h, S(SYN) | S(ACK));
	cr_expect_eq(sa.r.dst_port, 2000);
	cr_expect_eq(sa.r.ack, PEER_ISN + 1);
	h_expect_nothing(h); /* a recycled TIME_WAIT leaves without a word */

	/* The oldest (port 1000) went, through the one state function. */
	const struct sk_state_change *ev = last_recycled();
	cr_expect_eq(ev->sock, tw[0]);
	cr_expect_eq(ev->remote.port, 1000);
	cr_expect_eq(recycled_events(), 1);
	cr_expect_eq(sk_get_stats(h->st)->tcp_tw_recycled, 1);
	/* Its slot is the new child's. */
	const struct sk_state_change *born = &h->events[h->nevents - 1];
	cr_expect_eq(born->from, S(LISTEN));
	cr_expect_eq(born->to, S(SYN_RECEIVED));
	cr_expect_eq(born->sock, tw[0]);
	cr_expect_eq(born->remote.port, 2000);

	/* One warning, naming the setting that would have avoided it. */
	cr_expect_eq(nlogged, 1);
	cr_expect(strstr(logged[0], "socket table full"), "%s", logged[0]);
	cr_expect(strstr(logged[0], "SYNACK_MAX_SOCKETS"), "%s", logged[0]);

	/* Port 1000's TIME_WAIT is gone: its retransmitted FIN meets the
	 * listener, which resets it; port 1001's still re-ACKs one. */
	h_send(h, from(1000, S(FIN) | S(ACK), PEER_ISN + 1, 77));
	struct h_tcp rst = h_expect_tcp(h, S(RST));
	cr_expect_eq(rst.r.seq, 77);
	h_send(h, from(1001, S(FIN) | S(ACK), PEER_ISN + 1, 0));
	struct h_tcp again = h_expect_tcp(h, S(ACK));
	cr_expect_eq(again.r.dst_port, 1001);
	cr_expect_eq(again.r.ack, PEER_ISN + 2);
}

Test(tw_recycle, recycling_follows_the_order_of_entry)
{
	int tw[SLOTS - 1];

	full_of_time_wait(tw);
	for (int i = 0; i < SLOTS - 1; i++) {
		h_send(h, from((uint16_t)(2000 + i), S(SYN), PEER_ISN, 0));
		h_expect_tcp(h, S(SYN) | S(ACK));
		const struct sk_state_change *ev = last_recycled();
		cr_expect_eq(ev->sock, tw[i], "SYN %d recycled socket %d, not %d", i, ev->sock,
		             tw[i]);
		cr_expect_eq(ev->remote.port, 1000 + i);
	}
	cr_expect_eq(sk_get_stats(h->st)->tcp_tw_recycled, SLOTS - 1);
	/* The warning is rate-limited: one line for the burst. */
	cr_expect_eq(nlogged, 1);
	/* Now only the listener and handshaking children: nothing left to
	 * recycle, the next SYN gets a SYN cookie, which needs no slot
	 * (docs/security.md). */
	h_send(h, from(3000, S(SYN), PEER_ISN, 0));
	h_expect_tcp(h, S(SYN) | S(ACK));
	cr_expect_eq(sk_get_stats(h->st)->tcp_syncookies_sent, 1);
	cr_expect_eq(sk_socket(h->st), -ENOBUFS);
	cr_expect_eq(sk_get_stats(h->st)->tcp_tw_recycled, SLOTS - 1);
}

Test(tw_recycle, a_TIME_WAIT_that_ends_otherwise_leaves_the_queue)
{
	int tw[SLOTS - 1];

	full_of_time_wait(tw);
	/* RFC 6191: a new SYN on port 1002's 4-tuple ends that TIME_WAIT,
	 * whose own slot then takes the new connection: nothing recycled. */
	h_send(h, from(1002, S(SYN), PEER_ISN + 100000, 0));
	h_expect_tcp(h, S(SYN) | S(ACK));
	cr_expect_eq(recycled_events(), 0);
	cr_expect_eq(h->events[h->nevents - 1].sock, tw[2]);
	/* The queue is 1000, 1001, 1003...: 1002 is skipped. */
	const int want[] = {tw[0], tw[1], tw[3], tw[4]};
	for (int i = 0; i < 4; i++) {
		h_send(h, from((uint16_t)(2000 + i), S(SYN), PEER_ISN, 0));
		h_expect_tcp(h, S(SYN) | S(ACK));
		cr_expect_eq(last_recycled()->sock, want[i], "SYN %d", i);
	}
	cr_expect_eq(recycled_events(), 4);
}

Test(tw_recycle, sk_socket_recycles_too)
{
	int tw[SLOTS - 1];

	full_of_time_wait(tw);
	int s = sk_socket(h->st);
	cr_expect_eq(s, tw[0]);
	cr_expect_eq(last_recycled()->sock, tw[0]);
	cr_expect_eq(sk_get_stats(h->st)->tcp_tw_recycled, 1);
	cr_expect_eq(sk_sock_state(h->st, s), S(CLOSED));
	h_expect_nothing(h);
}

Test(tw_recycle, listeners_and_established_connections_are_never_recycled)
{
	int l = h_listen(h, 16);
	int est[SLOTS - 2];

	for (int i = 0; i < SLOTS - 2; i++)
		est[i] = accepted(l, (uint16_t)(1000 + i), NULL);
	int tw = server_closed(l, 1100);

	/* One TIME_WAIT among them: it is the one that goes. */
	h_send(h, from(2000, S(SYN), PEER_ISN, 0));
	h_expect_tcp(h, S(SYN) | S(ACK));
	cr_expect_eq(last_recycled()->sock, tw);
	/* Then no slot: the arena holds a listener, live connections and a
	 * handshaking child. The SYN gets a SYN cookie (no slot needed),
	 * sk_socket fails cleanly. */
	h_send(h, from(2001, S(SYN), PEER_ISN, 0));
	h_expect_tcp(h, S(SYN) | S(ACK));
	cr_expect_eq(sk_get_stats(h->st)->tcp_syncookies_sent, 1);
	cr_expect_eq(sk_socket(h->st), -ENOBUFS);
	cr_expect_eq(recycled_events(), 1);
	cr_expect_eq(sk_sock_state(h->st, l), S(LISTEN));
	for (int i = 0; i < SLOTS - 2; i++)
		cr_expect_eq(sk_sock_state(h->st, est[i]), S(ESTABLISHED), "socket %d", est[i]);
}

Test(tw_recycle, without_TIME_WAIT_a_full_arena_fails_cleanly)
{
	int s[SLOTS];

	for (int i = 0; i < SLOTS; i++)
		s[i] = sk_socket(h->st);
	cr_expect_eq(sk_socket(h->st), -ENOBUFS);
	cr_expect_eq(sk_get_stats(h->st)->tcp_tw_recycled, 0);
	cr_expect_eq(nlogged, 0);
	/* One freed slot serves the next caller. */
	sk_close(h->st, s[3], h->now);
	cr_expect_eq(sk_socket(h->st), s[3]);
	cr_expect_eq(sk_socket(h->st), -ENOBUFS);
	h_expect_nothing(h);
}

Test(tw_recycle, a_TIME_WAIT_the_application_holds_waits_for_its_close)
{
	h_free(h);
	h = h_new(small_arena);
	h->auto_arp = true;
	uint32_t iss;
	int s = h_established(h, PEER_ISN, &iss);

	/* shutdown(SHUT_WR), then the peer's FIN: TIME_WAIT, still ours. */
	cr_assert_eq(sk_shutdown(h->st, s, SK_SHUT_WR, h->now), 0);
	h_expect_tcp(h, S(FIN) | S(ACK));
	h_send(h, h_seg(S(FIN) | S(ACK), PEER_ISN + 1, iss + 2));
	h_expect_tcp(h, S(ACK));
	cr_assert_eq(sk_sock_state(h->st, s), S(TIME_WAIT));
	for (int i = 1; i < SLOTS; i++)
		cr_assert_geq(sk_socket(h->st), 0);
	cr_expect_eq(sk_socket(h->st), -ENOBUFS, "a socket the application holds stays");
	cr_expect_eq(sk_sock_state(h->st, s), S(TIME_WAIT));
	/* Closed, it is an orphan like any other. */
	sk_close(h->st, s, h->now);
	h_expect_nothing(h);
	cr_expect_eq(sk_socket(h->st), s);
	cr_expect_eq(sk_get_stats(h->st)->tcp_tw_recycled, 1);
}
