/* The transition table (core/tcp_fsm.c) against the seed: every edge of
 * TCP/IP Illustrated's figure 18.12 (../shared/seed/README.md, item 4) must
 * be a legal transition, and nothing outside RFC 9293's states may appear.
 * The diagram in docs/ is generated from the same table. */
#include <criterion/criterion.h>

#include "../../core/tcp_fsm.h"

#define S(x) SK_TCP_##x

struct edge {
	enum sk_tcp_state from, to;
	const char *why;
};

static const struct edge seed_edges[] = {
	{S(CLOSED), S(LISTEN), "passive open"},
	{S(CLOSED), S(SYN_SENT), "active open"},
	{S(LISTEN), S(SYN_RECEIVED), "rcv SYN"},
	{S(LISTEN), S(SYN_SENT), "send data on a listener"},
	{S(LISTEN), S(CLOSED), "close a listener"},
	{S(SYN_RECEIVED), S(LISTEN), "rcv RST"},
	{S(SYN_RECEIVED), S(ESTABLISHED), "rcv ACK"},
	{S(SYN_RECEIVED), S(FIN_WAIT_1), "close before established"},
	{S(SYN_SENT), S(SYN_RECEIVED), "simultaneous open"},
	{S(SYN_SENT), S(ESTABLISHED), "rcv SYN+ACK"},
	{S(SYN_SENT), S(CLOSED), "timeout or close"},
	{S(ESTABLISHED), S(FIN_WAIT_1), "active close"},
	{S(ESTABLISHED), S(CLOSE_WAIT), "rcv FIN"},
	{S(CLOSE_WAIT), S(LAST_ACK), "passive close"},
	{S(LAST_ACK), S(CLOSED), "rcv ACK of FIN"},
	{S(FIN_WAIT_1), S(FIN_WAIT_2), "rcv ACK of FIN"},
	{S(FIN_WAIT_1), S(CLOSING), "simultaneous close"},
	{S(FIN_WAIT_1), S(TIME_WAIT), "rcv FIN+ACK"},
	{S(CLOSING), S(TIME_WAIT), "rcv ACK of FIN"},
	{S(FIN_WAIT_2), S(TIME_WAIT), "rcv FIN"},
	{S(TIME_WAIT), S(CLOSED), "2MSL timeout"},
};

Test(fsm_table, every_seed_edge_is_legal)
{
	for (size_t i = 0; i < sizeof(seed_edges) / sizeof(seed_edges[0]); i++) {
		const struct edge *e = &seed_edges[i];
		cr_expect(tcp_transition_legal(e->from, e->to), "seed edge %s -> %s (%s) missing",
			  sk_tcp_state_name(e->from), sk_tcp_state_name(e->to), e->why);
	}
}

Test(fsm_table, every_row_has_an_event_and_a_rule)
{
	for (size_t i = 0; i < tcp_transitions_len; i++) {
		const struct tcp_transition *t = &tcp_transitions[i];
		cr_expect(t->event && t->event[0], "row %zu has no event", i);
		cr_expect(t->rule && t->rule[0], "row %zu has no rule", i);
		cr_expect_neq(t->from, t->to, "row %zu is a self-loop", i);
		cr_expect_str_neq(sk_tcp_state_name(t->from), "?");
		cr_expect_str_neq(sk_tcp_state_name(t->to), "?");
	}
}

Test(fsm_table, no_duplicate_rows)
{
	for (size_t i = 0; i < tcp_transitions_len; i++)
		for (size_t j = i + 1; j < tcp_transitions_len; j++)
			cr_expect(!(tcp_transitions[i].from == tcp_transitions[j].from &&
				    tcp_transitions[i].to == tcp_transitions[j].to),
				  "rows %zu and %zu are the same edge", i, j);
}

Test(fsm_table, illegal_edges_are_refused)
{
	/* Edges no TCP may take: e.g. the level-ip bug of RST -> TIME_WAIT. */
	cr_expect(!tcp_transition_legal(S(ESTABLISHED), S(TIME_WAIT)));
	cr_expect(!tcp_transition_legal(S(CLOSED), S(ESTABLISHED)));
	cr_expect(!tcp_transition_legal(S(LISTEN), S(ESTABLISHED)));
	cr_expect(!tcp_transition_legal(S(TIME_WAIT), S(ESTABLISHED)));
	cr_expect(!tcp_transition_legal(S(CLOSE_WAIT), S(FIN_WAIT_1)));
}
