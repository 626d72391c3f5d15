/* sk_stack_repair: a process died holding the stack's lock in the middle
 * of a call. The indexes derived from the socket arena (tables, free list,
 * timer heap, listeners' lists) and the TIME_WAIT table's links are
 * scribbled over, as a
 * half-done update might leave them, and must come back so that traffic
 * goes on; a field with no second copy (a ring's length) must be reported. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../core/tcp.h"
#include "pair.h"

struct scene {
	struct pair *p;
	int l;            /* B's listener on 5002 */
	int a_tw;         /* A's orphan in TIME_WAIT (in the table): ends at 2 MSL */
	int a1, b1;       /* an established, accepted connection */
	int a_q[2];       /* A's side of two connections in B's accept queue */
	int a_half;       /* A in SYN_SENT: B holds a half-open child */
	bool drop_synack; /* the filter's switch */
};

static bool filter(void *ctx, struct pair_end *to, const uint8_t *frame, size_t len)
{
	struct scene *s = ctx;
	struct sk_tcp_repr r;

	return !(s->drop_synack && to->addr == PAIR_A_IP && pair_frame_tcp(frame, len, &r) &&
	         (r.flags & SK_TCP_SYN));
}

static int connect_a(struct scene *s)
{
	int a = sk_socket(s->p->a.st);

	cr_assert_geq(a, 0);
	cr_assert_eq(sk_connect(s->p->a.st, a, PAIR_B_IP, 5002, s->p->now), -EINPROGRESS);
	pair_run_for(s->p, SK_MS(1));
	return a;
}

static void scene_up(struct scene *s)
{
	struct pair *p = pair_new(&(struct pair_opts){.introduce = true});
	int b;

	*s = (struct scene){.p = p};
	p->filter = filter;
	p->filter_ctx = s;
	s->l = pair_bound_socket(&p->b, 5002);
	cr_assert_eq(sk_listen(p->b.st, s->l, 8, p->now), 0);
	/* TIME_WAIT on A: A closes first. */
	s->a_tw = connect_a(s);
	b = sk_accept(p->b.st, s->l, NULL);
	cr_assert_geq(b, 0);
	sk_close(p->a.st, s->a_tw, p->now);
	pair_run_for(p, SK_MS(1));
	sk_close(p->b.st, b, p->now);
	pair_run_for(p, SK_MS(1));
	cr_assert_eq(pair_last_state(&p->a), SK_TCP_TIME_WAIT);
	/* One accepted, two waiting in the accept queue, one half-open. */
	s->a1 = connect_a(s);
	s->b1 = sk_accept(p->b.st, s->l, NULL);
	cr_assert_geq(s->b1, 0);
	s->a_q[0] = connect_a(s);
	s->a_q[1] = connect_a(s);
	s->drop_synack = true;
	s->a_half = connect_a(s);
	cr_assert_eq(sk_sock_state(p->a.st, s->a_half), SK_TCP_SYN_SENT);
	cr_assert_eq(tcp_tcb(p->b.st, s->l)->syn_count, 1);
	cr_assert_eq(tcp_tcb(p->b.st, s->l)->acc_count, 2);
}

/* What a call cut short could leave, and worse: every derived index
 * garbage, pointing anywhere, the accept queue in a cycle. */
