/* netdev_link_ops: the glue that lets core transmit through a netdev.
 *
 * core knows only sk_link_ops (a function and a context) so that it stays
 * free of devices and syscalls; this adapter is the one place where the two
 * meet. */
#include <string.h>

#include "netdev.h"

size_t netdev_gather(uint8_t *dst, size_t cap, const uint8_t *frame, size_t len,
                     const struct sk_tx_offload *off)
{
	size_t at = 0;

	for (unsigned i = 0; i <= (off ? off->nfrags : 0u); i++) {
		const uint8_t *p = i == 0 ? frame : off->frags[i - 1].data;
		size_t n = i == 0 ? len : off->frags[i - 1].len;
		size_t fit = at < cap ? (cap - at < n ? cap - at : n) : 0;

		memcpy(dst + at, p, fit);
		at += n;
	}
	return at;
}

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
