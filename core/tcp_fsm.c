/* TCP states and the table of legal transitions (RFC 9293 §3.3.2,
 * Figure 5, plus the edges the seed and Linux add). */
#include "tcp_fsm.h"

#include <assert.h>

#include "tcp.h"

#define T(f, t, ev, rule)                                                                          \
	{                                                                                          \
		SK_TCP_##f, SK_TCP_##t, ev, rule                                                   \
	}

const struct tcp_transition tcp_transitions[] = {
    /* Opening. */
    T(CLOSED, LISTEN, "passive OPEN (listen)", "RFC 9293 §3.10.1"),
    T(CLOSED, SYN_SENT, "active OPEN (connect) / snd SYN", "RFC 9293 §3.10.1"),
    T(LISTEN, SYN_SENT, "SEND (connect on a listener) / snd SYN", "RFC 9293 §3.10.2"),
    T(LISTEN, SYN_RECEIVED, "rcv SYN / snd SYN,ACK", "RFC 9293 §3.10.7.2"),
    T(LISTEN, CLOSED, "CLOSE", "RFC 9293 §3.10.4"),
    T(SYN_SENT, ESTABLISHED, "rcv SYN,ACK / snd ACK", "RFC 9293 §3.10.7.3"),
    T(SYN_SENT, SYN_RECEIVED, "rcv SYN (simultaneous open) / snd SYN,ACK", "RFC 9293 §3.10.7.3"),
    T(SYN_SENT, CLOSED, "CLOSE, RST, timeout or unreachable",
      "RFC 9293 §3.10.4, §3.10.7.3, §3.8.3"),
    T(SYN_RECEIVED, ESTABLISHED, "rcv ACK of SYN", "RFC 9293 §3.10.7.4"),
    T(SYN_RECEIVED, LISTEN, "rcv RST (passive open)", "RFC 9293 §3.10.7.4"),
    T(SYN_RECEIVED, FIN_WAIT_1, "CLOSE / snd FIN", "RFC 9293 §3.10.4"),
    T(SYN_RECEIVED, CLOSED, "rcv RST (active open), SYN,ACK timeout or ABORT",
      "RFC 9293 §3.10.7.4, §3.8.3"),
    /* Data transfer and closing. */
    T(ESTABLISHED, FIN_WAIT_1, "CLOSE / snd FIN", "RFC 9293 §3.10.4"),
    T(ESTABLISHED, CLOSE_WAIT, "rcv FIN / snd ACK", "RFC 9293 §3.10.7.4"),
    T(ESTABLISHED, CLOSED, "rcv RST, ABORT or timeout", "RFC 9293 §3.10.7.4, §3.10.4"),
    T(FIN_WAIT_1, FIN_WAIT_2, "rcv ACK of FIN", "RFC 9293 §3.10.7.4"),
    T(FIN_WAIT_1, CLOSING, "rcv FIN (simultaneous close) / snd ACK", "RFC 9293 §3.10.7.4"),
    T(FIN_WAIT_1, TIME_WAIT, "rcv FIN,ACK of FIN / snd ACK", "RFC 9293 §3.10.7.4"),
    T(FIN_WAIT_1, CLOSED, "rcv RST, ABORT or timeout", "RFC 9293 §3.10.7.4, §3.10.4"),
    T(FIN_WAIT_2, TIME_WAIT, "rcv FIN / snd ACK", "RFC 9293 §3.10.7.4"),
    T(FIN_WAIT_2, CLOSED, "rcv RST, ABORT or orphan timeout",
      "RFC 9293 §3.10.7.4; Linux tcp_fin_timeout"),
    T(CLOSE_WAIT, LAST_ACK, "CLOSE / snd FIN", "RFC 9293 §3.10.4"),
    T(CLOSE_WAIT, CLOSED, "rcv RST, ABORT or timeout", "RFC 9293 §3.10.7.4, §3.10.4"),
    T(CLOSING, TIME_WAIT, "rcv ACK of FIN", "RFC 9293 §3.10.7.4"),
    T(CLOSING, CLOSED, "rcv RST, ABORT or timeout", "RFC 9293 §3.10.7.4, §3.10.4"),
    T(LAST_ACK, CLOSED, "rcv ACK of FIN, RST or timeout", "RFC 9293 §3.10.7.4"),
    T(TIME_WAIT, CLOSED,
      "2MSL timeout, a new SYN reuses the 4-tuple, or recycled: socket table full",
      "RFC 9293 §3.10.8; RFC 6191; Linux tcp_max_tw_buckets"),
};

