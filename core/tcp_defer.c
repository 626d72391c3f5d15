/* TCP_DEFER_ACCEPT (Linux semantics): a listener with it set does not
 * complete a connection on the bare ACK of its SYN,ACK. The child stays in
 * SYN_RECEIVED, invisible to accept() and poll(), until the peer sends data
 * (the ACK carrying it completes the handshake as usual) or the deferral
 * runs out. As Linux (inet_csk_reqsk_queue / syn_ack_recalc in
 * net/ipv4/inet_connection_sock.c, tcp_check_req in tcp_minisocks.c):
 *   - the deferral is a number of SYN,ACK timeouts, converted from seconds
 *     with the 1 s initial timeout doubling up to 120 s (secs_to_retrans);
 *   - while an ACKed child waits, its SYN,ACK timer keeps running (doubling)
 *     but resends nothing, except at the last timeout of the period, which
 *     resends the SYN,ACK so the peer's ACK comes again and now completes
 *     the connection;
 *   - a child that never gets data expires silently (no RST) after
 *     max(tcp_synack_retries, the deferral) timeouts.
 */
#include "tcp.h"

/* Seconds -> SYN,ACK timeouts (Linux secs_to_retrans, timeout 1 s, 120 s cap). */
int tcp_defer_from_secs(int secs)
{
	int res = 0, timeout = 1, period = 1;

	if (secs <= 0)
		return 0;
	res = 1;
	while (secs > period && res < 255) {
		res++;
		timeout <<= 1;
		if (timeout > 120)
			timeout = 120;
		period += timeout;
	}
	return res;
}

/* The inverse, for getsockopt (Linux retrans_to_secs). */
int tcp_defer_to_secs(int retrans)
{
	int period = 0, timeout = 1;

	if (retrans > 0) {
		period = timeout;
		while (--retrans) {
			timeout <<= 1;
			if (timeout > 120)
				timeout = 120;
			period += timeout;
		}
	}
	return period;
}

static uint32_t defer_of(struct sk_stack *st, const struct tcb *c)
{
	if (!c->passive || c->parent == TCP_NIL)
		return 0;
	return tcp_tcb(st, c->parent)->defer_accept;
}

bool tcp_defer_hold(struct sk_stack *st, struct tcb *c, const struct sk_tcp_repr *r)
{
	uint32_t d = defer_of(st, c);

	/* tcp_check_req: a bare ACK (no data, no FIN) while fewer timeouts
	 * than the deferral have passed is dropped; the child is marked
	 * ACKed (inet_rsk(req)->acked). */
	if (!d || r->payload_len > 0 || (r->flags & SK_TCP_FIN) || c->retries >= d)
		return false;
	c->defer_acked = true;
	return true;
}

enum tcp_defer_rto tcp_defer_rto(struct sk_stack *st, const struct tcb *c)
{
	uint32_t d = defer_of(st, c);
	uint32_t k = c->retries; /* timeouts so far: Linux req->num_timeout */

	if (!d || !c->defer_acked)
		return TCP_DEFER_NONE;
	if (k >= TCP_SYNACK_RETRIES && k >= d)
		return TCP_DEFER_EXPIRE;
	return k + 1 >= d ? TCP_DEFER_NONE : TCP_DEFER_WAIT;
}
