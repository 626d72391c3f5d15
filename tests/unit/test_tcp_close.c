/* Connection termination at segment level (RFC 9293 §3.6, §3.10.4,
 * §3.10.7.4): active and passive close through every state to CLOSED,
 * TIME_WAIT (2 MSL, re-ACK, RFC 1337), orphaned FIN_WAIT_2, simultaneous
 * close, FIN+ACK together, half-close, and abortive closes. */
#include <criterion/criterion.h>
#include <errno.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 1000u
#define MSL      SK_MS(30000)

static struct harness *h;
static uint32_t isn;
static int s;

static void setup(void)
{
	h = h_new_established(PEER_ISN, &isn, &s);
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_close, .init = setup, .fini = teardown);

static void expect_state(enum sk_tcp_state from, enum sk_tcp_state to)
{
	const struct sk_state_change *ev = &h->events[h->nevents - 1];

	cr_expect_eq(ev->from, from, "from %s", sk_tcp_state_name(ev->from));
	cr_expect_eq(ev->to, to, "to %s", sk_tcp_state_name(ev->to));
}

/* Our FIN after close(): returns it. */
static struct h_tcp our_fin(void)
{
	struct h_tcp fin = h_expect_tcp(h, SK_TCP_FIN | SK_TCP_ACK);

	cr_expect_eq(fin.r.seq, isn + 1);
	cr_expect_eq(fin.r.ack, PEER_ISN + 1);
	return fin;
}

Test(tcp_close, active_close_through_time_wait_to_closed)
{
	sk_close(h->st, s, h->now);
	expect_state(SK_TCP_ESTABLISHED, SK_TCP_FIN_WAIT_1);
	our_fin();
	cr_expect(!sk_quiescent(h->st), "an unacknowledged FIN");

	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 2));
	expect_state(SK_TCP_FIN_WAIT_1, SK_TCP_FIN_WAIT_2);
	h_expect_nothing(h);
	cr_expect(sk_quiescent(h->st));

	h_send(h, h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 1, isn + 2));
	expect_state(SK_TCP_FIN_WAIT_2, SK_TCP_TIME_WAIT);
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.seq, isn + 2);
	cr_expect_eq(ack.r.ack, PEER_ISN + 2);

	sk_time_t entered = h->now;
	h_advance_to(h, entered + 2 * MSL - 1);
	expect_state(SK_TCP_FIN_WAIT_2, SK_TCP_TIME_WAIT);
	h_advance_to(h, entered + 2 * MSL);
	expect_state(SK_TCP_TIME_WAIT, SK_TCP_CLOSED);
	cr_expect_str_eq(h->events[h->nevents - 1].cause, "2MSL timeout");
	h_expect_nothing(h);
	/* The 4-tuple is free again: a segment on it meets no socket. */
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 2, isn + 2));
	h_answer_arp(h); /* a minute of silence: ARP re-probes the peer */
	h_expect_tcp(h, SK_TCP_RST);
}

Test(tcp_close, passive_close_through_close_wait_and_last_ack)
{
	h_send(h, h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 1, isn + 1));
	expect_state(SK_TCP_ESTABLISHED, SK_TCP_CLOSE_WAIT);
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ack, PEER_ISN + 2, "a FIN is acknowledged at once");
	cr_expect_eq(sk_poll(h->st, s),
	             SK_POLLIN | SK_POLLRDNORM | SK_POLLRDHUP | SK_POLLOUT | SK_POLLWRNORM);
	char buf[4];
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), 0, "end of stream");

	/* Half-close: we may still send. */
	cr_expect_eq(sk_send(h->st, s, "bye", 3, h->now), 3);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 2, isn + 4));

	sk_close(h->st, s, h->now);
	expect_state(SK_TCP_CLOSE_WAIT, SK_TCP_LAST_ACK);
	struct h_tcp fin = h_expect_tcp(h, SK_TCP_FIN | SK_TCP_ACK);
	cr_expect_eq(fin.r.seq, isn + 4);
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 2, isn + 5));
	expect_state(SK_TCP_LAST_ACK, SK_TCP_CLOSED);
	h_expect_nothing(h);
}

Test(tcp_close, last_ack_retransmits_its_fin)
{
	h_send(h, h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 1, isn + 1));
	h_clear(h);
	sk_close(h->st, s, h->now);
	h_expect_tcp(h, SK_TCP_FIN | SK_TCP_ACK);
	h_advance(h, SK_MS(200));
	struct h_tcp again = h_expect_tcp(h, SK_TCP_FIN | SK_TCP_ACK);
	cr_expect_eq(again.r.seq, isn + 1);
	h_advance(h, SK_MS(400));
	h_expect_tcp(h, SK_TCP_FIN | SK_TCP_ACK);
	/* Until the retry limit aborts. */
	h_advance(h, SK_SEC(3600));
	h_clear(h);
	cr_expect_eq(h->events[h->nevents - 1].to, SK_TCP_CLOSED);
}

