/* The TIME_WAIT table: connections the program closed wait out 2·MSL
 * (RFC 9293 §3.10.8) here, not in the socket arena.
 *
 * A server that closes first leaves one TIME_WAIT per connection for a
 * minute: thousands at a few hundred connections per second. As a full
 * TCB each would hold a slot of the arena (about 1.2 KiB) that a live
 * connection could use. What TIME_WAIT still does fits in a few dozen
 * bytes: re-acknowledge the peer's retransmitted FIN, answer stray
 * segments, keep the 4-tuple and the local port from a new incarnation,
 * and let a new SYN above the old sequence space reopen it (RFC 6191).
 * Linux does the same with its inet_timewait_sock (net/ipv4/
 * tcp_minisocks.c, tcp_timewait_state_process).
 *
 * The table lives in the stack's memory beside the arena: tw_cap entries,
 * handed out from a free list and, while that is empty, from the never
 * used part above tw_used (so untouched entries cost no memory), two hashes (4-tuple,
 * local port) whose buckets hold index + 1 (zeroed memory is an empty
 * table) and a FIFO by expiry. Every entry's 2·MSL is the same length, so
 * the FIFO is in expiry order as long as an entry whose FIN came again
 * moves to its newest end: timers look at the oldest only. When the table
 * is full the oldest ends early, as Linux ends them past
 * tcp_max_tw_buckets ("time wait bucket table overflow"): what TIME_WAIT
 * guards against is then left to PAWS (RFC 7323) and the ISN clock (RFC
 * 6528).
 *
 * A connection the program still holds stays in its slot in TIME_WAIT
 * (getsockopt and poll still see it) and comes here at close(). */
#include <stdio.h>
#include <string.h>

#include "seq.h"
#include "siphash.h"
#include "tcp.h"

#define TW_MAX (1u << 24)

