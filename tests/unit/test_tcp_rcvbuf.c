/* Receive-buffer autotuning (core/tcp_rcvbuf.c, Linux tcp_rcv_space_adjust)
 * at segment level with a fake clock: the window we advertise grows when
 * the application reads a connection as fast as it comes, stays with a
 * slow reader, never exceeds the cap (nor what the window field can say),
 * and an explicit SO_RCVBUF pins it. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 5000u
#define RTT      SK_MS(10)
#define START    32768u  /* cfg.rcvbuf: the buffer a connection starts with */
#define CAP      262144u /* cfg.rcvbuf_max */

static struct harness *h;
static uint8_t stream[1 << 20]; /* the peer's byte stream, by offset (wraps at 512 KiB) */
static uint32_t isn, rcv;       /* our ISN; the peer's next sequence number */
static uint8_t our_ws;          /* the shift of the windows we send */

static void small_start(struct sk_config *cfg)
{
	cfg->rcvbuf = START;
	cfg->rcvbuf_max = CAP;
}

static void setup(void)
{
	for (size_t i = 0; i < sizeof(stream); i++)
		stream[i] = (uint8_t)(i * 7 + 3);
	h = h_new(small_start);
	h->auto_arp = true;
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_rcvbuf, .init = setup, .fini = teardown);

/* Active open whose SYN,ACK comes one RTT later (so SRTT = RTT) with the
 * peer's window scale `peer_ws` (-1: none). `before` may set options. */
static int open_rtt(int8_t peer_ws, void (*before)(int s))
{
	int s = sk_socket(h->st);

	cr_assert_geq(s, 0);
	if (before)
		before(s);
	cr_assert_eq(sk_bind(h->st, s, 0, H_OUR_PORT), 0);
	sk_connect(h->st, s, H_PEER_IP, H_PEER_PORT, h->now);
	struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
	struct sk_tcp_repr sa = h_seg(SK_TCP_SYN | SK_TCP_ACK, PEER_ISN, syn.r.seq + 1);

	h_advance(h, RTT);
	sa.mss = 1460;
	sa.wscale = peer_ws;
	h_send(h, sa);
	h_expect_tcp(h, SK_TCP_ACK);
	isn = syn.r.seq;
	rcv = PEER_ISN + 1;
	our_ws = peer_ws >= 0 ? (uint8_t)syn.r.wscale : 0;
	return s;
}

static uint32_t stream_off(void)
{
	return rcv - (PEER_ISN + 1);
}

/* Largest window (bytes) in the ACKs emitted so far, which are dropped. */
static uint32_t acked_window_max(void)
{
	uint32_t max = 0;

	while (h_pending(h) > 0) {
		struct h_tcp a = h_expect_tcp(h, SK_TCP_ACK);
		uint32_t w = (uint32_t)a.r.window << our_ws;

		if (w > max)
			max = w;
	}
	return max;
}

/* The peer sends n bytes in full segments; returns the largest window
 * our ACKs offered meanwhile. */
static uint32_t peer_sends(uint32_t n)
{
	uint32_t max = 0;

	while (n > 0) {
		uint32_t len = n < 1460 ? n : 1460;

		h_send(h, h_data(rcv, isn + 1, stream + stream_off() % (sizeof(stream) / 2), len));
		rcv += len;
		n -= len;
		uint32_t w = acked_window_max();
		if (w > max)
			max = w;
	}
	return max;
}

