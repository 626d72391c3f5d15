/* Keepalive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6) and TCP_USER_TIMEOUT
 * (RFC 5482) at segment level, with Linux's timings: the exact probe
 * segment, when each probe leaves, what an answer changes, and how a dead
 * connection ends (RST, ETIMEDOUT once, then the socket API of a closed
 * connection). */
#include <criterion/criterion.h>
#include <errno.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 1000u

static struct harness *h;

static void setup(void)
{
	h = h_new(NULL);
	h->auto_arp = true; /* hours of idle time: the ARP entry expires */
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_keepalive, .init = setup, .fini = teardown);

/* <SEQ=SND.UNA-1><ACK=RCV.NXT><CTL=ACK>, no data. */
static void expect_probe(uint32_t isn, uint32_t rcv_nxt)
{
	struct h_tcp p = h_expect_tcp(h, SK_TCP_ACK);

	cr_expect_eq(p.r.seq, isn, "SEQ = SND.UNA - 1");
	cr_expect_eq(p.r.ack, rcv_nxt);
	cr_expect_eq(p.r.payload_len, 0, "no garbage octet, as Linux");
}

static void keepalive(int s, int idle, int intvl, int cnt)
{
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_KEEPIDLE, idle), 0);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_KEEPINTVL, intvl), 0);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_KEEPCNT, cnt), 0);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_KEEPALIVE, 1), 0);
}

/* The peer's answer to a probe: a duplicate ACK at our SND.UNA. */
static void answer(uint32_t isn)
{
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 1));
}

Test(tcp_keepalive, off_by_default_an_idle_connection_sends_nothing)
{
	int s = h_established(h, PEER_ISN, NULL), v;

	cr_assert_eq(sk_getopt(h->st, s, SK_OPT_KEEPALIVE, &v), 0);
	cr_expect_eq(v, 0);
	h_advance(h, SK_SEC(4 * 3600));
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
}

Test(tcp_keepalive, defaults_are_linux_7200_75_9_and_time_out_after_7875_s)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn), v;
	sk_time_t t0 = h->now;

	sk_getopt(h->st, s, SK_OPT_KEEPIDLE, &v);
	cr_expect_eq(v, 7200);
	sk_getopt(h->st, s, SK_OPT_KEEPINTVL, &v);
	cr_expect_eq(v, 75);
	sk_getopt(h->st, s, SK_OPT_KEEPCNT, &v);
	cr_expect_eq(v, 9);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_KEEPALIVE, 1), 0);

	h_advance_to(h, t0 + SK_SEC(7200) - 1);
	h_expect_nothing(h);
	for (int i = 0; i < 9; i++) {
		h_advance_to(h, t0 + SK_SEC(7200 + 75 * i));
		expect_probe(isn, PEER_ISN + 1);
		h_expect_nothing(h);
	}
	h_advance_to(h, t0 + SK_SEC(7200 + 75 * 9) - 1);
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	h_advance_to(h, t0 + SK_SEC(7200 + 75 * 9));
	struct h_tcp rst = h_expect_tcp(h, SK_TCP_RST | SK_TCP_ACK);
	cr_expect_eq(rst.r.seq, isn + 1);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
}

Test(tcp_keepalive, unanswered_probes_end_with_rst_and_etimedout_once)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);
	sk_time_t t0 = h->now;

	keepalive(s, 10, 5, 3);
	h_advance_to(h, t0 + SK_SEC(10) - 1);
	h_expect_nothing(h);
	h_advance_to(h, t0 + SK_SEC(10));
	expect_probe(isn, PEER_ISN + 1);
	h_advance_to(h, t0 + SK_SEC(15) - 1);
	h_expect_nothing(h);
	h_advance_to(h, t0 + SK_SEC(15));
	expect_probe(isn, PEER_ISN + 1);
	h_advance_to(h, t0 + SK_SEC(20));
	expect_probe(isn, PEER_ISN + 1);
	h_advance_to(h, t0 + SK_SEC(25) - 1);
	h_expect_nothing(h);
	h_advance_to(h, t0 + SK_SEC(25));
	/* Linux tcp_keepalive_timer: tcp_send_active_reset, then ETIMEDOUT. */
	struct h_tcp rst = h_expect_tcp(h, SK_TCP_RST | SK_TCP_ACK);
	cr_expect_eq(rst.r.seq, isn + 1);
	cr_expect_eq(rst.r.ack, PEER_ISN + 1);
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
	cr_expect_eq(h_last_event(h, s)->to, SK_TCP_CLOSED);
	cr_expect_str_eq(h_last_event(h, s)->cause, "keepalive timeout");
	/* tcp_poll of a connection ended by an error. */
	cr_expect_eq(sk_poll(h->st, s), SK_POLLERR | SK_POLLHUP | SK_POLLIN | SK_POLLRDNORM |
	                                    SK_POLLRDHUP | SK_POLLOUT | SK_POLLWRNORM);
	char buf[8];
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), -ETIMEDOUT);
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), 0, "then end of stream");
	cr_expect_eq(sk_send(h->st, s, "x", 1, h->now), -EPIPE);
	cr_expect_eq(sk_poll(h->st, s) & SK_POLLERR, 0, "the error was reported once");
	h_advance(h, SK_SEC(3600));
	h_expect_nothing(h);
}