static uint32_t tw_capacity(const struct sk_config *cfg)
{
	uint64_t n = cfg->max_time_wait ? cfg->max_time_wait : 4ull * cfg->max_sockets;

	return n > TW_MAX ? TW_MAX : (uint32_t)n;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

size_t tcp_tw_size_hint(const struct sk_config *cfg)
{
	uint32_t n = tw_capacity(cfg);

	return n * sizeof(struct tcp_tw) + 2u * pow2_at_least(n) * sizeof(int32_t);
}

static struct tcp_tw *entries(const struct sk_tcp *tcp)
{
	return sk_rel_get(&tcp->tw_entries);
}

/* ---- buckets: index + 1, 0 = empty ---- */

static int32_t *conn_bucket(const struct sk_tcp *tcp, uint32_t laddr, uint16_t lport,
                            uint32_t raddr, uint16_t rport)
{
	/* The connection table's keyed hash (tcp_table.c), with this
	 * table's mask: a peer cannot aim at one bucket here either. */
	uint32_t h = tcp_tuple_hash(tcp, laddr, lport, raddr, rport);
	int32_t *b = sk_rel_get(&tcp->tw_conn_buckets);

	return &b[h & tcp->tw_mask];
}

static int32_t *port_bucket(const struct sk_tcp *tcp, uint16_t port)
{
	int32_t *b = sk_rel_get(&tcp->tw_port_buckets);

	return &b[port & tcp->tw_mask];
}

static int32_t head_of(const int32_t *bucket)
{
	return *bucket - 1;
}

static void set_head(int32_t *bucket, int32_t i)
{
	*bucket = i + 1;
}

bool tcp_tw_table_new(struct sk_stack *st, struct sk_tcp *tcp)
{
	const struct sk_mem_ops *m = &st->mem;
	uint32_t n = tw_capacity(&st->cfg), buckets = pow2_at_least(n);

	tcp->tw_cap = n;
	tcp->tw_mask = buckets - 1;
	tcp->tw_count = tcp->tw_used = 0;
	tcp->tw_free = tcp->tw_oldest = tcp->tw_newest = TCP_NIL;
	/* Zeroed and untouched until used: entries are handed out in index
	 * order past tw_used, buckets read 0 as empty. */
	sk_rel_set(&tcp->tw_entries, sk_mem_alloc(m, (size_t)n * sizeof(struct tcp_tw)));
	sk_rel_set(&tcp->tw_conn_buckets, sk_mem_alloc(m, buckets * sizeof(int32_t)));
	sk_rel_set(&tcp->tw_port_buckets, sk_mem_alloc(m, buckets * sizeof(int32_t)));
	return tcp->tw_entries && tcp->tw_conn_buckets && tcp->tw_port_buckets;
}

void tcp_tw_table_free(struct sk_stack *st, struct sk_tcp *tcp)
{
	const struct sk_mem_ops *m = &st->mem;
	size_t buckets = (size_t)tcp->tw_mask + 1;

	if (tcp->tw_entries)
		sk_mem_free(m, entries(tcp), (size_t)tcp->tw_cap * sizeof(struct tcp_tw));
	if (tcp->tw_conn_buckets)
		sk_mem_free(m, sk_rel_get(&tcp->tw_conn_buckets), buckets * sizeof(int32_t));
	if (tcp->tw_port_buckets)
		sk_mem_free(m, sk_rel_get(&tcp->tw_port_buckets), buckets * sizeof(int32_t));
}

/* ---- the three links ---- */

static void fifo_append(struct sk_tcp *tcp, struct tcp_tw *tw, int32_t i)
{
	tw->older = tcp->tw_newest;
	tw->newer = TCP_NIL;
	if (tcp->tw_newest != TCP_NIL)
		entries(tcp)[tcp->tw_newest].newer = i;
	else
		tcp->tw_oldest = i;
	tcp->tw_newest = i;
}

static void fifo_remove(struct sk_tcp *tcp, struct tcp_tw *tw)
{
	if (tw->older != TCP_NIL)
		entries(tcp)[tw->older].newer = tw->newer;
	else
		tcp->tw_oldest = tw->newer;
	if (tw->newer != TCP_NIL)
		entries(tcp)[tw->newer].older = tw->older;
	else
		tcp->tw_newest = tw->older;
	tw->older = tw->newer = TCP_NIL;
}

static void link_in(struct sk_tcp *tcp, struct tcp_tw *tw, int32_t i)
{
	int32_t *cb = conn_bucket(tcp, tw->laddr, tw->lport, tw->raddr, tw->rport);
	int32_t *pb = port_bucket(tcp, tw->lport);

	tw->conn_next = head_of(cb);
	set_head(cb, i);
	tw->port_prev = TCP_NIL;
	tw->port_next = head_of(pb);
	if (tw->port_next != TCP_NIL)
		entries(tcp)[tw->port_next].port_prev = i;
	set_head(pb, i);
	fifo_append(tcp, tw, i);
}

static void link_out(struct sk_tcp *tcp, struct tcp_tw *tw, int32_t i)
{
	int32_t *cb = conn_bucket(tcp, tw->laddr, tw->lport, tw->raddr, tw->rport);

	/* A 4-tuple chain is short (load factor <= 1): walk it. */
	if (head_of(cb) == i) {
		set_head(cb, tw->conn_next);
	} else {
		for (int32_t k = head_of(cb); k != TCP_NIL; k = entries(tcp)[k].conn_next) {
			if (entries(tcp)[k].conn_next == i) {
				entries(tcp)[k].conn_next = tw->conn_next;
				break;
			}
		}
	}
	if (tw->port_prev != TCP_NIL)
		entries(tcp)[tw->port_prev].port_next = tw->port_next;
	else
		set_head(port_bucket(tcp, tw->lport), tw->port_next);
	if (tw->port_next != TCP_NIL)
		entries(tcp)[tw->port_next].port_prev = tw->port_prev;
	fifo_remove(tcp, tw);
}

static int32_t index_of(const struct sk_tcp *tcp, const struct tcp_tw *tw)
{
	return (int32_t)(tw - entries(tcp));
}

/* ---- ending one ---- */

/* The trace shows the connection's end under the socket number it had,
 * unless a new socket has that number by now (then under none: its
 * timeline is not this one's). */
static void report_closed(struct sk_stack *st, const struct tcp_tw *tw, const char *cause,
                          sk_time_t now)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	if (!st->hooks.state_change)
		return;
	bool reused = tw->sock >= 0 && (uint32_t)tw->sock < tcp->hwm &&
	              tcp_tcbs(tcp)[tw->sock].in_use;
	struct sk_state_change ev = {
	    .now = now,
	    .sock = reused ? -1 : tw->sock,
	    .local = {tw->laddr, tw->lport},
	    .remote = {tw->raddr, tw->rport},
	    .from = SK_TCP_TIME_WAIT,
	    .to = SK_TCP_CLOSED,
	    .cause = cause,
	};
	st->hooks.state_change(st->hooks.ctx, &ev);
}

