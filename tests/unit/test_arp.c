/* ARP through the public API: answering, resolving, retrying, giving up,
 * ageing and the bounded queue (RFC 826, RFC 1122 §2.3.2). Frames are fed
 * to a stack on the harness's capture link; time is the harness's. */
#include "l3_frames.h"

#include <errno.h>

#include "../../core/arp_cache.h"

#define T_FOURTH_IP 0x0a4d0004u
static const uint8_t T_FOURTH_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x04};

Test(arp, request_for_our_address_answered_with_exact_reply)
{
	struct harness *h = h_new(NULL);
	t_arp_request_from(h, T_OTHER_MAC, T_OTHER_IP, H_OUR_IP);

	const uint8_t want[] = {
	    0x02, 0x00, 0x00, 0x00, 0x00, 0x03, /* to the requester */
	    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* from us */
	    0x08, 0x06,                         /* ARP */
	    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, /* Ethernet, IPv4, 6, 4 */
	    0x00, 0x02,                         /* reply */
	    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* sha: our MAC */
	    0x0a, 0x4d, 0x00, 0x01,             /* spa: 10.77.0.1 */
	    0x02, 0x00, 0x00, 0x00, 0x00, 0x03, /* tha: the requester */
	    0x0a, 0x4d, 0x00, 0x03,             /* tpa: 10.77.0.3 */
	};
	struct h_frame f = h_pop_frame(h);
	cr_assert_eq(f.len, sizeof(want));
	cr_assert_arr_eq(f.data, want, sizeof(want));
	free(f.data);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->arp_replies_sent, 2); /* the harness's peer, and this */
	h_free(h);
}

Test(arp, padded_request_answered)
{
	struct harness *h = h_new(NULL);
	uint8_t f[60] = {0}; /* padded to the Ethernet minimum, as on a wire */
	t_arp_frame(f, SK_ARP_REQUEST, sk_eth_broadcast, T_OTHER_MAC, T_OTHER_IP, T_ZERO_MAC,
	            H_OUR_IP);
	h_input(h, f, sizeof(f), 0);
	t_expect_arp(h, SK_ARP_REPLY, T_OTHER_MAC, T_OTHER_IP);
	h_expect_nothing(h);
	h_free(h);
}

Test(arp, request_for_another_address_ignored_and_sender_not_learned)
{
	struct harness *h = h_new(NULL);
	t_arp_request_from(h, T_OTHER_MAC, T_OTHER_IP, 0x0a4d0009u);
	h_expect_nothing(h);

	/* RFC 826: an unknown sender is added only when we are the target,
	 * so talking to it needs a resolution. */
	t_ping_from(h, T_OTHER_MAC, T_OTHER_IP, 1);
	t_expect_arp(h, SK_ARP_REQUEST, sk_eth_broadcast, T_OTHER_IP);
	h_expect_nothing(h);
	h_free(h);
}

Test(arp, malformed_packets_ignored)
{
	struct harness *h = h_new(NULL);
	uint8_t f[SK_ETH_HLEN + SK_ARP_LEN];
	size_t len = t_arp_frame(f, SK_ARP_REQUEST, sk_eth_broadcast, T_OTHER_MAC, T_OTHER_IP,
	                         T_ZERO_MAC, H_OUR_IP);

	h_input(h, f, len - 1, 0); /* truncated */
	f[SK_ETH_HLEN + 4] = 8;    /* hardware address length 8 */
	h_input(h, f, len, 0);
	f[SK_ETH_HLEN + 4] = 6;
	f[SK_ETH_HLEN + 7] = 9; /* opcode 9 */
	h_input(h, f, len, 0);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->arp_rx, 4); /* the harness's, and these three */
	h_free(h);
}

Test(arp, request_from_broadcast_mac_neither_answered_nor_learned)
{
	struct harness *h = h_new(NULL);
	t_arp_request_from(h, sk_eth_broadcast, T_OTHER_IP, H_OUR_IP);
	h_expect_nothing(h);
	h_free(h);
}

