/* sk_next_socket and sk_sock_view: the socket list `synack ss` shows,
 * the program's sockets and those the stack holds alone (children not
 * accepted yet, orphans closing), with what ss puts in its columns; and
 * sk_time_wait_next, the orphans in TIME_WAIT. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "harness.h"

#define PEER_ISN 7000u

static struct harness *h;
static uint8_t pattern[4000];

static void setup(void)
{
	h = h_new(NULL);
	h->auto_arp = true;
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_list, .init = setup, .fini = teardown);

static struct sk_sock_view view(int s)
{
	struct sk_sock_view v;

	cr_assert_eq(sk_sock_view(h->st, s, &v), 0, "socket %d", s);
	return v;
}

/* Every socket sk_next_socket lists, in order; returns the count. */
static int list(int *out, int max)
{
	int n = 0;

	for (int s = sk_next_socket(h->st, -1); s >= 0; s = sk_next_socket(h->st, s)) {
		cr_assert_lt(n, max);
		out[n++] = s;
	}
	return n;
}

Test(tcp_list, an_empty_stack_lists_nothing)
{
	struct sk_sock_view v;

	cr_expect_eq(sk_next_socket(h->st, -1), -1);
	cr_expect_eq(sk_sock_view(h->st, 0, &v), -EBADF);
	cr_expect_eq(sk_sock_view(h->st, -1, &v), -EBADF);
	cr_expect_eq(sk_sock_view(h->st, 1 << 30, &v), -EBADF);
}

Test(tcp_list, a_new_socket_is_listed_closed_and_unbound)
{
	int s = sk_socket(h->st), all[8];
	struct sk_sock_view v;

	cr_assert_eq(list(all, 8), 1);
	cr_expect_eq(all[0], s);
	v = view(s);
	cr_expect(v.user_owned);
	cr_expect_eq(v.info.state, SK_TCP_CLOSED);
	cr_expect_eq(v.local.port, 0);
	cr_expect_eq(v.remote.addr, 0);
	cr_expect_eq(v.since, SK_TIME_NEVER, "it never left CLOSED");
	sk_close(h->st, s, h->now);
	cr_expect_eq(sk_next_socket(h->st, -1), -1, "a closed socket is gone");
}

Test(tcp_list, a_listener_and_its_children_not_accepted_yet)
{
	int l = h_listen(h, 5), all[8];
	sk_time_t listened = h->now;
	struct sk_tcp_repr syn = h_seg(SK_TCP_SYN, PEER_ISN, 0);
	struct sk_sock_view v;

	/* One child completes its handshake (accept queue), a second from
	 * another port stays in SYN_RECEIVED. */
	syn.mss = 1460;
	h_advance(h, SK_MS(5));
	h_send(h, syn);
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, sa.r.seq + 1));
	syn.src_port = H_PEER_PORT + 1;
	h_send(h, syn);
	h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);

	cr_assert_eq(list(all, 8), 3, "the listener and both children");
	v = view(l);
	cr_expect(v.user_owned);
	cr_expect_eq(v.parent, -1);
	cr_expect_eq(v.info.state, SK_TCP_LISTEN);
	cr_expect_eq(v.local.addr, 0, "bound to any address");
	cr_expect_eq(v.local.port, H_OUR_PORT);
	cr_expect_eq(v.remote.addr, 0);
	cr_expect_eq(v.remote.port, 0);
	cr_expect_eq(v.rx_queued, 1, "Recv-Q: one connection in the accept queue");
	cr_expect_eq(v.tx_queued, 5, "Send-Q: the backlog");
	cr_expect_eq(v.since, listened);

	int established = 0, half_open = 0;
	for (int i = 0; i < 3; i++) {
		if (all[i] == l)
			continue;
		v = view(all[i]);
		cr_expect(!v.user_owned, "the program holds no child yet");
		cr_expect_eq(v.parent, l);
		cr_expect_eq(v.local.addr, H_OUR_IP);
		cr_expect_eq(v.local.port, H_OUR_PORT);
		cr_expect_eq(v.remote.addr, H_PEER_IP);
		cr_expect_eq(v.since, listened + SK_MS(5), "born of the SYN");
		if (v.info.state == SK_TCP_ESTABLISHED) {
			established++;
			cr_expect_eq(v.remote.port, H_PEER_PORT);
		} else {
			half_open++;
			cr_expect_eq(v.info.state, SK_TCP_SYN_RECEIVED);
			cr_expect_eq(v.remote.port, H_PEER_PORT + 1);
		}
	}
	cr_expect_eq(established, 1);
	cr_expect_eq(half_open, 1);

	struct sk_endpoint peer;
	int c = sk_accept(h->st, l, &peer);
	cr_assert_geq(c, 0);
	v = view(c);
	cr_expect(v.user_owned, "accepted: the program's now");
	cr_expect_eq(v.parent, -1);
	cr_expect_eq(view(l).rx_queued, 0);
}

