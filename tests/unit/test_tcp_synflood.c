/* SYN floods at segment level (docs/security.md): the listener's bounded
 * SYN queue, SYN cookies as Linux makes and checks them (options in the
 * TSval), no buffers before data flows, the global ring memory cap, and
 * replies to on-link senders that never wait for ARP. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../core/arp_cache.h"
#include "../../core/ethernet.h"
#include "../../core/ipv4.h"
#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN  5000u
#define SYN_QUEUE 4
#define S(x)      SK_TCP_##x

static struct harness *h;

static void small_syn_queue(struct sk_config *cfg)
{
	cfg->syn_backlog = SYN_QUEUE;
}

static void setup(void)
{
	h = h_new(small_syn_queue);
	h->auto_arp = true;
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(synflood, .init = setup, .fini = teardown);

/* A Linux-like SYN from port sport: MSS 1460, window scale 7, SACK and
 * timestamps when `opts`. */
static struct sk_tcp_repr syn_seg(uint16_t sport, bool opts)
{
	struct sk_tcp_repr r = h_seg(S(SYN), PEER_ISN, 0);

	r.src_port = sport;
	r.mss = 1460;
	if (opts) {
		r.wscale = 7;
		r.sack_permitted = true;
		r.has_timestamp = true;
		r.ts_val = 777;
	}
	return r;
}

/* The handshake's ACK for SYN,ACK sa, echoing its TSval when it had one. */
static struct sk_tcp_repr ack_seg(uint16_t sport, const struct h_tcp *sa)
{
	struct sk_tcp_repr r = h_seg(S(ACK), PEER_ISN + 1, sa->r.seq + 1);

	r.src_port = sport;
	if (sa->r.has_timestamp) {
		r.has_timestamp = true;
		r.ts_val = 778;
		r.ts_ecr = sa->r.ts_val;
	}
	return r;
}

static struct h_tcp syn_ack(uint16_t sport, bool opts)
{
	h_send(h, syn_seg(sport, opts));
	h_answer_arp(h); /* a re-confirmation of the peer after long waits */
	return h_expect_tcp(h, S(SYN) | S(ACK));
}

static const struct sk_stats *stats(void)
{
	return sk_get_stats(h->st);
}

/* Fill the SYN queue: SYN_QUEUE half-open children from ports 1000... */
static void fill_syn_queue(void)
{
	for (int i = 0; i < SYN_QUEUE; i++)
		syn_ack((uint16_t)(1000 + i), true);
	cr_assert_eq(stats()->tcp_conn_passive, SYN_QUEUE);
	cr_assert_eq(stats()->tcp_syncookies_sent, 0);
}

Test(synflood, a_full_syn_queue_answers_with_a_cookie_that_completes)
{
	int l = h_listen(h, 128);

	fill_syn_queue();
	struct h_tcp sa = syn_ack(2000, true);

	cr_expect_eq(stats()->tcp_syn_queue_full, 1);
	cr_expect_eq(stats()->tcp_syncookies_sent, 1);
	cr_expect_eq(stats()->tcp_conn_passive, SYN_QUEUE, "no state for the cookie's SYN");
	cr_expect_eq(sa.r.ack, PEER_ISN + 1);
	cr_expect_eq(sa.r.mss, 1460);
	cr_expect_eq(sa.r.wscale, 7, "our shift for the 4 MiB autotuning cap");
	cr_expect(sa.r.sack_permitted);
	cr_expect(sa.r.has_timestamp);
	cr_expect_eq(sa.r.ts_ecr, 777);
	/* Linux cookie_init_timestamp: the peer's shift (7) and SACK (0x10)
	 * in the low 6 bits, before the per-pair offset is added. */
	uint32_t off = sk_tcp_ts_offset(h->cfg.isn_key, H_OUR_IP, H_PEER_IP); /* no ts_key */
	cr_expect_eq((sa.r.ts_val - off) & 0x3f, 0x17);
	h_expect_nothing(h);

	h_send(h, ack_seg(2000, &sa));
	h_expect_nothing(h);
	cr_expect_eq(stats()->tcp_syncookies_ok, 1);
	cr_expect_eq(stats()->tcp_conn_passive, SYN_QUEUE + 1);
	struct sk_endpoint peer;
	int c = sk_accept(h->st, l, &peer);

	cr_assert_geq(c, 0);
	cr_expect_eq(peer.port, 2000);
	cr_expect_eq(sk_sock_state(h->st, c), SK_TCP_ESTABLISHED);
	struct sk_tcp_info info;

	cr_assert_eq(sk_get_info(h->st, c, &info), 0);
	cr_expect_eq(info.options, 1 | 2 | 4, "timestamps, SACK and window scaling agreed");
	cr_expect_eq(info.snd_wscale, 7);
	cr_expect_eq(info.rcv_wscale, 7);
	cr_expect_eq(info.snd_mss, 1460 - 12);

	/* It carries data both ways like any connection. */
	static const char hello[] = "hello";
	struct sk_tcp_repr d = h_data(PEER_ISN + 1, sa.r.seq + 1, hello, 5);

	d.src_port = 2000;
	d.has_timestamp = true;
	d.ts_val = 779;
	d.ts_ecr = sa.r.ts_val;
	h_send(h, d);
	char buf[16];

	cr_expect_eq(sk_recv(h->st, c, buf, sizeof(buf), 0, h->now), 5);
	cr_expect_eq(sk_send(h->st, c, "world", 5, h->now), 5);
	h_clear(h);
}

