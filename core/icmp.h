/* ICMP (RFC 792): echo replies, and errors quoting our TCP segments
 * handed to TCP. */
#ifndef SYNACK_CORE_ICMP_H
#define SYNACK_CORE_ICMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipv4.h"
#include "sk_time.h"

struct sk_stack;

#define SK_ICMP_ECHO_REPLY   0
#define SK_ICMP_DEST_UNREACH 3
#define SK_ICMP_ECHO_REQUEST 8
#define SK_ICMP_FRAG_NEEDED  4 /* code of SK_ICMP_DEST_UNREACH */
#define SK_ICMP_HLEN         8

/* One ICMP message (the IP payload of `ip`). `csum_trusted`: the link
 * vouched for the L4 checksum (SK_RX_CSUM_TRUSTED). */
void sk_icmp_input(struct sk_stack *st, const struct sk_ipv4_repr *ip, const uint8_t *msg,
                   size_t len, bool csum_trusted, sk_time_t now);

#endif