void tcp_tw_end(struct sk_stack *st, struct tcp_tw *tw, const char *cause, sk_time_t now)
{
	struct sk_tcp *tcp = sk_tcp_of(st);
	int32_t i = index_of(tcp, tw);

	link_out(tcp, tw, i);
	tw->in_use = false;
	tw->conn_next = tcp->tw_free;
	tcp->tw_free = i;
	tcp->tw_count--;
	st->stats.tcp_time_wait = tcp->tw_count;
	report_closed(st, tw, cause, now);
}

/* The table is full: the oldest TIME_WAIT ends early, with a warning at
 * most every 5 s (Linux's is net_ratelimit()ed). */
static void end_oldest(struct sk_stack *st, sk_time_t now)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	st->stats.tcp_tw_recycled++;
	tcp_tw_end(st, &entries(tcp)[tcp->tw_oldest], "recycled: TIME_WAIT table full", now);
	tcp->tw_warn_quiet++;
	if (now >= tcp->tw_warn_at) {
		sk_log(st, SK_LOG_WARN,
		       "TIME_WAIT table full (%u entries): ended %llu TIME_WAIT connection%s early "
		       "— raise SYNACK_MAX_TIME_WAIT",
		       tcp->tw_cap, (unsigned long long)tcp->tw_warn_quiet,
		       tcp->tw_warn_quiet == 1 ? "" : "s");
		tcp->tw_warn_quiet = 0;
		tcp->tw_warn_at = now + SK_SEC(5);
	}
}

static struct tcp_tw *entry_alloc(struct sk_stack *st, sk_time_t now)
{
	struct sk_tcp *tcp = sk_tcp_of(st);
	int32_t i;

	if (tcp->tw_count == tcp->tw_cap) {
		if (tcp->tw_oldest == TCP_NIL)
			return NULL; /* a capacity of 0 entries */
		end_oldest(st, now);
	}
	if (tcp->tw_free != TCP_NIL) {
		i = tcp->tw_free;
		tcp->tw_free = entries(tcp)[i].conn_next;
	} else {
		i = (int32_t)tcp->tw_used++; /* never used yet */
	}
	tcp->tw_count++;
	st->stats.tcp_time_wait = tcp->tw_count;
	if (tcp->tw_count > st->stats.tcp_time_wait_peak)
		st->stats.tcp_time_wait_peak = tcp->tw_count;
	return &entries(tcp)[i];
}

void tcp_tw_adopt(struct sk_stack *st, struct tcb *t, sk_time_t now)
{
	struct sk_tcp *tcp = sk_tcp_of(st);
	uint32_t cur = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	uint32_t field = cur >> t->rcv_wscale;
	struct tcp_tw *tw;

	if (tcp->tw_cap == 0 || !(tw = entry_alloc(st, now))) {
		tcp_close_conn(st, t, 0, "no TIME_WAIT table", now);
		return;
	}
	*tw = (struct tcp_tw){
	    .laddr = t->laddr ? t->laddr : st->cfg.addr,
	    .raddr = t->raddr,
	    .lport = t->lport,
	    .rport = t->rport,
	    /* RFC 9293's SND.NXT is our snd_max (tcp_send_ack). */
	    .snd_nxt = t->snd_max,
	    .rcv_nxt = t->rcv_nxt,
	    .ts_ok = t->ts_ok,
	    .ts_recent = t->ts_recent,
	    .ts_offset = t->ts_offset,
	    .expires = t->state_at,
	    .last_challenge = t->last_challenge,
	    .sock = t->id,
	    .window = (uint16_t)(field > TCP_MAX_WINDOW ? TCP_MAX_WINDOW : field),
	    .ip_tos = t->ip_tos,
	    .ip_ttl = t->ip_ttl,
	    .in_use = true,
	    .reuseaddr = t->reuseaddr,
	    .reuseport = t->reuseport,
	};
	link_in(tcp, tw, index_of(tcp, tw));
	/* The slot goes back without a state change: the connection lives
	 * on here, still in TIME_WAIT. */
	tcp_slot_free(st, t);
}

