/* Every row of tcp_transitions[] (core/tcp_fsm.c), taken through the real
 * segment path: one test per edge and cause, named after it, asserting the
 * (from, to) event the stack reported with its cause, the segment it
 * emitted for it, and what the socket API says afterwards.
 *
 * Each test is declared with TRANSITION(from, to, how), which also records
 * the edge in a table next to it. Two checks keep the suite and the table
 * of legal transitions honest (issue 3's acceptance: "every transition has
 * a named test that fails if it is removed"):
 *   - after each test's body, the edge it is declared for must be among
 *     the events the harness recorded (a test cannot claim an edge it
 *     missed);
 *   - transition_table.every_row_has_a_test_and_every_test_a_row compares
 *     the recorded edges with tcp_transitions[] as sets.
 *
 * Fake time throughout: RTO 200 ms after the handshake's RTT sample (RFC
 * 6298 floor, as Linux), 1 s before one; MSL 30 s; FIN_WAIT_2 timeout 60 s. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/byteorder.h"
#include "../../core/checksum.h"
#include "../../core/ethernet.h"
#include "../../core/icmp.h"
#include "../../core/ipv4.h"
#include "../../core/tcp.h"
#include "../../core/tcp_fsm.h"
#include "harness.h"

#define S(x)        SK_TCP_##x
#define PEER_ISN    1000u
#define MSL         SK_SEC(30)
#define FIN_TIMEOUT SK_SEC(60)
/* Everything but POLLERR that a socket reset or timed out polls as. */
#define POLL_DEAD                                                                                  \
	(SK_POLLHUP | SK_POLLIN | SK_POLLRDNORM | SK_POLLRDHUP | SK_POLLOUT | SK_POLLWRNORM)

/* ---- the table of covered edges ---- */

struct covered_edge {
	enum sk_tcp_state from, to;
	const char *test;
};

static struct covered_edge covered[128];
static size_t ncovered;

static void cover(enum sk_tcp_state from, enum sk_tcp_state to, const char *test)
{
	if (ncovered < sizeof(covered) / sizeof(covered[0]))
		covered[ncovered] = (struct covered_edge){from, to, test};
	ncovered++; /* an overflow is reported by the meta-test */
}

/* A test of the edge from -> to, named from_to_to_how: its entry in
 * `covered` (filled before main by a constructor, so removing the test
 * removes the entry), and a check after its body that the stack really
 * took that edge (a test cannot claim an edge it missed). */
