/* Readiness as Linux reports it, at the segment level: who is woken when
 * (the wake hook drives epoll's edge-triggered reports and blocked calls),
 * what sk_poll says. Each behaviour here was first found as a difference
 * from the kernel by tests/lab/77-readiness-conformance.sh:
 *   - send space: an ACK wakes the socket only after a writer ran out of
 *     space (Linux SOCK_NOSPACE, tcp_check_space / sk_stream_write_space);
 *   - SO_RCVLOWAT: POLLIN and data wakes from that many bytes on (Linux
 *     tcp_poll / tcp_data_ready / tcp_epollin_ready);
 *   - connect() after a failed attempt (Linux inet_stream_connect's
 *     sock_error path, tcp_disconnect). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 1000u
/* Six full segments: all in flight at once under the initial window. */
#define SNDBUF (6u * 1460u)

static struct harness *h;
static uint32_t isn;
static int s;

static void small_sndbuf(struct sk_config *cfg)
{
	cfg->sndbuf = SNDBUF;
}

static void setup(void)
{
	h = h_new(small_sndbuf);
	h->auto_arp = true;
	s = h_established(h, PEER_ISN, &isn);
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_readiness, .init = setup, .fini = teardown);

static uint8_t big[3 * SNDBUF];

/* The peer acknowledges our first `n` bytes. */
static void ack_upto(uint32_t n)
{
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1 + n));
}

#define POLL_OUT (SK_POLLOUT | SK_POLLWRNORM)
#define POLL_IN  (SK_POLLIN | SK_POLLRDNORM)

/* ---- send space (SOCK_NOSPACE) ---------------------------------------- */

Test(tcp_readiness, an_ack_after_a_complete_send_wakes_nobody)
{
	cr_assert_eq(sk_send(h->st, s, "0123456789", 10, h->now), 10);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	unsigned woken = h->wakes[s];

	ack_upto(10);
	cr_expect_eq(sk_tx_queued(h->st, s), 0);
	cr_expect_eq(h->wakes[s], woken, "no writer ran out of space: no wake (EPOLLET quiet)");
	cr_expect_eq(sk_poll(h->st, s), POLL_OUT, "level-triggered readiness unchanged");
}

Test(tcp_readiness, a_short_send_wakes_the_writer_once_it_is_writeable_again)
{
	cr_assert_eq(sk_send(h->st, s, big, sizeof(big), h->now), (ssize_t)SNDBUF, "short");
	h_clear(h);
	unsigned woken = h->wakes[s];

	ack_upto(1460);
	cr_expect_eq(h->wakes[s], woken, "1460 free of 7300 queued: not writeable, no wake");
	cr_expect_eq(sk_poll(h->st, s) & POLL_OUT, 0);
	ack_upto(3 * 1460);
	/* sk_stream_is_writeable: free (4380) >= queued (4380) / 2. */
	cr_expect_eq(h->wakes[s], woken + 1, "writeable again: one wake");
	cr_expect_eq(sk_poll(h->st, s), POLL_OUT);
	ack_upto(4 * 1460);
	cr_expect_eq(h->wakes[s], woken + 1, "the wake cleared the flag: the next ACK is quiet");
}

Test(tcp_readiness, a_refused_send_wakes_the_writer_when_space_returns)
{
	cr_assert_eq(sk_send(h->st, s, big, SNDBUF, h->now), (ssize_t)SNDBUF, "exactly full");
	cr_assert_eq(sk_send(h->st, s, big, 1, h->now), -EAGAIN);
	h_clear(h);
	unsigned woken = h->wakes[s];

	ack_upto(SNDBUF);
	cr_expect_eq(h->wakes[s], woken + 1, "a blocked writer is not left asleep");
}

Test(tcp_readiness, a_send_that_fills_the_ring_exactly_wakes_nobody_on_its_ack)
{
	/* Linux sets SOCK_NOSPACE only when a send ran out of room or a poll
	 * found the socket not writeable: a send that fit sets neither. */
	cr_assert_eq(sk_send(h->st, s, big, SNDBUF, h->now), (ssize_t)SNDBUF);
	h_clear(h);
	unsigned woken = h->wakes[s];

	ack_upto(SNDBUF);
	cr_expect_eq(h->wakes[s], woken);
	cr_expect_eq(sk_poll(h->st, s), POLL_OUT);
}

Test(tcp_readiness, a_poll_that_saw_no_space_arms_the_wake)
{
	cr_assert_eq(sk_send(h->st, s, big, SNDBUF, h->now), (ssize_t)SNDBUF);
	h_clear(h);
	cr_expect_eq(sk_poll(h->st, s) & POLL_OUT, 0, "full: not writeable");
	unsigned woken = h->wakes[s];

	ack_upto(SNDBUF);
	cr_expect_eq(h->wakes[s], woken + 1, "tcp_poll set SOCK_NOSPACE: the poller is woken");
}