struct tcp_tw *tcp_tw_lookup(struct sk_stack *st, uint32_t laddr, uint16_t lport,
                             uint32_t raddr, uint16_t rport)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	if (tcp->tw_count == 0)
		return NULL;
	for (int32_t i = head_of(conn_bucket(tcp, laddr, lport, raddr, rport)); i != TCP_NIL;
	     i = entries(tcp)[i].conn_next) {
		struct tcp_tw *tw = &entries(tcp)[i];

		if (tw->lport == lport && tw->rport == rport && tw->raddr == raddr &&
		    tw->laddr == laddr)
			return tw;
	}
	return NULL;
}

/* ---- segments ---- */

/* <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, the window and TSopt of the
 * connection's last ACK (tcp_output.c xmit). */
static void send_ack(struct sk_stack *st, const struct tcp_tw *tw, sk_time_t now)
{
	size_t room;
	uint8_t *buf = sk_ip_tx_buf(st, &room);
	struct sk_tcp_repr r = {
	    .src_port = tw->lport,
	    .dst_port = tw->rport,
	    .seq = tw->snd_nxt,
	    .ack = tw->rcv_nxt,
	    .flags = SK_TCP_ACK,
	    .window = tw->window,
	    .mss = -1,
	    .wscale = -1,
	};

	if (tw->ts_ok) {
		r.has_timestamp = true;
		r.ts_val = tcp_ts_clock(tw->ts_offset, now);
		r.ts_ecr = tw->ts_recent;
	}
	size_t hlen = sk_tcp_emit(&r, buf);
	struct sk_tx_offload offload = {0};

	tcp_segment_checksum(st, buf, hlen, tw->laddr, tw->raddr, &offload);
	st->stats.tcp_tx_segs++;
	(void)sk_ip_tx_send_to(st, tw->raddr, SK_IPPROTO_TCP, hlen, tw->ip_tos, tw->ip_ttl,
	                       offload.csum_start ? &offload : NULL, NULL, now);
}

/* An ACK that only answers the peer's noise: at most one per
 * TCP_CHALLENGE_GAP (RFC 5961 §7), as the tcb's send_limited_ack. */
static void send_limited_ack(struct sk_stack *st, struct tcp_tw *tw, sk_time_t now)
{
	if (tw->last_challenge && now - tw->last_challenge < TCP_CHALLENGE_GAP)
		return;
	tw->last_challenge = now;
	send_ack(st, tw, now);
}

static void challenge_ack(struct sk_stack *st, struct tcp_tw *tw, sk_time_t now)
{
	sk_time_t before = tw->last_challenge;

	st->stats.tcp_challenge_acks++;
	send_limited_ack(st, tw, now);
	if (tw->last_challenge == before)
		st->stats.tcp_challenge_acks_limited++;
}

static uint32_t seg_len(const struct sk_tcp_repr *r)
{
	return (uint32_t)r->payload_len + !!(r->flags & SK_TCP_SYN) + !!(r->flags & SK_TCP_FIN);
}

/* RFC 9293 §3.10.7.4 for a connection in TIME_WAIT, the checks in the
 * order synchronized_input (tcp_input.c) makes them for one in its slot:
 * the same segment gets the same answer wherever the connection is. The
 * window is what our last ACK offered. */