#define TRANSITION(f, t, how)                                                                      \
	static void f##_to_##t##_##how(void);                                                      \
	__attribute__((constructor)) static void cover_##f##_to_##t##_##how(void)                  \
	{                                                                                          \
		cover(S(f), S(t), #f "_to_" #t "_" #how);                                          \
	}                                                                                          \
	Test(transition, f##_to_##t##_##how)                                                       \
	{                                                                                          \
		f##_to_##t##_##how();                                                              \
		cr_expect(saw(S(f), S(t)), "never went " #f " -> " #t);                            \
	}                                                                                          \
	static void f##_to_##t##_##how(void)

static bool saw(enum sk_tcp_state from, enum sk_tcp_state to);

/* ---- fixture ---- */

static struct harness *h;
static uint32_t isn; /* our ISN on the connection under test */

static void setup(void)
{
	h = h_new(NULL);
	h->auto_arp = true;
}

static bool saw(enum sk_tcp_state from, enum sk_tcp_state to)
{
	for (size_t i = 0; i < h->nevents; i++)
		if (h->events[i].from == from && h->events[i].to == to)
			return true;
	return false;
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(transition, .init = setup, .fini = teardown);

/* The last (from -> to) event of socket `sock` (-1: any socket), with its
 * cause; fails the test when there is none. */
static const struct sk_state_change *expect_edge(int sock, enum sk_tcp_state from,
                                                 enum sk_tcp_state to, const char *cause)
{
	for (size_t i = h->nevents; i-- > 0;) {
		const struct sk_state_change *ev = &h->events[i];

		if (ev->from == from && ev->to == to && (sock < 0 || ev->sock == sock)) {
			cr_expect_str_eq(ev->cause, cause, "cause of %s -> %s",
			                 sk_tcp_state_name(from), sk_tcp_state_name(to));
			return ev;
		}
	}
	cr_assert_fail("no %s -> %s event for socket %d", sk_tcp_state_name(from),
	               sk_tcp_state_name(to), sock);
	return NULL;
}

/* ---- connections in a known state ---- */

static int established(void)
{
	return h_established(h, PEER_ISN, &isn);
}

/* A SYN from the peer's port `sport` to our listener; returns our SYN,ACK. */
static struct h_tcp peer_syn(uint16_t sport)
{
	struct sk_tcp_repr syn = h_seg(S(SYN), PEER_ISN, 0);

	syn.src_port = sport;
	syn.mss = 1460;
	h_send(h, syn);
	struct h_tcp sa = h_expect_tcp(h, S(SYN) | S(ACK));

	cr_assert_eq(sa.r.dst_port, sport);
	cr_assert_eq(sa.r.ack, PEER_ISN + 1);
	return sa;
}

/* connect(), then the peer's SYN crosses ours: SYN_RECEIVED, our SYN,ACK
 * popped. */
static int simultaneous_open(void)
{
	int s = h_connect(h);

	isn = h_expect_tcp(h, S(SYN)).r.seq;
	struct sk_tcp_repr syn = h_seg(S(SYN), PEER_ISN, 0);
	syn.mss = 1400;
	h_send(h, syn);
	struct h_tcp sa = h_expect_tcp(h, S(SYN) | S(ACK));

	cr_assert_eq(sa.r.seq, isn);
	cr_assert_eq(sk_sock_state(h->st, s), S(SYN_RECEIVED));
	return s;
}

/* Established, then shutdown(SHUT_WR) (the socket stays ours) or close():
 * FIN_WAIT_1 with our FIN popped. */
static int fin_wait_1(bool keep_socket)
{
	int s = established();

	if (keep_socket)
		cr_assert_eq(sk_shutdown(h->st, s, SK_SHUT_WR, h->now), 0);
	else
		sk_close(h->st, s, h->now);
	struct h_tcp fin = h_expect_tcp(h, S(FIN) | S(ACK));

	cr_assert_eq(fin.r.seq, isn + 1);
	cr_assert_eq(fin.r.ack, PEER_ISN + 1);
	return s;
}

static int fin_wait_2(bool keep_socket)
{
	int s = fin_wait_1(keep_socket);

	h_send(h, h_seg(S(ACK), PEER_ISN + 1, isn + 2));
	h_expect_nothing(h);
	cr_assert(saw(S(FIN_WAIT_1), S(FIN_WAIT_2)));
	return s;
}

/* The peer closed first: CLOSE_WAIT, our ACK of its FIN popped. */
static int close_wait(void)
{
	int s = established();

	h_send(h, h_seg(S(FIN) | S(ACK), PEER_ISN + 1, isn + 1));
	h_expect_tcp(h, S(ACK));
	cr_assert_eq(sk_sock_state(h->st, s), S(CLOSE_WAIT));
	return s;
}

/* Simultaneous close after shutdown(SHUT_WR): CLOSING, our FIN unacked. */
static int closing(void)
{
	int s = fin_wait_1(true);

	h_send(h, h_seg(S(FIN) | S(ACK), PEER_ISN + 1, isn + 1));
	h_expect_tcp(h, S(ACK));
	cr_assert_eq(sk_sock_state(h->st, s), S(CLOSING));
	return s;
}

/* The segment (flags, seq) is retransmitted `retries` times, the RTO
 * doubling from `rto` up to TCP_RTO_MAX (RFC 6298 §5.5), never earlier;
 * one more RTO later the connection gives up, silently. Returns that
 * instant. */
static sk_time_t retransmitted_until_the_limit(uint8_t flags, uint32_t seq, sk_time_t rto,
                                               uint32_t retries)
{
	sk_time_t at = h->now;
	size_t events = h->nevents;

	for (uint32_t i = 1; i <= retries + 1; i++) {
		at += rto;
		h_advance_to(h, at - 1);
		h_expect_nothing(h);
		cr_assert_eq(h->nevents, events, "a state change before the RTO %u was due", i);
		h_advance_to(h, at);
		if (i > retries)
			break;
		struct h_tcp again = h_expect_tcp(h, flags);
		cr_expect_eq(again.r.seq, seq, "retransmission %u at its original sequence", i);
		rto = rto * 2 < TCP_RTO_MAX ? rto * 2 : TCP_RTO_MAX;
	}
	h_expect_nothing(h);
	return at;
}

/* Our 4-tuple is free: a segment on it meets no connection and gets the
 * RFC 9293 §3.10.7.1 reset <SEQ=SEG.ACK><CTL=RST>. */
static void tuple_is_gone(uint32_t peer_seq, uint32_t peer_ack)
{
	h_send(h, h_seg(S(ACK), peer_seq, peer_ack));
	h_answer_arp(h); /* after long timers ARP may re-probe the peer */
	struct h_tcp rst = h_expect_tcp(h, S(RST));

	cr_expect_eq(rst.r.seq, peer_ack);
	h_expect_nothing(h);
}

/* ------------------------------------------------------------------ */
/* Opening                                                            */
/* ------------------------------------------------------------------ */

TRANSITION(CLOSED, LISTEN, on_listen)
{
	int l = sk_socket(h->st);

	cr_assert_eq(sk_bind(h->st, l, 0, H_OUR_PORT), 0);
	/* Before listen() a SYN to the port is refused... */
	h_send(h, h_seg(S(SYN), PEER_ISN, 0));
	h_expect_tcp(h, S(RST) | S(ACK));

	cr_assert_eq(sk_listen(h->st, l, 8, h->now), 0);
	expect_edge(l, S(CLOSED), S(LISTEN), "listen()");
	h_expect_nothing(h);
	int v = 0;
	cr_expect_eq(sk_getopt(h->st, l, SK_OPT_ACCEPTCONN, &v), 0);
	cr_expect_eq(v, 1);
	cr_expect_eq(sk_poll(h->st, l), 0);
	/* ...after it, answered. */
	peer_syn(H_PEER_PORT);
}

TRANSITION(CLOSED, SYN_SENT, on_connect)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, S(SYN));

	expect_edge(s, S(CLOSED), S(SYN_SENT), "connect()");
	cr_expect_eq(syn.r.seq, sk_tcp_isn(h->cfg.isn_key, H_OUR_IP, H_OUR_PORT, H_PEER_IP,
	                                   H_PEER_PORT, h->now));
	cr_expect_eq(syn.r.mss, 1460);
	h_expect_nothing(h);
	cr_expect_eq(sk_poll(h->st, s), 0);
	cr_expect_eq(sk_send(h->st, s, "x", 1, h->now), -EAGAIN);
}

TRANSITION(LISTEN, SYN_SENT, on_send_on_a_listener)
{
	int l = h_listen(h, 8);
	struct h_tcp sa = peer_syn(1001); /* a half-open child nobody will accept */

	cr_assert_eq(sk_tcp_listen_connect(h->st, l, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	/* RFC 9293 §3.10.2: the connection becomes active; the pending
	 * child is reset, then our SYN leaves from the listener's port. */
	struct h_tcp rst = h_expect_tcp(h, S(RST) | S(ACK));
	cr_expect_eq(rst.r.dst_port, 1001);
	cr_expect_eq(rst.r.seq, sa.r.seq + 1);
	struct h_tcp syn = h_expect_tcp(h, S(SYN));
	cr_expect_eq(syn.r.src_port, H_OUR_PORT);
	cr_expect_eq(syn.r.dst_port, H_PEER_PORT);
	h_expect_nothing(h);
	expect_edge(l, S(LISTEN), S(SYN_SENT), "send on a listener");
	cr_expect_eq(sk_accept(h->st, l, NULL), -EINVAL, "no longer listening");

	h_send(h, h_seg(S(SYN) | S(ACK), PEER_ISN, syn.r.seq + 1));
	cr_expect_eq(h_expect_tcp(h, S(ACK)).r.ack, PEER_ISN + 1);
	cr_expect_eq(sk_sock_state(h->st, l), S(ESTABLISHED));
}

TRANSITION(LISTEN, SYN_RECEIVED, on_SYN)
{
	int l = h_listen(h, 8);
	struct sk_tcp_repr syn = h_seg(S(SYN), PEER_ISN, 0);

	syn.mss = 1300;
	h_send(h, syn);
	/* <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> with our MSS. */
	struct h_tcp sa = h_expect_tcp(h, S(SYN) | S(ACK));
	cr_expect_eq(sa.r.ack, PEER_ISN + 1);
	cr_expect_eq(sa.r.mss, 1460);
	cr_expect_eq(sa.r.seq, sk_tcp_isn(h->cfg.isn_key, H_OUR_IP, H_OUR_PORT, H_PEER_IP,
	                                  H_PEER_PORT, h->now));
	h_expect_nothing(h);
	/* The child is born a copy of the listener's LISTEN. */
	const struct sk_state_change *ev = expect_edge(-1, S(LISTEN), S(SYN_RECEIVED), "rcv SYN");
	cr_expect_neq(ev->sock, l);
	cr_expect_eq(ev->remote.addr, H_PEER_IP);
	cr_expect_eq(ev->remote.port, H_PEER_PORT);
	cr_expect_eq(sk_sock_state(h->st, l), S(LISTEN));
	cr_expect_eq(sk_accept(h->st, l, NULL), -EAGAIN, "not before the handshake completes");
	cr_expect_eq(sk_poll(h->st, l), 0);
}

TRANSITION(LISTEN, CLOSED, on_close)
{
	int l = h_listen(h, 8);

	sk_close(h->st, l, h->now);
	expect_edge(l, S(LISTEN), S(CLOSED), "close()");
	h_expect_nothing(h);
	/* A SYN to the port is refused again. */
	h_send(h, h_seg(S(SYN), PEER_ISN, 0));
	cr_expect_eq(h_expect_tcp(h, S(RST) | S(ACK)).r.ack, PEER_ISN + 1);
}

TRANSITION(LISTEN, CLOSED, on_shutdown_rd)
{
	int l = h_listen(h, 8);

	/* Linux inet_shutdown: SHUT_RD on a listener disconnects it. */
	cr_expect_eq(sk_shutdown(h->st, l, SK_SHUT_RD, h->now), 0);
	expect_edge(l, S(LISTEN), S(CLOSED), "shutdown()");
	h_expect_nothing(h);
	cr_expect_eq(sk_poll(h->st, l), SK_POLLHUP | SK_POLLOUT | SK_POLLWRNORM);
	h_send(h, h_seg(S(SYN), PEER_ISN, 0));
	h_expect_tcp(h, S(RST) | S(ACK));
	/* The socket keeps its port and may listen again. */
	cr_expect_eq(sk_listen(h->st, l, 8, h->now), 0);
	peer_syn(H_PEER_PORT);
}

TRANSITION(SYN_SENT, ESTABLISHED, on_SYN_ACK)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, S(SYN));
	struct sk_tcp_repr sa = h_seg(S(SYN) | S(ACK), PEER_ISN, syn.r.seq + 1);

	sa.mss = 1200;
	h_send(h, sa);
	/* <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. */
	struct h_tcp ack = h_expect_tcp(h, S(ACK));
	cr_expect_eq(ack.r.seq, syn.r.seq + 1);
	cr_expect_eq(ack.r.ack, PEER_ISN + 1);
	h_expect_nothing(h);
	const struct sk_state_change *ev =
	    expect_edge(s, S(SYN_SENT), S(ESTABLISHED), "rcv SYN,ACK");
	cr_expect_eq(ev->mss, 1200, "min(peer's 1200, ours 1460)");
	cr_expect_eq(sk_poll(h->st, s), SK_POLLOUT | SK_POLLWRNORM);
	cr_expect_eq(sk_take_error(h->st, s), 0);
	/* The SYN is acknowledged: no retransmission follows. */
	h_advance(h, SK_SEC(5));
	h_expect_nothing(h);
}

TRANSITION(SYN_SENT, SYN_RECEIVED, on_crossing_SYN)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, S(SYN));
	struct sk_tcp_repr psyn = h_seg(S(SYN), PEER_ISN, 0);

	psyn.mss = 1400;
	h_send(h, psyn);
	/* RFC 9293 §3.10.7.3: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>, the
	 * original ISN, not a new one. */
	struct h_tcp sa = h_expect_tcp(h, S(SYN) | S(ACK));
	cr_expect_eq(sa.r.seq, syn.r.seq);
	cr_expect_eq(sa.r.ack, PEER_ISN + 1);
	cr_expect_eq(sa.r.mss, 1460);
	h_expect_nothing(h);
	expect_edge(s, S(SYN_SENT), S(SYN_RECEIVED), "rcv SYN (simultaneous open)");
	cr_expect_eq(sk_poll(h->st, s), 0, "still handshaking");
	cr_expect_eq(sk_send(h->st, s, "x", 1, h->now), -EAGAIN);
}

