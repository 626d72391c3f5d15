/* netdev_link_ops: the glue that lets core transmit through a netdev.
 *
 * core knows only sk_link_ops (a function and a context) so that it stays
 * free of devices and syscalls; this adapter is the one place where the two
 * meet. */
#include "netdev.h"

static int netdev_link_xmit(void *ctx, const uint8_t *frame, size_t len)
{
	return netdev_send(ctx, frame, len);
}

static int netdev_link_xmit_offload(void *ctx, const uint8_t *frame, size_t len,
                                    const struct sk_tx_offload *off)
{
	return netdev_send_offload(ctx, frame, len, off);
}

const struct sk_link_ops netdev_link_ops = {
    .xmit = netdev_link_xmit,
    .xmit_offload = netdev_link_xmit_offload,
};