Test(tcp_keepalive, so_error_reports_etimedout)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	keepalive(s, 1, 1, 1);
	h_advance(h, SK_SEC(2));
	expect_probe(isn, PEER_ISN + 1);
	h_expect_tcp(h, SK_TCP_RST | SK_TCP_ACK);
	cr_expect_eq(sk_take_error(h->st, s), ETIMEDOUT);
	cr_expect_eq(sk_take_error(h->st, s), 0);
}

Test(tcp_keepalive, an_answer_resets_the_count_and_the_idle_time)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);
	sk_time_t t0 = h->now;

	keepalive(s, 10, 5, 3);
	h_advance_to(h, t0 + SK_SEC(10));
	expect_probe(isn, PEER_ISN + 1);
	h_advance_to(h, t0 + SK_SEC(15));
	expect_probe(isn, PEER_ISN + 1);
	/* Two probes out; the peer answers the second 1 s later. */
	h_advance_to(h, t0 + SK_SEC(16));
	answer(isn);
	h_expect_nothing(h);
	/* The timer due at 20 s finds the peer heard 4 s ago: it waits until
	 * the idle time has passed again, then three fresh probes. */
	h_advance_to(h, t0 + SK_SEC(26) - 1);
	h_expect_nothing(h);
	for (int i = 0; i < 3; i++) {
		h_advance_to(h, t0 + SK_SEC(26 + 5 * i));
		expect_probe(isn, PEER_ISN + 1);
	}
	h_advance_to(h, t0 + SK_SEC(41) - 1);
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	h_advance_to(h, t0 + SK_SEC(41));
	h_expect_tcp(h, SK_TCP_RST | SK_TCP_ACK);
	cr_expect_eq(sk_take_error(h->st, s), ETIMEDOUT);
}

Test(tcp_keepalive, idle_time_counts_from_the_last_segment_received)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);
	sk_time_t t0 = h->now;

	keepalive(s, 10, 5, 3);
	h_advance_to(h, t0 + SK_SEC(6));
	h_send(h, h_data(PEER_ISN + 1, isn + 1, "hi", 2));
	h_advance(h, SK_MS(40));
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.ack, PEER_ISN + 3, "the delayed ACK");
	h_advance_to(h, t0 + SK_SEC(16) - 1);
	h_expect_nothing(h);
	h_advance_to(h, t0 + SK_SEC(16));
	expect_probe(isn, PEER_ISN + 3);
}

Test(tcp_keepalive, a_probe_answered_by_rst_ends_with_econnreset)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	keepalive(s, 10, 5, 3);
	h_advance(h, SK_SEC(10));
	expect_probe(isn, PEER_ISN + 1);
	/* A rebooted peer knows nothing of us: <SEQ=SEG.ACK><CTL=RST>. */
	h_send(h, h_seg(SK_TCP_RST, PEER_ISN + 1, 0));
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
	cr_expect_eq(sk_take_error(h->st, s), ECONNRESET);
}

Test(tcp_keepalive, no_probe_while_data_is_outstanding)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);
	sk_time_t t0 = h->now;

	keepalive(s, 1, 1, 2);
	cr_assert_eq(sk_send(h->st, s, "data", 4, h->now), 4);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	/* The peer is silent for 10 s: only retransmissions of the data
	 * (the RTO watches the peer, keepalive stays out of the way). */
	h_advance_to(h, t0 + SK_SEC(10));
	size_t n = h_pending(h);

	cr_expect_geq(n, 4);
	for (size_t i = 0; i < n; i++) {
		struct h_tcp d = h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);

		cr_expect_eq(d.r.seq, isn + 1);
		cr_expect_eq(d.r.payload_len, 4);
	}
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	/* Everything acknowledged: probing starts once the peer is idle. */
	sk_time_t t1 = h->now;
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 5));
	h_expect_nothing(h);
	h_advance_to(h, t1 + SK_SEC(2));
	expect_probe(isn + 4, PEER_ISN + 1);
}