/* ---- SYN_SENT -> CLOSED: CLOSE, RST, timeout or unreachable ---- */

TRANSITION(SYN_SENT, CLOSED, on_close)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, S(SYN));

	sk_close(h->st, s, h->now);
	expect_edge(s, S(SYN_SENT), S(CLOSED), "close()");
	h_expect_nothing(h); /* RFC 9293 §3.10.4: nothing was synchronised */
	h_advance(h, SK_SEC(3));
	h_expect_nothing(h); /* no SYN retransmission either */
	/* The peer's late SYN,ACK meets no connection. */
	h_send(h, h_seg(S(SYN) | S(ACK), PEER_ISN, syn.r.seq + 1));
	cr_expect_eq(h_expect_tcp(h, S(RST)).r.seq, syn.r.seq + 1);
}

TRANSITION(SYN_SENT, CLOSED, on_shutdown)
{
	int s = h_connect(h);

	h_expect_tcp(h, S(SYN));
	/* Linux inet_shutdown in SYN_SENT: tcp_disconnect. */
	cr_expect_eq(sk_shutdown(h->st, s, SK_SHUT_RDWR, h->now), 0);
	expect_edge(s, S(SYN_SENT), S(CLOSED), "shutdown()");
	h_expect_nothing(h);
	cr_expect_eq(sk_take_error(h->st, s), 0);
	/* The attempt is over, the socket is not: it may connect again. */
	cr_expect_eq(sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	h_expect_tcp(h, S(SYN));
}

TRANSITION(SYN_SENT, CLOSED, on_RST_refused)
{
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, S(SYN));

	/* RFC 5961 §3.2 / RFC 9293 §3.10.7.3: acceptable, it ACKs our SYN. */
	h_send(h, h_seg(S(RST) | S(ACK), 0, syn.r.seq + 1));
	h_expect_nothing(h);
	expect_edge(s, S(SYN_SENT), S(CLOSED), "rcv RST");
	cr_expect_eq(sk_poll(h->st, s), SK_POLLERR | POLL_DEAD);
	cr_expect_eq(sk_take_error(h->st, s), ECONNREFUSED);
	cr_expect_eq(sk_take_error(h->st, s), 0, "reported once");
}

static void two_syn_retries(struct sk_config *cfg)
{
	cfg->syn_retries = 2;
}

TRANSITION(SYN_SENT, CLOSED, on_timeout_after_syn_retries)
{
	h_free(h);
	h = h_new(two_syn_retries);
	h->auto_arp = true;
	int s = h_connect(h);
	struct h_tcp syn = h_expect_tcp(h, S(SYN));
	sk_time_t t0 = h->now;

	/* RFC 6298 §5.5/§5.7: 1 s, doubling; cfg.syn_retries SYNs more,
	 * each with the original ISN; then ETIMEDOUT one RTO later. */
	sk_time_t gave_up = retransmitted_until_the_limit(S(SYN), syn.r.seq, SK_SEC(1), 2);
	cr_expect_eq(gave_up - t0, SK_SEC(1 + 2 + 4));
	const struct sk_state_change *ev =
	    expect_edge(s, S(SYN_SENT), S(CLOSED), "retransmission timeout");
	cr_expect_eq(ev->now, gave_up);
	cr_expect_eq(sk_poll(h->st, s), SK_POLLERR | POLL_DEAD);
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), -ETIMEDOUT, "the error, once");
	cr_expect_eq(sk_take_error(h->st, s), 0);
}

/* A router (here: the peer's address) answers the frame `sent` with ICMP
 * destination unreachable, quoting its IP header and 8 bytes of TCP. */
static void icmp_unreachable(const struct h_frame *sent, uint8_t code)
{
	enum { QUOTE = SK_IPV4_HLEN + 8, MSG = SK_ICMP_HLEN + QUOTE };
	uint8_t f[SK_ETH_HLEN + SK_IPV4_HLEN + MSG];
	uint8_t *m = f + SK_ETH_HLEN + SK_IPV4_HLEN;

	cr_assert_geq(sent->len, SK_ETH_HLEN + QUOTE);
	memset(m, 0, SK_ICMP_HLEN);
	m[0] = SK_ICMP_DEST_UNREACH;
	m[1] = code;
	memcpy(m + SK_ICMP_HLEN, sent->data + SK_ETH_HLEN, QUOTE);
	sk_wr16(m + 2, sk_csum_finish(sk_csum_add(0, m, MSG)));

	struct sk_eth_repr eth = {.ethertype = SK_ETHERTYPE_IPV4};
	memcpy(eth.dst, H_OUR_MAC, 6);
	memcpy(eth.src, H_PEER_MAC, 6);
	sk_eth_emit(&eth, f);
	struct sk_ipv4_repr ip = {.src = H_PEER_IP,
	                          .dst = H_OUR_IP,
	                          .proto = SK_IPPROTO_ICMP,
	                          .ttl = 64,
	                          .payload_len = MSG};
	sk_ipv4_emit(&ip, f + SK_ETH_HLEN);
	h_input(h, f, sizeof(f), 0);
}

TRANSITION(SYN_SENT, CLOSED, on_ICMP_port_unreachable)
{
	int s = h_connect(h);
	struct h_frame syn = h_pop_frame(h);

	/* RFC 1122 §4.2.3.9: a hard error during the handshake aborts it;
	 * code 3 (port unreachable) is ECONNREFUSED, as Linux. */
	icmp_unreachable(&syn, 3);
	free(syn.data);
	h_expect_nothing(h);
	expect_edge(s, S(SYN_SENT), S(CLOSED), "ICMP unreachable");
	cr_expect_eq(sk_poll(h->st, s), SK_POLLERR | POLL_DEAD);
	cr_expect_eq(sk_take_error(h->st, s), ECONNREFUSED);
}

