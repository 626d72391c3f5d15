/* TCP header and options (RFC 9293 §3.1, RFC 7323, RFC 2018).
 * A parsed representation in the style of smoltcp's TcpRepr: options are
 * plain fields, -1 / false when absent. */
#ifndef SYNACK_CORE_TCP_WIRE_H
#define SYNACK_CORE_TCP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_TCP_HLEN        20
#define SK_TCP_CSUM_OFFSET 16 /* the checksum field within the header */
#define SK_TCP_MAX_HLEN    60

#define SK_TCP_FIN 0x01
#define SK_TCP_SYN 0x02
#define SK_TCP_RST 0x04
#define SK_TCP_PSH 0x08
#define SK_TCP_ACK 0x10
#define SK_TCP_URG 0x20
#define SK_TCP_ECE 0x40
#define SK_TCP_CWR 0x80

#define SK_TCP_MAX_SACK 4

struct sk_tcp_sack_block {
	uint32_t left, right;
};

struct sk_tcp_repr {
	uint16_t src_port, dst_port; /* host byte order */
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window; /* as on the wire (unscaled) */
	uint16_t urgent;

	int32_t mss;   /* -1 absent */
	int8_t wscale; /* -1 absent; parsed values above 14 are clamped to 14 (RFC 7323 §2.3) */
	bool sack_permitted;
	uint8_t sack_count;
	struct sk_tcp_sack_block sack[SK_TCP_MAX_SACK];
	bool has_timestamp;
	uint32_t ts_val, ts_ecr;

	const uint8_t *payload; /* parse: points into the segment; emit: ignored */
	size_t payload_len;
};

/* Parse a segment of `len` bytes (header + payload). Checks the data offset
 * against len and walks the options robustly: any order, unknown kinds
 * skipped, a bad length (< 2 or past the header) -> -EPROTO, a known option
 * of the wrong length is ignored (as Linux does). Does not verify the
 * checksum. 0, -EINVAL (truncated header, bad data offset) or -EPROTO. */
int sk_tcp_parse(const uint8_t *seg, size_t len, struct sk_tcp_repr *out);

/* Header length emit() will write for repr's options (multiple of 4). */
size_t sk_tcp_header_len(const struct sk_tcp_repr *r);

/* Write header + options (checksum field zero); returns the header length.
 * Options written: MSS, window scale, SACK-permitted, timestamps, SACK
 * blocks, as present in r, NOP-padded. */
size_t sk_tcp_emit(const struct sk_tcp_repr *r, uint8_t *seg);

/* Compute and store the checksum of a complete segment (header+payload). */
void sk_tcp_set_checksum(uint8_t *seg, size_t len, uint32_t src, uint32_t dst);
/* Leave the checksum to the device (sk_tx_offload.csum_start): the field
 * gets the pseudo-header sum of a `len`-byte segment. */
void sk_tcp_set_partial_checksum(uint8_t *seg, size_t len, uint32_t src, uint32_t dst);
/* True if a complete segment's checksum is right. */
bool sk_tcp_checksum_ok(const uint8_t *seg, size_t len, uint32_t src, uint32_t dst);

#endif