Test(tcp_keepalive, switching_on_starts_the_timer_from_now)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_KEEPIDLE, 10), 0);
	h_advance(h, SK_SEC(100));
	h_expect_nothing(h);
	sk_time_t t1 = h->now;

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_KEEPALIVE, 1), 0);
	h_advance_to(h, t1 + SK_SEC(10) - 1);
	h_expect_nothing(h);
	h_advance_to(h, t1 + SK_SEC(10));
	expect_probe(isn, PEER_ISN + 1);
}

Test(tcp_keepalive, lowering_keepidle_counts_the_idle_time_already_past)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);
	sk_time_t t0 = h->now;

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_KEEPALIVE, 1), 0);
	h_advance_to(h, t0 + SK_SEC(30));
	h_expect_nothing(h);
	/* Linux tcp_sock_set_keepidle_locked: 30 s idle already, 40 s asked:
	 * the first probe is due 10 s from now. */
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_KEEPIDLE, 40), 0);
	h_advance_to(h, t0 + SK_SEC(40) - 1);
	h_expect_nothing(h);
	h_advance_to(h, t0 + SK_SEC(40));
	expect_probe(isn, PEER_ISN + 1);
}

Test(tcp_keepalive, switching_off_stops_the_probes)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	keepalive(s, 10, 5, 3);
	h_advance(h, SK_SEC(10));
	expect_probe(isn, PEER_ISN + 1);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_KEEPALIVE, 0), 0);
	h_advance(h, SK_SEC(3600));
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
}

Test(tcp_keepalive, options_are_validated_as_linux_does)
{
	int s = sk_socket(h->st), v;

	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_KEEPIDLE, 0), -EINVAL);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_KEEPIDLE, 32768), -EINVAL);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_KEEPINTVL, 0), -EINVAL);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_KEEPCNT, 128), -EINVAL);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_USER_TIMEOUT, -1), -EINVAL);
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_USER_TIMEOUT, 30000), 0);
	cr_expect_eq(sk_getopt(h->st, s, SK_OPT_USER_TIMEOUT, &v), 0);
	cr_expect_eq(v, 30000);
	/* Set on a socket that is not connected: nothing is armed. */
	cr_expect_eq(sk_setopt(h->st, s, SK_OPT_KEEPALIVE, 1), 0);
	cr_expect_eq(sk_next_deadline(h->st), SK_TIME_NEVER);
	sk_close(h->st, s, h->now);
}

Test(tcp_keepalive, a_listener_passes_keepalive_to_its_children)
{
	int l = h_listen(h, 4);

	cr_assert_eq(sk_setopt(h->st, l, SK_OPT_KEEPIDLE, 20), 0);
	cr_assert_eq(sk_setopt(h->st, l, SK_OPT_KEEPINTVL, 2), 0);
	cr_assert_eq(sk_setopt(h->st, l, SK_OPT_KEEPALIVE, 1), 0);
	struct sk_tcp_repr syn = h_seg(SK_TCP_SYN, PEER_ISN, 0);

	syn.src_port = 5555;
	syn.mss = 1460;
	h_send(h, syn);
	struct h_tcp sa = h_expect_tcp(h, SK_TCP_SYN | SK_TCP_ACK);
	struct sk_tcp_repr ack = h_seg(SK_TCP_ACK, PEER_ISN + 1, sa.r.seq + 1);

	ack.src_port = 5555;
	h_advance(h, SK_MS(5));
	h_send(h, ack);
	sk_time_t t0 = h->now;
	int c = sk_accept(h->st, l, NULL);

	cr_assert_geq(c, 0);
	h_advance_to(h, t0 + SK_SEC(20) - 1);
	h_expect_nothing(h);
	h_advance_to(h, t0 + SK_SEC(20));
	struct h_tcp p = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(p.r.dst_port, 5555);
	cr_expect_eq(p.r.seq, sa.r.seq, "SND.UNA - 1");
	h_advance_to(h, t0 + SK_SEC(22));
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, sa.r.seq);
}

/* ---- TCP_USER_TIMEOUT ---- */