TRANSITION(SYN_SENT, CLOSED, on_neighbour_unreachable)
{
	int s = sk_socket(h->st);

	/* 10.77.0.9: on-link, never answers ARP; the SYN waits for it. */
	h->auto_arp = false;
	cr_assert_eq(sk_connect(h->st, s, 0x0a4d0009u, 80, h->now), -EINPROGRESS);
	h_advance(h, SK_SEC(10));
	h_clear(h); /* the ARP requests; never a SYN */
	const struct sk_state_change *ev =
	    expect_edge(s, S(SYN_SENT), S(CLOSED), "neighbour unreachable");
	cr_expect_eq(ev->remote.addr, 0x0a4d0009u);
	cr_expect_eq(sk_take_error(h->st, s), EHOSTUNREACH);
}

/* ---- SYN_RECEIVED ---- */

TRANSITION(SYN_RECEIVED, ESTABLISHED, on_ACK_of_SYN)
{
	int l = h_listen(h, 8);
	struct h_tcp sa = peer_syn(H_PEER_PORT);

	h_send(h, h_seg(S(ACK), PEER_ISN + 1, sa.r.seq + 1));
	h_expect_nothing(h); /* nothing to acknowledge: no segment */
	const struct sk_state_change *ev =
	    expect_edge(-1, S(SYN_RECEIVED), S(ESTABLISHED), "rcv ACK of SYN");
	cr_expect_eq(ev->mss, 1460);
	cr_expect_eq(sk_poll(h->st, l), SK_POLLIN | SK_POLLRDNORM, "the accept queue grew");
	int c = sk_accept(h->st, l, NULL);
	cr_expect_eq(c, ev->sock);
	cr_expect_eq(sk_sock_state(h->st, c), S(ESTABLISHED));
	cr_expect_eq(sk_poll(h->st, c), SK_POLLOUT | SK_POLLWRNORM);
	/* The SYN,ACK is acknowledged: no retransmission follows. */
	h_advance(h, SK_SEC(5));
	h_expect_nothing(h);
}

TRANSITION(SYN_RECEIVED, ESTABLISHED, on_crossing_SYN_ACK)
{
	int s = simultaneous_open();

	/* The peer's SYN,ACK crosses ours: its SYN is already acknowledged,
	 * its ACK acknowledges our SYN (Linux tcp_validate_incoming). */
	h_send(h, h_seg(S(SYN) | S(ACK), PEER_ISN, isn + 1));
	h_expect_nothing(h); /* each SYN,ACK acknowledged the other's SYN */
	const struct sk_state_change *ev =
	    expect_edge(s, S(SYN_RECEIVED), S(ESTABLISHED), "rcv ACK of SYN");
	cr_expect_eq(ev->mss, 1400, "the peer's SYN announced 1400");
	cr_expect_eq(sk_poll(h->st, s), SK_POLLOUT | SK_POLLWRNORM);
	cr_expect_eq(sk_send(h->st, s, "hi", 2, h->now), 2);
	struct h_tcp d = h_expect_tcp(h, S(ACK) | S(PSH));
	cr_expect_eq(d.r.seq, isn + 1);
	cr_expect_eq(d.r.ack, PEER_ISN + 1);
}

TRANSITION(SYN_RECEIVED, LISTEN, on_RST)
{
	int l = h_listen(h, 8);
	struct h_tcp sa = peer_syn(H_PEER_PORT);

	/* The peer lost power and came back: RST at exactly RCV.NXT. */
	h_send(h, h_seg(S(RST), PEER_ISN + 1, 0));
	h_expect_nothing(h);
	const struct sk_state_change *ev = expect_edge(-1, S(SYN_RECEIVED), S(LISTEN), "rcv RST");
	cr_expect_neq(ev->sock, l, "the child returns to LISTEN, the listener never left it");
	cr_expect_eq(sk_sock_state(h->st, l), S(LISTEN));
	cr_expect_eq(sk_poll(h->st, l), 0);
	/* The half-open child is gone: its old ACK meets the listener. */
	h_send(h, h_seg(S(ACK), PEER_ISN + 1, sa.r.seq + 1));
	cr_expect_eq(h_expect_tcp(h, S(RST)).r.seq, sa.r.seq + 1);
	/* And the listener keeps serving: a new SYN is answered, the
	 * handshake completes, the connection is accepted. */
	struct h_tcp sa2 = peer_syn(1002);
	struct sk_tcp_repr ack = h_seg(S(ACK), PEER_ISN + 1, sa2.r.seq + 1);
	ack.src_port = 1002;
	h_send(h, ack);
	struct sk_endpoint peer;
	int c = sk_accept(h->st, l, &peer);
	cr_assert_geq(c, 0);
	cr_expect_eq(peer.port, 1002);
	cr_expect_eq(sk_sock_state(h->st, c), S(ESTABLISHED));
}

TRANSITION(SYN_RECEIVED, LISTEN, on_SYN_in_window)
{
	int l = h_listen(h, 8);

	peer_syn(H_PEER_PORT);
	/* RFC 9293 §3.10.7.4 fourth check: a SYN in the window of a passive
	 * open returns it to LISTEN, silently. */
	h_send(h, h_seg(S(SYN), PEER_ISN + 100, 0));
	h_expect_nothing(h);
	expect_edge(-1, S(SYN_RECEIVED), S(LISTEN), "rcv SYN in window");
	cr_expect_eq(sk_sock_state(h->st, l), S(LISTEN));
	/* The 4-tuple is free for a fresh handshake. */
	peer_syn(H_PEER_PORT);
	cr_expect_eq(h->events[h->nevents - 1].to, S(SYN_RECEIVED));
}

TRANSITION(SYN_RECEIVED, FIN_WAIT_1, on_close_before_established)
{
	int s = simultaneous_open();

	sk_close(h->st, s, h->now);
	expect_edge(s, S(SYN_RECEIVED), S(FIN_WAIT_1), "close()");
	/* RFC 9293 §3.10.4 CLOSE in SYN_RECEIVED: the FIN waits until our
	 * SYN is acknowledged... */
	h_expect_nothing(h);
	/* ...which the SYN,ACK, still retransmitted, asks for. */
	h_advance(h, SK_SEC(1));
	struct h_tcp sa = h_expect_tcp(h, S(SYN) | S(ACK));
	cr_expect_eq(sa.r.seq, isn);
	cr_expect_eq(sa.r.ack, PEER_ISN + 1);
	h_send(h, h_seg(S(ACK), PEER_ISN + 1, isn + 1));
	struct h_tcp fin = h_expect_tcp(h, S(FIN) | S(ACK));
	cr_expect_eq(fin.r.seq, isn + 1);
	cr_expect_eq(fin.r.ack, PEER_ISN + 1);
	h_send(h, h_seg(S(ACK), PEER_ISN + 1, isn + 2));
	expect_edge(s, S(FIN_WAIT_1), S(FIN_WAIT_2), "rcv ACK of FIN");
	h_expect_nothing(h);
}

/* ---- SYN_RECEIVED -> CLOSED: RST (active open), SYN,ACK timeout, ABORT ---- */

TRANSITION(SYN_RECEIVED, CLOSED, on_RST_in_simultaneous_open)
{
	int s = simultaneous_open();

	/* RFC 9293 §3.10.7.4: an active open is refused. */
	h_send(h, h_seg(S(RST), PEER_ISN + 1, 0));
	h_expect_nothing(h);
	expect_edge(s, S(SYN_RECEIVED), S(CLOSED), "rcv RST");
	cr_expect_eq(sk_poll(h->st, s), SK_POLLERR | POLL_DEAD);
	cr_expect_eq(sk_take_error(h->st, s), ECONNREFUSED);
	h_advance(h, SK_SEC(3));
	h_expect_nothing(h); /* no SYN,ACK retransmission */
}