Test(arp, first_packet_queued_and_request_sent_then_reply_flushes)
{
	struct harness *h = h_new(NULL);
	t_ping_from(h, T_OTHER_MAC, T_OTHER_IP, 1);

	const uint8_t want[] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,                         /* broadcast */
	    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,                         /* from us */
	    0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, /* request */
	    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,                         /* sha: our MAC */
	    0x0a, 0x4d, 0x00, 0x01,                                     /* spa: 10.77.0.1 */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,                         /* tha: unknown */
	    0x0a, 0x4d, 0x00, 0x03,                                     /* tpa: who has 10.77.0.3 */
	};
	struct h_frame f = h_pop_frame(h);
	cr_assert_eq(f.len, sizeof(want));
	cr_assert_arr_eq(f.data, want, sizeof(want));
	free(f.data);
	h_expect_nothing(h); /* the echo reply waits */
	cr_assert_eq(sk_get_stats(h->st)->arp_requests_sent, 1);

	t_ping_from(h, T_OTHER_MAC, T_OTHER_IP, 2);
	h_expect_nothing(h); /* no second request while one is outstanding */

	h_advance(h, SK_MS(300));
	t_arp_reply_from(h, T_OTHER_MAC, T_OTHER_IP);
	t_expect_echo_reply(h, T_OTHER_MAC, T_OTHER_IP, 1);
	t_expect_echo_reply(h, T_OTHER_MAC, T_OTHER_IP, 2);
	h_expect_nothing(h);

	/* Resolved: the next packet goes straight out, and nothing is due. */
	t_ping_from(h, T_OTHER_MAC, T_OTHER_IP, 3);
	t_expect_echo_reply(h, T_OTHER_MAC, T_OTHER_IP, 3);
	h_advance(h, SK_SEC(10));
	h_expect_nothing(h);
	h_free(h);
}

Test(arp, request_retried_every_second)
{
	struct harness *h = h_new(NULL);
	sk_time_t t0 = h->now;
	t_ping_from(h, T_OTHER_MAC, T_OTHER_IP, 1);
	t_expect_arp(h, SK_ARP_REQUEST, sk_eth_broadcast, T_OTHER_IP);
	cr_assert_eq(sk_next_deadline(h->st), t0 + SK_SEC(1));

	h_advance_to(h, t0 + SK_SEC(1) - 1);
	h_expect_nothing(h);
	h_advance_to(h, t0 + SK_SEC(1));
	t_expect_arp(h, SK_ARP_REQUEST, sk_eth_broadcast, T_OTHER_IP);
	h_advance_to(h, t0 + SK_SEC(2));
	t_expect_arp(h, SK_ARP_REQUEST, sk_eth_broadcast, T_OTHER_IP);
	h_expect_nothing(h);

	/* An answer to the third request still delivers the queued reply. */
	h_advance_to(h, t0 + SK_SEC(2) + SK_MS(500));
	t_arp_reply_from(h, T_OTHER_MAC, T_OTHER_IP);
	t_expect_echo_reply(h, T_OTHER_MAC, T_OTHER_IP, 1);
	cr_assert_eq(sk_get_stats(h->st)->arp_requests_sent, 3);
	cr_assert_eq(sk_get_stats(h->st)->arp_resolve_failed, 0);
	h_free(h);
}

Test(arp, gives_up_after_three_requests_and_drops_the_queue)
{
	struct harness *h = h_new(NULL);
	sk_time_t t0 = h->now;
	t_ping_from(h, T_OTHER_MAC, T_OTHER_IP, 1);
	h_advance_to(h, t0 + SK_SEC(3));
	for (int i = 0; i < 3; i++)
		t_expect_arp(h, SK_ARP_REQUEST, sk_eth_broadcast, T_OTHER_IP);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->arp_resolve_failed, 1);

	/* The queued echo reply is gone: a late answer delivers nothing. */
	t_arp_reply_from(h, T_OTHER_MAC, T_OTHER_IP);
	h_expect_nothing(h);
	h_free(h);
}

Test(arp, failed_neighbour_fails_fast_during_hold_then_is_retried)
{
	struct harness *h = h_new(NULL);
	sk_time_t t0 = h->now;
	t_ping_from(h, T_OTHER_MAC, T_OTHER_IP, 1);
	h_advance_to(h, t0 + SK_SEC(3));
	h_clear(h);

	/* -EHOSTUNREACH inside: no request, no queueing, the reply dropped. */
	uint64_t drops = sk_get_stats(h->st)->icmp_drop;
	t_ping_from(h, T_OTHER_MAC, T_OTHER_IP, 2);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->icmp_drop, drops + 1);

	/* After the hold, the neighbour is resolved afresh. */
	h_advance_to(h, t0 + SK_SEC(6));
	h_expect_nothing(h);
	t_ping_from(h, T_OTHER_MAC, T_OTHER_IP, 3);
	t_expect_arp(h, SK_ARP_REQUEST, sk_eth_broadcast, T_OTHER_IP);
	t_arp_reply_from(h, T_OTHER_MAC, T_OTHER_IP);
	t_expect_echo_reply(h, T_OTHER_MAC, T_OTHER_IP, 3);
	h_free(h);
}

