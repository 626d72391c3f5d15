/* Connection establishment at segment level (RFC 9293 §3.5, §3.10.7.2-3):
 * active and passive open, MSS negotiation, SYN retries, simultaneous open,
 * the listener's backlog, and the rarer edges of the state diagram. */
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

TestSuite(tcp_open, .init = setup, .fini = teardown);

/* A SYN from the peer to our listener; returns our SYN,ACK. */
static struct h_tcp peer_syn(uint16_t sport, int32_t mss)
{
	struct sk_tcp_repr syn = h_seg(SK_TCP_SYN, PEER_ISN, 0);

	syn.src_port = sport;
	syn.mss = mss;
	h_send(h, syn);
	return h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
}

Test(tcp_open, active_open_sends_syn_with_our_mss)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);

	cr_expect_eq(syn.r.mss, 1460, "ours = MTU - 40");
	cr_expect_eq(syn.r.src_port, H_OUR_PORT);
	cr_expect_eq(syn.r.dst_port, H_PEER_PORT);
	cr_expect_eq(syn.r.payload_len, 0);
	cr_expect_eq(syn.r.window, 65535);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_SYN_SENT);
	cr_expect_eq(sk_poll(h->st, s), 0, "SYN_SENT polls as nothing");
	h_expect_nothing(h);
}

Test(tcp_open, syn_ack_completes_active_open)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	struct sk_tcp_repr sa = h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, syn.r.seq + 1);

	sa.mss = 1200;
	h_send(h, sa);
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);

	cr_expect_eq(ack.r.seq, syn.r.seq + 1);
	cr_expect_eq(ack.r.ack, PEER_ISN + 1);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	const struct sk_state_change *ev = h_last_event(h, s);
	cr_assert(ev);
	cr_expect_eq(ev->from, SK_TCP_SYN_SENT);
	cr_expect_eq(ev->to, SK_TCP_ESTABLISHED);
	cr_expect_eq(ev->mss, 1200, "send MSS = min(peer's 1200, ours 1460)");
	int v;
	cr_expect_eq(sk_getopt(h->st, s, SK_OPT_MAXSEG, &v), 0);
	cr_expect_eq(v, 1200);
	cr_expect_eq(sk_poll(h->st, s), SK_POLLOUT | SK_POLLWRNORM);
	cr_expect_eq(sk_take_error(h->st, s), 0);
}

Test(tcp_open, missing_mss_option_means_536)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);

	h_send(h, h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, syn.r.seq + 1));
	h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(h_last_event(h, s)->mss, 536, "RFC 9293 §3.7.1 default");
	/* 2000 bytes go out as 536-byte segments (4 of them within IW10). */
	static uint8_t data[2000];
	cr_assert_eq(sk_send(h->st, s, data, sizeof(data), h->now), 2000);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.payload_len, 536);
	struct h_tcp last = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	cr_expect_eq(last.r.payload_len, 2000 - 3 * 536);
}

static void small_mtu(struct sk_config *cfg)
{
	cfg->mtu = 1000;
}

Test(tcp_open, our_mss_follows_the_mtu)
{
	h_free(h);
	h = h_new(small_mtu);
	h_connect(h);
	cr_expect_eq(h_expect_tcp(h, SK_TCP_SYN).r.mss, 960);
}

Test(tcp_open, maxseg_option_lowers_our_mss)
{
	int s = sk_socket(h->st);

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_MAXSEG, 1000), 0);
	cr_assert_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	cr_expect_eq(syn.r.mss, 1000);
	cr_expect(syn.r.src_port >= TCP_EPHEMERAL_LO && syn.r.src_port <= TCP_EPHEMERAL_HI,
	          "ephemeral port %u in Linux's range", syn.r.src_port);
}