Test(tcp_list, a_connection_shows_its_queues_then_lives_on_orphaned_in_time_wait)
{
	uint32_t isn;
	sk_time_t opened = h->now;
	int s = h_established(h, PEER_ISN, &isn), all[4];
	struct sk_sock_view v;
	uint8_t buf[1000];

	/* 1000 bytes sent and not acknowledged, 700 received and not read. */
	cr_assert_eq(sk_send(h->st, s, pattern, 1000, h->now), 1000);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	h_send(h, h_data(PEER_ISN + 1, isn + 1, pattern, 700));
	v = view(s);
	cr_expect_eq(v.info.state, SK_TCP_ESTABLISHED);
	cr_expect_eq(v.local.addr, H_OUR_IP);
	cr_expect_eq(v.local.port, H_OUR_PORT);
	cr_expect_eq(v.remote.addr, H_PEER_IP);
	cr_expect_eq(v.remote.port, H_PEER_PORT);
	cr_expect_eq(v.rx_queued, 700, "Recv-Q");
	cr_expect_eq(v.tx_queued, 1000, "Send-Q");
	cr_expect_eq(v.since, opened, "connect() left CLOSED");
	cr_expect_eq(v.info.bytes_received, 700);
	cr_expect_eq(v.info.bytes_acked, 0);
	struct sk_tcp_info i;
	cr_assert_eq(sk_get_info(h->st, s, &i), 0);
	cr_expect_eq(memcmp(&i, &v.info, sizeof(i)), 0, "the same figures as sk_get_info");

	/* The peer acknowledges; we read, close, and it closes: TIME_WAIT. */
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 701, isn + 1001));
	cr_assert_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), 700);
	sk_close(h->st, s, h->now);
	h_expect_tcp(h, SK_TCP_FIN | SK_TCP_ACK);
	h_send(h, h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 701, isn + 1002));
	h_expect_tcp(h, SK_TCP_ACK);

	/* The orphan in TIME_WAIT left the arena for the TIME_WAIT table
	 * (tcp_timewait.c): listed there, with its 4-tuple and its end. */
	cr_assert_eq(list(all, 4), 0, "its socket slot is free");
	cr_expect_eq(sk_get_info(h->st, s, &i), -EBADF, "not the program's any more");
	cr_assert_eq(sk_time_wait_count(h->st), 1);
	struct sk_tw_view tw;
	int e = sk_time_wait_next(h->st, -1, &tw);
	cr_assert_geq(e, 0);
	cr_expect_eq(tw.local.addr, H_OUR_IP);
	cr_expect_eq(tw.local.port, H_OUR_PORT);
	cr_expect_eq(tw.remote.addr, H_PEER_IP);
	cr_expect_eq(tw.remote.port, H_PEER_PORT);
	cr_expect_eq(tw.expires, h->now + SK_SEC(60), "2 MSL from its FIN");
	cr_expect_eq(sk_time_wait_next(h->st, e, &tw), -1);

	/* 2MSL later it is gone. */
	h_advance(h, SK_SEC(61));
	cr_expect_eq(sk_next_socket(h->st, -1), -1);
	cr_expect_eq(sk_time_wait_count(h->st), 0);
}