void tcp_tw_input(struct sk_stack *st, struct tcp_tw *tw, const struct sk_tcp_repr *r,
                  sk_time_t now)
{
	uint32_t wnd = (uint32_t)tw->window, len = seg_len(r);
	bool ok;

	/* RFC 7323 §5.3 R1: PAWS first; a RST is exempt. TS.Recent does
	 * not expire within 2·MSL (§5.5's limit is 24 days). */
	if (tw->ts_ok && r->has_timestamp && !(r->flags & (SK_TCP_RST | SK_TCP_SYN)) &&
	    seq_lt(r->ts_val, tw->ts_recent)) {
		st->stats.tcp_drop_out_of_window++;
		if (r->payload_len > 0)
			send_ack(st, tw, now);
		else
			send_limited_ack(st, tw, now);
		return;
	}
	if (len == 0)
		ok = wnd == 0 ? r->seq == tw->rcv_nxt : seq_in(r->seq, tw->rcv_nxt, tw->rcv_nxt + wnd);
	else
		ok = wnd != 0 && (seq_in(r->seq, tw->rcv_nxt, tw->rcv_nxt + wnd) ||
		                  seq_in(r->seq + len - 1, tw->rcv_nxt, tw->rcv_nxt + wnd));
	if (r->flags & SK_TCP_RST) {
		/* RFC 5961 §3.2: exact (or RCV.NXT - 1, the peer's FIN being
		 * in) is ignored all the same: RFC 1337, no TIME_WAIT
		 * assassination; in the window, a challenge ACK. */
		if (r->seq == tw->rcv_nxt || r->seq == tw->rcv_nxt - 1)
			return;
		if (seq_in(r->seq, tw->rcv_nxt, tw->rcv_nxt + (wnd ? wnd : 1)))
			challenge_ack(st, tw, now);
		else
			st->stats.tcp_drop_out_of_window++;
		return;
	}
	if (!ok) {
		st->stats.tcp_drop_out_of_window++;
		/* The peer's FIN again: our ACK of it was lost. Acknowledge it
		 * and restart 2·MSL (RFC 9293 §3.10.7.4, TIME_WAIT). */
		if (r->flags & SK_TCP_FIN) {
			int32_t i = index_of(sk_tcp_of(st), tw);

			tw->expires = now + 2 * SK_MS(st->cfg.msl_ms);
			fifo_remove(sk_tcp_of(st), tw);
			fifo_append(sk_tcp_of(st), tw, i);
		}
		/* RFC 5961 §4.2: a SYN gets a challenge ACK. */
		if (r->flags & SK_TCP_SYN)
			challenge_ack(st, tw, now);
		else if (r->payload_len > 0)
			send_ack(st, tw, now);
		else
			send_limited_ack(st, tw, now);
		return;
	}
	/* RFC 7323 §4.3: TS.Recent from an acceptable segment. */
	if (tw->ts_ok && r->has_timestamp && seq_geq(r->ts_val, tw->ts_recent) &&
	    seq_leq(r->seq, tw->rcv_nxt))
		tw->ts_recent = r->ts_val;
	if (r->flags & SK_TCP_SYN) {
		challenge_ack(st, tw, now); /* RFC 5961 §4.2 */
		return;
	}
	if (!(r->flags & SK_TCP_ACK))
		return;
	/* RFC 9293 §3.10.7.4 fifth check: an ACK of something not yet
	 * sent is answered with an ACK. Text and FIN after the peer's FIN
	 * are ignored (seventh and eighth checks, TIME_WAIT). */
	if (seq_gt(r->ack, tw->snd_nxt) || r->payload_len > 0)
		send_ack(st, tw, now);
}

/* ---- timers ---- */

sk_time_t tcp_tw_next_deadline(const struct sk_tcp *tcp)
{
	return tcp->tw_oldest != TCP_NIL ? entries(tcp)[tcp->tw_oldest].expires : SK_TIME_NEVER;
}

void tcp_tw_run_timers(struct sk_stack *st, sk_time_t now)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	while (tcp->tw_oldest != TCP_NIL && entries(tcp)[tcp->tw_oldest].expires <= now)
		tcp_tw_end(st, &entries(tcp)[tcp->tw_oldest], "2MSL timeout", now); /* §3.10.8 */
}

/* ---- the local port ---- */