Test(arp, connect_to_silent_neighbour_fails_with_ehostunreach)
{
	struct harness *h = h_new(NULL);
	sk_time_t t0 = h->now;
	int s = sk_socket(h->st);
	cr_assert_geq(s, 0);
	cr_assert_eq(sk_connect(h->st, s, T_OTHER_IP, 80, h->now), -EINPROGRESS);
	t_expect_arp(h, SK_ARP_REQUEST, sk_eth_broadcast, T_OTHER_IP);

	h_advance_to(h, t0 + SK_SEC(3));
	cr_assert(sk_poll(h->st, s) & SK_POLLERR);
	cr_assert_eq(sk_take_error(h->st, s), EHOSTUNREACH);
	sk_close(h->st, s, h->now);
	h_free(h);
}

Test(arp, entry_reconfirmed_by_unicast_request_after_30_s)
{
	struct harness *h = h_new(NULL); /* learned the peer at h->now */
	sk_time_t learned = h->now;

	h_advance_to(h, learned + SK_SEC(30) - 1);
	t_ping_from(h, H_PEER_MAC, H_PEER_IP, 1);
	t_expect_echo_reply(h, H_PEER_MAC, H_PEER_IP, 1);
	h_expect_nothing(h);

	/* Expired: the MAC is still used, and confirmed by a unicast
	 * request (Linux's PROBE) rather than a broadcast. */
	h_advance_to(h, learned + SK_SEC(30));
	t_ping_from(h, H_PEER_MAC, H_PEER_IP, 2);
	t_expect_arp(h, SK_ARP_REQUEST, H_PEER_MAC, H_PEER_IP);
	t_expect_echo_reply(h, H_PEER_MAC, H_PEER_IP, 2);
	h_expect_nothing(h);

	t_arp_reply_from(h, H_PEER_MAC, H_PEER_IP);
	h_advance(h, SK_SEC(5));
	h_expect_nothing(h); /* confirmed: no more requests */
	t_ping_from(h, H_PEER_MAC, H_PEER_IP, 3);
	t_expect_echo_reply(h, H_PEER_MAC, H_PEER_IP, 3);
	h_expect_nothing(h);
	h_free(h);
}

Test(arp, transport_progress_keeps_the_entry_reachable)
{
	struct harness *h = h_new(NULL);
	sk_time_t learned = h->now;

	/* RFC 1122 §2.3.2.1 higher-layer advice, as TCP gives on new ACKs. */
	h_advance_to(h, learned + SK_SEC(25));
	sk_arp_confirm(h->st, H_PEER_IP, h->now);
	h_advance_to(h, learned + SK_SEC(54));
	t_ping_from(h, H_PEER_MAC, H_PEER_IP, 1);
	t_expect_echo_reply(h, H_PEER_MAC, H_PEER_IP, 1);
	h_expect_nothing(h);

	h_advance_to(h, learned + SK_SEC(55));
	t_ping_from(h, H_PEER_MAC, H_PEER_IP, 2);
	t_expect_arp(h, SK_ARP_REQUEST, H_PEER_MAC, H_PEER_IP);
	t_expect_echo_reply(h, H_PEER_MAC, H_PEER_IP, 2);

	/* Advice also ends a probe; it never creates an entry. */
	sk_arp_confirm(h->st, H_PEER_IP, h->now);
	sk_arp_confirm(h->st, T_OTHER_IP, h->now);
	h_advance(h, SK_SEC(5));
	h_expect_nothing(h);
	cr_assert_eq(sk_next_deadline(h->st), SK_TIME_NEVER);
	t_ping_from(h, T_OTHER_MAC, T_OTHER_IP, 3);
	t_expect_arp(h, SK_ARP_REQUEST, sk_eth_broadcast, T_OTHER_IP);
	h_free(h);
}

Test(arp, expired_entry_that_stays_silent_fails)
{
	struct harness *h = h_new(NULL);
	sk_time_t t1 = h->now + SK_SEC(31);

	h_advance_to(h, t1);
	t_ping_from(h, H_PEER_MAC, H_PEER_IP, 1);
	t_expect_arp(h, SK_ARP_REQUEST, H_PEER_MAC, H_PEER_IP);
	t_expect_echo_reply(h, H_PEER_MAC, H_PEER_IP, 1);
	h_advance_to(h, t1 + SK_SEC(3));
	for (int i = 0; i < 2; i++)
		t_expect_arp(h, SK_ARP_REQUEST, H_PEER_MAC, H_PEER_IP);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->arp_resolve_failed, 1);
	t_ping_from(h, H_PEER_MAC, H_PEER_IP, 2);
	h_expect_nothing(h);
	h_free(h);
}

