/* Who may bind a port, as on Linux (inet_csk_bind_conflict, IPv4): a bind
 * conflicts with every socket on the port at an overlapping address —
 * listeners, connections, accepted children even after their listener
 * closed, TIME_WAIT — unless both set SO_REUSEADDR and the other does not
 * listen, or both set SO_REUSEPORT. Each expectation was measured against
 * Linux 6.18 on loopback. */
#include <criterion/criterion.h>
#include <errno.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 1000u

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

TestSuite(tcp_bind, .init = setup, .fini = teardown);

static int new_socket(bool reuseaddr)
{
	int s = sk_socket(h->st);

	cr_assert_geq(s, 0);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_REUSEADDR, reuseaddr), 0);
	return s;
}

/* A listener on H_OUR_PORT and a connection accepted from it, ESTABLISHED,
 * output queue empty; the listener's socket in *listener. Our ISN in *iss. */
static int accepted(bool reuseaddr, int *listener, uint32_t *iss)
{
	int l = new_socket(reuseaddr);

	cr_assert_eq(sk_bind(h->st, l, 0, H_OUR_PORT), 0);
	cr_assert_eq(sk_listen(h->st, l, 8, h->now), 0);
	h_send(h, h_seg(SK_TCP_SYN, PEER_ISN, 0));
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, sa.r.seq + 1));
	h_expect_nothing(h);
	int c = sk_accept(h->st, l, NULL);
	cr_assert_geq(c, 0);
	cr_assert_eq(sk_sock_state(h->st, c), SK_TCP_ESTABLISHED);
	*listener = l;
	if (iss)
		*iss = sa.r.seq;
	return c;
}

/* The accepted connection closes first and ends in TIME_WAIT, orphaned;
 * the listener is closed too: only the TIME_WAIT holds the port. */
static int time_wait_child(bool reuseaddr)
{
	int l;
	uint32_t iss;
	int c = accepted(reuseaddr, &l, &iss);

	sk_close(h->st, c, h->now);
	h_expect_tcp(h, SK_TCP_FIN | SK_TCP_ACK);
	h_send(h, h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 1, iss + 2));
	h_expect_tcp(h, SK_TCP_ACK);
	cr_assert_eq(tcp_tcb(h->st, c)->state, SK_TCP_TIME_WAIT);
	sk_close(h->st, l, h->now);
	h_expect_nothing(h);
	return c;
}

Test(tcp_bind, live_child_of_a_closed_listener_refuses_the_port)
{
	int l;

	accepted(false, &l, NULL);
	sk_close(h->st, l, h->now);
	cr_expect_eq(sk_bind(h->st, new_socket(false), 0, H_OUR_PORT), -EADDRINUSE);
}

Test(tcp_bind, live_child_shares_the_port_when_both_set_reuseaddr)
{
	int l;

	accepted(true, &l, NULL);
	sk_close(h->st, l, h->now);
	int s = new_socket(true);
	cr_expect_eq(sk_bind(h->st, s, 0, H_OUR_PORT), 0);
	cr_expect_eq(sk_listen(h->st, s, 4, h->now), 0, "the child does not listen");
}

Test(tcp_bind, live_child_refuses_reuseaddr_unless_it_has_it_too)
{
	int l;

	accepted(false, &l, NULL);
	sk_close(h->st, l, h->now);
	cr_expect_eq(sk_bind(h->st, new_socket(true), 0, H_OUR_PORT), -EADDRINUSE);
}

Test(tcp_bind, live_child_refuses_a_socket_without_reuseaddr)
{
	int l;

	accepted(true, &l, NULL);
	sk_close(h->st, l, h->now);
	cr_expect_eq(sk_bind(h->st, new_socket(false), 0, H_OUR_PORT), -EADDRINUSE);
}

Test(tcp_bind, time_wait_refuses_the_port_without_reuseaddr)
{
	time_wait_child(false);
	cr_expect_eq(sk_bind(h->st, new_socket(false), 0, H_OUR_PORT), -EADDRINUSE);
}

Test(tcp_bind, time_wait_shares_the_port_when_both_set_reuseaddr)
{
	time_wait_child(true);
	int s = new_socket(true);
	cr_expect_eq(sk_bind(h->st, s, 0, H_OUR_PORT), 0);
	cr_expect_eq(sk_listen(h->st, s, 4, h->now), 0);
}

Test(tcp_bind, time_wait_keeps_the_reuseaddr_of_the_socket_it_was)
{
	/* Linux tw_reuse = sk_reuse: SO_REUSEADDR on the new socket alone is
	 * not enough when the old server did not set it. */
	time_wait_child(false);
	cr_expect_eq(sk_bind(h->st, new_socket(true), 0, H_OUR_PORT), -EADDRINUSE);
}

Test(tcp_bind, port_is_free_once_time_wait_ends)
{
	int c = time_wait_child(false);

	h_advance(h, SK_MS(2 * h->cfg.msl_ms) + SK_MS(1));
	cr_expect_not(tcp_tcb(h->st, c)->in_use, "2MSL freed the slot");
	cr_expect_eq(sk_bind(h->st, new_socket(false), 0, H_OUR_PORT), 0);
}