/* ---- SO_RCVLOWAT ------------------------------------------------------ */

Test(tcp_readiness, rcvlowat_holds_pollin_and_the_wake_until_enough_is_queued)
{
	int v;

	cr_assert_eq(sk_getopt(h->st, s, SK_OPT_RCVLOWAT, &v), 0);
	cr_expect_eq(v, 1, "Linux default");
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_RCVLOWAT, 20), 0);
	cr_assert_eq(sk_getopt(h->st, s, SK_OPT_RCVLOWAT, &v), 0);
	cr_expect_eq(v, 20);
	unsigned woken = h->wakes[s];

	h_send(h, h_data(PEER_ISN + 1, isn + 1, "0123456789", 10));
	cr_expect_eq(sk_rx_queued(h->st, s), 10);
	cr_expect_eq(h->wakes[s], woken, "10 of 20: readers are not woken");
	cr_expect_eq(sk_poll(h->st, s), POLL_OUT, "and POLLIN is not reported");
	h_send(h, h_data(PEER_ISN + 11, isn + 1, "abcdefghij", 10));
	cr_expect_eq(h->wakes[s], woken + 1, "20 of 20");
	cr_expect_eq(sk_poll(h->st, s), POLL_IN | POLL_OUT);
	/* A non-blocking read takes what is there (the wait for the low
	 * mark is a blocking receive's, in the shim). */
	char buf[64];
	cr_expect_eq(sk_recv(h->st, s, buf, 5, 0, h->now), 5);
	cr_expect_eq(sk_poll(h->st, s), POLL_OUT, "15 left: below the mark again");
}

Test(tcp_readiness, an_eof_is_readable_below_rcvlowat)
{
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_RCVLOWAT, 20), 0);
	h_send(h, h_data(PEER_ISN + 1, isn + 1, "0123456789", 10));
	cr_expect_eq(sk_poll(h->st, s) & POLL_IN, 0);
	unsigned woken = h->wakes[s];
	struct sk_tcp_repr fin = h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 11, isn + 1);

	h_send(h, fin);
	cr_expect_gt(h->wakes[s], woken);
	cr_expect_eq(sk_poll(h->st, s), POLL_IN | SK_POLLRDHUP | POLL_OUT);
}

Test(tcp_readiness, lowering_rcvlowat_to_what_is_queued_wakes_readers)
{
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_RCVLOWAT, 20), 0);
	h_send(h, h_data(PEER_ISN + 1, isn + 1, "0123456789", 10));
	unsigned woken = h->wakes[s];

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_RCVLOWAT, 11), 0);
	cr_expect_eq(h->wakes[s], woken, "still not enough");
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_RCVLOWAT, 10), 0);
	cr_expect_eq(h->wakes[s], woken + 1, "Linux tcp_set_rcvlowat -> tcp_data_ready");
	cr_expect_eq(sk_poll(h->st, s), POLL_IN | POLL_OUT);
}

Test(tcp_readiness, rcvlowat_values_as_linux_stores_them)
{
	int v, half = (int)(h->cfg.rcvbuf / 2);

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_RCVLOWAT, 0), 0);
	cr_assert_eq(sk_getopt(h->st, s, SK_OPT_RCVLOWAT, &v), 0);
	cr_expect_eq(v, 1, "0 is 1");
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_RCVLOWAT, -5), 0);
	cr_assert_eq(sk_getopt(h->st, s, SK_OPT_RCVLOWAT, &v), 0);
	cr_expect_eq(v, half, "negative is INT_MAX, capped at half the buffer");
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_RCVLOWAT, 1 << 30), 0);
	cr_assert_eq(sk_getopt(h->st, s, SK_OPT_RCVLOWAT, &v), 0);
	cr_expect_eq(v, half);
}

Test(tcp_readiness, a_child_inherits_rcvlowat_from_its_listener)
{
	int l = sk_socket(h->st), v;

	cr_assert_eq(sk_bind(h->st, l, 0, 8080), 0);
	cr_assert_eq(sk_setopt(h->st, l, SK_OPT_RCVLOWAT, 7), 0);
	cr_assert_eq(sk_listen(h->st, l, 4, h->now), 0);
	struct sk_tcp_repr syn = h_seg(SK_TCP_SYN, 7000, 0);

	syn.dst_port = 8080;
	h_send(h, syn);
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	struct sk_tcp_repr ack = h_seg(SK_TCP_ACK, 7001, sa.r.seq + 1);

	ack.dst_port = 8080;
	h_send(h, ack);
	int c = sk_accept(h->st, l, NULL);

	cr_assert_geq(c, 0);
	cr_assert_eq(sk_getopt(h->st, c, SK_OPT_RCVLOWAT, &v), 0);
	cr_expect_eq(v, 7, "Linux sk_clone copies sk_rcvlowat");
}

/* ---- connect() after a failed attempt --------------------------------- */

