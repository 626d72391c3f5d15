/* Connections to our own address (core/loopback.c): the packets never reach
 * the link, they enter our own input at the next timer run, and a program
 * gets what Linux gives it for a connection to one of its host's addresses:
 * the handshake, the data both ways, the addresses, a refusal from a port
 * nobody listens on. A frame from the wire claiming our address as its
 * source is still dropped (RFC 1122 §3.2.1.3). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define PORT 8080

static void gso_device(struct sk_config *cfg)
{
	cfg->tso_max = SK_TSO_MAX;
	cfg->tx_csum_offload = true;
}

/* Deliver every looped packet (and what answers it). */
static void settle(struct harness *h)
{
	h_advance(h, 0);
}

struct pair {
	struct harness *h;
	int listener, client, server;
};

static struct pair open_pair(void (*tweak)(struct sk_config *))
{
	struct pair p = {.h = h_new(tweak)};
	struct sk_endpoint peer, ep;

	p.listener = sk_socket(p.h->st);
	cr_assert_eq(sk_bind(p.h->st, p.listener, 0, PORT), 0);
	cr_assert_eq(sk_listen(p.h->st, p.listener, 8, p.h->now), 0);
	p.client = sk_socket(p.h->st);
	cr_assert_eq(sk_connect(p.h->st, p.client, H_OUR_IP, PORT, p.h->now), -EINPROGRESS);
	cr_assert_eq(sk_next_deadline(p.h->st), p.h->now, "the SYN waits for input at once");
	settle(p.h);
	cr_assert_eq(sk_sock_state(p.h->st, p.client), SK_TCP_ESTABLISHED);
	p.server = sk_accept(p.h->st, p.listener, &peer);
	cr_assert_geq(p.server, 0);
	cr_assert_eq(sk_getsockname(p.h->st, p.client, &ep), 0);
	cr_assert_eq(peer.addr, H_OUR_IP, "the server sees our own address as the peer's");
	cr_assert_eq(peer.port, ep.port);
	cr_assert_eq(ep.addr, H_OUR_IP);
	cr_assert_eq(sk_getpeername(p.h->st, p.client, &ep), 0);
	cr_assert_eq(ep.addr, H_OUR_IP);
	cr_assert_eq(ep.port, PORT);
	return p;
}

static uint8_t pat(size_t k)
{
	return (uint8_t)(k * 7 + 3);
}

/* n bytes from `from` to `to`, checked byte by byte. Time moves on (a
 * delayed ACK, a persist timer) only when a round moved nothing. */
static void transfer(struct harness *h, int from, int to, size_t n)
{
	size_t sent = 0, got = 0;
	uint8_t *buf = malloc(65536);
	int idle = 0;

	cr_assert(buf);
	while (got < n) {
		size_t before = sent + got;

		cr_assert_lt(idle, 1000, "stalled at %zu of %zu bytes", got, n);
		while (sent < n) {
			size_t len = n - sent < 65536 ? n - sent : 65536;
			ssize_t r;

			for (size_t i = 0; i < len; i++)
				buf[i] = pat(sent + i);
			r = sk_send(h->st, from, buf, len, h->now);
			if (r == -EAGAIN)
				break;
			cr_assert_gt(r, 0, "send: %zd", r);
			sent += (size_t)r;
		}
		settle(h);
		for (;;) {
			ssize_t r = sk_recv(h->st, to, buf, 65536, 0, h->now);

			if (r == -EAGAIN)
				break;
			cr_assert_gt(r, 0, "recv: %zd", r);
			for (ssize_t i = 0; i < r; i++)
				cr_assert_eq(buf[i], pat(got + (size_t)i), "byte %zu", got + (size_t)i);
			got += (size_t)r;
		}
		if (sent + got == before) {
			idle++;
			h_advance(h, SK_MS(1));
		} else {
			idle = 0;
			settle(h);
		}
	}
	free(buf);
}

Test(ip_loopback, a_connection_to_our_own_address_never_reaches_the_link)
{
	struct harness *h = h_new(NULL);
	uint64_t frames = sk_get_stats(h->st)->tx_frames; /* h_new's ARP reply */
	struct pair p;

	h_free(h);
	p = open_pair(NULL);
	transfer(p.h, p.client, p.server, 3u << 20);
	transfer(p.h, p.server, p.client, 1u << 20);
	h_expect_nothing(p.h);
	cr_assert_gt(sk_get_stats(p.h->st)->ip_loop_packets, 0);
	cr_assert_eq(sk_get_stats(p.h->st)->ip_loop_drops, 0);
	cr_assert_eq(sk_get_stats(p.h->st)->tx_frames, frames, "nothing left through the link");
	h_free(p.h);
}

