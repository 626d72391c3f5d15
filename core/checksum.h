/* The Internet checksum (RFC 1071), with the TCP/UDP pseudo-header. */
#ifndef SYNACK_CORE_CHECKSUM_H
#define SYNACK_CORE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Add `len` bytes to a running 32-bit one's-complement sum (not folded).
 * Its meaning is its fold to 16 bits (RFC 1071): the 32 bits themselves are
 * one representative of it and may differ between implementations. A
 * chained call continues the byte stream when the earlier parts had even
 * lengths. */
uint32_t sk_csum_add(uint32_t sum, const void *data, size_t len);

/* Fold a running sum to 16 bits and complement it: the value to store. */
uint16_t sk_csum_finish(uint32_t sum);

/* Sum of the IPv4 pseudo-header (RFC 9293 §3.1): addresses in host order,
 * l4_len = TCP header + payload length. */
uint32_t sk_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint32_t l4_len);

#endif