/* A fresh socket and one disconnected after a failed attempt poll alike
 * (Linux tcp_poll on TCP_CLOSE with sk_shutdown 0). */
#define POLL_FRESH (SK_POLLOUT | SK_POLLWRNORM | SK_POLLHUP)

/* A socket of its own (the suite's is established), refused by the peer. */
static int refused_socket(uint16_t port)
{
	int c = sk_socket(h->st);

	cr_assert_geq(c, 0);
	cr_expect_eq(sk_poll(h->st, c), POLL_FRESH, "fresh");
	cr_assert_eq(sk_bind(h->st, c, 0, port), 0);
	cr_assert_eq(sk_connect(h->st, c, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	struct sk_tcp_repr rst = h_seg(SK_TCP_RST | SK_TCP_ACK, 0, syn.r.seq + 1);

	rst.dst_port = port;
	h_send(h, rst);
	cr_assert_eq(sk_sock_state(h->st, c), SK_TCP_CLOSED);
	cr_expect_eq(sk_poll(h->st, c), SK_POLLERR | SK_POLLHUP | POLL_IN | SK_POLLRDHUP | POLL_OUT,
	             "refused: as Linux after tcp_done");
	return c;
}

Test(tcp_readiness, connect_after_a_refusal_answers_it_and_disconnects)
{
	int c = refused_socket(41000);
	unsigned woken = h->wakes[c];
	char b;

	cr_expect_eq(sk_connect(h->st, c, H_PEER_IP, H_PEER_PORT, h->now), -ECONNREFUSED,
	             "the pending error, taken");
	h_expect_nothing(h);
	cr_expect_eq(sk_take_error(h->st, c), 0);
	cr_expect_eq(sk_poll(h->st, c), POLL_FRESH, "a fresh CLOSED socket again");
	cr_expect_gt(h->wakes[c], woken, "tcp_disconnect reports the change");
	cr_expect_eq(sk_recv(h->st, c, &b, 1, 0, h->now), -ENOTCONN, "as a fresh socket");
	cr_expect_eq(sk_connect(h->st, c, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS,
	             "only now a new attempt");
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);

	cr_expect_eq(syn.r.src_port, 41000, "still bound to its port");
}

Test(tcp_readiness, connect_after_the_error_was_taken_is_econnaborted)
{
	int c = refused_socket(41001);

	cr_expect_eq(sk_take_error(h->st, c), ECONNREFUSED);
	cr_expect_eq(sk_connect(h->st, c, H_PEER_IP, H_PEER_PORT, h->now), -ECONNABORTED);
	h_expect_nothing(h);
	cr_expect_eq(sk_poll(h->st, c), POLL_FRESH);
	cr_expect_eq(sk_connect(h->st, c, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	h_expect_tcp(h, SK_TCP_SYN);
}

Test(tcp_readiness, connect_while_connecting_then_once_connected)
{
	int c = sk_socket(h->st);

	cr_assert_eq(sk_bind(h->st, c, 0, 41002), 0);
	cr_assert_eq(sk_connect(h->st, c, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);

	cr_expect_eq(sk_connect(h->st, c, H_PEER_IP, H_PEER_PORT, h->now), -EALREADY);
	struct sk_tcp_repr sa = h_seg(SK_TCP_SYN | SK_TCP_ACK, 5000, syn.r.seq + 1);

	sa.dst_port = 41002;
	h_send(h, sa);
	cr_assert_eq(sk_sock_state(h->st, c), SK_TCP_ESTABLISHED);
	cr_expect_eq(sk_connect(h->st, c, H_PEER_IP, H_PEER_PORT, h->now), 0,
	             "SS_CONNECTING -> SS_CONNECTED");
	cr_expect_eq(sk_connect(h->st, c, H_PEER_IP, H_PEER_PORT, h->now), -EISCONN);
	/* Once connect() said so, a later reset leaves it connected-then-
	 * closed: EISCONN, as Linux (SS_CONNECTED). */
	struct sk_tcp_repr rst = h_seg(SK_TCP_RST, 5001, 0);

	rst.dst_port = 41002;
	h_send(h, rst);
	cr_assert_eq(sk_sock_state(h->st, c), SK_TCP_CLOSED);
	cr_expect_eq(sk_connect(h->st, c, H_PEER_IP, H_PEER_PORT, h->now), -EISCONN);
}

Test(tcp_readiness, a_reset_before_connect_reported_success_is_its_answer)
{
	/* The suite's socket connected without a second connect(): still
	 * SS_CONNECTING for Linux, so the reset is connect()'s answer. */
	h_send(h, h_seg(SK_TCP_RST, PEER_ISN + 1, 0));
	cr_assert_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
	cr_expect_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -ECONNRESET);
	cr_expect_eq(sk_poll(h->st, s), POLL_FRESH);
	h_clear(h);
	cr_expect_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS,
	             "tcp_disconnect made it a socket that may connect again");
	h_expect_tcp(h, SK_TCP_SYN);
}