Test(tcp_bind, reset_child_no_longer_holds_the_port)
{
	/* Linux tcp_set_state(TCP_CLOSE) -> inet_put_port: a reset connection
	 * its owner has not closed yet gives the port back. */
	int l;
	int c = accepted(false, &l, NULL);

	sk_close(h->st, l, h->now);
	h_send(h, h_seg(SK_TCP_RST, PEER_ISN + 1, 0));
	cr_assert_eq(sk_sock_state(h->st, c), SK_TCP_CLOSED);
	cr_expect_eq(sk_bind(h->st, new_socket(false), 0, H_OUR_PORT), 0);
}

Test(tcp_bind, no_second_bind_while_a_reuseaddr_socket_listens)
{
	int a = new_socket(true);

	cr_expect_eq(sk_bind(h->st, a, 0, H_OUR_PORT), 0);
	cr_expect_eq(sk_listen(h->st, a, 4, h->now), 0);
	cr_expect_eq(sk_bind(h->st, new_socket(true), 0, H_OUR_PORT), -EADDRINUSE);
}

Test(tcp_bind, two_reuseaddr_sockets_bound_cannot_both_listen)
{
	int a = new_socket(true), b = new_socket(true);

	cr_expect_eq(sk_bind(h->st, a, 0, H_OUR_PORT), 0);
	cr_expect_eq(sk_bind(h->st, b, 0, H_OUR_PORT), 0);
	cr_expect_eq(sk_listen(h->st, a, 4, h->now), 0);
	cr_expect_eq(sk_listen(h->st, b, 4, h->now), -EADDRINUSE);
}

Test(tcp_bind, listener_on_the_address_refuses_one_on_any_at_listen)
{
	/* Both binds pass (SO_REUSEADDR, neither listens yet); the second
	 * listen overlaps the first: INADDR_ANY includes H_OUR_IP. */
	int a = new_socket(true), b = new_socket(true);

	cr_expect_eq(sk_bind(h->st, a, H_OUR_IP, H_OUR_PORT), 0);
	cr_expect_eq(sk_bind(h->st, b, 0, H_OUR_PORT), 0);
	cr_expect_eq(sk_listen(h->st, a, 4, h->now), 0);
	cr_expect_eq(sk_listen(h->st, b, 4, h->now), -EADDRINUSE);
}

Test(tcp_bind, listener_on_any_refuses_one_on_the_address_at_listen)
{
	int a = new_socket(true), b = new_socket(true);

	cr_expect_eq(sk_bind(h->st, a, 0, H_OUR_PORT), 0);
	cr_expect_eq(sk_bind(h->st, b, H_OUR_IP, H_OUR_PORT), 0);
	cr_expect_eq(sk_listen(h->st, a, 4, h->now), 0);
	cr_expect_eq(sk_listen(h->st, b, 4, h->now), -EADDRINUSE);
}

Test(tcp_bind, specific_address_overlaps_any_without_reuseaddr)
{
	cr_expect_eq(sk_bind(h->st, new_socket(false), H_OUR_IP, H_OUR_PORT), 0);
	cr_expect_eq(sk_bind(h->st, new_socket(false), 0, H_OUR_PORT), -EADDRINUSE);
}

Test(tcp_bind, any_overlaps_a_specific_address_without_reuseaddr)
{
	cr_expect_eq(sk_bind(h->st, new_socket(false), 0, H_OUR_PORT), 0);
	cr_expect_eq(sk_bind(h->st, new_socket(false), H_OUR_IP, H_OUR_PORT), -EADDRINUSE);
}

Test(tcp_bind, live_child_refuses_the_specific_address_too)
{
	/* The child is bound to H_OUR_IP (where the SYN came to), the new
	 * socket asks for it by name. */
	int l;

	accepted(false, &l, NULL);
	sk_close(h->st, l, h->now);
	cr_expect_eq(sk_bind(h->st, new_socket(false), H_OUR_IP, H_OUR_PORT), -EADDRINUSE);
}

/* ---- SO_REUSEPORT ---- */

static int reuseport_socket(void)
{
	int s = new_socket(false);

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_REUSEPORT, 1), 0);
	return s;
}

Test(tcp_bind, reuseport_reads_back)
{
	int s = new_socket(false), v = -1;

	cr_expect_eq(sk_getopt(h->st, s, SK_OPT_REUSEPORT, &v), 0);
	cr_expect_eq(v, 0);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_REUSEPORT, 7), 0);
	cr_expect_eq(sk_getopt(h->st, s, SK_OPT_REUSEPORT, &v), 0);
	cr_expect_eq(v, 1);
}

Test(tcp_bind, four_reuseport_sockets_bind_and_listen_on_one_port)
{
	for (int i = 0; i < 4; i++) {
		int s = reuseport_socket();

		cr_expect_eq(sk_bind(h->st, s, H_OUR_IP, H_OUR_PORT), 0, "socket %d", i);
		cr_expect_eq(sk_listen(h->st, s, 4, h->now), 0, "socket %d", i);
	}
}