static void scribble(struct sk_stack *st, int listener)
{
	struct sk_tcp *tcp = sk_tcp_of(st);
	struct tcb *tcbs = tcp_tcbs(tcp);

	for (uint32_t i = 0; i <= tcp->conn_mask; i++) {
		tcp_conn_buckets(tcp)[i] = (int32_t)(i * 7919u % 1000003u);
		tcp_bind_buckets(tcp)[i] = -5;
		tcp_bind_child_buckets(tcp)[i] = (int32_t)tcp->nslots + 3;
	}
	for (uint32_t i = 0; i < tcp->nslots; i++) {
		tcp_heap(tcp)[i] = 0x7fffffff;
		tcbs[i].heap_pos = (int32_t)(i ^ 0x55);
		tcbs[i].conn_next = tcbs[i].bind_next = (int32_t)i; /* self-loops */
		tcbs[i].bchild_prev = tcbs[i].bchild_next = 12345;
		tcbs[i].deadline = 1;
	}
	tcp->heap_len = tcp->nslots / 2 + 7;
	tcp->free_head = 77777;
	struct tcp_tw *tw = sk_rel_get(&tcp->tw_entries);
	int32_t *tw_conn = sk_rel_get(&tcp->tw_conn_buckets),
	        *tw_port = sk_rel_get(&tcp->tw_port_buckets);
	for (uint32_t i = 0; i <= tcp->tw_mask; i++)
		tw_conn[i] = tw_port[i] = (int32_t)(i * 31u);
	for (uint32_t i = 0; i < tcp->tw_used; i++) {
		tw[i].conn_next = tw[i].older = tw[i].newer = (int32_t)i;
		tw[i].port_prev = tw[i].port_next = 12345;
	}
	tcp->tw_oldest = tcp->tw_newest = 99;
	tcp->tw_free = 77;
	if (listener >= 0) {
		struct tcb *l = &tcbs[listener];
		int32_t c = l->acc_head;

		tcbs[c].q_next = c; /* a cycle: the second child is cut off */
		l->acc_count = 1000;
		l->syn_head = TCP_NIL; /* the half-open child is lost from view */
		l->syn_count = 0;
	}
}

/* The heap is a heap and every slot knows its place in it. */
static void assert_heap(struct sk_stack *st)
{
	struct sk_tcp *tcp = sk_tcp_of(st);
	struct tcb *tcbs = tcp_tcbs(tcp);
	uint32_t with_deadline = 0, free_slots = 0;

	for (uint32_t i = 0; i < tcp->heap_len; i++) {
		int32_t id = tcp_heap(tcp)[i];

		cr_assert_eq(tcbs[id].heap_pos, (int32_t)i);
		if (i)
			cr_assert_leq(tcbs[tcp_heap(tcp)[(i - 1) / 2]].deadline, tcbs[id].deadline);
	}
	for (uint32_t i = 0; i < tcp->nslots; i++)
		with_deadline += tcbs[i].in_use && tcbs[i].deadline != SK_TIME_NEVER;
	cr_assert_eq(with_deadline, tcp->heap_len);
	for (int32_t i = tcp->free_head; i != TCP_NIL; i = tcbs[i].conn_next) {
		cr_assert(!tcbs[i].in_use);
		cr_assert_leq(++free_slots, tcp->nslots);
	}
	uint32_t used = 0;
	for (int s = sk_next_socket(st, -1); s >= 0; s = sk_next_socket(st, s))
		used++;
	/* Every slot handed out so far is free or used; the rest were never
	 * touched (tcp.h hwm). */
	cr_assert_eq(free_slots + used, tcp->hwm);
}

static void exchange(struct pair *p, int a, int b)
{
	uint8_t buf[64];

	cr_assert_eq(sk_send(p->a.st, a, "ping", 4, p->now), 4);
	cr_assert_eq(sk_send(p->b.st, b, "pong!", 5, p->now), 5);
	pair_run_for(p, SK_MS(50)); /* and the delayed ACKs (Nagle waits for them) */
	cr_assert_eq(sk_recv(p->b.st, b, buf, sizeof(buf), 0, p->now), 4);
	cr_assert_eq(memcmp(buf, "ping", 4), 0);
	cr_assert_eq(sk_recv(p->a.st, a, buf, sizeof(buf), 0, p->now), 5);
	cr_assert_eq(memcmp(buf, "pong!", 5), 0);
}

