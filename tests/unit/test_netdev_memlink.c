/* The in-memory link: what one end sends the other receives, byte for byte,
 * in order, through a bounded queue whose overflow is counted. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../netdev/netdev.h"

static struct memlink *link;
static struct netdev *e0, *e1;

static void setup(void)
{
	link = memlink_new(1500, 4);
	cr_assert_not_null(link);
	e0 = memlink_end(link, 0);
	e1 = memlink_end(link, 1);
}

static void teardown(void)
{
	memlink_free(link);
}

TestSuite(memlink, .init = setup, .fini = teardown, .timeout = 10);

/* A frame whose bytes all derive from `tag`, so any mix-up shows. */
static size_t make_frame(uint8_t *buf, size_t len, uint8_t tag)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(tag + i * 7);
	return len;
}

Test(memlink, ends_have_distinct_macs_the_mtu_and_no_fd)
{
	static const uint8_t mac0[6] = {2, 0, 0, 0, 0, 1}, mac1[6] = {2, 0, 0, 0, 0, 2};

	cr_assert_arr_eq(e0->mac, mac0, 6);
	cr_assert_arr_eq(e1->mac, mac1, 6);
	cr_assert_eq(e0->mtu, 1500);
	cr_assert_eq(e1->fd, -1);
	cr_assert_null(memlink_end(link, 2));
}

Test(memlink, frame_sent_on_one_end_arrives_on_the_other_byte_exact)
{
	uint8_t f[1514];
	struct netdev_frame got[4];

	make_frame(f, sizeof(f), 3);
	cr_assert_eq(netdev_send(e0, f, sizeof(f)), 0);
	cr_assert_eq(netdev_recv_batch(e0, got, 4, 0), 0, "sender must not see its own frame");
	cr_assert_eq(netdev_recv_batch(e1, got, 4, 0), 1);
	cr_assert_eq(got[0].len, sizeof(f));
	cr_assert_arr_eq(got[0].data, f, sizeof(f));
	cr_assert_eq(got[0].flags, 0);
	cr_assert_eq(netdev_recv_batch(e1, got, 4, 0), 0);
}

Test(memlink, directions_are_independent_and_fifo)
{
	uint8_t f[64];
	struct netdev_frame got[4];

	for (uint8_t t = 0; t < 3; t++) {
		make_frame(f, sizeof(f), t);
		cr_assert_eq(netdev_send(e0, f, sizeof(f)), 0);
		make_frame(f, sizeof(f), (uint8_t)(100 + t));
		cr_assert_eq(netdev_send(e1, f, sizeof(f)), 0);
	}
	cr_assert_eq(netdev_recv_batch(e1, got, 4, 0), 3);
	for (uint8_t t = 0; t < 3; t++)
		cr_assert_eq(got[t].data[0], t);
	cr_assert_eq(netdev_recv_batch(e0, got, 4, 0), 3);
	for (uint8_t t = 0; t < 3; t++)
		cr_assert_eq(got[t].data[0], 100 + t);
}

Test(memlink, batch_returns_at_most_max_frames)
{
	uint8_t f[60] = {0};
	struct netdev_frame got[4];

	for (int i = 0; i < 3; i++)
		cr_assert_eq(netdev_send(e0, f, sizeof(f)), 0);
	cr_assert_eq(netdev_recv_batch(e1, got, 2, 0), 2);
	cr_assert_eq(netdev_recv_batch(e1, got, 2, 0), 1);
	cr_assert_eq(netdev_recv_batch(e1, got, 2, 0), 0);
}

Test(memlink, full_queue_drops_and_counts)
{
	uint8_t f[60] = {0};

	for (int i = 0; i < 4; i++)
		cr_assert_eq(netdev_send(e0, f, sizeof(f)), 0);
	cr_assert_eq(memlink_dropped(link), 0);
	cr_assert_eq(netdev_send(e0, f, sizeof(f)), -EAGAIN);
	cr_assert_eq(netdev_send(e0, f, sizeof(f)), -EAGAIN);
	cr_assert_eq(memlink_dropped(link), 2);
	/* The other direction still has room. */
	cr_assert_eq(netdev_send(e1, f, sizeof(f)), 0);
}

Test(memlink, oversized_frame_is_refused_not_truncated)
{
	static uint8_t f[1515];
	struct netdev_frame got[1];

	cr_assert_eq(netdev_send(e0, f, sizeof(f)), -EMSGSIZE);
	cr_assert_eq(netdev_send(e0, f, 1514), 0);
	cr_assert_eq(netdev_recv_batch(e1, got, 1, 0), 1);
	cr_assert_eq(got[0].len, 1514);
	cr_assert_eq(memlink_dropped(link), 0);
}

Test(memlink, received_frames_stay_valid_until_the_next_batch)
{
	uint8_t f[100], g[100];
	struct netdev_frame got[4];

	make_frame(f, sizeof(f), 1);
	make_frame(g, sizeof(g), 2);
	cr_assert_eq(netdev_send(e0, f, sizeof(f)), 0);
	cr_assert_eq(netdev_send(e0, f, sizeof(f)), 0);
	cr_assert_eq(netdev_recv_batch(e1, got, 4, 0), 2);
	/* Lent slots still count against the bound: two more fit, not four,
	 * and sending them must not overwrite what the receiver holds. */
	cr_assert_eq(netdev_send(e0, g, sizeof(g)), 0);
	cr_assert_eq(netdev_send(e0, g, sizeof(g)), 0);
	cr_assert_eq(netdev_send(e0, g, sizeof(g)), -EAGAIN);
	cr_assert_arr_eq(got[0].data, f, sizeof(f));
	cr_assert_arr_eq(got[1].data, f, sizeof(f));
	cr_assert_eq(netdev_recv_batch(e1, got, 4, 0), 2);
	cr_assert_arr_eq(got[0].data, g, sizeof(g));
	cr_assert_arr_eq(got[1].data, g, sizeof(g));
}

Test(memlink, link_ops_transmit_through_the_device)
{
	uint8_t f[80];
	struct netdev_frame got[1];

	make_frame(f, sizeof(f), 9);
	cr_assert_eq(netdev_link_ops.xmit(e1, f, sizeof(f)), 0);
	cr_assert_eq(netdev_recv_batch(e0, got, 1, 0), 1);
	cr_assert_arr_eq(got[0].data, f, sizeof(f));
}

Test(memlink, invalid_parameters_are_refused)
{
	cr_assert_null(memlink_new(1500, 0));
	cr_assert_null(memlink_new(10, 4));
}
