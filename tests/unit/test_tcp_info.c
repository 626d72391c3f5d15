/* sk_get_info: the per-connection figures behind TCP_INFO, read back at
 * segment level after a handshake with a known RTT, data both ways, a
 * retransmission timeout and on a listener. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 5000u

static struct harness *h;
static uint8_t pattern[8000];

static void setup(void)
{
	h = h_new(NULL);
	h->auto_arp = true;
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 13 + 1);
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_info, .init = setup, .fini = teardown);

/* Active open whose SYN,ACK comes 10 ms after the SYN, peer MSS 1000, no
 * other option. */
static int open_10ms(uint32_t *isn)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	struct sk_tcp_repr synack = h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, syn.r.seq + 1);

	synack.mss = 1000;
	synack.window = 30000;
	h_advance(h, SK_MS(10));
	h_send(h, synack);
	h_expect_tcp(h, SK_TCP_ACK);
	*isn = syn.r.seq;
	return s;
}

/* Send n bytes and pop their segments (MSS 1000, PSH on the last). */
static void send_segs(int s, size_t n)
{
	size_t segs = (n + 999) / 1000;

	cr_assert_eq(sk_send(h->st, s, pattern, n, h->now), (ssize_t)n);
	for (size_t k = 0; k < segs; k++)
		h_expect_tcp(h, SK_TCP_ACK | (k == segs - 1 ? SK_TCP_PSH : 0));
}

static struct sk_tcp_info info(int s)
{
	struct sk_tcp_info i;

	cr_assert_eq(sk_get_info(h->st, s, &i), 0);
	return i;
}

Test(tcp_info, after_the_handshake)
{
	uint32_t isn;
	int s = open_10ms(&isn);
	struct sk_tcp_info i = info(s);

	cr_expect_eq(i.state, SK_TCP_ESTABLISHED);
	cr_expect_eq(i.ca_state, 0);
	cr_expect_eq(i.retransmits, 0);
	cr_expect_eq(i.options, 0, "the SYN,ACK offered no timestamps, SACK nor window scale");
	cr_expect_eq(i.snd_mss, 1000);
	cr_expect_eq(i.advmss, 1460, "MTU 1500 - 40");
	cr_expect_eq(i.rcv_mss, 1000);
	cr_expect_eq(i.pmtu, 1500);
	cr_expect_eq(i.rtt_us, 10000, "RFC 6298 §2.2: SRTT = R");
	cr_expect_eq(i.rttvar_us, 5000, "RTTVAR = R/2");
	cr_expect_eq(i.rto_us, 200000, "SRTT + 4 RTTVAR = 30 ms, floored at 200 ms");
	cr_expect_eq(i.ato_us, 40000);
	cr_expect_eq(i.snd_cwnd, 10, "RFC 6928 IW10");
	cr_expect_eq(i.snd_ssthresh, 0x7fffffffu, "infinite, as Linux reports it");
	cr_expect_eq(i.unacked, 0);
	cr_expect_eq(i.bytes_acked, 0);
	cr_expect_eq(i.bytes_received, 0);
	cr_expect_eq(i.notsent_bytes, 0);
	cr_expect_eq(i.snd_wnd, 30000);
}

Test(tcp_info, counts_data_in_flight_acked_and_received)
{
	uint32_t isn;
	int s = open_10ms(&isn);

	send_segs(s, 3000);
	struct sk_tcp_info i = info(s);
	cr_expect_eq(i.unacked, 3, "3 segments of 1000 in flight");
	cr_expect_eq(i.bytes_acked, 0);

	h_advance(h, SK_MS(20));
	struct sk_tcp_repr ack = h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1 + 2000);
	ack.window = 30000;
	h_send(h, ack);
	i = info(s);
	cr_expect_eq(i.bytes_acked, 2000);
	cr_expect_eq(i.unacked, 1);
	cr_expect_eq(i.rtt_us, (7 * 10000 + 20000) / 8, "RFC 6298 §2.3 second sample");

	struct sk_tcp_repr d = h_data(PEER_ISN + 1, isn + 1 + 2000, pattern, 700);
	d.flags |= SK_TCP_FIN;
	d.window = 30000;
	h_send(h, d);
	i = info(s);
	cr_expect_eq(i.state, SK_TCP_CLOSE_WAIT);
	cr_expect_eq(i.bytes_received, 700, "the FIN is not a byte");
}

Test(tcp_info, bytes_not_yet_sent_are_notsent)
{
	uint32_t isn;
	int s = open_10ms(&isn);

	/* The peer's window (30000) lets 30 segments go; the rest waits. */
	static uint8_t big[40000];
	cr_assert_eq(sk_send(h->st, s, big, sizeof(big), h->now), (ssize_t)sizeof(big));
	struct sk_tcp_info i = info(s);
	cr_expect_eq(i.unacked, 10, "IW10 of 1000-byte segments");
	cr_expect_eq(i.notsent_bytes, 40000 - 10000);
}

Test(tcp_info, a_retransmission_timeout_shows)
{
	uint32_t isn;
	int s = open_10ms(&isn);

	cr_assert_eq(sk_send(h->st, s, pattern, 500, h->now), 500);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	h_advance(h, SK_MS(200));
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	struct sk_tcp_info i = info(s);
	cr_expect_eq(i.retransmits, 1);
	cr_expect_eq(i.ca_state, 4, "TCP_CA_Loss");
	cr_expect_eq(i.rto_us, 400000, "backed off once");
	cr_expect_eq(i.snd_cwnd, 1, "RFC 5681 §3.1: LW = 1 SMSS");
	cr_expect_eq(i.snd_ssthresh, 7, "CUBIC (RFC 9438 §4.6): 0.7 x cwnd of 10: %u", i.snd_ssthresh);
}