Test(tcp_open, passive_open_answers_syn_ack_and_accepts)
{
	int l = h_listen(h, 8);
	struct h_tcp sa = peer_syn(H_PEER_PORT, 1300);

	cr_expect_eq(sa.r.ack, PEER_ISN + 1);
	cr_expect_eq(sa.r.mss, 1460);
	cr_expect_eq(sa.r.src_port, H_OUR_PORT);
	cr_expect_eq(sk_accept(h->st, l, NULL), -EAGAIN, "not before the handshake completes");
	cr_expect_eq(sk_poll(h->st, l), 0);

	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, sa.r.seq + 1));
	h_expect_nothing(h);
	cr_expect_eq(sk_poll(h->st, l), SK_POLLIN | SK_POLLRDNORM);
	struct sk_endpoint peer;
	int c = sk_accept(h->st, l, &peer);
	cr_assert_geq(c, 0);
	cr_expect_eq(peer.addr, H_PEER_IP);
	cr_expect_eq(peer.port, H_PEER_PORT);
	cr_expect_eq(sk_sock_state(h->st, c), SK_TCP_ESTABLISHED);
	cr_expect_eq(h_last_event(h, c)->mss, 1300);
	cr_expect_eq(sk_sock_state(h->st, l), SK_TCP_LISTEN);
	cr_expect_eq(sk_poll(h->st, l), 0);
}

Test(tcp_open, passive_child_goes_listen_to_syn_received)
{
	h_listen(h, 8);
	peer_syn(H_PEER_PORT, 1460);
	/* The child's first event is the diagram's LISTEN -> SYN_RECEIVED. */
	const struct sk_state_change *ev = &h->events[h->nevents - 1];
	cr_expect_eq(ev->from, SK_TCP_LISTEN);
	cr_expect_eq(ev->to, SK_TCP_SYN_RECEIVED);
	cr_expect_eq(ev->remote.port, H_PEER_PORT);
}

Test(tcp_open, syn_ack_is_retransmitted_on_retransmitted_syn)
{
	h_listen(h, 8);
	struct h_tcp sa = peer_syn(H_PEER_PORT, 1460);
	struct h_tcp again = peer_syn(H_PEER_PORT, 1460);

	cr_expect_eq(again.r.seq, sa.r.seq, "same ISN");
	cr_expect_eq(again.r.ack, PEER_ISN + 1);
}

/* A handshake from port sport completed on the listener. */
static void peer_connects(uint16_t sport)
{
	struct h_tcp sa = peer_syn(sport, 1460);
	struct sk_tcp_repr ack = h_seg(SK_TCP_ACK, PEER_ISN + 1, sa.r.seq + 1);

	ack.src_port = sport;
	h_send(h, ack);
	h_expect_nothing(h);
}

Test(tcp_open, full_accept_queue_drops_syns)
{
	int l = h_listen(h, 1);

	/* Linux admits backlog + 1 connections to the accept queue; then
	 * SYNs are dropped (ListenOverflows) and the peer retries. */
	peer_connects(1001);
	peer_connects(1002);
	struct sk_tcp_repr syn = h_seg(SK_TCP_SYN, PEER_ISN, 0);
	syn.src_port = 1003;
	h_send(h, syn);
	h_expect_nothing(h);
	cr_expect_eq(sk_get_stats(h->st)->tcp_listen_overflows, 1);
	/* accept() makes room again. */
	cr_expect_geq(sk_accept(h->st, l, NULL), 0);
	peer_syn(1003, 1460);
}

Test(tcp_open, rst_in_syn_received_returns_to_listen)
{
	int l = h_listen(h, 8);
	struct h_tcp sa = peer_syn(H_PEER_PORT, 1460);

	h_send(h, h_seg(SK_TCP_RST, PEER_ISN + 1, 0));
	h_expect_nothing(h);
	const struct sk_state_change *ev = &h->events[h->nevents - 1];
	cr_expect_eq(ev->from, SK_TCP_SYN_RECEIVED);
	cr_expect_eq(ev->to, SK_TCP_LISTEN);
	cr_expect_eq(sk_sock_state(h->st, l), SK_TCP_LISTEN);
	/* The half-open child is gone: its ACK now meets the listener. */
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, sa.r.seq + 1));
	struct h_tcp rst = h_expect_tcp(h, SK_TCP_RST);
	cr_expect_eq(rst.r.seq, sa.r.seq + 1);
	/* And the listener keeps serving. */
	peer_syn(H_PEER_PORT, 1460);
}