Test(synflood, a_cookie_ack_may_carry_the_first_data)
{
	int l = h_listen(h, 128);

	fill_syn_queue();
	struct h_tcp sa = syn_ack(2000, true);
	struct sk_tcp_repr d = ack_seg(2000, &sa);

	d.flags |= S(PSH);
	d.payload = (const uint8_t *)"GET /";
	d.payload_len = 5;
	h_send(h, d);
	int c = sk_accept(h->st, l, NULL);
	char buf[16];

	cr_assert_geq(c, 0);
	cr_expect_eq(sk_recv(h->st, c, buf, sizeof(buf), 0, h->now), 5);
	cr_expect_eq(memcmp(buf, "GET /", 5), 0);
	h_clear(h);
}

Test(synflood, without_timestamps_a_cookie_keeps_only_the_mss)
{
	int l = h_listen(h, 128);

	fill_syn_queue();
	struct sk_tcp_repr syn = syn_seg(2000, false);

	syn.wscale = 7; /* offered, but without timestamps nowhere to keep it */
	syn.sack_permitted = true;
	syn.mss = 1400;
	h_send(h, syn);
	struct h_tcp sa = h_expect_tcp(h, S(SYN) | S(ACK));

	cr_expect_eq(sa.r.wscale, -1, "Linux clears the options it cannot encode");
	cr_expect(!sa.r.sack_permitted);
	cr_expect(!sa.r.has_timestamp);
	h_send(h, ack_seg(2000, &sa));
	int c = sk_accept(h->st, l, NULL);
	struct sk_tcp_info info;

	cr_assert_geq(c, 0);
	cr_assert_eq(sk_get_info(h->st, c, &info), 0);
	cr_expect_eq(info.options, 0);
	cr_expect_eq(info.snd_mss, 1300, "1400 rounded down to Linux's msstab");
}

Test(synflood, an_invalid_cookie_is_answered_with_rst_and_counted)
{
	h_listen(h, 128);
	/* No cookie sent yet: an ACK is not checked (and not counted). */
	h_send(h, h_seg(S(ACK), 10, 777));
	cr_expect_eq(h_expect_tcp(h, S(RST)).r.seq, 777);
	cr_expect_eq(stats()->tcp_syncookies_failed, 0);

	fill_syn_queue();
	struct h_tcp sa = syn_ack(2000, true);
	struct sk_tcp_repr bad = ack_seg(2000, &sa);

	bad.ack += 1;
	h_send(h, bad);
	h_expect_tcp(h, S(RST));
	cr_expect_eq(stats()->tcp_syncookies_failed, 1);
	/* The cookie is bound to the 4-tuple: another port fails. */
	bad = ack_seg(2001, &sa);
	h_send(h, bad);
	h_expect_tcp(h, S(RST));
	cr_expect_eq(stats()->tcp_syncookies_failed, 2);
	cr_expect_eq(stats()->tcp_syncookies_ok, 0);
}

static void cookies_always(struct sk_config *cfg)
{
	cfg->syncookies = 2;
}

static void cookies_never(struct sk_config *cfg)
{
	cfg->syncookies = 0;
	cfg->syn_backlog = SYN_QUEUE;
}