Test(tcp_info, every_retransmitted_segment_is_counted)
{
	uint32_t isn;
	int s = open_10ms(&isn);

	cr_assert_eq(sk_send(h->st, s, pattern, 500, h->now), 500);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	struct sk_tcp_info i = info(s);
	cr_expect_eq(i.total_retrans, 0);
	cr_expect_eq(i.bytes_sent, 500);
	cr_expect_eq(i.bytes_retrans, 0);

	/* Two RTO expiries: the segment goes out twice more. */
	h_advance(h, SK_MS(200));
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	h_advance(h, SK_MS(400));
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	i = info(s);
	cr_expect_eq(i.total_retrans, 2, "Linux total_retrans: one per segment resent");
	cr_expect_eq(i.bytes_retrans, 1000);
	cr_expect_eq(i.bytes_sent, 1500, "RFC 4898 HCDataOctetsOut counts resent bytes too");

	/* The ACK ends the loss; the counters stay: they are the life's. */
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1 + 500));
	i = info(s);
	cr_expect_eq(i.retransmits, 0, "the consecutive count resets");
	cr_expect_eq(i.total_retrans, 2);
	cr_expect_eq(i.bytes_acked, 500);
	cr_expect_eq(sk_get_stats(h->st)->tcp_retransmits, 2, "the stack counts the same");
}

Test(tcp_info, a_fast_retransmission_is_counted)
{
	uint32_t isn;
	int s = open_10ms(&isn);

	send_segs(s, 5000);
	/* The first segment is lost: three duplicate ACKs (RFC 5681 §3.2). */
	for (int k = 0; k < 3; k++) {
		struct sk_tcp_repr dup = h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1);
		dup.window = 30000;
		h_send(h, dup);
	}
	struct h_tcp rxt = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(rxt.r.seq, isn + 1, "the hole is resent");
	struct sk_tcp_info i = info(s);
	cr_expect_eq(i.total_retrans, 1);
	cr_expect_eq(i.bytes_retrans, 1000);
	cr_expect_eq(i.ca_state, 3, "TCP_CA_Recovery");
}

Test(tcp_info, a_resent_syn_ack_counts_for_the_accepted_connection)
{
	int l = h_listen(h, 4);
	struct sk_tcp_repr syn = h_seg(SK_TCP_SYN, PEER_ISN, 0);
	syn.mss = 1460;
	h_send(h, syn);
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	/* The peer's ACK is lost: the SYN,ACK goes again after 1 s. */
	h_advance(h, SK_SEC(1));
	h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, sa.r.seq + 1));
	struct sk_endpoint peer;
	int c = sk_accept(h->st, l, &peer);
	cr_assert_geq(c, 0);
	/* Linux tcp_create_openreq_child: total_retrans = req->num_retrans. */
	cr_expect_eq(info(c).total_retrans, 1);
	cr_expect_eq(info(c).bytes_retrans, 0, "a SYN,ACK has no payload");
}

Test(tcp_info, the_byte_counters_are_64_bit)
{
	uint32_t isn;
	int s = open_10ms(&isn);
	struct tcb *t = tcp_tcb(h->st, s);

	/* As after 4 GiB each way: the next bytes carry on past 2^32
	 * (the sequence numbers wrap, the counters do not). */
	t->bytes_acked = t->bytes_received = t->bytes_sent = UINT32_MAX - 99u;
	cr_assert_eq(sk_send(h->st, s, pattern, 1000, h->now), 1000);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1 + 1000));
	struct sk_tcp_repr d = h_data(PEER_ISN + 1, isn + 1 + 1000, pattern, 700);
	d.window = 30000;
	h_send(h, d);
	struct sk_tcp_info i = info(s);
	cr_expect_eq(i.bytes_acked, (uint64_t)UINT32_MAX + 901u);
	cr_expect_eq(i.bytes_sent, (uint64_t)UINT32_MAX + 901u);
	cr_expect_eq(i.bytes_received, (uint64_t)UINT32_MAX + 601u);
}

Test(tcp_info, a_listener_reports_its_queue_and_backlog)
{
	int l = h_listen(h, 7);
	struct sk_tcp_info i = info(l);

	cr_expect_eq(i.state, SK_TCP_LISTEN);
	cr_expect_eq(i.unacked, 0);
	cr_expect_eq(i.sacked, 7);

	struct sk_tcp_repr syn = h_seg(SK_TCP_SYN, PEER_ISN, 0);
	syn.mss = 1460;
	h_send(h, syn);
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, sa.r.seq + 1));
	cr_expect_eq(info(l).unacked, 1, "one connection waiting in the accept queue");
}

Test(tcp_info, a_socket_that_is_not_ours_is_ebadf)
{
	struct sk_tcp_info i;

	cr_expect_eq(sk_get_info(h->st, -1, &i), -EBADF);
	cr_expect_eq(sk_get_info(h->st, 100000, &i), -EBADF);
	cr_expect_eq(sk_get_info(h->st, 3, &i), -EBADF, "never allocated");
	int s = sk_socket(h->st);
	sk_close(h->st, s, h->now);
	cr_expect_eq(sk_get_info(h->st, s, &i), -EBADF, "closed");
}