Test(tcp_keepalive, user_timeout_ends_unacknowledged_data_on_time_without_rst)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_USER_TIMEOUT, 5000), 0);
	sk_time_t t0 = h->now;

	cr_assert_eq(sk_send(h->st, s, "data", 4, h->now), 4);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	/* RTO 200 ms doubling: retransmissions at 0.2, 0.6, 1.4 and 3.0 s;
	 * the next (6.2 s) is clamped to the user timeout's end, 5 s. */
	const sk_time_t at[] = {SK_MS(200), SK_MS(600), SK_MS(1400), SK_MS(3000)};
	for (int i = 0; i < 4; i++) {
		h_advance_to(h, t0 + at[i] - 1);
		h_expect_nothing(h);
		h_advance_to(h, t0 + at[i]);
		cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH).r.seq, isn + 1);
	}
	h_advance_to(h, t0 + SK_SEC(5) - 1);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	h_advance_to(h, t0 + SK_SEC(5));
	/* Linux tcp_write_err: no RST, the connection just ends. */
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
	cr_expect_str_eq(h_last_event(h, s)->cause, "user timeout");
	cr_expect_eq(sk_poll(h->st, s) & (SK_POLLERR | SK_POLLHUP), SK_POLLERR | SK_POLLHUP);
	char buf[8];
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), -ETIMEDOUT);
	cr_expect_eq(sk_recv(h->st, s, buf, sizeof(buf), 0, h->now), 0);
}

Test(tcp_keepalive, user_timeout_shorter_than_the_rto_ends_at_the_first_expiry)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_USER_TIMEOUT, 50), 0);
	sk_time_t t0 = h->now;

	sk_send(h->st, s, "data", 4, h->now);
	h_expect_tcp(h, SK_TCP_ACK | SK_TCP_PSH);
	h_advance_to(h, t0 + SK_MS(200) - 1);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	h_advance_to(h, t0 + SK_MS(200));
	h_expect_nothing(h);
	cr_expect_eq(sk_take_error(h->st, s), ETIMEDOUT);
}

Test(tcp_keepalive, user_timeout_replaces_the_retry_count)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	/* Linux tcp_retries2 (15) would give up after ~925 s; with a user
	 * timeout of 2000 s the connection lives until then. */
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_USER_TIMEOUT, 2000 * 1000), 0);
	sk_time_t t0 = h->now;

	sk_send(h->st, s, "data", 4, h->now);
	h_advance_to(h, t0 + SK_SEC(2000) - 1);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	cr_expect_gt(h->st->stats.tcp_retransmits, TCP_MAX_RETRIES);
	h_clear(h);
	h_advance_to(h, t0 + SK_SEC(2000));
	h_expect_nothing(h);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
	cr_expect_eq(sk_take_error(h->st, s), ETIMEDOUT);
}

Test(tcp_keepalive, user_timeout_restarts_when_new_data_is_acknowledged)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_NODELAY, 1), 0);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_USER_TIMEOUT, 1000), 0);
	sk_time_t t0 = h->now;

	sk_send(h->st, s, "a", 1, h->now);
	sk_send(h->st, s, "b", 1, h->now);
	h_clear(h);
	/* Retransmissions at 0.2 and 0.6 s; at 0.7 s the first byte is
	 * acknowledged, which restarts the RTO (200 ms): its expiry at 0.9 s
	 * dates the second byte's wait from 0.7 s, so the end comes at 1.7 s,
	 * not at 1 s after the first send. */
	h_advance_to(h, t0 + SK_MS(700));
	h_send(h, h_seg(SK_TCP_ACK, PEER_ISN + 1, isn + 2));
	h_clear(h);
	h_advance_to(h, t0 + SK_MS(1700) - 1);
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_ESTABLISHED);
	h_advance_to(h, t0 + SK_MS(1700));
	cr_expect_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
	cr_expect_eq(sk_take_error(h->st, s), ETIMEDOUT);
}

Test(tcp_keepalive, user_timeout_bounds_keepalive_instead_of_keepcnt)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);
	sk_time_t t0 = h->now;

	keepalive(s, 10, 5, 9);
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_USER_TIMEOUT, 12000), 0);
	h_advance_to(h, t0 + SK_SEC(10));
	expect_probe(isn, PEER_ISN + 1);
	/* Linux tcp_keepalive_timer: at 15 s the peer has been silent for
	 * longer than the user timeout with a probe out: reset, ETIMEDOUT,
	 * though only one of the nine probes went. */
	h_advance_to(h, t0 + SK_SEC(15) - 1);
	h_expect_nothing(h);
	h_advance_to(h, t0 + SK_SEC(15));
	h_expect_tcp(h, SK_TCP_RST | SK_TCP_ACK);
	cr_expect_eq(sk_take_error(h->st, s), ETIMEDOUT);
}