Test(synflood, a_cookie_is_valid_for_one_to_two_minutes)
{
	h_free(h);
	h = h_new(cookies_always);
	h->auto_arp = true;
	int l = h_listen(h, 128);
	struct h_tcp old = syn_ack(2000, true);
	struct h_tcp young = syn_ack(2001, true);

	cr_expect_eq(stats()->tcp_conn_passive, 0, "syncookies = 2: a cookie for every SYN");
	h_advance(h, SK_SEC(61));
	h_send(h, ack_seg(2001, &young));
	cr_expect_geq(sk_accept(h->st, l, NULL), 0, "one minute old: valid");
	h_advance(h, SK_SEC(59));
	syn_ack(2002, true); /* the listener still sends cookies */
	h_send(h, ack_seg(2000, &old));
	h_answer_arp(h);
	h_expect_tcp(h, S(RST));
	cr_expect_eq(stats()->tcp_syncookies_failed, 1, "two minutes old: expired");
	/* Two minutes after the last cookie sent, ACKs are no longer checked. */
	h_advance(h, SK_SEC(121));
	h_send(h, ack_seg(2002, &young));
	h_answer_arp(h);
	h_expect_tcp(h, S(RST));
	cr_expect_eq(stats()->tcp_syncookies_failed, 1);
}

Test(synflood, cookies_off_a_full_syn_queue_drops_the_syn)
{
	h_free(h);
	h = h_new(cookies_never);
	h->auto_arp = true;
	h_listen(h, 128);
	fill_syn_queue();
	h_send(h, syn_seg(2000, true));
	h_expect_nothing(h);
	cr_expect_eq(stats()->tcp_syn_queue_full, 1);
	cr_expect_eq(stats()->tcp_syn_queue_drops, 1);
}

Test(synflood, the_syn_queue_follows_a_smaller_backlog)
{
	h_listen(h, 2);
	syn_ack(1000, true);
	syn_ack(1001, true);
	cr_expect_eq(stats()->tcp_syncookies_sent, 0);
	syn_ack(1002, true);
	cr_expect_eq(stats()->tcp_syncookies_sent, 1, "min(backlog 2, syn_backlog 4)");
}

Test(synflood, a_cookie_ack_finding_the_accept_queue_full_is_dropped)
{
	int l = h_listen(h, 1);
	struct h_tcp a = syn_ack(1000, true);
	struct h_tcp b = syn_ack(1001, true); /* the SYN queue holds 1: a cookie */

	cr_expect_eq(stats()->tcp_syncookies_sent, 1);
	h_send(h, ack_seg(1000, &a));
	struct h_tcp d = syn_ack(1002, true);

	h_send(h, ack_seg(1002, &d));
	h_expect_nothing(h);
	/* The accept queue holds backlog + 1 = 2 now: the cookie's ACK is
	 * dropped, the peer will send it again. */
	h_send(h, ack_seg(1001, &b));
	h_expect_nothing(h);
	cr_expect_eq(stats()->tcp_listen_overflows, 1);
	cr_expect_eq(stats()->tcp_syncookies_ok, 1);
	cr_assert_geq(sk_accept(h->st, l, NULL), 0);
	h_send(h, ack_seg(1001, &b));
	cr_expect_geq(sk_accept(h->st, l, NULL), 0);
	cr_expect_geq(sk_accept(h->st, l, NULL), 0, "the retransmitted ACK made it");
}

Test(synflood, a_bare_cookie_ack_is_accepted_despite_defer_accept)
{
	h_free(h);
	h = h_new(cookies_always);
	h->auto_arp = true;
	int l = h_listen(h, 128);

	cr_assert_eq(sk_setopt(h->st, l, SK_OPT_DEFER_ACCEPT, 5), 0);
	struct h_tcp sa = syn_ack(2000, true);

	h_send(h, ack_seg(2000, &sa));
	cr_expect_geq(sk_accept(h->st, l, NULL), 0, "Linux queues a cookie's child at once");
}

/* ---- buffers only once data flows ---- */