Test(stack_repair, derived_indexes_come_back_and_traffic_goes_on)
{
	struct scene s;
	char why[128];

	scene_up(&s);
	struct pair *p = s.p;
	scribble(p->a.st, -1);
	scribble(p->b.st, s.l);
	cr_assert_eq(sk_stack_repair(p->a.st, why, sizeof(why)), 0, "A: %s", why);
	cr_assert_eq(sk_stack_repair(p->b.st, why, sizeof(why)), 0, "B: %s", why);
	assert_heap(p->a.st);
	assert_heap(p->b.st);
	struct tcb *l = tcp_tcb(p->b.st, s.l);
	cr_expect_eq(l->acc_count, 2, "the child cut off by the cycle is back");
	cr_expect_eq(l->syn_count, 1, "the half-open child is back");

	/* The established connection carries data (connection table). */
	exchange(p, s.a1, s.b1);
	/* The queued children are accepted, oldest first, and work. */
	int q0 = sk_accept(p->b.st, s.l, NULL), q1 = sk_accept(p->b.st, s.l, NULL);
	cr_assert_geq(q0, 0);
	cr_assert_geq(q1, 0);
	cr_assert_eq(sk_accept(p->b.st, s.l, NULL), -EAGAIN);
	struct sk_endpoint peer, first;
	cr_assert_eq(sk_getpeername(p->b.st, q0, &peer), 0);
	cr_assert_eq(sk_getsockname(p->a.st, s.a_q[0], &first), 0);
	cr_expect_eq(peer.port, first.port, "the accept queue kept its order");
	exchange(p, s.a_q[0], q0);
	exchange(p, s.a_q[1], q1);
	/* The half-open one completes when the SYN,ACK gets through (its
	 * retransmission timer is in the rebuilt heap). */
	s.drop_synack = false;
	pair_run_for(p, SK_SEC(4));
	cr_assert_eq(sk_sock_state(p->a.st, s.a_half), SK_TCP_ESTABLISHED);
	int h = sk_accept(p->b.st, s.l, NULL);
	cr_assert_geq(h, 0);
	exchange(p, s.a_half, h);
	/* A new connection (bind table, free list, ephemeral ports). */
	int a_new = connect_a(&s), b_new = sk_accept(p->b.st, s.l, NULL);
	cr_assert_geq(b_new, 0);
	exchange(p, a_new, b_new);
	/* The port of the listener is still taken (bind table). */
	int other = sk_socket(p->b.st);
	cr_assert_eq(sk_bind(p->b.st, other, PAIR_B_IP, 5002), -EADDRINUSE);
	sk_close(p->b.st, other, p->now);
	/* The TIME_WAIT is in the table, found by its 4-tuple: the peer's
	 * FIN again gets an ACK, not a RST. It ends at 2 MSL (the FIFO). */
	cr_assert_eq(sk_time_wait_count(p->a.st), 1);
	struct sk_tw_view v;
	cr_assert_eq(sk_time_wait_next(p->a.st, -1, &v), 0);
	struct tcp_tw *tw = tcp_tw_lookup(p->a.st, v.local.addr, v.local.port, v.remote.addr,
	                                  v.remote.port);
	cr_assert_not_null(tw, "the 4-tuple hash was rebuilt");
	pair_run_for(p, SK_SEC(61));
	cr_assert_eq(sk_time_wait_count(p->a.st), 0);
	assert_heap(p->a.st);
	pair_free(p);
}

Test(stack_repair, a_ring_longer_than_its_capacity_is_reported)
{
	struct scene s;
	char why[128] = "";

	scene_up(&s);
	struct tcb *t = tcp_tcb(s.p->a.st, s.a1);
	exchange(s.p, s.a1, s.b1); /* the rings have storage */
	t->rcv.len = t->rcv.cap + 1;
	cr_assert_eq(sk_stack_repair(s.p->a.st, why, sizeof(why)), -1);
	cr_assert_neq(strstr(why, "receive ring"), NULL, "reason: %s", why);
	t->rcv.len = 0;
	t->state = (enum sk_tcp_state)42;
	cr_assert_eq(sk_stack_repair(s.p->a.st, why, sizeof(why)), -1);
	cr_assert_neq(strstr(why, "invalid state"), NULL, "reason: %s", why);
	t->state = SK_TCP_ESTABLISHED;
	cr_assert_eq(sk_stack_repair(s.p->a.st, why, sizeof(why)), 0, "%s", why);
	exchange(s.p, s.a1, s.b1);
	pair_free(s.p);
}
