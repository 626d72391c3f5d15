/* RST, SYN and ACK hardening (RFC 5961 §3-§5, §7) on an established
 * connection, and the socket API's answers in each state (sk_poll as Linux
 * tcp_poll, sk_recv/sk_send errors, options). */
#include <criterion/criterion.h>
#include <errno.h>

#include "../../core/checksum.h"
#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 1000u

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

TestSuite(tcp_rst, .init = setup, .fini = teardown);

Test(tcp_rst, exact_rst_resets_the_connection)
{
	h_send(h, h_seg(SK_TCP_RST, PEER_ISN + 1, 0));
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
	cr_expect_eq(sk_poll(h->st, s), SK_POLLERR | SK_POLLHUP | SK_POLLIN | SK_POLLRDNORM |
	                                    SK_POLLRDHUP | SK_POLLOUT | SK_POLLWRNORM);
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), -ECONNRESET, "the error, once");
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), 0, "then end of stream");
	cr_expect_eq(sk_send(h->st, s, "x", 1, h->now), -EPIPE);
	cr_expect_eq(h->st->stats.tcp_conn_reset, 1);
}

Test(tcp_rst, in_window_rst_gets_a_challenge_ack)
{
	h_send(h, h_seg(SK_TCP_RST, PEER_ISN + 100, 0));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.seq, isn + 1);
	cr_expect_eq(ack.r.ack, PEER_ISN + 1);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	cr_expect_eq(h->st->stats.tcp_challenge_acks, 1);
}

Test(tcp_rst, out_of_window_rst_is_ignored)
{
	h_send(h, h_seg(SK_TCP_RST, PEER_ISN + 1 + 100000, 0));
	h_send(h, h_seg(SK_TCP_RST, PEER_ISN, 0));
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
}

Test(tcp_rst, challenge_acks_are_rate_limited)
{
	h_send(h, h_seg(SK_TCP_RST, PEER_ISN + 100, 0));
	h_expect_tcp(h, SK_TCP_ACK);
	h_send(h, h_seg(SK_TCP_RST, PEER_ISN + 200, 0));
	h_expect_nothing(h);
	h_advance(h, SK_MS(500));
	h_send(h, h_seg(SK_TCP_RST, PEER_ISN + 300, 0));
	h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(h->st->stats.tcp_challenge_acks, 3);
	cr_expect_eq(h->st->stats.tcp_challenge_acks_limited, 1);
}

Test(tcp_rst, syn_out_of_the_window_gets_a_challenge_ack_too)
{
	/* RFC 5961 §4.2: "irrespective of the sequence number". */
	h_send(h, h_seg(SK_TCP_SYN, PEER_ISN + (1u << 30), 0));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ack, PEER_ISN + 1);
	cr_expect_eq(h->st->stats.tcp_challenge_acks, 1);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
}

Test(tcp_rst, rst_at_rcv_nxt_minus_one_after_fin_is_accepted)
{
	h_send(h, h_seg(SK_TCP_FIN | SK_TCP_ACK, PEER_ISN + 1, isn + 1));
	h_expect_tcp(h, SK_TCP_ACK);
	h_send(h, h_seg(SK_TCP_RST, PEER_ISN + 1, 0));
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
}

Test(tcp_rst, syn_in_established_gets_a_challenge_ack)
{
	h_send(h, h_seg(SK_TCP_SYN, PEER_ISN + 50, 0));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ack, PEER_ISN + 1);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
}

Test(tcp_rst, ack_of_unsent_data_is_challenged_and_dropped)
{
	struct sk_tcp_repr d = h_seg(SK_TCP_ACK | SK_TCP_PSH, PEER_ISN + 1, isn + 5000);
	d.payload = (const uint8_t *)"evil";
	d.payload_len = 4;
	h_send(h, d);
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ack, PEER_ISN + 1, "the data was not accepted");
	cr_expect_eq(sk_rx_queued(h->st, s), 0);
}

Test(tcp_rst, ack_far_below_snd_una_is_dropped)
{
	/* RFC 5961 §5.2: below SND.UNA - MAX.SND.WND (64240). */
	struct sk_tcp_repr d = h_seg(SK_TCP_ACK | SK_TCP_PSH, PEER_ISN + 1, isn + 1 - 70000);
	d.payload = (const uint8_t *)"old";
	d.payload_len = 3;
	h_send(h, d);
	h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(sk_rx_queued(h->st, s), 0);
}