Test(synflood, half_open_and_idle_connections_hold_no_buffers)
{
	int l = h_listen(h, 128);
	struct h_tcp sa = syn_ack(2000, false);

	cr_expect_eq(stats()->tcp_ring_bytes, 0, "a half-open connection holds no ring");
	h_send(h, ack_seg(2000, &sa));
	int c = sk_accept(h->st, l, NULL);

	cr_assert_geq(c, 0);
	cr_expect_eq(stats()->tcp_ring_bytes, 0, "nor an idle established one");
	struct sk_tcp_repr d = h_data(PEER_ISN + 1, sa.r.seq + 1, "x", 1);

	d.src_port = 2000;
	h_send(h, d);
	cr_expect_eq(stats()->tcp_ring_bytes, h->cfg.rcvbuf, "data arrived: the receive ring");
	cr_expect_eq(sk_send(h->st, c, "y", 1, h->now), 1);
	cr_expect_eq(stats()->tcp_ring_bytes, h->cfg.rcvbuf + h->cfg.sndbuf);
	sk_close(h->st, c, h->now); /* unread data: RST, both rings go */
	cr_expect_eq(stats()->tcp_ring_bytes, 0);
	cr_expect_eq(stats()->tcp_ring_bytes_peak, h->cfg.rcvbuf + h->cfg.sndbuf);
	h_clear(h);
}

static void mem_for_one_ring(struct sk_config *cfg)
{
	cfg->mem_max = 300 * 1024;
}

Test(synflood, the_ring_memory_cap_refuses_with_enobufs_and_drops)
{
	h_free(h);
	h = h_new(mem_for_one_ring);
	h->auto_arp = true;
	int l = h_listen(h, 128);
	int c[2];
	struct h_tcp sa[2];

	for (int i = 0; i < 2; i++) {
		sa[i] = syn_ack((uint16_t)(2000 + i), false);
		h_send(h, ack_seg((uint16_t)(2000 + i), &sa[i]));
		c[i] = sk_accept(h->st, l, NULL);
		cr_assert_geq(c[i], 0);
	}
	cr_expect_eq(sk_send(h->st, c[0], "a", 1, h->now), 1);
	h_clear(h);
	cr_expect_eq(sk_send(h->st, c[1], "b", 1, h->now), -ENOBUFS);
	cr_expect_eq(stats()->tcp_mem_refused, 1);
	struct sk_tcp_repr d = h_data(PEER_ISN + 1, sa[1].r.seq + 1, "x", 1);

	d.src_port = 2001;
	h_send(h, d);
	cr_expect_eq(stats()->tcp_drop_no_mem, 1);
	cr_expect_eq(sk_recv(h->st, c[1], (char[4]){0}, 4, 0, h->now), -EAGAIN);
	h_clear(h);
	/* The first connection's ring goes back: the second may send. */
	sk_setopt(h->st, c[0], SK_OPT_LINGER_ABORT, 1);
	sk_close(h->st, c[0], h->now);
	cr_expect_eq(sk_send(h->st, c[1], "b", 1, h->now), 1);
	h_clear(h);
}

/* ---- replies to on-link senders never wait for ARP ---- */

#define OTHER_IP 0x0a4d0009u /* 10.77.0.9, not in the cache */
static const uint8_t OTHER_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x09};

/* Feed seg from (ip, mac). */
static void send_as(uint32_t ip, const uint8_t mac[6], struct sk_tcp_repr seg)
{
	uint8_t frame[256];
	size_t len = h_build(frame, ip, H_OUR_IP, &seg);

	memcpy(frame + 6, mac, 6);
	h_input(h, frame, len, 0);
}

/* Pop a frame: assert IPv4/TCP to (ip, mac), return its TCP header. */
static struct sk_tcp_repr expect_tcp_to(uint32_t ip, const uint8_t mac[6])
{
	struct h_frame f = h_pop_frame(h);
	struct sk_eth_repr eth;
	struct sk_ipv4_repr iph;
	struct sk_tcp_repr r;

	cr_assert_eq(sk_eth_parse(f.data, f.len, &eth), 0);
	cr_assert_eq(eth.ethertype, SK_ETHERTYPE_IPV4, "ethertype %#x", eth.ethertype);
	cr_assert_arr_eq(eth.dst, mac, 6);
	cr_assert_eq(sk_ipv4_parse(f.data + SK_ETH_HLEN, f.len - SK_ETH_HLEN, true, &iph), 0);
	cr_assert_eq(iph.dst, ip);
	cr_assert_eq(sk_tcp_parse(f.data + SK_ETH_HLEN + iph.hdr_len, iph.payload_len, &r), 0);
	free(f.data);
	return r;
}