/* The application reads up to n bytes; returns how many. */
static size_t app_reads(int s, size_t n)
{
	static uint8_t buf[1 << 19];
	size_t got = 0;

	while (got < n) {
		ssize_t r = sk_recv(h->st, s, buf, n - got < sizeof(buf) ? n - got : sizeof(buf), 0,
		                    h->now);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static int rcvbuf_of(int s)
{
	int v = -1;

	cr_assert_eq(sk_getopt(h->st, s, SK_OPT_RCVBUF, &v), 0);
	return v;
}

/* One RTT of a fast reader: the peer fills the window we offer, the
 * application reads it all at once. Returns the largest window offered. */
static uint32_t fast_round(int s, uint32_t wnd)
{
	uint32_t max = peer_sends(wnd);

	h_advance(h, RTT);
	cr_assert_eq(app_reads(s, wnd), wnd);
	uint32_t w = acked_window_max();

	return w > max ? w : max;
}

Test(tcp_rcvbuf, the_window_scale_is_chosen_for_the_cap)
{
	open_rtt(7, NULL);
	cr_expect_eq(our_ws, 3, "256 KiB needs a shift of 3, 32 KiB none");
}

Test(tcp_rcvbuf, a_fast_reader_grows_the_window)
{
	int s = open_rtt(7, NULL);

	cr_expect_leq(peer_sends(START), START, "the connection starts with 32 KiB");
	h_advance(h, RTT);
	cr_assert_eq(app_reads(s, START), START);
	/* One RTT read 32 KiB where an initial window (14600) was expected:
	 * Linux's rcvwin = 2 * 32768 + 16 * 1460, plus twice its growth
	 * 88896 * (32768 - 14600) / 14600, capped at 256 KiB. */
	cr_expect_eq(rcvbuf_of(s), (int)CAP);
	uint32_t w = acked_window_max();
	cr_expect_eq(w, CAP, "the window update offers the grown buffer at once");
}

static void cap_4m(struct sk_config *cfg)
{
	cfg->rcvbuf = START;
	cfg->rcvbuf_max = 4u << 20;
}

Test(tcp_rcvbuf, growth_follows_linux_formula_below_the_cap)
{
	h_free(h);
	h = h_new(cap_4m);
	h->auto_arp = true;
	int s = open_rtt(7, NULL);

	cr_expect_eq(our_ws, 7, "4 MiB needs a shift of 7");
	peer_sends(START);
	h_advance(h, RTT);
	cr_assert_eq(app_reads(s, START), START);
	/* 2 * 32768 + 16 * 1460 = 88896; + 2 * (88896 * 18168 / 14600). */
	cr_expect_eq(rcvbuf_of(s), 310136);
	uint32_t w = acked_window_max();
	cr_expect_gt(w, START);
	cr_expect_leq(w, 310136);
	/* The next RTT fills the bigger window, read as fast: the cap. */
	fast_round(s, w);
	cr_expect_eq(rcvbuf_of(s), 4 << 20);
}

Test(tcp_rcvbuf, the_window_never_exceeds_the_cap)
{
	int s = open_rtt(7, NULL);
	uint32_t wnd = START;

	for (int round = 0; round < 6; round++) {
		uint32_t w = fast_round(s, wnd);

		cr_assert_leq(w, CAP, "round %d offered %u", round, w);
		cr_assert_leq(rcvbuf_of(s), (int)CAP);
		wnd = w;
	}
	cr_expect_eq(wnd, CAP, "a fast reader reaches the cap");
	cr_expect_eq(tcp_tcb(h->st, s)->rcv.cap, CAP, "and the ring is no bigger");
}

Test(tcp_rcvbuf, a_slow_reader_keeps_the_window)
{
	int s = open_rtt(7, NULL);

	/* 1000 bytes per RTT, read as they come: less than an initial
	 * window per RTT, so nothing to grow for. */
	for (int round = 0; round < 20; round++) {
		uint32_t w = peer_sends(1000);

		h_advance(h, RTT);
		cr_assert_eq(app_reads(s, 1000), 1000);
		uint32_t u = acked_window_max();
		cr_assert_leq(w > u ? w : u, START, "round %d: %u %u rcvbuf %d", round, w, u,
		              rcvbuf_of(s));
	}
	cr_expect_eq(rcvbuf_of(s), (int)START);
	cr_expect_eq(tcp_tcb(h->st, s)->rcv.cap, START);
}

Test(tcp_rcvbuf, a_reader_that_lets_data_wait_keeps_the_window)
{
	int s = open_rtt(7, NULL);

	/* The peer fills the buffer, the application reads 4000 bytes per
	 * RTT: the window it gets is what it reads. */
	peer_sends(START);
	for (int round = 0; round < 8; round++) {
		h_advance(h, RTT);
		cr_assert_eq(app_reads(s, 4000), 4000);
		cr_assert_leq(acked_window_max(), START);
		peer_sends(4000);
	}
	cr_expect_eq(rcvbuf_of(s), (int)START);
}

static void set_rcvbuf(int s)
{
	cr_assert_eq(sk_setopt(h->st, s, SK_OPT_RCVBUF, (int)START / 2), 0);
}

Test(tcp_rcvbuf, so_rcvbuf_pins_the_window)
{
	int s = open_rtt(7, set_rcvbuf);

	cr_expect_eq(our_ws, 0, "the shift fits SO_RCVBUF, not the cap");
	cr_expect_eq(rcvbuf_of(s), (int)START, "doubled, as Linux");
	for (int round = 0; round < 4; round++)
		cr_assert_leq(fast_round(s, START), START, "round %d", round);
	cr_expect_eq(rcvbuf_of(s), (int)START);
	cr_expect_eq(tcp_tcb(h->st, s)->rcv.cap, START);
}

Test(tcp_rcvbuf, without_window_scaling_the_buffer_stops_at_64k)
{
	int s = open_rtt(-1, NULL);
	uint32_t wnd = START;

	for (int round = 0; round < 4; round++) {
		wnd = fast_round(s, wnd);
		cr_assert_leq(wnd, 65535u, "round %d", round);
	}
	cr_expect_eq(wnd, 65535u);
	cr_expect_eq(rcvbuf_of(s), 65535, "no bigger than the 16-bit field can offer");
}

Test(tcp_rcvbuf, out_of_order_data_survives_the_growth)
{
	int s = open_rtt(7, NULL);

	/* A slow first measurement, then the ring's head near its end. */
	peer_sends(30000);
	cr_assert_eq(app_reads(s, 1000), 1000);
	cr_assert_eq(app_reads(s, 29000), 29000, "same RTT: no measurement");
	cr_assert_eq(tcp_tcb(h->st, s)->rcv.cap, START);
	/* 1460 in order, a hole of 1460, 2000 held beyond it: the held
	 * bytes wrap round the ring's end. */
	peer_sends(1460);
	uint32_t hole = rcv;
	h_send(h, h_data(hole + 1460, isn + 1, stream + stream_off() + 1460, 2000));
	acked_window_max();
	h_advance(h, RTT);
	cr_assert_eq(app_reads(s, 1460), 1460);
	cr_assert_eq(tcp_tcb(h->st, s)->rcv.cap, CAP, "grown with the held bytes");
	/* The hole filled: 3460 bytes readable, byte-exact. */
	h_send(h, h_data(hole, isn + 1, stream + stream_off(), 1460));
	uint8_t got[3460];
	cr_assert_eq(sk_recv(h->st, s, got, sizeof(got), 0, h->now), 3460);
	cr_expect_eq(memcmp(got, stream + stream_off(), 3460), 0);
}