bool tcp_tw_port_conflict(struct sk_stack *st, const struct tcb *t, uint32_t addr, uint16_t port)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	for (int32_t i = head_of(port_bucket(tcp, port)); i != TCP_NIL;
	     i = entries(tcp)[i].port_next) {
		const struct tcp_tw *tw = &entries(tcp)[i];

		if (tw->lport == port && tcp_reuse_conflicts(t, addr, tw->laddr, tw->reuseaddr,
		                                             tw->reuseport, false))
			return true;
	}
	return false;
}

bool tcp_tw_port_used(struct sk_stack *st, uint16_t port)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	for (int32_t i = head_of(port_bucket(tcp, port)); i != TCP_NIL;
	     i = entries(tcp)[i].port_next)
		if (entries(tcp)[i].lport == port)
			return true;
	return false;
}

/* ---- listing ---- */

uint32_t sk_time_wait_count(const struct sk_stack *st)
{
	return sk_tcp_of(st)->tw_count;
}

int sk_time_wait_next(const struct sk_stack *st, int after, struct sk_tw_view *out)
{
	const struct sk_tcp *tcp = sk_tcp_of(st);
	/* Entries above the high-water mark were never used (nor touched). */
	for (uint32_t i = after < 0 ? 0 : (uint32_t)after + 1; i < tcp->tw_used; i++) {
		const struct tcp_tw *tw = &entries(tcp)[i];

		if (!tw->in_use)
			continue;
		*out = (struct sk_tw_view){
		    .local = {tw->laddr, tw->lport},
		    .remote = {tw->raddr, tw->rport},
		    .expires = tw->expires,
		};
		return (int)i;
	}
	return -1;
}

/* ---- repair (sk_stack_repair) ---- */

/* After a process died holding the lock mid-update, the links may be
 * half-changed; each entry's in_use is the truth. The FIFO keeps its old
 * order as far as its links hold together (marked entries, a walk bounded
 * by tw_cap), then what it did not reach, in index order: such an entry
 * may end up to 2·MSL late, never early. */
#define MARK (-2)

int tcp_tw_repair(struct sk_stack *st, char *why, size_t len)
{
	struct sk_tcp *tcp = sk_tcp_of(st);
	struct tcp_tw *e = entries(tcp);
	uint32_t n = tcp->tw_used, used = 0, top = 0;

	if (!e || !tcp->tw_conn_buckets || !tcp->tw_port_buckets ||
	    ((tcp->tw_mask + 1) & tcp->tw_mask) || tcp->tw_mask + 1 < tcp->tw_cap ||
	    n > tcp->tw_cap) {
		if (why && len)
			snprintf(why, len, "the TIME_WAIT table or its geometry is damaged");
		return -1;
	}
	memset(sk_rel_get(&tcp->tw_conn_buckets), 0, ((size_t)tcp->tw_mask + 1) * sizeof(int32_t));
	memset(sk_rel_get(&tcp->tw_port_buckets), 0, ((size_t)tcp->tw_mask + 1) * sizeof(int32_t));
	for (uint32_t i = 0; i < n; i++) {
		if (e[i].in_use) {
			used++;
			top = i + 1;
			e[i].port_prev = MARK; /* not linked again yet */
		}
	}
	int32_t i = tcp->tw_oldest;

	tcp->tw_oldest = tcp->tw_newest = TCP_NIL;
	tcp->tw_free = TCP_NIL;
	for (uint32_t k = 0; k < n && i >= 0 && (uint32_t)i < n && e[i].in_use &&
	                     e[i].port_prev == MARK;
	     k++) {
		int32_t next = e[i].newer;

		link_in(tcp, &e[i], i);
		i = next;
	}
	for (uint32_t k = 0; k < top; k++)
		if (e[k].in_use && e[k].port_prev == MARK)
			link_in(tcp, &e[k], (int32_t)k);
	/* Free entries below the highest one in use go on the free list;
	 * the ones above it were never used. */
	tcp->tw_count = used;
	st->stats.tcp_time_wait = used;
	tcp->tw_used = top;
	for (uint32_t k = top; k-- > 0;) {
		if (!e[k].in_use) {
			e[k].conn_next = tcp->tw_free;
			tcp->tw_free = (int32_t)k;
		}
	}
	return 0;
}