Test(tcp_open, ack_to_listener_gets_rst)
{
	h_listen(h, 8);
	h_send(h, h_seg(SK_TCP_ACK, 5, 777));
	struct h_tcp rst = h_expect_tcp(h, SK_TCP_RST);
	cr_expect_eq(rst.r.seq, 777, "RFC 9293 §3.10.7.2: <SEQ=SEG.ACK><CTL=RST>");
}

Test(tcp_open, syn_to_closed_port_gets_rst_ack)
{
	h_send(h, h_seg(SK_TCP_SYN, 5000, 0));
	struct h_tcp rst = h_expect_tcp(h, SK_TCP_RST | SK_TCP_ACK);
	cr_expect_eq(rst.r.seq, 0);
	cr_expect_eq(rst.r.ack, 5001, "SEG.SEQ + SEG.LEN, the SYN counts");
	cr_expect_eq(rst.r.src_port, H_OUR_PORT);
	cr_expect_eq(rst.r.dst_port, H_PEER_PORT);
}

Test(tcp_open, data_to_closed_port_gets_rst_at_its_ack)
{
	struct sk_tcp_repr seg = h_seg(SK_TCP_ACK | SK_TCP_PSH, 5000, 4242);
	seg.payload = (const uint8_t *)"hello";
	seg.payload_len = 5;
	h_send(h, seg);
	struct h_tcp rst = h_expect_tcp(h, SK_TCP_RST);
	cr_expect_eq(rst.r.seq, 4242);
}

Test(tcp_open, rst_to_closed_port_is_never_answered)
{
	h_send(h, h_seg(SK_TCP_RST, 5000, 0));
	h_send(h, h_seg(SK_TCP_RST | SK_TCP_ACK, 5000, 1));
	h_expect_nothing(h);
}

Test(tcp_open, rst_in_syn_sent_refuses_the_connection)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);

	h_send(h, h_seg(SK_TCP_RST | SK_TCP_ACK, 0, syn.r.seq + 1));
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
	cr_expect_eq(sk_poll(h->st, s), SK_POLLERR | SK_POLLHUP | SK_POLLIN | SK_POLLRDNORM |
	                                    SK_POLLRDHUP | SK_POLLOUT | SK_POLLWRNORM);
	cr_expect_eq(sk_take_error(h->st, s), ECONNREFUSED);
	cr_expect_eq(sk_take_error(h->st, s), 0);
}

Test(tcp_open, rst_with_wrong_ack_in_syn_sent_is_ignored)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);

	h_send(h, h_seg(SK_TCP_RST | SK_TCP_ACK, 0, syn.r.seq + 7));
	h_expect_nothing(h);
	h_send(h, h_seg(SK_TCP_RST, 0, 0)); /* no ACK: dropped too */
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_SYN_SENT);
}

Test(tcp_open, bad_ack_in_syn_sent_gets_rst)
{
	h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);

	h_send(h, h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, syn.r.seq + 100));
	struct h_tcp rst = h_expect_tcp(h, SK_TCP_RST);
	cr_expect_eq(rst.r.seq, syn.r.seq + 100);
}

Test(tcp_open, syn_retransmitted_with_backoff_then_etimedout)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	sk_time_t t0 = h->now, rto = SK_SEC(1), at = t0;

	/* RFC 6298: 1 s, doubling; cfg.syn_retries = 6 retransmissions. */
	for (int i = 0; i < 6; i++) {
		at += rto;
		h_advance_to(h, at - 1);
		h_expect_nothing(h);
		h_advance_to(h, at);
		struct h_tcp again = h_expect_tcp(h, SK_TCP_SYN);
		cr_expect_eq(again.r.seq, syn.r.seq, "same ISN on retransmission");
		rto *= 2;
	}
	at += rto;
	h_advance_to(h, at - 1);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_SYN_SENT);
	h_advance_to(h, at);
	h_expect_nothing(h);
	cr_expect_eq(at - t0, SK_SEC(127), "Linux gives up after 127 s");
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
	cr_expect_eq(sk_take_error(h->st, s), ETIMEDOUT);
}