Test(arp, sender_already_known_is_updated_by_any_packet)
{
	struct harness *h = h_new(NULL);
	const uint8_t new_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x22};

	/* RFC 826 merge: the peer's request is for someone else, but the
	 * peer is in our table, so its new MAC replaces the old one. */
	t_arp_request_from(h, new_mac, H_PEER_IP, 0x0a4d0009u);
	h_expect_nothing(h);
	t_ping_from(h, new_mac, H_PEER_IP, 1);
	t_expect_echo_reply(h, new_mac, H_PEER_IP, 1);
	h_free(h);
}

Test(arp, queue_bounded_per_neighbour)
{
	struct harness *h = h_new(NULL);
	for (uint16_t seq = 0; seq < 17; seq++)
		t_ping_from(h, T_OTHER_MAC, T_OTHER_IP, seq);
	t_expect_arp(h, SK_ARP_REQUEST, sk_eth_broadcast, T_OTHER_IP);
	h_expect_nothing(h);
	cr_assert_eq(sk_get_stats(h->st)->arp_queue_drops, 1);

	t_arp_reply_from(h, T_OTHER_MAC, T_OTHER_IP);
	for (uint16_t seq = 0; seq < 16; seq++)
		t_expect_echo_reply(h, T_OTHER_MAC, T_OTHER_IP, seq);
	h_expect_nothing(h);
	h_free(h);
}

Test(arp, queue_pool_shared_by_all_neighbours)
{
	struct harness *h = h_new(NULL);
	for (uint16_t seq = 0; seq < 16; seq++) {
		t_ping_from(h, T_OTHER_MAC, T_OTHER_IP, seq);
		t_ping_from(h, T_FOURTH_MAC, T_FOURTH_IP, seq);
	}
	cr_assert_eq(sk_get_stats(h->st)->arp_queue_drops, 0);
	/* The pool of 32 is full: a third neighbour's frame cannot wait. */
	t_ping_from(h, T_OTHER_MAC, 0x0a4d0005u, 0);
	cr_assert_eq(sk_get_stats(h->st)->arp_queue_drops, 1);
	h_clear(h);

	/* Flushing one neighbour frees its slots for others. */
	t_arp_reply_from(h, T_OTHER_MAC, T_OTHER_IP);
	cr_assert_eq(h_pending(h), 16);
	h_clear(h);
	t_ping_from(h, T_FOURTH_MAC, 0x0a4d0006u, 0);
	cr_assert_eq(sk_get_stats(h->st)->arp_queue_drops, 1);
	t_arp_reply_from(h, T_FOURTH_MAC, 0x0a4d0006u);
	t_expect_arp(h, SK_ARP_REQUEST, sk_eth_broadcast, 0x0a4d0006u);
	t_expect_echo_reply(h, T_FOURTH_MAC, 0x0a4d0006u, 0);
	h_free(h);
}

Test(arp, cache_full_evicts_least_recently_used)
{
	struct harness *h = h_new(NULL); /* the peer, learned first */
	uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x01, 0x00};

	/* 63 more neighbours fill the 64 entries, each learned later. */
	for (uint32_t i = 0; i < 63; i++) {
		h_advance(h, SK_MS(1));
		mac[5] = (uint8_t)i;
		t_arp_request_from(h, mac, 0x0a4d0010u + i, H_OUR_IP);
	}
	h_clear(h);
	/* One more: the peer, the least recently used, makes room. */
	h_advance(h, SK_MS(1));
	mac[4] = 2;
	t_arp_request_from(h, mac, 0x0a4d0080u, H_OUR_IP);
	h_clear(h);

	t_ping_from(h, H_PEER_MAC, H_PEER_IP, 1);
	t_expect_arp(h, SK_ARP_REQUEST, sk_eth_broadcast, H_PEER_IP);
	/* The others are still known. */
	mac[4] = 1;
	mac[5] = 62;
	t_ping_from(h, mac, 0x0a4d0010u + 62, 1);
	t_expect_echo_reply(h, mac, 0x0a4d0010u + 62, 1);
	h_free(h);
}
