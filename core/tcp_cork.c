/* TCP_CORK and MSG_MORE (Linux tcp(7)): while corked, a partial segment
 * (less than an MSS of new data) is held so that several writes leave as
 * full segments; full segments, retransmissions and the FIN are never
 * held. Uncorking (or a send without MSG_MORE after sends with it) lets
 * the held data go under the normal rules (Nagle, RFC 9293 §3.7.4).
 *
 * The 200 ms ceiling: tcp(7) promises that corked output waits at most
 * 200 ms. Linux gets it from its zero-window probe timer; here it is a
 * timer of its own, started when a partial segment is first held at a
 * given SND.NXT: if SND.NXT has not moved when it fires, the held segment
 * goes once (subject to Nagle, like any short segment). A timer left
 * over from a segment that went meanwhile is ignored (lazy timers). */
#include "tcp.h"

#define TCP_CORK_CEILING SK_MS(200)

bool tcp_cork_hold(struct sk_stack *st, struct tcb *t, size_t avail, sk_time_t now)
{
	(void)st; /* tcp_output re-keys the heap after output_data */
	if (!t->cork && !t->more) {
		t->cork_due = false;
		return false;
	}
	/* Only new data shorter than an MSS; a window-limited cut of a full
	 * segment and retransmissions go as usual (Linux tcp_nagle_check
	 * looks at the queued segment, not at the window). */
	if (avail >= t->snd_mss || t->snd_nxt != t->snd_max)
		return false;
	if (t->cork_due && t->cork_seq == t->snd_nxt) {
		t->cork_due = false;
		return false; /* the ceiling passed: send it */
	}
	if (t->cork_at == SK_TIME_NEVER || t->cork_seq != t->snd_nxt) {
		t->cork_seq = t->snd_nxt;
		t->cork_at = now + TCP_CORK_CEILING;
		t->cork_due = false;
	}
	return true;
}

void tcp_cork_expired(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	if (t->cork_seq != t->snd_nxt)
		return; /* what was held has gone since */
	t->cork_due = true;
	tcp_output(st, t, now);
}

void tcp_cork_set(struct sk_stack *st, struct tcb *t, bool on, sk_time_t now)
{
	bool was = t->cork;

	t->cork = on;
	/* Linux __tcp_sock_set_cork: uncorking pushes the pending frames; a
	 * pending MSG_MORE hold ends with it. */
	if (was && !on) {
		t->more = false;
		t->cork_at = SK_TIME_NEVER;
		t->cork_due = false;
		if (tcp_state_synchronized(t->state))
			tcp_output(st, t, now);
		else
			tcp_timer_update(st, t);
	}
}