Test(tcp_rst, segment_without_ack_is_dropped)
{
	struct sk_tcp_repr d = h_seg(SK_TCP_PSH, PEER_ISN + 1, 0);
	d.payload = (const uint8_t *)"noack";
	d.payload_len = 5;
	h_send(h, d);
	h_expect_nothing(h);
	cr_expect_eq(sk_rx_queued(h->st, s), 0);
}

Test(tcp_rst, bad_checksum_is_dropped_unless_trusted)
{
	uint8_t frame[200];
	struct sk_tcp_repr d = h_seg(SK_TCP_ACK | SK_TCP_PSH, PEER_ISN + 1, isn + 1);
	d.payload = (const uint8_t *)"sum";
	d.payload_len = 3;
	size_t n = h_build(frame, H_PEER_IP, H_OUR_IP, &d);
	frame[n - 1] ^= 0xff;
	h_input(h, frame, n, 0);
	cr_expect_eq(sk_rx_queued(h->st, s), 0);
	cr_expect_eq(h->st->stats.tcp_drop_bad_csum, 1);
	h_input(h, frame, n, SK_RX_CSUM_TRUSTED);
	cr_expect_eq(sk_rx_queued(h->st, s), 3);
}

Test(tcp_rst, segment_shorter_than_a_header_is_malformed_not_a_bad_checksum)
{
	uint8_t frame[200];
	size_t n = h_build(frame, H_PEER_IP, H_OUR_IP, &(struct sk_tcp_repr){0});

	/* The IPv4 total length ends 12 bytes into the TCP header: there is
	 * no checksum field to check. */
	frame[SK_ETH_HLEN + 2] = 0;
	frame[SK_ETH_HLEN + 3] = 20 + 12;
	frame[SK_ETH_HLEN + 10] = frame[SK_ETH_HLEN + 11] = 0;
	uint16_t c = sk_csum_finish(sk_csum_add(0, frame + SK_ETH_HLEN, 20));
	frame[SK_ETH_HLEN + 10] = (uint8_t)(c >> 8);
	frame[SK_ETH_HLEN + 11] = (uint8_t)c;
	h_input(h, frame, n, 0);
	h_expect_nothing(h);
	cr_expect_eq(h->st->stats.tcp_drop_malformed, 1);
	cr_expect_eq(h->st->stats.tcp_drop_bad_csum, 0);
}

Test(tcp_rst, fresh_socket_polls_out_and_hup)
{
	int f = sk_socket(h->st);
	cr_expect_eq(sk_poll(h->st, f), SK_POLLOUT | SK_POLLWRNORM | SK_POLLHUP);
	char c;
	cr_expect_eq(sk_recv(h->st, f, &c, 1, 0, h->now), -ENOTCONN);
	cr_expect_eq(sk_send(h->st, f, "x", 1, h->now), -EPIPE, "Linux: EPIPE, not ENOTCONN");
	struct sk_endpoint ep;
	cr_expect_eq(sk_getpeername(h->st, f, &ep), -ENOTCONN);
	cr_expect_eq(sk_shutdown(h->st, f, SK_SHUT_WR, h->now), -ENOTCONN);
}

Test(tcp_rst, established_polls_out_and_names_both_ends)
{
	cr_expect_eq(sk_poll(h->st, s), SK_POLLOUT | SK_POLLWRNORM);
	struct sk_endpoint ep;
	cr_expect_eq(sk_getsockname(h->st, s, &ep), 0);
	cr_expect_eq(ep.addr, H_OUR_IP);
	cr_expect_eq(ep.port, H_OUR_PORT);
	cr_expect_eq(sk_getpeername(h->st, s, &ep), 0);
	cr_expect_eq(ep.addr, H_PEER_IP);
	cr_expect_eq(ep.port, H_PEER_PORT);
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), -EAGAIN);
}

