/* TCP header and options: parse and emit (RFC 9293 §3.1, RFC 7323,
 * RFC 2018, RFC 6691). */
#include "tcp_wire.h"

#include <errno.h>

#include "byteorder.h"
#include "checksum.h"
#include "ipv4.h"

/* RFC 9293 §3.1 and the IANA registry: option kinds we understand. */
enum {
	OPT_EOL = 0,
	OPT_NOP = 1,
	OPT_MSS = 2,
	OPT_WSCALE = 3,
	OPT_SACK_PERM = 4,
	OPT_SACK = 5,
	OPT_TIMESTAMP = 8,
};

#define OPT_MSS_LEN       4
#define OPT_WSCALE_LEN    3
#define OPT_SACK_PERM_LEN 2
#define OPT_TIMESTAMP_LEN 10
#define SACK_BLOCK_LEN    8
#define TCP_CSUM_OFFSET   SK_TCP_CSUM_OFFSET
/* RFC 7323 §2.3: a shift count above 14 is treated as 14. */
#define WSCALE_MAX 14

static void options_clear(struct sk_tcp_repr *r)
{
	r->mss = -1;
	r->wscale = -1;
	r->sack_permitted = false;
	r->sack_count = 0;
	r->has_timestamp = false;
	r->ts_val = 0;
	r->ts_ecr = 0;
}

/* One option of `len` bytes (kind and length bytes included) at `opt`.
 * A known kind with the wrong length is ignored, as Linux's
 * tcp_parse_options() does: the rest of the header is still usable. */
static void option_apply(struct sk_tcp_repr *r, uint8_t kind, const uint8_t *opt, size_t len)
{
	switch (kind) {
	case OPT_MSS:
		if (len == OPT_MSS_LEN)
			r->mss = sk_rd16(opt + 2);
		break;
	case OPT_WSCALE:
		if (len == OPT_WSCALE_LEN)
			r->wscale = (int8_t)(opt[2] > WSCALE_MAX ? WSCALE_MAX : opt[2]);
		break;
	case OPT_SACK_PERM:
		if (len == OPT_SACK_PERM_LEN)
			r->sack_permitted = true;
		break;
	case OPT_SACK: {
		/* RFC 2018 §3: 2 + 8n bytes, n blocks of left and right edges. */
		size_t n = (len - 2) / SACK_BLOCK_LEN;
		if (len < 2 + SACK_BLOCK_LEN || (len - 2) % SACK_BLOCK_LEN || n > SK_TCP_MAX_SACK)
			break;
		for (size_t i = 0; i < n; i++) {
			r->sack[i].left = sk_rd32(opt + 2 + i * SACK_BLOCK_LEN);
			r->sack[i].right = sk_rd32(opt + 6 + i * SACK_BLOCK_LEN);
		}
		r->sack_count = (uint8_t)n;
		break;
	}
	case OPT_TIMESTAMP:
		if (len == OPT_TIMESTAMP_LEN) {
			r->has_timestamp = true;
			r->ts_val = sk_rd32(opt + 2);
			r->ts_ecr = sk_rd32(opt + 6);
		}
		break;
	default:
		/* RFC 9293 §3.1: unknown options are skipped by their length. */
		break;
	}
}

static int options_parse(struct sk_tcp_repr *r, const uint8_t *opt, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t kind = opt[i];
		if (kind == OPT_EOL)
			break;
		if (kind == OPT_NOP) {
			i++;
			continue;
		}
		/* Every other kind has a length byte counting kind and length
		 * (RFC 9293 §3.1); one below 2 would loop forever or step back. */
		if (i + 1 >= len)
			return -EPROTO;
		size_t olen = opt[i + 1];
		if (olen < 2 || olen > len - i)
			return -EPROTO;
		option_apply(r, kind, opt + i, olen);
		i += olen;
	}
	return 0;
}

int sk_tcp_parse(const uint8_t *seg, size_t len, struct sk_tcp_repr *out)
{
	if (len < SK_TCP_HLEN)
		return -EINVAL;
	/* RFC 9293 §3.1: data offset in 32-bit words, at least 5, and the
	 * header it describes must lie inside the segment. */
	size_t hlen = (size_t)(seg[12] >> 4) * 4;
	if (hlen < SK_TCP_HLEN || hlen > len)
		return -EINVAL;

	out->src_port = sk_rd16(seg);
	out->dst_port = sk_rd16(seg + 2);
	out->seq = sk_rd32(seg + 4);
	out->ack = sk_rd32(seg + 8);
	out->flags = seg[13];
	out->window = sk_rd16(seg + 14);
	out->urgent = sk_rd16(seg + 18);
	options_clear(out);
	int err = options_parse(out, seg + SK_TCP_HLEN, hlen - SK_TCP_HLEN);
	if (err)
		return err;
	out->payload = seg + hlen;
	out->payload_len = len - hlen;
	return 0;
}

/* Option layout, as Linux lays it out (tcp_options_write) so captures
 * compare easily, each piece 32-bit aligned:
 *   MSS (4) | SACK_PERM+TS (12) or NOP NOP TS (12) | NOP WS (4) |
 *   NOP NOP SACK_PERM (4, without TS) | NOP NOP SACK blocks (4 + 8n).
 * The option space is 40 bytes (RFC 9293 §3.1: data offset <= 15), so
 * SACK blocks are cut to what still fits (RFC 2018 §3: 3 with timestamps). */