TRANSITION(SYN_RECEIVED, CLOSED, on_SYN_ACK_retries_exhausted)
{
	int l = h_listen(h, 8);
	struct h_tcp sa = peer_syn(H_PEER_PORT);
	sk_time_t t0 = h->now;

	/* Linux tcp_synack_retries: 5 more SYN,ACKs, 1 s doubling, then the
	 * half-open child is dropped without a RST, 63 s after the SYN. */
	sk_time_t gave_up =
	    retransmitted_until_the_limit(S(SYN) | S(ACK), sa.r.seq, SK_SEC(1), TCP_SYNACK_RETRIES);
	cr_expect_eq(gave_up - t0, SK_SEC(63));
	const struct sk_state_change *ev =
	    expect_edge(-1, S(SYN_RECEIVED), S(CLOSED), "SYN,ACK retries exhausted");
	cr_expect_eq(ev->now, gave_up);
	cr_expect_eq(sk_sock_state(h->st, l), S(LISTEN));
	cr_expect_eq(sk_accept(h->st, l, NULL), -EAGAIN);
	/* The peer's late ACK meets the listener: RST. */
	tuple_is_gone(PEER_ISN + 1, sa.r.seq + 1);
}

TRANSITION(SYN_RECEIVED, CLOSED, on_timeout_in_simultaneous_open)
{
	h_free(h);
	h = h_new(two_syn_retries);
	h->auto_arp = true;
	int s = simultaneous_open();
	sk_time_t t0 = h->now;

	/* Linux tcp_write_timeout: a socket of its own in SYN_RECV (an
	 * active open met by a crossing SYN) gives up after tcp_syn_retries,
	 * like SYN_SENT, not after tcp_retries2. The SYN,ACK keeps the ISN. */
	sk_time_t gave_up = retransmitted_until_the_limit(S(SYN) | S(ACK), isn, SK_SEC(1), 2);
	cr_expect_eq(gave_up - t0, SK_SEC(1 + 2 + 4));
	cr_expect_eq(expect_edge(s, S(SYN_RECEIVED), S(CLOSED), "retransmission timeout")->now,
	             gave_up);
	cr_expect_eq(sk_poll(h->st, s), SK_POLLERR | POLL_DEAD);
	cr_expect_eq(sk_take_error(h->st, s), ETIMEDOUT);
}

TRANSITION(SYN_RECEIVED, CLOSED, on_abort_by_closing_the_listener)
{
	int l = h_listen(h, 8);
	struct h_tcp sa = peer_syn(H_PEER_PORT);

	sk_close(h->st, l, h->now);
	/* RFC 9293 §3.10.4 ABORT in SYN_RECEIVED: <SEQ=SND.NXT><CTL=RST>. */
	struct h_tcp rst = h_expect_tcp(h, S(RST) | S(ACK));
	cr_expect_eq(rst.r.seq, sa.r.seq + 1);
	cr_expect_eq(rst.r.dst_port, H_PEER_PORT);
	h_expect_nothing(h);
	expect_edge(-1, S(SYN_RECEIVED), S(CLOSED), "listener closed");
	expect_edge(l, S(LISTEN), S(CLOSED), "close()");
	tuple_is_gone(PEER_ISN + 1, sa.r.seq + 1);
}

TRANSITION(SYN_RECEIVED, CLOSED, on_abort_with_linger_zero)
{
	int s = simultaneous_open();

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_LINGER_ABORT, 1), 0);
	sk_close(h->st, s, h->now);
	struct h_tcp rst = h_expect_tcp(h, S(RST) | S(ACK));
	cr_expect_eq(rst.r.seq, isn + 1);
	cr_expect_eq(rst.r.ack, PEER_ISN + 1);
	h_expect_nothing(h);
	expect_edge(s, S(SYN_RECEIVED), S(CLOSED), "close() with SO_LINGER 0");
	tuple_is_gone(PEER_ISN + 1, isn + 1);
}

/* ------------------------------------------------------------------ */
/* Established, and closing                                           */
/* ------------------------------------------------------------------ */

TRANSITION(ESTABLISHED, FIN_WAIT_1, on_close)
{
	int s = established();

	sk_close(h->st, s, h->now);
	expect_edge(s, S(ESTABLISHED), S(FIN_WAIT_1), "close()");
	struct h_tcp fin = h_expect_tcp(h, S(FIN) | S(ACK));
	cr_expect_eq(fin.r.seq, isn + 1);
	cr_expect_eq(fin.r.ack, PEER_ISN + 1);
	h_expect_nothing(h);
}

TRANSITION(ESTABLISHED, FIN_WAIT_1, on_shutdown_wr)
{
	int s = established();

	cr_expect_eq(sk_shutdown(h->st, s, SK_SHUT_WR, h->now), 0);
	expect_edge(s, S(ESTABLISHED), S(FIN_WAIT_1), "shutdown()");
	cr_expect_eq(h_expect_tcp(h, S(FIN) | S(ACK)).r.seq, isn + 1);
	h_expect_nothing(h);
	/* Half-closed: no more sending, reading goes on. */
	cr_expect_eq(sk_poll(h->st, s), SK_POLLOUT | SK_POLLWRNORM);
	cr_expect_eq(sk_send(h->st, s, "x", 1, h->now), -EPIPE);
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), -EAGAIN);
}

TRANSITION(ESTABLISHED, CLOSE_WAIT, on_FIN)
{
	int s = established();
	struct sk_tcp_repr fin = h_seg(S(FIN) | S(ACK) | S(PSH), PEER_ISN + 1, isn + 1);

	fin.payload = (const uint8_t *)"bye";
	fin.payload_len = 3;
	h_send(h, fin);
	/* A FIN is acknowledged at once, with the data before it. */
	struct h_tcp ack = h_expect_tcp(h, S(ACK));
	cr_expect_eq(ack.r.seq, isn + 1);
	cr_expect_eq(ack.r.ack, PEER_ISN + 1 + 3 + 1);
	h_expect_nothing(h);
	expect_edge(s, S(ESTABLISHED), S(CLOSE_WAIT), "rcv FIN");
	cr_expect_eq(sk_poll(h->st, s),
	             SK_POLLIN | SK_POLLRDNORM | SK_POLLRDHUP | SK_POLLOUT | SK_POLLWRNORM);
	char buf[8];
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), 3);
	cr_expect_arr_eq(buf, "bye", 3);
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), 0, "then end of stream");
	/* Half-closed the other way: we may still send. */
	cr_expect_eq(sk_send(h->st, s, "ok", 2, h->now), 2);
	h_expect_tcp(h, S(ACK) | S(PSH));
}

/* ---- ESTABLISHED -> CLOSED: RST, ABORT or timeout ---- */

TRANSITION(ESTABLISHED, CLOSED, on_RST)
{
	int s = established();

	h_send(h, h_seg(S(RST), PEER_ISN + 1, 0));
	h_expect_nothing(h);
	expect_edge(s, S(ESTABLISHED), S(CLOSED), "rcv RST");
	cr_expect_eq(sk_poll(h->st, s), SK_POLLERR | POLL_DEAD);
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), -ECONNRESET, "the error, once");
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), 0, "then end of stream");
	cr_expect_eq(sk_send(h->st, s, "x", 1, h->now), -EPIPE);
}

TRANSITION(ESTABLISHED, CLOSED, on_abort_with_linger_zero)
{
	int s = established();

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_LINGER_ABORT, 1), 0);
	sk_close(h->st, s, h->now);
	/* RFC 9293 §3.10.4 ABORT: <SEQ=SND.NXT><CTL=RST>, no FIN. */
	struct h_tcp rst = h_expect_tcp(h, S(RST) | S(ACK));
	cr_expect_eq(rst.r.seq, isn + 1);
	cr_expect_eq(rst.r.ack, PEER_ISN + 1);
	h_expect_nothing(h);
	expect_edge(s, S(ESTABLISHED), S(CLOSED), "close() with SO_LINGER 0");
	tuple_is_gone(PEER_ISN + 1, isn + 1);
}