Test(tcp_bind, a_socket_without_reuseport_is_refused_beside_a_group)
{
	int a = reuseport_socket(), b = reuseport_socket();

	cr_assert_eq(sk_bind(h->st, a, H_OUR_IP, H_OUR_PORT), 0);
	cr_assert_eq(sk_bind(h->st, b, H_OUR_IP, H_OUR_PORT), 0);
	cr_assert_eq(sk_listen(h->st, a, 4, h->now), 0);
	cr_expect_eq(sk_bind(h->st, new_socket(false), H_OUR_IP, H_OUR_PORT), -EADDRINUSE);
	cr_expect_eq(sk_bind(h->st, new_socket(true), H_OUR_IP, H_OUR_PORT), -EADDRINUSE,
	             "SO_REUSEADDR does not join a listening group");
	cr_expect_eq(sk_bind(h->st, new_socket(false), 0, H_OUR_PORT), -EADDRINUSE,
	             "INADDR_ANY overlaps the group's address");
}

Test(tcp_bind, a_plain_socket_bound_not_listening_refuses_reuseport)
{
	/* Mixed: every socket on the port must have set it. */
	cr_assert_eq(sk_bind(h->st, new_socket(false), H_OUR_IP, H_OUR_PORT), 0);
	cr_expect_eq(sk_bind(h->st, reuseport_socket(), H_OUR_IP, H_OUR_PORT), -EADDRINUSE);
}

Test(tcp_bind, a_reuseport_socket_bound_not_listening_refuses_a_plain_one)
{
	cr_assert_eq(sk_bind(h->st, reuseport_socket(), H_OUR_IP, H_OUR_PORT), 0);
	cr_expect_eq(sk_bind(h->st, new_socket(false), H_OUR_IP, H_OUR_PORT), -EADDRINUSE);
}

Test(tcp_bind, reuseport_cleared_before_listen_is_refused_at_listen)
{
	/* Linux inet_csk_listen_start checks the port again with the option
	 * as it is then. */
	int a = reuseport_socket(), b = reuseport_socket();

	cr_assert_eq(sk_bind(h->st, a, H_OUR_IP, H_OUR_PORT), 0);
	cr_assert_eq(sk_bind(h->st, b, H_OUR_IP, H_OUR_PORT), 0);
	cr_assert_eq(sk_listen(h->st, a, 4, h->now), 0);
	cr_assert_eq(sk_setopt(h->st, b, SK_OPT_REUSEPORT, 0), 0);
	cr_expect_eq(sk_listen(h->st, b, 4, h->now), -EADDRINUSE);
}

Test(tcp_bind, reuseport_groups_on_the_address_and_on_any_may_both_listen)
{
	int a = reuseport_socket(), b = reuseport_socket();

	cr_expect_eq(sk_bind(h->st, a, H_OUR_IP, H_OUR_PORT), 0);
	cr_expect_eq(sk_listen(h->st, a, 4, h->now), 0);
	cr_expect_eq(sk_bind(h->st, b, 0, H_OUR_PORT), 0);
	cr_expect_eq(sk_listen(h->st, b, 4, h->now), 0);
}

Test(tcp_bind, live_child_of_a_reuseport_listener_shares_the_port_with_reuseport)
{
	/* The child inherits SO_REUSEPORT (sk_clone_lock): a new server of
	 * the group may start beside it, a plain one may not. */
	int l = reuseport_socket();

	cr_assert_eq(sk_bind(h->st, l, 0, H_OUR_PORT), 0);
	cr_assert_eq(sk_listen(h->st, l, 8, h->now), 0);
	h_send(h, h_seg(SK_TCP_SYN, PEER_ISN, 0));
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, sa.r.seq + 1));
	cr_assert_geq(sk_accept(h->st, l, NULL), 0);
	sk_close(h->st, l, h->now);
	cr_expect_eq(sk_bind(h->st, new_socket(false), 0, H_OUR_PORT), -EADDRINUSE);
	int s = reuseport_socket();
	cr_expect_eq(sk_bind(h->st, s, 0, H_OUR_PORT), 0);
	cr_expect_eq(sk_listen(h->st, s, 4, h->now), 0);
}

Test(tcp_bind, an_ephemeral_port_is_never_shared_by_reuseport)
{
	/* Linux inet_csk_find_open_port passes reuseport_ok = false. */
	int a = reuseport_socket(), b = reuseport_socket();
	struct sk_endpoint ea, eb;

	cr_assert_eq(sk_listen(h->st, a, 4, h->now), 0);
	cr_assert_eq(sk_listen(h->st, b, 4, h->now), 0);
	cr_assert_eq(sk_getsockname(h->st, a, &ea), 0);
	cr_assert_eq(sk_getsockname(h->st, b, &eb), 0);
	cr_expect_neq(ea.port, eb.port);
}
