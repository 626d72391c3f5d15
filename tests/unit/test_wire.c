/* Wire formats: checksum, Ethernet, IPv4 and TCP parse/emit.
 * Known-answer vectors come from RFC 1071 §3, a textbook IPv4 header, and
 * segments whose checksums were computed independently (Python). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../core/byteorder.h"
#include "../../core/checksum.h"
#include "../../core/ethernet.h"
#include "../../core/ipv4.h"
#include "../../core/tcp_wire.h"

#define IP_A 0x0a4d0001u /* 10.77.0.1 */
#define IP_B 0x0a4d0002u /* 10.77.0.2 */

/* ---- checksum ---- */

Test(checksum, rfc1071_example_sums_to_ddf2)
{
	/* RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2. */
	const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	cr_assert_eq(sk_csum_finish(sk_csum_add(0, b, sizeof b)), (uint16_t)~0xddf2);
}

Test(checksum, odd_length_pads_with_zero)
{
	const uint8_t odd[] = {0x12, 0x34, 0x56};
	const uint8_t even[] = {0x12, 0x34, 0x56, 0x00};
	cr_assert_eq(sk_csum_finish(sk_csum_add(0, odd, 3)),
	             sk_csum_finish(sk_csum_add(0, even, 4)));
	cr_assert_eq(sk_csum_finish(sk_csum_add(0, odd, 3)), (uint16_t) ~(0x1234 + 0x5600));
}

Test(checksum, running_sum_across_even_chunks)
{
	uint8_t b[64];
	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (uint8_t)(i * 37 + 11);
	uint32_t whole = sk_csum_add(0, b, sizeof b);
	uint32_t split = sk_csum_add(sk_csum_add(0, b, 20), b + 20, sizeof b - 20);
	cr_assert_eq(sk_csum_finish(whole), sk_csum_finish(split));
}

Test(checksum, long_buffer_of_ff_does_not_overflow)
{
	/* 64 KiB of 0xff: a sum that overflows 32 bits if never folded. */
	static uint8_t b[65536];
	memset(b, 0xff, sizeof b);
	cr_assert_eq(sk_csum_finish(sk_csum_add(0, b, sizeof b)), 0);
}

Test(checksum, ipv4_header_known_answer)
{
	uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
	                 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	cr_assert_eq(sk_csum_finish(sk_csum_add(0, h, sizeof h)), 0xb861);
}

/* ---- Ethernet ---- */

Test(ethernet, parse_emit_round_trip)
{
	struct sk_eth_repr e = {
	    .dst = {1, 2, 3, 4, 5, 6}, .src = {7, 8, 9, 10, 11, 12}, .ethertype = SK_ETHERTYPE_ARP};
	uint8_t f[SK_ETH_HLEN];
	sk_eth_emit(&e, f);
	const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x06};
	cr_assert_arr_eq(f, want, sizeof want);

	struct sk_eth_repr p;
	cr_assert_eq(sk_eth_parse(f, sizeof f, &p), 0);
	cr_assert_arr_eq(p.dst, e.dst, 6);
	cr_assert_arr_eq(p.src, e.src, 6);
	cr_assert_eq(p.ethertype, SK_ETHERTYPE_ARP);
}

Test(ethernet, short_frame_rejected)
{
	uint8_t f[SK_ETH_HLEN] = {0};
	struct sk_eth_repr p;
	cr_assert_eq(sk_eth_parse(f, SK_ETH_HLEN - 1, &p), -EINVAL);
	cr_assert_eq(sk_eth_parse(f, 0, &p), -EINVAL);
}

/* ---- IPv4 ---- */

