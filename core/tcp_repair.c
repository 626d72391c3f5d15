/* sk_stack_repair's TCP part: after a process died holding the stack's
 * lock in the middle of a call, the indexes of tcp.h (free list,
 * connection and bind tables, children by port, timer heap, the TIME_WAIT
 * table's links) may be half-updated. Each is derived from the slots' own
 * fields (in_use, in_conn_table, in_bind_table, in_bind_child, the
 * deadlines; an entry's in_use), so it is rebuilt from them
 * (tcp_tw_repair for the table). A listener's SYN and accept
 * lists are kept in their order when their links hold together, and what
 * a broken link cut off is appended (its order is lost, its connections
 * are not). What has no second copy (ring bounds, states, option and
 * scoreboard counts) is only checked: a bad value makes the stack
 * unusable.
 *
 * No memory is allocated (the region may be what ran out): a walk marks
 * the slots it passed in their own links (MARK) and is bounded by the
 * slots ever handed out (hwm: the others are untouched, free). */
#include <stdarg.h>
#include <stdio.h>

#include "tcp.h"

#define MARK (-2) /* a link not yet rebuilt */

static int fail(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool ring_ok(const struct sk_ringbuf *rb)
{
	if (!rb->buf)
		return rb->len == 0 && rb->head == 0;
	return rb->len <= rb->cap && (rb->head < rb->cap || (rb->cap == 0 && rb->head == 0));
}

static bool state_ok(enum sk_tcp_state s)
{
	return s >= SK_TCP_ESTABLISHED && s <= SK_TCP_CLOSING;
}

/* What cannot be rebuilt, for one slot in use. */
static int check_slot(const struct tcb *t, char *why, size_t len)
{
	if (!state_ok(t->state))
		return fail(why, len, "socket %d: invalid state %d", t->id, (int)t->state);
	if (!ring_ok(&t->snd))
		return fail(why, len, "socket %d: send ring head %zu len %zu outside capacity %zu",
		            t->id, t->snd.head, t->snd.len, t->snd.cap);
	if (!ring_ok(&t->rcv))
		return fail(why, len,
		            "socket %d: receive ring head %zu len %zu outside capacity %zu", t->id,
		            t->rcv.head, t->rcv.len, t->rcv.cap);
	if (t->reass.n > TCP_REASS_MAX || t->sb.n > TCP_SACK_SB_MAX)
		return fail(why, len, "socket %d: out-of-order or SACK block count out of range",
		            t->id);
	if (t->cc_algo > TCP_CC_NEWRENO)
		return fail(why, len, "socket %d: unknown congestion control %u", t->id,
		            (unsigned)t->cc_algo);
	if (t->direct_buf && t->direct_done > t->direct_len)
		return fail(why, len, "socket %d: direct receive past its buffer", t->id);
	return 0;
}

static bool slot_ok(const struct sk_tcp *tcp, int32_t id)
{
	return id >= 0 && (uint32_t)id < tcp->hwm && tcp_tcbs(tcp)[id].in_use;
}

/* ---- the listeners' lists ---- */

/* Is c, by its own fields, a child of listener l on the list `acc`, not
 * yet relinked? */
static bool child_of(const struct sk_tcp *tcp, int32_t c, const struct tcb *l, bool acc)
{
	const struct tcb *t = &tcp_tcbs(tcp)[c];

	return slot_ok(tcp, c) && t->parent == l->id && t->in_accept_queue == acc &&
	       t->q_prev == MARK;
}

/* Relink l's list `acc` from its head as far as the links hold. */
static void list_walk(struct sk_tcp *tcp, struct tcb *l, bool acc)
{
	struct tcb *tcbs = tcp_tcbs(tcp);
	int32_t prev = TCP_NIL, i = acc ? l->acc_head : l->syn_head;

	if (acc)
		l->acc_head = TCP_NIL;
	else
		l->syn_head = TCP_NIL;
	for (uint32_t n = 0; n < tcp->hwm && child_of(tcp, i, l, acc); n++) {
		int32_t next = tcbs[i].q_next;

		tcbs[i].q_prev = prev;
		tcbs[i].q_next = TCP_NIL;
		if (prev == TCP_NIL)
			*(acc ? &l->acc_head : &l->syn_head) = i;
		else
			tcbs[prev].q_next = i;
		prev = i;
		if (acc)
			l->acc_count++;
		else
			l->syn_count++;
		i = next;
	}
	if (acc)
		l->acc_tail = prev;
}

/* A child the walk did not reach: onto the tail of its list (the accept
 * queue keeps oldest first; the SYN list has no order that matters). */
static void list_append(struct sk_tcp *tcp, struct tcb *l, struct tcb *c)
{
	struct tcb *tcbs = tcp_tcbs(tcp);
	int32_t *head = c->in_accept_queue ? &l->acc_head : &l->syn_head;
	int32_t tail = c->in_accept_queue ? l->acc_tail : TCP_NIL;

	if (!c->in_accept_queue)
		for (int32_t i = *head; i != TCP_NIL; i = tcbs[i].q_next)
			tail = i;
	c->q_prev = tail;
	c->q_next = TCP_NIL;
	if (tail == TCP_NIL)
		*head = c->id;
	else
		tcbs[tail].q_next = c->id;
	if (c->in_accept_queue) {
		l->acc_tail = c->id;
		l->acc_count++;
	} else {
		l->syn_count++;
	}
}

static void repair_lists(struct sk_tcp *tcp)
{
	struct tcb *tcbs = tcp_tcbs(tcp);

	/* A child whose listener is gone is nobody's child any more. */
	for (uint32_t i = 0; i < tcp->hwm; i++) {
		struct tcb *c = &tcbs[i];

		if (!c->in_use || c->parent == TCP_NIL)
			continue;
		if (!slot_ok(tcp, c->parent) || tcbs[c->parent].state != SK_TCP_LISTEN) {
			c->parent = c->q_prev = c->q_next = TCP_NIL;
			c->in_accept_queue = false;
		} else {
			c->q_prev = MARK;
		}
	}
	for (uint32_t i = 0; i < tcp->hwm; i++) {
		struct tcb *l = &tcbs[i];

		if (!l->in_use || l->state != SK_TCP_LISTEN) {
			l->syn_head = l->acc_head = l->acc_tail = TCP_NIL;
			l->syn_count = l->acc_count = 0;
			continue;
		}
		l->syn_count = l->acc_count = 0;
		list_walk(tcp, l, false);
		list_walk(tcp, l, true);
	}
	for (uint32_t i = 0; i < tcp->hwm; i++)
		if (tcbs[i].in_use && tcbs[i].parent != TCP_NIL && tcbs[i].q_prev == MARK)
			list_append(tcp, &tcbs[tcbs[i].parent], &tcbs[i]);
}

int sk_tcp_repair(struct sk_stack *st, char *why, size_t len)
{
	struct sk_tcp *tcp = sk_tcp_of(st);
	struct tcb *tcbs = tcp_tcbs(tcp);
	uint32_t buckets = tcp->conn_mask + 1;

	if (!tcbs || !tcp->heap || !tcp->conn_buckets || !tcp->bind_buckets ||
	    !tcp->bind_child_buckets)
		return fail(why, len, "the socket arena or its tables are missing");
	if (tcp->nslots == 0 || (buckets & tcp->conn_mask) || tcp->bind_mask != tcp->conn_mask ||
	    buckets < tcp->nslots || tcp->hwm > tcp->nslots)
		return fail(why, len,
		            "socket table geometry damaged (%u slots, %u used, %u buckets)",
		            tcp->nslots, tcp->hwm, buckets);
	for (uint32_t i = 0; i < tcp->hwm; i++) {
		tcbs[i].id = (int32_t)i;
		if (tcbs[i].in_use && check_slot(&tcbs[i], why, len) < 0)
			return -1;
		if (!tcbs[i].in_use && (tcbs[i].snd.buf || tcbs[i].rcv.buf))
			return fail(why, len, "free socket %u holds ring storage", i);
	}

	/* The tables, from each slot's flags. */
	int32_t *conn = tcp_conn_buckets(tcp), *bind = tcp_bind_buckets(tcp),
	        *bchild = tcp_bind_child_buckets(tcp);
	for (uint32_t b = 0; b < buckets; b++)
		conn[b] = bind[b] = bchild[b] = TCP_NIL;
	tcp->free_head = TCP_NIL;
	tcp->heap_len = 0;
	for (uint32_t k = tcp->hwm; k-- > 0;) {
		struct tcb *t = &tcbs[k];

		t->heap_pos = TCP_NIL;
		t->deadline = SK_TIME_NEVER;
		if (!t->in_use) {
			t->in_conn_table = t->in_bind_table = t->in_bind_child = false;
			t->conn_next = tcp->free_head; /* lowest slots first */
			tcp->free_head = t->id;
			continue;
		}
		if (t->in_conn_table) {
			uint32_t b = tcp_conn_bucket(tcp, t->laddr, t->lport, t->raddr, t->rport);

			t->conn_next = conn[b];
			conn[b] = t->id;
		} else {
			t->conn_next = TCP_NIL;
		}
		uint32_t pb = tcp_bind_bucket(tcp, t->lport);

		t->bind_next = TCP_NIL;
		if (t->in_bind_table) {
			t->bind_next = bind[pb];
			bind[pb] = t->id;
		}
		t->bchild_prev = t->bchild_next = TCP_NIL;
		if (t->in_bind_child) {
			t->bchild_next = bchild[pb];
			if (bchild[pb] != TCP_NIL)
				tcbs[bchild[pb]].bchild_prev = t->id;
			bchild[pb] = t->id;
		}
	}
	if (tcp_tw_repair(st, why, len) < 0)
		return -1;
	repair_lists(tcp);
	/* The heap last: tcp_timer_update inserts every slot with a
	 * deadline. */
	for (uint32_t k = 0; k < tcp->hwm; k++)
		if (tcbs[k].in_use)
			tcp_timer_update(st, &tcbs[k]);
	return 0;
}