Test(synflood, a_syn_from_an_unknown_on_link_host_is_answered_at_once)
{
	int l = h_listen(h, 128);
	struct sk_tcp_repr syn = syn_seg(2000, false);

	send_as(OTHER_IP, OTHER_MAC, syn);
	struct sk_tcp_repr sa = expect_tcp_to(OTHER_IP, OTHER_MAC);

	cr_expect_eq(sa.flags, S(SYN) | S(ACK));
	h_expect_nothing(h); /* no ARP request */
	cr_expect_eq(stats()->arp_requests_sent, 0);
	cr_expect_eq(stats()->arp_tx_sender_mac, 1);
	cr_expect(!sk_arp_resolved(h->st, OTHER_IP), "the SYN alone enters nothing in the cache");
	/* Its retransmission goes the same way. */
	h_advance(h, SK_SEC(1));
	cr_expect_eq(expect_tcp_to(OTHER_IP, OTHER_MAC).flags, S(SYN) | S(ACK));
	h_expect_nothing(h);

	struct sk_tcp_repr ack = h_seg(S(ACK), PEER_ISN + 1, sa.seq + 1);

	ack.src_port = 2000;
	send_as(OTHER_IP, OTHER_MAC, ack);
	cr_expect_eq(stats()->arp_learned_tcp, 1, "the completed handshake is two-way proof");
	cr_expect(sk_arp_resolved(h->st, OTHER_IP));
	int c = sk_accept(h->st, l, NULL);

	cr_assert_geq(c, 0);
	cr_expect_eq(sk_send(h->st, c, "hi", 2, h->now), 2);
	cr_expect_eq(expect_tcp_to(OTHER_IP, OTHER_MAC).payload_len, 2);
	cr_expect_eq(stats()->arp_requests_sent, 0);
}

Test(synflood, a_rst_to_an_unknown_on_link_host_does_not_wait_for_arp)
{
	struct sk_tcp_repr syn = syn_seg(2000, false);

	syn.dst_port = 9; /* nobody listens */
	send_as(OTHER_IP, OTHER_MAC, syn);
	cr_expect_eq(expect_tcp_to(OTHER_IP, OTHER_MAC).flags, S(RST) | S(ACK));
	h_expect_nothing(h);
	cr_expect(!sk_arp_resolved(h->st, OTHER_IP));
}

Test(synflood, spoofed_on_link_syns_leave_arp_alone_and_the_real_client_is_answered)
{
	int l = h_listen(h, 128);
	uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x01, 0x00};

	/* 200 SYNs from 200 addresses of our /24 (not the peer's), each
	 * with its own MAC: more than the ARP cache's 64 entries and its
	 * pending queue's 32 frames. */
	for (int i = 0; i < 200; i++) {
		uint32_t ip = 0x0a4d0010u + (uint32_t)i;
		struct sk_tcp_repr syn = syn_seg((uint16_t)(3000 + i), true);

		mac[5] = (uint8_t)i;
		send_as(ip, mac, syn);
		cr_assert_eq(expect_tcp_to(ip, mac).flags, S(SYN) | S(ACK));
	}
	h_expect_nothing(h);
	cr_expect_eq(stats()->tcp_conn_passive, SYN_QUEUE);
	cr_expect_eq(stats()->tcp_syncookies_sent, 200 - SYN_QUEUE);
	cr_expect_eq(stats()->arp_requests_sent, 0);
	cr_expect_eq(stats()->arp_queue_drops, 0);
	cr_expect(sk_arp_resolved(h->st, H_PEER_IP), "the real neighbour is still known");

	/* The real client: answered at once, with a cookie. */
	struct h_tcp sa = syn_ack(H_PEER_PORT, true);

	h_send(h, ack_seg(H_PEER_PORT, &sa));
	cr_expect_geq(sk_accept(h->st, l, NULL), 0);
	cr_expect_eq(stats()->tcp_syncookies_ok, 1);
	/* The half-open children's SYN,ACK retransmissions go to their SYNs'
	 * MACs too: still no ARP request. */
	h_advance(h, SK_SEC(1));
	for (int i = 0; i < SYN_QUEUE; i++) {
		struct h_frame f = h_pop_frame(h);

		cr_expect_eq(f.data[12] << 8 | f.data[13], SK_ETHERTYPE_IPV4);
		free(f.data);
	}
	h_expect_nothing(h);
	cr_expect_eq(stats()->arp_requests_sent, 0);
}