static const uint8_t ip_known[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                     0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

/* The known header followed by its 0x73 - 20 bytes of payload. */
static size_t ip_packet(uint8_t *buf, size_t pad)
{
	memset(buf, 0, 0x73 + pad);
	memcpy(buf, ip_known, sizeof ip_known);
	return 0x73 + pad;
}

Test(ipv4, parse_known_header)
{
	uint8_t pkt[0x73];
	struct sk_ipv4_repr ip;
	cr_assert_eq(sk_ipv4_parse(pkt, ip_packet(pkt, 0), true, &ip), 0);
	cr_assert_eq(ip.src, 0xc0a80001u);
	cr_assert_eq(ip.dst, 0xc0a800c7u);
	cr_assert_eq(ip.proto, SK_IPPROTO_UDP);
	cr_assert_eq(ip.ttl, 64);
	cr_assert(ip.df);
	cr_assert_not(ip.mf);
	cr_assert_eq(ip.frag_offset, 0);
	cr_assert_eq(ip.hdr_len, 20);
	cr_assert_eq(ip.payload_len, 0x73 - 20);
}

Test(ipv4, emit_reproduces_known_header)
{
	struct sk_ipv4_repr ip = {.src = 0xc0a80001u,
	                          .dst = 0xc0a800c7u,
	                          .proto = SK_IPPROTO_UDP,
	                          .ttl = 64,
	                          .tos = 0,
	                          .id = 0,
	                          .df = true,
	                          .payload_len = 0x73 - 20};
	uint8_t h[20];
	sk_ipv4_emit(&ip, h);
	cr_assert_arr_eq(h, ip_known, sizeof h);
}

Test(ipv4, trailing_link_padding_ignored)
{
	uint8_t pkt[0x73 + 9];
	struct sk_ipv4_repr ip;
	cr_assert_eq(sk_ipv4_parse(pkt, ip_packet(pkt, 9), true, &ip), 0);
	cr_assert_eq(ip.payload_len, 0x73 - 20);
}

Test(ipv4, truncated_packet_rejected)
{
	uint8_t pkt[0x73];
	struct sk_ipv4_repr ip;
	ip_packet(pkt, 0);
	cr_assert_eq(sk_ipv4_parse(pkt, 0x72, true, &ip), -EMSGSIZE, "total length beyond the frame");
	cr_assert_eq(sk_ipv4_parse(pkt, 19, true, &ip), -EINVAL);
}

/* Parse the known packet with one header byte replaced. */
static int parse_with_byte(size_t off, uint8_t val)
{
	uint8_t pkt[0x73];
	struct sk_ipv4_repr ip;
	ip_packet(pkt, 0);
	pkt[off] = val;
	return sk_ipv4_parse(pkt, sizeof pkt, false, &ip);
}

Test(ipv4, bad_version_rejected)
{
	cr_assert_eq(parse_with_byte(0, 0x65), -EINVAL);
}

Test(ipv4, ihl_below_five_rejected)
{
	cr_assert_eq(parse_with_byte(0, 0x44), -EINVAL);
}

Test(ipv4, ihl_beyond_packet_rejected)
{
	uint8_t pkt[24];
	struct sk_ipv4_repr ip;
	memcpy(pkt, ip_known, 20);
	pkt[0] = 0x47; /* 28-byte header in a 24-byte packet */
	sk_wr16(pkt + 2, 24);
	cr_assert_eq(sk_ipv4_parse(pkt, sizeof pkt, false, &ip), -EINVAL);
}

Test(ipv4, total_length_below_header_rejected)
{
	cr_assert_eq(parse_with_byte(3, 19), -EINVAL); /* total length 19 */
}

Test(ipv4, bad_checksum_is_ebadmsg_only_when_verifying)
{
	uint8_t pkt[0x73];
	struct sk_ipv4_repr ip;
	ip_packet(pkt, 0);
	pkt[8] = 63; /* TTL changed, checksum not updated */
	cr_assert_eq(sk_ipv4_parse(pkt, sizeof pkt, true, &ip), -EBADMSG);
	cr_assert_eq(sk_ipv4_parse(pkt, sizeof pkt, false, &ip), 0);
}

Test(ipv4, options_header_parsed_and_checksummed)
{
	uint8_t pkt[28] = {0};
	memcpy(pkt, ip_known, 20);
	pkt[0] = 0x46; /* one word of options: four NOPs */
	sk_wr16(pkt + 2, 28);
	memset(pkt + 20, 1, 4);
	sk_wr16(pkt + 10, 0);
	sk_wr16(pkt + 10, sk_csum_finish(sk_csum_add(0, pkt, 24)));
	struct sk_ipv4_repr ip;
	cr_assert_eq(sk_ipv4_parse(pkt, sizeof pkt, true, &ip), 0);
	cr_assert_eq(ip.hdr_len, 24);
	cr_assert_eq(ip.payload_len, 4);
}

Test(ipv4, fragment_fields_parsed)
{
	uint8_t pkt[0x73];
	struct sk_ipv4_repr ip;
	ip_packet(pkt, 0);
	sk_wr16(pkt + 6, 0x2000 | 185); /* MF, offset 185 * 8 */
	cr_assert_eq(sk_ipv4_parse(pkt, sizeof pkt, false, &ip), 0);
	cr_assert(ip.mf);
	cr_assert_not(ip.df);
	cr_assert_eq(ip.frag_offset, 1480);
}

Test(ipv4, round_trip_through_emit_and_parse)
{
	struct sk_ipv4_repr in = {.src = IP_A,
	                          .dst = IP_B,
	                          .proto = SK_IPPROTO_TCP,
	                          .ttl = 64,
	                          .tos = 0x10,
	                          .id = 0xbeef,
	                          .df = true,
	                          .payload_len = 40};
	uint8_t pkt[60] = {0};
	sk_ipv4_emit(&in, pkt);
	struct sk_ipv4_repr out;
	cr_assert_eq(sk_ipv4_parse(pkt, sizeof pkt, true, &out), 0);
	cr_assert_eq(out.src, IP_A);
	cr_assert_eq(out.dst, IP_B);
	cr_assert_eq(out.proto, SK_IPPROTO_TCP);
	cr_assert_eq(out.tos, 0x10);
	cr_assert_eq(out.id, 0xbeef);
	cr_assert(out.df);
	cr_assert_eq(out.payload_len, 40);
}

Test(ipv4, same_subnet)
{
	cr_assert(sk_ipv4_same_subnet(IP_A, IP_B, 24));
	cr_assert_not(sk_ipv4_same_subnet(IP_A, 0x0a4d0102u, 24));
	cr_assert(sk_ipv4_same_subnet(IP_A, 0x0a4d0102u, 16));
	cr_assert_not(sk_ipv4_same_subnet(IP_A, IP_B, 32));
	cr_assert(sk_ipv4_same_subnet(IP_A, IP_A, 32));
	cr_assert(sk_ipv4_same_subnet(0x01000000u, 0x7f000000u, 1));
	cr_assert_not(sk_ipv4_same_subnet(0x01000000u, 0x80000000u, 1));
}

/* ---- TCP ---- */

/* A 20-byte header plus `opt` as options (length a multiple of 4). */
static size_t tcp_with_options(uint8_t *seg, const uint8_t *opt, size_t optlen)
{
	memset(seg, 0, SK_TCP_HLEN);
	sk_wr16(seg, 40000);
	sk_wr16(seg + 2, 80);
	sk_wr32(seg + 4, 0x01020304);
	seg[12] = (uint8_t)((SK_TCP_HLEN + optlen) / 4 << 4);
	seg[13] = SK_TCP_SYN;
	sk_wr16(seg + 14, 64240);
	if (optlen)
		memcpy(seg + SK_TCP_HLEN, opt, optlen);
	return SK_TCP_HLEN + optlen;
}

Test(tcp_wire, parse_plain_header)
{
	uint8_t seg[SK_TCP_HLEN + 5];
	tcp_with_options(seg, NULL, 0);
	memcpy(seg + SK_TCP_HLEN, "hello", 5);
	struct sk_tcp_repr r;
	cr_assert_eq(sk_tcp_parse(seg, sizeof seg, &r), 0);
	cr_assert_eq(r.src_port, 40000);
	cr_assert_eq(r.dst_port, 80);
	cr_assert_eq(r.seq, 0x01020304u);
	cr_assert_eq(r.flags, SK_TCP_SYN);
	cr_assert_eq(r.window, 64240);
	cr_assert_eq(r.mss, -1);
	cr_assert_eq(r.wscale, -1);
	cr_assert_not(r.sack_permitted);
	cr_assert_not(r.has_timestamp);
	cr_assert_eq(r.sack_count, 0);
	cr_assert_eq(r.payload_len, 5);
	cr_assert_eq(r.payload, seg + SK_TCP_HLEN);
}

Test(tcp_wire, options_in_any_order)
{
	/* Timestamps, window scale, SACK-permitted, MSS: reversed from
	 * the usual order, packed without NOPs, EOL-padded. */
	const uint8_t opt[] = {8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 3, 3, 7, 4, 2, 2, 4, 5, 0xb4, 0};
	uint8_t seg[SK_TCP_MAX_HLEN];
	struct sk_tcp_repr r;
	cr_assert_eq(sk_tcp_parse(seg, tcp_with_options(seg, opt, sizeof opt), &r), 0);
	cr_assert_eq(r.mss, 1460);
	cr_assert_eq(r.wscale, 7);
	cr_assert(r.sack_permitted);
	cr_assert(r.has_timestamp);
	cr_assert_eq(r.ts_val, 7);
	cr_assert_eq(r.ts_ecr, 9);
}

Test(tcp_wire, unknown_kinds_skipped)
{
	/* kind 30 (MPTCP) of length 6, kind 254 (experimental) length 2. */
	const uint8_t opt[] = {30, 6, 1, 2, 3, 4, 254, 2, 2, 4, 5, 0xb4};
	uint8_t seg[SK_TCP_MAX_HLEN];
	struct sk_tcp_repr r;
	cr_assert_eq(sk_tcp_parse(seg, tcp_with_options(seg, opt, sizeof opt), &r), 0);
	cr_assert_eq(r.mss, 1460);
}

Test(tcp_wire, nop_padding_and_eol_ends_the_list)
{
	/* NOP NOP MSS, then EOL: the "MSS" bytes after it are padding. */
	const uint8_t opt[] = {1, 1, 2, 4, 0x05, 0xb4, 0, 0, 3, 3, 9, 0};
	uint8_t seg[SK_TCP_MAX_HLEN];
	struct sk_tcp_repr r;
	cr_assert_eq(sk_tcp_parse(seg, tcp_with_options(seg, opt, sizeof opt), &r), 0);
	cr_assert_eq(r.mss, 1460);
	cr_assert_eq(r.wscale, -1);
}

Test(tcp_wire, option_length_zero_or_one_rejected)
{
	const uint8_t zero[] = {2, 0, 0, 0};
	const uint8_t one[] = {30, 1, 0, 0};
	uint8_t seg[SK_TCP_MAX_HLEN];
	struct sk_tcp_repr r;
	cr_assert_eq(sk_tcp_parse(seg, tcp_with_options(seg, zero, 4), &r), -EPROTO);
	cr_assert_eq(sk_tcp_parse(seg, tcp_with_options(seg, one, 4), &r), -EPROTO);
}

Test(tcp_wire, option_past_header_rejected)
{
	/* A timestamp option starting 2 bytes before the end of the header. */
	const uint8_t opt[] = {1, 1, 8, 10};
	uint8_t seg[SK_TCP_MAX_HLEN + 8];
	struct sk_tcp_repr r;
	size_t len = tcp_with_options(seg, opt, sizeof opt);
	memset(seg + len, 0, 8); /* payload bytes must not be read as options */
	cr_assert_eq(sk_tcp_parse(seg, len + 8, &r), -EPROTO);
}

Test(tcp_wire, option_kind_without_length_byte_rejected)
{
	const uint8_t opt[] = {1, 1, 1, 2};
	uint8_t seg[SK_TCP_MAX_HLEN];
	struct sk_tcp_repr r;
	cr_assert_eq(sk_tcp_parse(seg, tcp_with_options(seg, opt, sizeof opt), &r), -EPROTO);
}

Test(tcp_wire, known_option_of_wrong_length_ignored)
{
	/* MSS with length 3, window scale with length 4: both ignored, the
	 * timestamp after them still parsed. */
	const uint8_t opt[] = {2, 3, 5, 3, 4, 7, 0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0};
	uint8_t seg[SK_TCP_MAX_HLEN];
	uint8_t padded[20] = {0};
	memcpy(padded, opt, sizeof opt);
	struct sk_tcp_repr r;
	cr_assert_eq(sk_tcp_parse(seg, tcp_with_options(seg, padded, sizeof padded), &r), 0);
	cr_assert_eq(r.mss, -1);
	cr_assert_eq(r.wscale, -1);
	cr_assert(r.has_timestamp);
	cr_assert_eq(r.ts_val, 1);
	cr_assert_eq(r.ts_ecr, 2);
}

Test(tcp_wire, wscale_above_14_clamped)
{
	const uint8_t opt[] = {1, 3, 3, 15};
	uint8_t seg[SK_TCP_MAX_HLEN];
	struct sk_tcp_repr r;
	cr_assert_eq(sk_tcp_parse(seg, tcp_with_options(seg, opt, sizeof opt), &r), 0);
	cr_assert_eq(r.wscale, 14);
	seg[SK_TCP_HLEN + 3] = 255;
	cr_assert_eq(sk_tcp_parse(seg, SK_TCP_HLEN + 4, &r), 0);
	cr_assert_eq(r.wscale, 14);
}

Test(tcp_wire, sack_blocks_parsed)
{
	const uint8_t opt[] = {1, 1, 5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40};
	uint8_t seg[SK_TCP_MAX_HLEN];
	struct sk_tcp_repr r;
	cr_assert_eq(sk_tcp_parse(seg, tcp_with_options(seg, opt, sizeof opt), &r), 0);
	cr_assert_eq(r.sack_count, 2);
	cr_assert_eq(r.sack[0].left, 10);
	cr_assert_eq(r.sack[0].right, 20);
	cr_assert_eq(r.sack[1].left, 30);
	cr_assert_eq(r.sack[1].right, 40);
}

Test(tcp_wire, sack_of_bad_length_ignored)
{
	const uint8_t opt[] = {5, 6, 0, 0, 0, 10, 1, 1};
	uint8_t seg[SK_TCP_MAX_HLEN];
	struct sk_tcp_repr r;
	cr_assert_eq(sk_tcp_parse(seg, tcp_with_options(seg, opt, sizeof opt), &r), 0);
	cr_assert_eq(r.sack_count, 0);
}

Test(tcp_wire, truncated_header_rejected)
{
	uint8_t seg[SK_TCP_HLEN];
	struct sk_tcp_repr r;
	tcp_with_options(seg, NULL, 0);
	for (size_t len = 0; len < SK_TCP_HLEN; len++)
		cr_assert_eq(sk_tcp_parse(seg, len, &r), -EINVAL, "len %zu", len);
}

Test(tcp_wire, data_offset_below_five_rejected)
{
	uint8_t seg[SK_TCP_HLEN];
	struct sk_tcp_repr r;
	tcp_with_options(seg, NULL, 0);
	seg[12] = 4 << 4;
	cr_assert_eq(sk_tcp_parse(seg, sizeof seg, &r), -EINVAL);
}

Test(tcp_wire, data_offset_beyond_segment_rejected)
{
	uint8_t seg[SK_TCP_MAX_HLEN] = {0};
	struct sk_tcp_repr r;
	tcp_with_options(seg, NULL, 0);
	seg[12] = 15 << 4; /* 60-byte header claimed */
	cr_assert_eq(sk_tcp_parse(seg, 59, &r), -EINVAL);
	cr_assert_eq(sk_tcp_parse(seg, 60, &r), 0);
	cr_assert_eq(r.payload_len, 0);
}

static struct sk_tcp_repr syn_repr(void)
{
	struct sk_tcp_repr r = {.src_port = 40000,
	                        .dst_port = 80,
	                        .seq = 0x01020304u,
	                        .flags = SK_TCP_SYN,
	                        .window = 64240,
	                        .mss = -1,
	                        .wscale = -1};
	return r;
}

Test(tcp_wire, emit_mss_only_known_bytes_and_checksum)
{
	struct sk_tcp_repr r = syn_repr();
	r.mss = 1460;
	uint8_t seg[SK_TCP_MAX_HLEN];
	cr_assert_eq(sk_tcp_header_len(&r), 24);
	cr_assert_eq(sk_tcp_emit(&r, seg), 24);
	const uint8_t want[] = {0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0,
	                        0x60, 0x02, 0xfa, 0xf0, 0,    0,    0,    0,    2, 4, 5, 0xb4};
	cr_assert_arr_eq(seg, want, sizeof want);
	sk_tcp_set_checksum(seg, 24, IP_A, IP_B);
	cr_assert_eq(sk_rd16(seg + 16), 0xe802); /* computed independently */
	cr_assert(sk_tcp_checksum_ok(seg, 24, IP_A, IP_B));
	cr_assert_not(sk_tcp_checksum_ok(seg, 24, IP_B + 1, IP_A));
}

Test(tcp_wire, checksum_odd_payload_known_answer)
{
	struct sk_tcp_repr r = {.src_port = 80,
	                        .dst_port = 40000,
	                        .seq = 1000,
	                        .ack = 0x01020305u,
	                        .flags = SK_TCP_PSH | SK_TCP_ACK,
	                        .window = 512,
	                        .mss = -1,
	                        .wscale = -1};
	uint8_t seg[SK_TCP_HLEN + 3];
	size_t h = sk_tcp_emit(&r, seg);
	memcpy(seg + h, "abc", 3);
	sk_tcp_set_checksum(seg, sizeof seg, IP_B, IP_A);
	cr_assert_eq(sk_rd16(seg + 16), 0x304b);
	cr_assert(sk_tcp_checksum_ok(seg, sizeof seg, IP_B, IP_A));
	seg[SK_TCP_HLEN + 2] ^= 1;
	cr_assert_not(sk_tcp_checksum_ok(seg, sizeof seg, IP_B, IP_A));
	cr_assert_not(sk_tcp_checksum_ok(seg, SK_TCP_HLEN - 1, IP_B, IP_A));
}

Test(tcp_wire, emit_parse_round_trip_all_options)
{
	struct sk_tcp_repr r = syn_repr();
	r.mss = 8960;
	r.wscale = 7;
	r.sack_permitted = true;
	r.has_timestamp = true;
	r.ts_val = 0xdeadbeef;
	r.ts_ecr = 0x11223344;
	uint8_t seg[SK_TCP_MAX_HLEN];
	size_t h = sk_tcp_emit(&r, seg);
	cr_assert_eq(h, 40);
	cr_assert_eq(h % 4, 0);
	struct sk_tcp_repr p;
	cr_assert_eq(sk_tcp_parse(seg, h, &p), 0);
	cr_assert_eq(p.mss, 8960);
	cr_assert_eq(p.wscale, 7);
	cr_assert(p.sack_permitted);
	cr_assert(p.has_timestamp);
	cr_assert_eq(p.ts_val, 0xdeadbeef);
	cr_assert_eq(p.ts_ecr, 0x11223344);
	cr_assert_eq(p.seq, r.seq);
	cr_assert_eq(p.window, r.window);
	cr_assert_eq(p.payload_len, 0);
}

Test(tcp_wire, emit_sack_permitted_without_timestamp)
{
	struct sk_tcp_repr r = syn_repr();
	r.sack_permitted = true;
	uint8_t seg[SK_TCP_MAX_HLEN];
	cr_assert_eq(sk_tcp_emit(&r, seg), 24);
	const uint8_t want[] = {1, 1, 4, 2};
	cr_assert_arr_eq(seg + SK_TCP_HLEN, want, 4);
	struct sk_tcp_repr p;
	cr_assert_eq(sk_tcp_parse(seg, 24, &p), 0);
	cr_assert(p.sack_permitted);
	cr_assert_not(p.has_timestamp);
}

Test(tcp_wire, emit_sack_blocks_cut_to_three_with_timestamps)
{
	struct sk_tcp_repr r = syn_repr();
	r.flags = SK_TCP_ACK;
	r.has_timestamp = true;
	r.sack_count = 4;
	for (uint32_t i = 0; i < 4; i++)
		r.sack[i] = (struct sk_tcp_sack_block){100 * i, 100 * i + 50};
	cr_assert_eq(sk_tcp_header_len(&r), 60);
	uint8_t seg[SK_TCP_MAX_HLEN];
	cr_assert_eq(sk_tcp_emit(&r, seg), 60);
	struct sk_tcp_repr p;
	cr_assert_eq(sk_tcp_parse(seg, 60, &p), 0);
	cr_assert_eq(p.sack_count, 3);
	cr_assert_eq(p.sack[2].left, 200);
	cr_assert_eq(p.sack[2].right, 250);
	cr_assert(p.has_timestamp);
}

Test(tcp_wire, emit_four_sack_blocks_without_timestamps)
{
	struct sk_tcp_repr r = syn_repr();
	r.flags = SK_TCP_ACK;
	r.sack_count = 4;
	for (uint32_t i = 0; i < 4; i++)
		r.sack[i] = (struct sk_tcp_sack_block){i + 1, i + 2};
	uint8_t seg[SK_TCP_MAX_HLEN];
	cr_assert_eq(sk_tcp_emit(&r, seg), 56);
	struct sk_tcp_repr p;
	cr_assert_eq(sk_tcp_parse(seg, 56, &p), 0);
	cr_assert_eq(p.sack_count, 4);
	cr_assert_eq(p.sack[3].right, 5);
}