const size_t tcp_transitions_len = sizeof(tcp_transitions) / sizeof(tcp_transitions[0]);

#undef T

bool tcp_transition_legal(enum sk_tcp_state from, enum sk_tcp_state to)
{
	for (size_t i = 0; i < tcp_transitions_len; i++)
		if (tcp_transitions[i].from == from && tcp_transitions[i].to == to)
			return true;
	return false;
}

const char *sk_tcp_state_name(enum sk_tcp_state s)
{
	switch (s) {
	case SK_TCP_ESTABLISHED:
		return "ESTABLISHED";
	case SK_TCP_SYN_SENT:
		return "SYN_SENT";
	case SK_TCP_SYN_RECEIVED:
		return "SYN_RECEIVED";
	case SK_TCP_FIN_WAIT_1:
		return "FIN_WAIT_1";
	case SK_TCP_FIN_WAIT_2:
		return "FIN_WAIT_2";
	case SK_TCP_TIME_WAIT:
		return "TIME_WAIT";
	case SK_TCP_CLOSED:
		return "CLOSED";
	case SK_TCP_CLOSE_WAIT:
		return "CLOSE_WAIT";
	case SK_TCP_LAST_ACK:
		return "LAST_ACK";
	case SK_TCP_LISTEN:
		return "LISTEN";
	case SK_TCP_CLOSING:
		return "CLOSING";
	}
	return "?";
}

bool tcp_state_synchronized(enum sk_tcp_state s)
{
	switch (s) {
	case SK_TCP_ESTABLISHED:
	case SK_TCP_FIN_WAIT_1:
	case SK_TCP_FIN_WAIT_2:
	case SK_TCP_CLOSE_WAIT:
	case SK_TCP_CLOSING:
	case SK_TCP_LAST_ACK:
	case SK_TCP_TIME_WAIT:
		return true;
	default:
		return false;
	}
}

void tcp_set_state(struct sk_stack *st, struct tcb *t, enum sk_tcp_state to, const char *cause,
                   sk_time_t now)
{
	enum sk_tcp_state from = t->state;

	/* Linear in a table of ~27 rows, once per transition: not per
	 * segment, and the table is what must stay readable. */
	assert(tcp_transition_legal(from, to) && "illegal TCP state transition");
	t->state = to;
	/* Its age for sk_sock_view: from connect(), listen(), or the SYN
	 * that made a passive child (born LISTEN, tcp_input.c). */
	if (from == SK_TCP_CLOSED || t->since == SK_TIME_NEVER)
		t->since = now;
	tcp_ka_state(st, t, now); /* keepalive and cork timers follow the state */
	if (st->hooks.state_change) {
		struct sk_state_change ev = {
		    .now = now,
		    .sock = t->id,
		    .local = {t->laddr ? t->laddr : st->cfg.addr, t->lport},
		    .remote = {t->raddr, t->rport},
		    .from = from,
		    .to = to,
		    .cause = cause,
		    /* The negotiated MSS (RFC 9293 §3.7.1: the smaller of
		     * both SYNs' options), what the seed's timeline shows; the
		     * payload per segment is this less the TSopt (TCP_MAXSEG). */
		    .mss = t->snd_mss ? (uint16_t)(t->snd_mss + tcp_opts_space(t)) : 0,
		};
		st->hooks.state_change(st->hooks.ctx, &ev);
	}
	sk_wake(st, t->id);
}