Test(tcp_close, fin_wait_1_retransmits_its_fin)
{
	sk_close(h->st, s, h->now);
	our_fin();
	h_advance(h, SK_MS(200));
	cr_expect_eq(h_expect_tcp(h, SK_TCP_FIN | SK_TCP_ACK).r.seq, isn + 1);
}

Test(tcp_close, fin_and_ack_together_go_from_fin_wait_1_to_time_wait)
{
	sk_close(h->st, s, h->now);
	our_fin();
	h_send(h, h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 1, isn + 2));
	expect_state(SK_TCP_FIN_WAIT_1, SK_TCP_TIME_WAIT);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.ack, PEER_ISN + 2);
}

Test(tcp_close, simultaneous_close_goes_through_closing)
{
	sk_shutdown(h->st, s, SK_SHUT_WR, h->now);
	our_fin();
	/* The peer's FIN crosses ours: it does not acknowledge our FIN. */
	h_send(h, h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 1, isn + 1));
	expect_state(SK_TCP_FIN_WAIT_1, SK_TCP_CLOSING);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.ack, PEER_ISN + 2);
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 2, isn + 2));
	expect_state(SK_TCP_CLOSING, SK_TCP_TIME_WAIT);
	sk_time_t entered = h->now;
	h_advance_to(h, entered + 2 * MSL);
	expect_state(SK_TCP_TIME_WAIT, SK_TCP_CLOSED);
	/* Still held by the application: it reads the end of stream. */
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), 0);
	cr_expect_eq(sk_poll(h->st, s) & SK_POLLHUP, SK_POLLHUP);
}

Test(tcp_close, time_wait_reacks_a_retransmitted_fin_and_restarts_2msl)
{
	sk_close(h->st, s, h->now);
	our_fin();
	h_send(h, h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 1, isn + 2));
	h_expect_tcp(h, SK_TCP_ACK);
	h_advance(h, MSL);
	h_send(h, h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 1, isn + 2));
	h_answer_arp(h);
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ack, PEER_ISN + 2);
	cr_expect_eq(ack.r.seq, isn + 2);
	sk_time_t restarted = h->now;
	h_advance_to(h, restarted + 2 * MSL - 1);
	expect_state(SK_TCP_FIN_WAIT_1, SK_TCP_TIME_WAIT);
	h_advance_to(h, restarted + 2 * MSL);
	expect_state(SK_TCP_TIME_WAIT, SK_TCP_CLOSED);
}

Test(tcp_close, rst_in_time_wait_is_ignored_rfc1337)
{
	sk_close(h->st, s, h->now);
	our_fin();
	h_send(h, h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 1, isn + 2));
	h_expect_tcp(h, SK_TCP_ACK);
	size_t before = h->nevents;
	h_send(h, h_seg(SK_TCP_RST, PEER_ISN + 2, 0));
	h_expect_nothing(h);
	cr_expect_eq(h->nevents, before, "no TIME_WAIT assassination");
	cr_expect_eq(h->events[h->nevents - 1].to, SK_TCP_TIME_WAIT);
}

Test(tcp_close, orphaned_fin_wait_2_times_out)
{
	sk_close(h->st, s, h->now);
	our_fin();
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 2));
	expect_state(SK_TCP_FIN_WAIT_1, SK_TCP_FIN_WAIT_2);
	sk_time_t entered = h->now;
	h_advance_to(h, entered + SK_MS(60000) - 1);
	expect_state(SK_TCP_FIN_WAIT_1, SK_TCP_FIN_WAIT_2);
	h_advance_to(h, entered + SK_MS(60000));
	expect_state(SK_TCP_FIN_WAIT_2, SK_TCP_CLOSED);
	h_expect_nothing(h);
}

Test(tcp_close, half_closed_fin_wait_2_waits_for_the_peer)
{
	sk_shutdown(h->st, s, SK_SHUT_WR, h->now);
	our_fin();
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 2));
	h_advance(h, SK_SEC(600));
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_FIN_WAIT_2, "not an orphan: no timeout");
	cr_expect_eq(sk_send(h->st, s, "x", 1, h->now), -EPIPE);
	/* Data still flows towards us. */
	struct sk_tcp_repr d = h_seg(SK_TCP_ACK | SK_TCP_PSH, PEER_ISN + 1, isn + 2);
	d.payload = (const uint8_t *)"late";
	d.payload_len = 4;
	h_send(h, d);
	char buf[8];
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), 4);
}

