/* sk_stack_repair (stack.h): a stack whose last user died in the middle of
 * a call, made usable again or declared broken. Each module rebuilds what
 * it derives and checks what it cannot: TCP (tcp_repair.c), the ARP cache
 * (arp_cache.c), the loopback queue (loopback.c). */
#include <stdio.h>

#include "arp_cache.h"
#include "stack_impl.h"

int sk_stack_repair(struct sk_stack *st, char *why, size_t why_len)
{
	if (why && why_len)
		why[0] = '\0';
	if (!st->arp || !st->tcp) {
		if (why && why_len)
			snprintf(why, why_len, "the stack has no %s",
			         st->arp ? "TCP module" : "ARP cache");
		return -1;
	}
	sk_arp_repair(st);
	if (sk_loop_repair(st, why, why_len) < 0)
		return -1;
	return sk_tcp_repair(st, why, why_len);
}
