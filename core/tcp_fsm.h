/* The TCP state machine as data: every legal transition, with the event
 * that causes it and the rule that allows it. tcp_set_state() refuses any
 * pair not listed here, and docs/state-machine.svg is generated from this
 * table, so the diagram and the code cannot drift (issue 3, item 6). */
#ifndef SYNACK_CORE_TCP_FSM_H
#define SYNACK_CORE_TCP_FSM_H

#include <stdbool.h>
#include <stddef.h>

#include "stack.h"

struct tcp_transition {
	enum sk_tcp_state from, to;
	const char *event; /* what causes it, as the diagram labels the edge */
	const char *rule;  /* where it is specified */
};

extern const struct tcp_transition tcp_transitions[];
extern const size_t tcp_transitions_len;

/* Is from -> to in the table? */
bool tcp_transition_legal(enum sk_tcp_state from, enum sk_tcp_state to);

#endif