Test(tcp_close, fin_follows_queued_data)
{
	sk_send(h->st, s, "abc", 3, h->now);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	sk_send(h->st, s, "def", 3, h->now); /* held by Nagle */
	h_expect_nothing(h);
	/* close() pushes it with the FIN, as Linux's tcp_send_fin does. */
	sk_close(h->st, s, h->now);
	struct h_tcp last = h_expect_tcp(h, SK_TCP_FIN | SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(last.r.seq, isn + 4);
	cr_expect_arr_eq(last.payload, "def", 3);
}

Test(tcp_close, close_with_unread_data_sends_rst)
{
	struct sk_tcp_repr d = h_seg(SK_TCP_ACK | SK_TCP_PSH, PEER_ISN + 1, isn + 1);
	d.payload = (const uint8_t *)"unread";
	d.payload_len = 6;
	h_send(h, d);
	sk_close(h->st, s, h->now);
	struct h_tcp rst = h_expect_tcp(h, SK_TCP_RST | SK_TCP_ACK);
	cr_expect_eq(rst.r.seq, isn + 1);
	expect_state(SK_TCP_ESTABLISHED, SK_TCP_CLOSED);
	h_expect_nothing(h);
}

Test(tcp_close, linger_zero_aborts_with_rst)
{
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_LINGER_ABORT, 1), 0);
	sk_send(h->st, s, "abc", 3, h->now);
	h_clear(h);
	sk_close(h->st, s, h->now);
	struct h_tcp rst = h_expect_tcp(h, SK_TCP_RST | SK_TCP_ACK);
	cr_expect_eq(rst.r.seq, isn + 4);
	expect_state(SK_TCP_ESTABLISHED, SK_TCP_CLOSED);
	h_advance(h, SK_SEC(10));
	h_expect_nothing(h);
	cr_expect(sk_quiescent(h->st));
}

Test(tcp_close, data_after_close_is_answered_with_rst)
{
	sk_close(h->st, s, h->now);
	our_fin();
	struct sk_tcp_repr d = h_seg(SK_TCP_ACK | SK_TCP_PSH, PEER_ISN + 1, isn + 2);
	d.payload = (const uint8_t *)"more";
	d.payload_len = 4;
	h_send(h, d);
	h_expect_tcp(h, SK_TCP_RST | SK_TCP_ACK);
	expect_state(SK_TCP_FIN_WAIT_1, SK_TCP_CLOSED);
}

Test(tcp_close, shutdown_rd_reads_end_of_stream)
{
	cr_expect_eq(sk_shutdown(h->st, s, SK_SHUT_RD, h->now), 0);
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), 0);
	cr_expect_eq(sk_poll(h->st, s),
	             SK_POLLIN | SK_POLLRDNORM | SK_POLLRDHUP | SK_POLLOUT | SK_POLLWRNORM);
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
}

Test(tcp_close, shutdown_rdwr_then_peer_fin_polls_hup)
{
	sk_shutdown(h->st, s, SK_SHUT_RDWR, h->now);
	our_fin();
	h_send(h, h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 1, isn + 2));
	cr_expect_eq(sk_poll(h->st, s), SK_POLLIN | SK_POLLRDNORM | SK_POLLRDHUP | SK_POLLHUP |
	                                    SK_POLLOUT | SK_POLLWRNORM);
}

Test(tcp_close, new_syn_above_time_wait_reopens_the_tuple)
{
	/* A listener on our port; the connection from our port closes first. */
	int l = sk_socket(h->st);
	sk_setopt(h->st, l, SK_OPT_REUSEADDR, 1);
	sk_setopt(h->st, s, SK_OPT_REUSEADDR, 1);
	sk_close(h->st, s, h->now);
	our_fin();
	h_send(h, h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 1, isn + 2));
	h_expect_tcp(h, SK_TCP_ACK);
	cr_assert_eq(sk_bind(h->st, l, 0, H_OUR_PORT), 0);
	cr_assert_eq(sk_listen(h->st, l, 4, h->now), 0);
	/* RFC 6191: a SYN above the old RCV.NXT may reuse the 4-tuple. */
	h_send(h, h_seg(SK_TCP_SYN, PEER_ISN + 100000, 0));
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	cr_expect_eq(sa.r.ack, PEER_ISN + 100001);
}
