/* Receiving into a waiting reader's buffer (sk_recv_direct_begin/end):
 * in-order data lands there with one copy less while nothing else is
 * queued, and everything else keeps its usual path. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../core/stack_impl.h"
#include "harness.h"

#define PEER_ISN 7000u

static struct harness *h;
static int s;
static uint32_t isn;
static uint8_t data[4000];

static void setup(void)
{
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 5 + 1);
	h = h_new_established(PEER_ISN, &isn, &s);
}

static void teardown(void)
{
	h_free(h);
}

TestSuite(tcp_direct, .init = setup, .fini = teardown);

/* The peer's next n bytes of data (from offset off of `data`). */
static void peer_data(size_t off, size_t n)
{
	h_send(h, h_data(PEER_ISN + 1 + (uint32_t)off, isn + 1, data + off, n));
}

Test(tcp_direct, in_order_data_lands_in_the_lent_buffer_and_wakes_the_reader)
{
	uint8_t buf[3000] = {0};
	unsigned wakes = h->wakes[s];

	cr_assert_eq(sk_recv_direct_begin(h->st, s, buf, sizeof(buf)), 0);
	peer_data(0, 1000);
	cr_expect_eq(sk_rx_queued(h->st, s), 0, "nothing went through the receive buffer");
	cr_expect_gt(h->wakes[s], wakes, "the reader is woken");
	peer_data(1000, 1000);
	cr_expect_eq(sk_recv_direct_end(h->st, s, h->now), 2000);
	cr_expect_arr_eq(buf, data, 2000);
	/* Taken back: later data is queued as usual. */
	peer_data(2000, 500);
	cr_expect_eq(sk_rx_queued(h->st, s), 500);
	cr_expect_eq(sk_recv_direct_end(h->st, s, h->now), 0);
}

Test(tcp_direct, what_does_not_fit_is_queued_after_it)
{
	uint8_t buf[600], rest[1000];

	cr_assert_eq(sk_recv_direct_begin(h->st, s, buf, sizeof(buf)), 0);
	peer_data(0, 1460);
	cr_expect_eq(sk_rx_queued(h->st, s), 1460 - 600);
	cr_expect_eq(sk_recv_direct_end(h->st, s, h->now), 600);
	cr_expect_arr_eq(buf, data, 600);
	cr_assert_eq(sk_recv(h->st, s, rest, sizeof(rest), 0, h->now), 860);
	cr_expect_arr_eq(rest, data + 600, 860);
	/* The window counts only what waits in the buffer: all of it was
	 * read, so the next ACK offers the whole buffer again. */
	h_advance(h, SK_MS(200));
	struct h_tcp ack = h_expect_tcp(h, SK_TCP_ACK);
	cr_expect_eq(ack.r.ack, PEER_ISN + 1 + 1460);
}

Test(tcp_direct, data_queued_before_it_keeps_the_order)
{
	uint8_t buf[3000], got[3000];

	peer_data(0, 1000); /* queued: no reader yet */
	cr_assert_eq(sk_recv_direct_begin(h->st, s, buf, sizeof(buf)), 0);
	peer_data(1000, 1000);
	cr_expect_eq(sk_recv_direct_end(h->st, s, h->now), 0, "queued data comes first");
	cr_assert_eq(sk_recv(h->st, s, got, sizeof(got), 0, h->now), 2000);
	cr_expect_arr_eq(got, data, 2000);
}

Test(tcp_direct, out_of_order_data_is_held_not_placed)
{
	uint8_t buf[3000], got[3000];

	cr_assert_eq(sk_recv_direct_begin(h->st, s, buf, sizeof(buf)), 0);
	peer_data(1000, 1000); /* a hole before it */
	h_clear(h);
	cr_expect_eq(sk_recv_direct_end(h->st, s, h->now), 0);
	cr_assert_eq(sk_recv_direct_begin(h->st, s, buf, sizeof(buf)), 0);
	/* The hole fills: with out-of-order data waiting, the reader's
	 * buffer is passed over and everything is readable in order. */
	peer_data(0, 1000);
	cr_expect_eq(sk_recv_direct_end(h->st, s, h->now), 0);
	cr_assert_eq(sk_recv(h->st, s, got, sizeof(got), 0, h->now), 2000);
	cr_expect_arr_eq(got, data, 2000);
}

Test(tcp_direct, one_reader_per_socket_and_close_takes_the_buffer_back)
{
	uint8_t a[100], b[100];

	cr_expect_eq(sk_recv_direct_begin(h->st, s, a, 0), -EINVAL);
	cr_assert_eq(sk_recv_direct_begin(h->st, s, a, sizeof(a)), 0);
	cr_expect_eq(sk_recv_direct_begin(h->st, s, b, sizeof(b)), -EBUSY);
	sk_close(h->st, s, h->now);
	memset(a, 0, sizeof(a));
	peer_data(0, 50); /* the orphan resets: nobody reads it */
	for (size_t i = 0; i < sizeof(a); i++)
		cr_assert_eq(a[i], 0, "a closed socket wrote into a reader's buffer");
}

/* Another process takes the stack (sk_stack_bind with its own owner token:
 * here the same callbacks, as the test is one process). */
static void bind_as(uint32_t owner)
{
	struct sk_link_ops link = h->st->link;
	struct sk_hooks hooks = h->st->hooks;

	sk_stack_bind(h->st, &link, h->st->link_ctx, &hooks, NULL, owner);
}

Test(tcp_direct, another_process_holding_the_stack_queues_instead)
{
	uint8_t buf[3000] = {0}, rest[3000];
	static const uint8_t zero[2500];

	cr_assert_eq(sk_recv_direct_begin(h->st, s, buf, sizeof(buf)), 0); /* owner 1 */
	peer_data(0, 500);
	bind_as(2);
	/* The buffer is an address in process 1: process 2 must not write
	 * there. The data waits in the receive buffer. */
	peer_data(500, 1000);
	cr_expect_eq(sk_rx_queued(h->st, s), 1000);
	cr_expect_arr_eq(buf + 500, zero, sizeof(buf) - 500, "nothing written for process 1");
	bind_as(1);
	peer_data(1500, 500); /* queued behind what waits: the order holds */
	cr_expect_eq(sk_rx_queued(h->st, s), 1500);
	cr_expect_arr_eq(buf + 500, zero, sizeof(buf) - 500);
	cr_expect_eq(sk_recv_direct_end(h->st, s, h->now), 500);
	cr_expect_arr_eq(buf, data, 500);
	cr_assert_eq(sk_recv(h->st, s, rest, sizeof(rest), 0, h->now), 1500);
	cr_expect_arr_eq(rest, data + 500, 1500);

	/* A buffer lent by process 2 takes data while process 2 holds the
	 * stack. */
	bind_as(2);
	cr_assert_eq(sk_recv_direct_begin(h->st, s, buf, sizeof(buf)), 0);
	peer_data(2000, 700);
	cr_expect_eq(sk_rx_queued(h->st, s), 0);
	cr_expect_eq(sk_recv_direct_end(h->st, s, h->now), 700);
	cr_expect_arr_eq(buf, data + 2000, 700);
}
