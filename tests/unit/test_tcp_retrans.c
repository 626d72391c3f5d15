/* Loss recovery at segment level: what a retransmitting connection sends,
 * with a fake clock (RFC 6298 RTO, RFC 5681/6582 fast retransmit and
 * NewReno fast recovery, RFC 6675 SACK-based recovery). */
#include <criterion/criterion.h>
#include <string.h>

#include "../../core/tcp.h"
#include "harness.h"

#define PEER_ISN 1000u

static struct harness *h;
static uint8_t pattern[70000];

static void setup(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	h = h_new(NULL);
	h->auto_arp = true;
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_retrans, .init = setup, .fini = teardown);

/* Send n full segments and pop them. */
static void send_segments(int s, int n)
{
	cr_assert_eq(sk_send(h->st, s, pattern, (size_t)n * 1460, h->now), n * 1460);
	for (int i = 0; i < n; i++)
		h_expect_tcp(h, i == n - 1 ? SK_TCP_ACK | SK_TCP_PSH : SK_TCP_ACK);
	h_expect_nothing(h);
}

Test(tcp_retrans, ack_after_an_rto_carries_the_highest_sequence_sent)
{
	uint32_t isn;
	int s = h_established(h, PEER_ISN, &isn);

	send_segments(s, 3);
	h_advance(h, SK_MS(200)); /* RTO: the first segment again */
	cr_expect_eq(h_expect_tcp(h, SK_TCP_ACK).r.seq, isn + 1);
	/* The peer's data gets an ACK whose SEQ is what the peer may already
	 * have received up to (SND.NXT of RFC 9293, not the rewound one): a
	 * lower one is below its window and the peer would drop the ACK. */
	h_send(h, h_data(PEER_ISN + 1, isn + 1, pattern, 1460));
	h_send(h, h_data(PEER_ISN + 1461, isn + 1, pattern, 1460));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.payload_len, 0);
	cr_expect_eq(ack.r.seq, isn + 1 + 3 * 1460);
	cr_expect_eq(ack.r.ack, PEER_ISN + 1 + 2920);
}