Test(tcp_open, simultaneous_open)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	struct sk_tcp_repr psyn = h_seg(SK_TCP_SYN, PEER_ISN, 0);

	psyn.mss = 1400;
	h_send(h, psyn);
	/* RFC 9293 §3.10.7.3: SYN_RECEIVED, <SEQ=ISS><ACK=RCV.NXT><SYN,ACK>. */
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	cr_expect_eq(sa.r.seq, syn.r.seq, "the original ISN");
	cr_expect_eq(sa.r.ack, PEER_ISN + 1);
	cr_expect_eq(sa.r.mss, 1460);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_SYN_RECEIVED);
	cr_expect_eq(sk_send(h->st, s, "x", 1, h->now), -EAGAIN);

	/* The peer's SYN,ACK crosses ours. */
	h_send(h, h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, syn.r.seq + 1));
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	cr_expect_eq(h_last_event(h, s)->mss, 1400);
	cr_expect_eq(sk_poll(h->st, s), SK_POLLOUT | SK_POLLWRNORM);
}

Test(tcp_open, rst_in_simultaneous_open_refuses)
{
	int s = h_connect(h);
	h_expect_tcp(h, SK_TCP_SYN);
	h_send(h, h_seg(SK_TCP_SYN, PEER_ISN, 0));
	h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	h_send(h, h_seg(SK_TCP_RST, PEER_ISN + 1, 0));
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
	cr_expect_eq(sk_take_error(h->st, s), ECONNREFUSED);
}

Test(tcp_open, close_in_syn_received_sends_fin_after_the_handshake)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	h_send(h, h_seg(SK_TCP_SYN, PEER_ISN, 0));
	h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);

	sk_close(h->st, s, h->now);
	const struct sk_state_change *ev = &h->events[h->nevents - 1];
	cr_expect_eq(ev->from, SK_TCP_SYN_RECEIVED);
	cr_expect_eq(ev->to, SK_TCP_FIN_WAIT_1);
	h_expect_nothing(h);
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, syn.r.seq + 1));
	struct h_tcp fin = h_expect_tcp(h, SK_TCP_FIN | SK_TCP_ACK);
	cr_expect_eq(fin.r.seq, syn.r.seq + 1);
}

Test(tcp_open, listen_to_syn_sent_by_sending_on_a_listener)
{
	int l = h_listen(h, 8);

	cr_assert_eq(sk_tcp_listen_connect(h->st, l, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	cr_expect_eq(syn.r.src_port, H_OUR_PORT);
	const struct sk_state_change *ev = h_last_event(h, l);
	cr_expect_eq(ev->from, SK_TCP_LISTEN);
	cr_expect_eq(ev->to, SK_TCP_SYN_SENT);
	h_send(h, h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, syn.r.seq + 1));
	h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(sk_sock_state(h->st, l), SK_TCP_ESTABLISHED);
}

Test(tcp_open, connect_errors)
{
	int s = h_connect(h);
	cr_expect_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EALREADY);
	int s2 = sk_socket(h->st);
	cr_expect_eq(sk_connect(h->st, s2, 0x08080808, 80, h->now), -ENETUNREACH);
	cr_expect_eq(sk_bind(h->st, s2, 0, H_OUR_PORT), -EADDRINUSE);
	cr_expect_eq(sk_bind(h->st, s2, 0x01020304, 1234), -EADDRNOTAVAIL);
}

