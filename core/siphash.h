/* SipHash-2-4 (Aumasson & Bernstein, 2012): a keyed PRF over short inputs.
 * Used where an attacker must not predict or collide hashes: the RFC 6528
 * ISN offset F() and the connection hash table's bucket index. */
#ifndef SYNACK_CORE_SIPHASH_H
#define SYNACK_CORE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit SipHash-2-4 of len bytes of `in` under the 16-byte `key`. */
uint64_t sk_siphash24(const uint8_t key[16], const void *in, size_t len);

#endif