static size_t fixed_options_len(const struct sk_tcp_repr *r)
{
	size_t len = 0;

	if (r->mss >= 0)
		len += 4;
	if (r->has_timestamp)
		len += 12;
	else if (r->sack_permitted)
		len += 4;
	if (r->wscale >= 0)
		len += 4;
	return len;
}

static size_t sack_blocks_fitting(const struct sk_tcp_repr *r)
{
	size_t room = SK_TCP_MAX_HLEN - SK_TCP_HLEN - fixed_options_len(r);
	size_t n = r->sack_count;

	if (n > SK_TCP_MAX_SACK)
		n = SK_TCP_MAX_SACK;
	if (room < 4 + SACK_BLOCK_LEN)
		return 0;
	if (n > (room - 4) / SACK_BLOCK_LEN)
		n = (room - 4) / SACK_BLOCK_LEN;
	return n;
}

size_t sk_tcp_header_len(const struct sk_tcp_repr *r)
{
	size_t n = sack_blocks_fitting(r);

	return SK_TCP_HLEN + fixed_options_len(r) + (n ? 4 + n * SACK_BLOCK_LEN : 0);
}

static uint8_t *emit_options(const struct sk_tcp_repr *r, uint8_t *p)
{
	if (r->mss >= 0) {
		p[0] = OPT_MSS;
		p[1] = OPT_MSS_LEN;
		sk_wr16(p + 2, (uint16_t)r->mss);
		p += 4;
	}
	if (r->has_timestamp) {
		if (r->sack_permitted) {
			p[0] = OPT_SACK_PERM;
			p[1] = OPT_SACK_PERM_LEN;
		} else {
			p[0] = OPT_NOP;
			p[1] = OPT_NOP;
		}
		p[2] = OPT_TIMESTAMP;
		p[3] = OPT_TIMESTAMP_LEN;
		sk_wr32(p + 4, r->ts_val);
		sk_wr32(p + 8, r->ts_ecr);
		p += 12;
	} else if (r->sack_permitted) {
		p[0] = OPT_NOP;
		p[1] = OPT_NOP;
		p[2] = OPT_SACK_PERM;
		p[3] = OPT_SACK_PERM_LEN;
		p += 4;
	}
	if (r->wscale >= 0) {
		p[0] = OPT_NOP;
		p[1] = OPT_WSCALE;
		p[2] = OPT_WSCALE_LEN;
		p[3] = (uint8_t)(r->wscale > WSCALE_MAX ? WSCALE_MAX : r->wscale);
		p += 4;
	}
	size_t n = sack_blocks_fitting(r);
	if (n) {
		p[0] = OPT_NOP;
		p[1] = OPT_NOP;
		p[2] = OPT_SACK;
		p[3] = (uint8_t)(2 + n * SACK_BLOCK_LEN);
		p += 4;
		for (size_t i = 0; i < n; i++) {
			sk_wr32(p, r->sack[i].left);
			sk_wr32(p + 4, r->sack[i].right);
			p += SACK_BLOCK_LEN;
		}
	}
	return p;
}

size_t sk_tcp_emit(const struct sk_tcp_repr *r, uint8_t *seg)
{
	size_t hlen = sk_tcp_header_len(r);

	sk_wr16(seg, r->src_port);
	sk_wr16(seg + 2, r->dst_port);
	sk_wr32(seg + 4, r->seq);
	sk_wr32(seg + 8, r->ack);
	seg[12] = (uint8_t)(hlen / 4 << 4);
	seg[13] = r->flags;
	sk_wr16(seg + 14, r->window);
	sk_wr16(seg + TCP_CSUM_OFFSET, 0);
	sk_wr16(seg + 18, r->urgent);
	emit_options(r, seg + SK_TCP_HLEN);
	return hlen;
}

static uint32_t segment_sum(const uint8_t *seg, size_t len, uint32_t src, uint32_t dst)
{
	return sk_csum_add(sk_csum_pseudo(src, dst, SK_IPPROTO_TCP, (uint32_t)len), seg, len);
}

void sk_tcp_set_checksum(uint8_t *seg, size_t len, uint32_t src, uint32_t dst)
{
	sk_wr16(seg + TCP_CSUM_OFFSET, 0);
	sk_wr16(seg + TCP_CSUM_OFFSET, sk_csum_finish(segment_sum(seg, len, src, dst)));
}

void sk_tcp_set_partial_checksum(uint8_t *seg, size_t len, uint32_t src, uint32_t dst)
{
	/* The folded pseudo-header sum, not complemented: the device adds the
	 * segment's bytes to it and complements the total (Linux
	 * __tcp_v4_send_check for CHECKSUM_PARTIAL). */
	sk_wr16(seg + TCP_CSUM_OFFSET,
	        (uint16_t)~sk_csum_finish(sk_csum_pseudo(src, dst, SK_IPPROTO_TCP, (uint32_t)len)));
}

bool sk_tcp_checksum_ok(const uint8_t *seg, size_t len, uint32_t src, uint32_t dst)
{
	if (len < SK_TCP_HLEN)
		return false;
	return sk_csum_finish(segment_sum(seg, len, src, dst)) == 0;
}