TRANSITION(ESTABLISHED, CLOSED, on_abort_by_close_with_unread_data)
{
	int s = established();
	struct sk_tcp_repr d = h_seg(S(ACK) | S(PSH), PEER_ISN + 1, isn + 1);

	d.payload = (const uint8_t *)"unread";
	d.payload_len = 6;
	h_send(h, d);
	h_clear(h); /* a delayed ACK, if any, is not the point */
	/* RFC 9293 §3.10.4 / RFC 2525 §2.17, as Linux: the peer learns that
	 * its data was lost. */
	sk_close(h->st, s, h->now);
	struct h_tcp rst = h_expect_tcp(h, S(RST) | S(ACK));
	cr_expect_eq(rst.r.seq, isn + 1);
	h_expect_nothing(h);
	expect_edge(s, S(ESTABLISHED), S(CLOSED), "close() with unread data");
}

TRANSITION(ESTABLISHED, CLOSED, on_retransmission_timeout)
{
	int s = established();

	cr_assert_eq(sk_send(h->st, s, "x", 1, h->now), 1);
	struct h_tcp d = h_expect_tcp(h, S(ACK) | S(PSH));
	cr_assert_eq(d.r.seq, isn + 1);
	/* Linux tcp_retries2 = 15 from a 200 ms RTO: 924.6 s, then give up
	 * without a RST (RFC 9293 §3.8.3 R2). */
	sk_time_t t0 = h->now;
	sk_time_t gave_up =
	    retransmitted_until_the_limit(S(ACK) | S(PSH), isn + 1, TCP_RTO_MIN, TCP_MAX_RETRIES);
	cr_expect_eq(gave_up - t0, SK_MS(924600));
	cr_expect_eq(expect_edge(s, S(ESTABLISHED), S(CLOSED), "retransmission timeout")->now,
	             gave_up);
	cr_expect_eq(sk_poll(h->st, s), SK_POLLERR | POLL_DEAD);
	cr_expect_eq(sk_send(h->st, s, "y", 1, h->now), -ETIMEDOUT);
}

TRANSITION(FIN_WAIT_1, FIN_WAIT_2, on_ACK_of_FIN)
{
	int s = fin_wait_1(true);

	/* The FIN is retransmitted until it is acknowledged... */
	h_advance(h, TCP_RTO_MIN);
	cr_expect_eq(h_expect_tcp(h, S(FIN) | S(ACK)).r.seq, isn + 1);
	h_send(h, h_seg(S(ACK), PEER_ISN + 1, isn + 2));
	h_expect_nothing(h);
	expect_edge(s, S(FIN_WAIT_1), S(FIN_WAIT_2), "rcv ACK of FIN");
	/* ...and no longer. A socket still held waits for the peer's FIN
	 * as long as it takes (only orphans time out). */
	h_advance(h, SK_SEC(600));
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), S(FIN_WAIT_2));
	cr_expect_eq(sk_poll(h->st, s), SK_POLLOUT | SK_POLLWRNORM);
}

TRANSITION(FIN_WAIT_1, CLOSING, on_crossing_FIN)
{
	int s = fin_wait_1(true);

	/* The peer's FIN crosses ours: it does not acknowledge our FIN. */
	h_send(h, h_seg(S(FIN) | S(ACK), PEER_ISN + 1, isn + 1));
	struct h_tcp ack = h_expect_tcp(h, S(ACK));
	cr_expect_eq(ack.r.seq, isn + 2);
	cr_expect_eq(ack.r.ack, PEER_ISN + 2);
	h_expect_nothing(h);
	expect_edge(s, S(FIN_WAIT_1), S(CLOSING), "rcv FIN (simultaneous close)");
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), 0);
	cr_expect_eq(sk_poll(h->st, s), POLL_DEAD);
}

TRANSITION(FIN_WAIT_1, TIME_WAIT, on_FIN_with_ACK_of_FIN)
{
	int s = fin_wait_1(true);

	h_send(h, h_seg(S(FIN) | S(ACK), PEER_ISN + 1, isn + 2));
	struct h_tcp ack = h_expect_tcp(h, S(ACK));
	cr_expect_eq(ack.r.seq, isn + 2);
	cr_expect_eq(ack.r.ack, PEER_ISN + 2);
	h_expect_nothing(h);
	expect_edge(s, S(FIN_WAIT_1), S(TIME_WAIT), "rcv FIN,ACK");
	cr_expect(!saw(S(FIN_WAIT_1), S(FIN_WAIT_2)), "straight to TIME_WAIT");
	cr_expect(!saw(S(FIN_WAIT_1), S(CLOSING)));
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), 0);
	/* Nothing outstanding: no retransmission while it waits. */
	h_advance(h, MSL);
	h_expect_nothing(h);
}

/* ---- FIN_WAIT_1 -> CLOSED: RST, ABORT or timeout ---- */

TRANSITION(FIN_WAIT_1, CLOSED, on_RST)
{
	int s = fin_wait_1(true);

	h_send(h, h_seg(S(RST), PEER_ISN + 1, 0));
	h_expect_nothing(h);
	expect_edge(s, S(FIN_WAIT_1), S(CLOSED), "rcv RST");
	cr_expect_eq(sk_poll(h->st, s), SK_POLLERR | POLL_DEAD);
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), -ECONNRESET);
	h_advance(h, SK_SEC(3));
	h_expect_nothing(h); /* no FIN retransmission */
}

TRANSITION(FIN_WAIT_1, CLOSED, on_abort_with_linger_zero)
{
	int s = fin_wait_1(true);

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_LINGER_ABORT, 1), 0);
	sk_close(h->st, s, h->now);
	/* <SEQ=SND.NXT><CTL=RST>: past our FIN. */
	struct h_tcp rst = h_expect_tcp(h, S(RST) | S(ACK));
	cr_expect_eq(rst.r.seq, isn + 2);
	h_expect_nothing(h);
	expect_edge(s, S(FIN_WAIT_1), S(CLOSED), "close() with SO_LINGER 0");
	tuple_is_gone(PEER_ISN + 1, isn + 2);
}

TRANSITION(FIN_WAIT_1, CLOSED, on_FIN_retransmission_limit)
{
	int s = fin_wait_1(false);
	sk_time_t t0 = h->now;

	/* The peer vanished: the FIN is retransmitted until the retry limit
	 * aborts (Linux tcp_orphan_retries aside, tcp_retries2). */
	sk_time_t gave_up =
	    retransmitted_until_the_limit(S(FIN) | S(ACK), isn + 1, TCP_RTO_MIN, TCP_MAX_RETRIES);
	cr_expect_eq(gave_up - t0, SK_MS(924600));
	cr_expect_eq(expect_edge(s, S(FIN_WAIT_1), S(CLOSED), "retransmission timeout")->now,
	             gave_up);
	tuple_is_gone(PEER_ISN + 1, isn + 2);
}

TRANSITION(FIN_WAIT_2, TIME_WAIT, on_FIN)
{
	int s = fin_wait_2(true);

	h_send(h, h_seg(S(FIN) | S(ACK), PEER_ISN + 1, isn + 2));
	struct h_tcp ack = h_expect_tcp(h, S(ACK));
	cr_expect_eq(ack.r.seq, isn + 2);
	cr_expect_eq(ack.r.ack, PEER_ISN + 2);
	h_expect_nothing(h);
	expect_edge(s, S(FIN_WAIT_2), S(TIME_WAIT), "rcv FIN");
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), 0);
	cr_expect_eq(sk_poll(h->st, s), POLL_DEAD);
}

/* ---- FIN_WAIT_2 -> CLOSED: RST, ABORT or orphan timeout ---- */