Test(tcp_rst, full_send_buffer_stops_pollout_until_acked)
{
	static uint8_t big[300000];
	ssize_t n = sk_send(h->st, s, big, sizeof(big), h->now);
	cr_expect_eq(n, 256 * 1024, "the send ring's capacity");
	cr_expect_eq(sk_send(h->st, s, big, 1, h->now), -EAGAIN);
	cr_expect_eq(sk_poll(h->st, s), 0);
	size_t woken = h->wakes[s];
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1 + 14600));
	/* Linux sk_stream_write_space: the writer wakes once free space is
	 * half the queued again (test_tcp_readiness.c), not before. */
	cr_expect_eq(h->wakes[s], woken, "not writeable yet: no wake");
	cr_expect_eq(sk_poll(h->st, s), 0);
	cr_expect_eq(sk_tx_queued(h->st, s), 256 * 1024 - 14600);
}

Test(tcp_rst, listener_polls_in_when_a_connection_waits)
{
	int l = sk_socket(h->st);
	cr_assert_eq(sk_bind(h->st, l, 0, 8080), 0);
	cr_assert_eq(sk_listen(h->st, l, 4, h->now), 0);
	cr_expect_eq(sk_poll(h->st, l), 0);
	int v;
	cr_expect_eq(sk_getopt(h->st, l, SK_OPT_ACCEPTCONN, &v), 0);
	cr_expect_eq(v, 1);
	struct sk_tcp_repr syn = h_seg(SK_TCP_SYN, 7000, 0);
	syn.dst_port = 8080;
	h_send(h, syn);
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	struct sk_tcp_repr ack = h_seg(SK_TCP_ACK, 7001, sa.r.seq + 1);
	ack.dst_port = 8080;
	size_t woken = h->wakes[l];
	h_send(h, ack);
	cr_expect_gt(h->wakes[l], woken);
	cr_expect_eq(sk_poll(h->st, l), SK_POLLIN | SK_POLLRDNORM);
	cr_expect_eq(sk_recv(h->st, l, &v, 1, 0, h->now), -ENOTCONN);
	cr_expect_eq(sk_accept(h->st, s, NULL), -EINVAL, "not a listener");
}

Test(tcp_rst, options_are_recorded_and_reported)
{
	int v;
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_KEEPALIVE, 1), 0);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_KEEPIDLE, 30), 0);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_KEEPINTVL, 5), 0);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_KEEPCNT, 3), 0);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_KEEPCNT, 0), -EINVAL);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_MAXSEG, 10), -EINVAL);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_ACCEPTCONN, 1), -ENOPROTOOPT);
	sk_getopt(h->st, s, SK_OPT_KEEPALIVE, &v);
	cr_expect_eq(v, 1);
	sk_getopt(h->st, s, SK_OPT_KEEPIDLE, &v);
	cr_expect_eq(v, 30);
	sk_getopt(h->st, s, SK_OPT_KEEPINTVL, &v);
	cr_expect_eq(v, 5);
	sk_getopt(h->st, s, SK_OPT_KEEPCNT, &v);
	cr_expect_eq(v, 3);
	sk_getopt(h->st, s, SK_OPT_ACCEPTCONN, &v);
	cr_expect_eq(v, 0);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_RCVBUF, 10000), 0);
	sk_getopt(h->st, s, SK_OPT_RCVBUF, &v);
	cr_expect_eq(v, 20000, "doubled, as socket(7) says");
}

Test(tcp_rst, icmp_port_unreachable_fails_a_connect)
{
	int c = sk_socket(h->st);
	cr_assert_eq(sk_connect(h->st, c, H_PEER_IP, 9, h->now), -EINPROGRESS);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	/* The quote: our IP header and the first 8 bytes of the SYN. */
	uint8_t q[28] = {0x45, 0, 0, 44, 0, 0, 0x40, 0, 64, 6, 0, 0};
	q[12] = 10, q[13] = 77, q[14] = 0, q[15] = 1;
	q[16] = 10, q[17] = 77, q[18] = 0, q[19] = 2;
	q[20] = (uint8_t)(syn.r.src_port >> 8), q[21] = (uint8_t)syn.r.src_port;
	q[22] = 0, q[23] = 9;
	q[24] = (uint8_t)(syn.r.seq >> 24), q[25] = (uint8_t)(syn.r.seq >> 16);
	q[26] = (uint8_t)(syn.r.seq >> 8), q[27] = (uint8_t)syn.r.seq;
	sk_tcp_icmp_error(h->st, 3, 3, 0, q, sizeof(q), h->now);
	cr_expect_eq(sk_sock_state(h->st, c), SK_TCP_CLOSED);
	cr_expect_eq(sk_take_error(h->st, c), ECONNREFUSED);
}