Test(ip_loopback, super_frames_loop_back_whole)
{
	struct pair p = open_pair(gso_device);
	uint64_t before = sk_get_stats(p.h->st)->ip_loop_packets;

	transfer(p.h, p.client, p.server, 4u << 20);
	h_expect_nothing(p.h);
	cr_assert_gt(sk_get_stats(p.h->st)->tcp_tx_super_frames, 0);
	/* 4 MiB in 64 KiB super-frames and their ACKs: far fewer packets
	 * than 1460-byte segments would take (2873). */
	cr_assert_lt(sk_get_stats(p.h->st)->ip_loop_packets - before, 1000);
	h_free(p.h);
}

Test(ip_loopback, both_ends_close_through_the_loop)
{
	struct pair p = open_pair(NULL);
	char c;

	cr_assert_eq(sk_shutdown(p.h->st, p.client, 1 /* SHUT_WR */, p.h->now), 0);
	settle(p.h);
	cr_assert_eq(sk_recv(p.h->st, p.server, &c, 1, 0, p.h->now), 0, "EOF");
	sk_close(p.h->st, p.server, p.h->now);
	settle(p.h);
	cr_assert_eq(sk_sock_state(p.h->st, p.client), SK_TCP_TIME_WAIT);
	h_expect_nothing(p.h);
	h_free(p.h);
}

Test(ip_loopback, a_port_nobody_listens_on_refuses_at_once)
{
	struct harness *h = h_new(NULL);
	int s = sk_socket(h->st);

	cr_assert_eq(sk_connect(h->st, s, H_OUR_IP, PORT, h->now), -EINPROGRESS);
	settle(h);
	cr_assert_eq(sk_take_error(h->st, s), ECONNREFUSED);
	cr_assert_eq(sk_sock_state(h->st, s), SK_TCP_CLOSED);
	h_expect_nothing(h);
	h_free(h);
}

Test(ip_loopback, a_frame_from_the_wire_with_our_source_is_still_dropped)
{
	struct harness *h = h_new(NULL);
	int l = h_listen(h, 4);
	uint64_t bad = sk_get_stats(h->st)->ip_drop_bad_header;

	(void)l;
	h_send_from(h, H_OUR_IP, h_seg(SK_TCP_SYN, 1000, 0));
	cr_assert_eq(sk_get_stats(h->st)->ip_drop_bad_header, bad + 1);
	h_expect_nothing(h);
	h_free(h);
}

Test(ip_loopback, the_sender_may_deliver_its_packets_itself_without_running_timers)
{
	struct harness *h = h_new(NULL);
	int l = sk_socket(h->st), c = sk_socket(h->st), d = sk_socket(h->st);
	struct sk_endpoint peer;

	cr_assert_eq(sk_bind(h->st, l, 0, PORT), 0);
	cr_assert_eq(sk_listen(h->st, l, 4, h->now), 0);
	/* A SYN to the peer, unanswered: its retransmission timer is due in
	 * 1 s, and stays so. */
	cr_assert_eq(sk_connect(h->st, d, H_PEER_IP, H_PEER_PORT, h->now), -EINPROGRESS);
	h_clear(h);
	cr_assert_eq(sk_connect(h->st, c, H_OUR_IP, PORT, h->now), -EINPROGRESS);
	h->now += SK_SEC(5); /* the SYN's timer is long due */
	cr_assert(sk_run_loopback(h->st, h->now));
	cr_assert_eq(sk_sock_state(h->st, c), SK_TCP_ESTABLISHED, "SYN, SYN,ACK, ACK in one call");
	cr_assert_geq(sk_accept(h->st, l, &peer), 0);
	cr_assert_not(sk_run_loopback(h->st, h->now), "nothing left");
	h_expect_nothing(h); /* the peer's SYN was not retransmitted */
	cr_assert_eq(sk_sock_state(h->st, d), SK_TCP_SYN_SENT);
	h_free(h);
}