TRANSITION(FIN_WAIT_2, CLOSED, on_orphan_timeout)
{
	int s = fin_wait_2(false);
	sk_time_t entered = h->now;

	/* Seed item 6 / Linux tcp_fin_timeout: an orphan does not wait for
	 * the peer's FIN forever, and leaves without a word. */
	h_advance_to(h, entered + FIN_TIMEOUT - 1);
	h_expect_nothing(h);
	cr_expect(!saw(S(FIN_WAIT_2), S(CLOSED)));
	h_advance_to(h, entered + FIN_TIMEOUT);
	h_expect_nothing(h);
	cr_expect_eq(expect_edge(s, S(FIN_WAIT_2), S(CLOSED), "FIN_WAIT_2 timeout")->now,
	             entered + FIN_TIMEOUT);
	/* The peer's FIN, too late, meets no connection. */
	h_send(h, h_seg(S(FIN) | S(ACK), PEER_ISN + 1, isn + 2));
	h_answer_arp(h);
	cr_expect_eq(h_expect_tcp(h, S(RST)).r.seq, isn + 2);
}

TRANSITION(FIN_WAIT_2, CLOSED, on_orphan_timeout_counted_from_close)
{
	int s = fin_wait_2(true);

	/* Half-closed and held for a while: no timeout... */
	h_advance(h, SK_SEC(120));
	cr_expect_eq(sk_sock_state(h->st, s), S(FIN_WAIT_2));
	/* ...until close() makes it an orphan. */
	sk_close(h->st, s, h->now);
	h_expect_nothing(h);
	sk_time_t closed = h->now;
	h_advance_to(h, closed + FIN_TIMEOUT - 1);
	cr_expect(!saw(S(FIN_WAIT_2), S(CLOSED)));
	h_advance_to(h, closed + FIN_TIMEOUT);
	h_expect_nothing(h);
	cr_expect_eq(expect_edge(s, S(FIN_WAIT_2), S(CLOSED), "FIN_WAIT_2 timeout")->now,
	             closed + FIN_TIMEOUT);
}

TRANSITION(FIN_WAIT_2, CLOSED, on_RST)
{
	int s = fin_wait_2(true);

	h_send(h, h_seg(S(RST), PEER_ISN + 1, 0));
	h_expect_nothing(h);
	expect_edge(s, S(FIN_WAIT_2), S(CLOSED), "rcv RST");
	cr_expect_eq(sk_poll(h->st, s), SK_POLLERR | POLL_DEAD);
	cr_expect_eq(sk_take_error(h->st, s), ECONNRESET);
}

TRANSITION(FIN_WAIT_2, CLOSED, on_abort_with_linger_zero)
{
	int s = fin_wait_2(true);

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_LINGER_ABORT, 1), 0);
	sk_close(h->st, s, h->now);
	struct h_tcp rst = h_expect_tcp(h, S(RST) | S(ACK));
	cr_expect_eq(rst.r.seq, isn + 2);
	cr_expect_eq(rst.r.ack, PEER_ISN + 1);
	h_expect_nothing(h);
	expect_edge(s, S(FIN_WAIT_2), S(CLOSED), "close() with SO_LINGER 0");
	tuple_is_gone(PEER_ISN + 1, isn + 2);
}

TRANSITION(CLOSE_WAIT, LAST_ACK, on_close)
{
	int s = close_wait();

	sk_close(h->st, s, h->now);
	expect_edge(s, S(CLOSE_WAIT), S(LAST_ACK), "close()");
	struct h_tcp fin = h_expect_tcp(h, S(FIN) | S(ACK));
	cr_expect_eq(fin.r.seq, isn + 1);
	cr_expect_eq(fin.r.ack, PEER_ISN + 2);
	h_expect_nothing(h);
}

TRANSITION(CLOSE_WAIT, LAST_ACK, on_shutdown_wr)
{
	int s = close_wait();

	cr_expect_eq(sk_shutdown(h->st, s, SK_SHUT_WR, h->now), 0);
	expect_edge(s, S(CLOSE_WAIT), S(LAST_ACK), "shutdown()");
	cr_expect_eq(h_expect_tcp(h, S(FIN) | S(ACK)).r.seq, isn + 1);
	h_expect_nothing(h);
	cr_expect_eq(sk_poll(h->st, s), POLL_DEAD, "both directions shut: POLLHUP");
	cr_expect_eq(sk_send(h->st, s, "x", 1, h->now), -EPIPE);
}

/* ---- CLOSE_WAIT -> CLOSED: RST, ABORT or timeout ---- */

TRANSITION(CLOSE_WAIT, CLOSED, on_RST)
{
	int s = close_wait();

	h_send(h, h_seg(S(RST), PEER_ISN + 2, 0));
	h_expect_nothing(h);
	expect_edge(s, S(CLOSE_WAIT), S(CLOSED), "rcv RST");
	cr_expect_eq(sk_poll(h->st, s), SK_POLLERR | POLL_DEAD);
	/* tcp_recvmsg's order: the end of stream came first. */
	char c;
	cr_expect_eq(sk_recv(h->st, s, &c, 1, 0, h->now), 0);
	/* Linux tcp_reset(): in CLOSE_WAIT the error is EPIPE. */
	cr_expect_eq(sk_take_error(h->st, s), EPIPE);
}

TRANSITION(CLOSE_WAIT, CLOSED, on_abort_with_linger_zero)
{
	int s = close_wait();

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_LINGER_ABORT, 1), 0);
	sk_close(h->st, s, h->now);
	struct h_tcp rst = h_expect_tcp(h, S(RST) | S(ACK));
	cr_expect_eq(rst.r.seq, isn + 1);
	cr_expect_eq(rst.r.ack, PEER_ISN + 2);
	h_expect_nothing(h);
	expect_edge(s, S(CLOSE_WAIT), S(CLOSED), "close() with SO_LINGER 0");
	tuple_is_gone(PEER_ISN + 2, isn + 1);
}

TRANSITION(CLOSE_WAIT, CLOSED, on_retransmission_timeout)
{
	int s = close_wait();

	cr_assert_eq(sk_send(h->st, s, "x", 1, h->now), 1);
	cr_assert_eq(h_expect_tcp(h, S(ACK) | S(PSH)).r.seq, isn + 1);
	sk_time_t t0 = h->now;
	sk_time_t gave_up =
	    retransmitted_until_the_limit(S(ACK) | S(PSH), isn + 1, TCP_RTO_MIN, TCP_MAX_RETRIES);
	cr_expect_eq(gave_up - t0, SK_MS(924600));
	cr_expect_eq(expect_edge(s, S(CLOSE_WAIT), S(CLOSED), "retransmission timeout")->now,
	             gave_up);
	cr_expect_eq(sk_take_error(h->st, s), ETIMEDOUT);
}

TRANSITION(CLOSING, TIME_WAIT, on_ACK_of_FIN)
{
	int s = closing();

	h_send(h, h_seg(S(ACK), PEER_ISN + 2, isn + 2));
	h_expect_nothing(h);
	const struct sk_state_change *ev =
	    expect_edge(s, S(CLOSING), S(TIME_WAIT), "rcv ACK of FIN");
	/* Both sides of a simultaneous close wait 2 MSL (seed item 5). */
	sk_time_t entered = ev->now;
	h_advance_to(h, entered + 2 * MSL - 1);
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), S(TIME_WAIT));
}

/* ---- CLOSING -> CLOSED: RST, ABORT or timeout ---- */

TRANSITION(CLOSING, CLOSED, on_RST)
{
	int s = closing();

	h_send(h, h_seg(S(RST), PEER_ISN + 2, 0));
	h_expect_nothing(h);
	expect_edge(s, S(CLOSING), S(CLOSED), "rcv RST");
	/* RFC 9293 §3.10.7.4: in CLOSING the RST just ends it, no error. */
	cr_expect_eq(sk_take_error(h->st, s), 0);
	cr_expect_eq(sk_poll(h->st, s), POLL_DEAD);
	h_advance(h, SK_SEC(3));
	h_expect_nothing(h); /* no FIN retransmission */
}