Test(tcp_open, reuseaddr_lets_two_sockets_bind_but_not_both_listen)
{
	int a = sk_socket(h->st), b = sk_socket(h->st);
	sk_setopt(h->st, a, SK_OPT_REUSEADDR, 1);
	sk_setopt(h->st, b, SK_OPT_REUSEADDR, 1);
	cr_expect_eq(sk_bind(h->st, a, 0, 5555), 0);
	cr_expect_eq(sk_bind(h->st, b, 0, 5555), 0);
	cr_expect_eq(sk_listen(h->st, a, 4, h->now), 0);
	cr_expect_eq(sk_listen(h->st, b, 4, h->now), -EADDRINUSE);
}

Test(tcp_open, isn_follows_rfc6528)
{
	h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	uint32_t want =
	    sk_tcp_isn(h->cfg.isn_key, H_OUR_IP, H_OUR_PORT, H_PEER_IP, H_PEER_PORT, h->now);
	cr_expect_eq(syn.r.seq, want);
	/* M ticks every 4 µs: the same 4-tuple 4 ms later starts 1000 on. */
	cr_expect_eq(sk_tcp_isn(h->cfg.isn_key, H_OUR_IP, H_OUR_PORT, H_PEER_IP, H_PEER_PORT,
	                        h->now + SK_MS(4)),
	             want + 1000);
	cr_expect_neq(
	    sk_tcp_isn(h->cfg.isn_key, H_OUR_IP, H_OUR_PORT + 1, H_PEER_IP, H_PEER_PORT, h->now),
	    want + 0, "F depends on the 4-tuple");
}

Test(tcp_open, closing_a_listener_resets_its_children)
{
	int l = h_listen(h, 8);
	struct h_tcp sa = peer_syn(1001, 1460);

	struct sk_tcp_repr ack = h_seg(SK_TCP_ACK, PEER_ISN + 1, sa.r.seq + 1);
	ack.src_port = 1001;
	h_send(h, ack);                          /* queued, not accepted */
	struct h_tcp sa2 = peer_syn(1002, 1460); /* half-open */
	sk_close(h->st, l, h->now);
	struct h_tcp r1 = h_expect_tcp(h, SK_TCP_RST | SK_TCP_ACK);
	struct h_tcp r2 = h_expect_tcp(h, SK_TCP_RST | SK_TCP_ACK);
	cr_expect_eq(r1.r.dst_port, 1002);
	cr_expect_eq(r1.r.seq, sa2.r.seq + 1);
	cr_expect_eq(r2.r.dst_port, 1001);
	cr_expect_eq(r2.r.seq, sa.r.seq + 1);
	h_expect_nothing(h);
	/* The port is free again. */
	int s = sk_socket(h->st);
	cr_expect_eq(sk_bind(h->st, s, 0, H_OUR_PORT), 0);
}

Test(tcp_open, connect_fails_when_arp_gives_up)
{
	int s = sk_socket(h->st);
	/* 10.77.0.9: on-link, never answers ARP. */
	cr_assert_eq(sk_connect(h->st, s, 0x0a4d0009u, 80, h->now), -EINPROGRESS);
	h->auto_arp = false;
	h_advance(h, SK_SEC(10));
	h_clear(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
	cr_expect_eq(sk_take_error(h->st, s), EHOSTUNREACH);
}

Test(tcp_open, a_refused_socket_may_connect_again)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);

	h_send(h, h_seg(SK_TCP_RST | SK_TCP_ACK, 0, syn.r.seq + 1));
	cr_expect_eq(sk_take_error(h->st, s), ECONNREFUSED);
	h_advance(h, SK_MS(10));
	/* Linux inet_stream_connect: the first connect after the failure
	 * answers it (the error was taken: ECONNABORTED) and disconnects. */
	cr_assert_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -ECONNABORTED);
	h_expect_nothing(h);
	cr_assert_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	struct h_tcp again = h_expect_tcp(h, SK_TCP_SYN);
	cr_expect_eq(again.r.src_port, H_OUR_PORT, "still bound to its port");
	cr_expect_eq(again.r.seq, syn.r.seq + 2500, "RFC 6528 clock: 10 ms = 2500 ticks");
	h_send(h, h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, again.r.seq + 1));
	h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
}