TRANSITION(CLOSING, CLOSED, on_abort_with_linger_zero)
{
	int s = closing();

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_LINGER_ABORT, 1), 0);
	sk_close(h->st, s, h->now);
	/* RFC 9293 §3.10.4 ABORT in CLOSING: "delete the TCB", no RST. */
	h_expect_nothing(h);
	expect_edge(s, S(CLOSING), S(CLOSED), "close() with SO_LINGER 0");
	tuple_is_gone(PEER_ISN + 2, isn + 2);
}

TRANSITION(CLOSING, CLOSED, on_FIN_retransmission_limit)
{
	int s = closing();
	sk_time_t t0 = h->now;

	sk_time_t gave_up =
	    retransmitted_until_the_limit(S(FIN) | S(ACK), isn + 1, TCP_RTO_MIN, TCP_MAX_RETRIES);
	cr_expect_eq(gave_up - t0, SK_MS(924600));
	cr_expect_eq(expect_edge(s, S(CLOSING), S(CLOSED), "retransmission timeout")->now, gave_up);
	cr_expect_eq(sk_take_error(h->st, s), ETIMEDOUT);
}

/* ---- LAST_ACK -> CLOSED: ACK of FIN, RST or timeout ---- */

TRANSITION(LAST_ACK, CLOSED, on_ACK_of_FIN)
{
	int s = close_wait();

	sk_close(h->st, s, h->now);
	h_expect_tcp(h, S(FIN) | S(ACK));
	/* The FIN is retransmitted until it is acknowledged... */
	h_advance(h, TCP_RTO_MIN);
	struct h_tcp again = h_expect_tcp(h, S(FIN) | S(ACK));
	cr_expect_eq(again.r.seq, isn + 1);
	cr_expect_eq(again.r.ack, PEER_ISN + 2);
	h_send(h, h_seg(S(ACK), PEER_ISN + 2, isn + 2));
	h_expect_nothing(h);
	expect_edge(s, S(LAST_ACK), S(CLOSED), "rcv ACK of FIN");
	/* ...and no longer; the passive closer keeps no TIME_WAIT. */
	h_advance(h, SK_SEC(10));
	h_expect_nothing(h);
	tuple_is_gone(PEER_ISN + 2, isn + 2);
}

TRANSITION(LAST_ACK, CLOSED, on_RST)
{
	int s = close_wait();

	sk_close(h->st, s, h->now);
	h_expect_tcp(h, S(FIN) | S(ACK));
	h_send(h, h_seg(S(RST), PEER_ISN + 2, 0));
	h_expect_nothing(h);
	expect_edge(s, S(LAST_ACK), S(CLOSED), "rcv RST");
	h_advance(h, SK_SEC(3));
	h_expect_nothing(h); /* no FIN retransmission */
}

TRANSITION(LAST_ACK, CLOSED, on_FIN_retransmission_limit)
{
	int s = close_wait();

	sk_close(h->st, s, h->now);
	h_expect_tcp(h, S(FIN) | S(ACK));
	sk_time_t t0 = h->now;
	sk_time_t gave_up =
	    retransmitted_until_the_limit(S(FIN) | S(ACK), isn + 1, TCP_RTO_MIN, TCP_MAX_RETRIES);
	cr_expect_eq(gave_up - t0, SK_MS(924600));
	cr_expect_eq(expect_edge(s, S(LAST_ACK), S(CLOSED), "retransmission timeout")->now,
	             gave_up);
	tuple_is_gone(PEER_ISN + 2, isn + 2);
}

/* ---- TIME_WAIT -> CLOSED: 2MSL, or a new SYN reuses the 4-tuple ---- */

TRANSITION(TIME_WAIT, CLOSED, on_2MSL_timeout)
{
	int s = fin_wait_1(false);

	h_send(h, h_seg(S(FIN) | S(ACK), PEER_ISN + 1, isn + 2));
	h_expect_tcp(h, S(ACK));
	sk_time_t entered = expect_edge(s, S(FIN_WAIT_1), S(TIME_WAIT), "rcv FIN,ACK")->now;
	h_advance_to(h, entered + 2 * MSL - 1);
	cr_expect(!saw(S(TIME_WAIT), S(CLOSED)));
	h_advance_to(h, entered + 2 * MSL);
	h_expect_nothing(h);
	cr_expect_eq(expect_edge(s, S(TIME_WAIT), S(CLOSED), "2MSL timeout")->now,
	             entered + 2 * MSL);
	tuple_is_gone(PEER_ISN + 2, isn + 2);
}

TRANSITION(TIME_WAIT, CLOSED, on_new_SYN_reusing_the_tuple)
{
	int s = established();
	int l = sk_socket(h->st);

	/* A server: the connection and a listener share our port. */
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_REUSEADDR, 1), 0);
	cr_assert_eq(sk_setopt(h->st, l, SK_OPT_REUSEADDR, 1), 0);
	cr_assert_eq(sk_bind(h->st, l, 0, H_OUR_PORT), 0);
	cr_assert_eq(sk_listen(h->st, l, 8, h->now), 0);
	sk_close(h->st, s, h->now);
	h_expect_tcp(h, S(FIN) | S(ACK));
	h_send(h, h_seg(S(FIN) | S(ACK), PEER_ISN + 1, isn + 2));
	h_expect_tcp(h, S(ACK));
	cr_assert(saw(S(FIN_WAIT_1), S(TIME_WAIT)));

	/* RFC 6191 / RFC 1122 §4.2.2.13: a SYN above the old RCV.NXT ends
	 * the TIME_WAIT at once and opens a new incarnation. */
	h_advance(h, SK_SEC(1));
	h_send(h, h_seg(S(SYN), PEER_ISN + 100000, 0));
	struct h_tcp sa = h_expect_tcp(h, S(SYN) | S(ACK));
	cr_expect_eq(sa.r.ack, PEER_ISN + 100001);
	h_expect_nothing(h);
	const struct sk_state_change *ev =
	    expect_edge(s, S(TIME_WAIT), S(CLOSED), "new SYN reuses the 4-tuple");
	cr_expect_lt(ev->now, h->now + 2 * MSL);
	const struct sk_state_change *born = &h->events[h->nevents - 1];
	cr_expect_eq(born->from, S(LISTEN));
	cr_expect_eq(born->to, S(SYN_RECEIVED));
	cr_expect_eq(born->remote.port, H_PEER_PORT);
}

/* ------------------------------------------------------------------ */
/* The table of covered edges against tcp_transitions[]               */
/* ------------------------------------------------------------------ */

static bool is_covered(enum sk_tcp_state from, enum sk_tcp_state to)
{
	for (size_t i = 0; i < ncovered; i++)
		if (covered[i].from == from && covered[i].to == to)
			return true;
	return false;
}

Test(transition_table, every_row_has_a_test_and_every_test_a_row)
{
	cr_assert_leq(ncovered, sizeof(covered) / sizeof(covered[0]), "enlarge covered[]");
	cr_assert_gt(ncovered, 0, "the constructors did not run");
	for (size_t i = 0; i < tcp_transitions_len; i++) {
		const struct tcp_transition *row = &tcp_transitions[i];

		cr_expect(is_covered(row->from, row->to), "row %s -> %s (%s) has no test",
		          sk_tcp_state_name(row->from), sk_tcp_state_name(row->to), row->event);
	}
	for (size_t i = 0; i < ncovered; i++)
		cr_expect(tcp_transition_legal(covered[i].from, covered[i].to),
		          "test %s covers %s -> %s, which is not a row of tcp_transitions[]",
		          covered[i].test, sk_tcp_state_name(covered[i].from),
		          sk_tcp_state_name(covered[i].to));
}
