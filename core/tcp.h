/* Internal contract of the TCP module (tcp_*.c); not for other layers.
 *
 * One arena of TCBs (struct tcb), indexed by socket id (design brief §6:
 * index-addressed so it can later move to shared memory). Listeners,
 * connections in every state are slots, except orphans in TIME_WAIT, which
 * move to a table of their own (tcp_timewait.c). Four indexes point into
 * the arena, all chained through slot indices, none allocating:
 *   - the connection table: 4-tuple -> slot (keyed SipHash, so a peer
 *     cannot flood one bucket), every synchronised or handshaking slot;
 *   - the bind table: local port -> slots that own a port (bind(),
 *     listen(), an ephemeral port from connect()); passive children share
 *     their listener's port and are not in its chains, which
 *     tcp_listener_lookup walks for every SYN, but in a second chain per
 *     bucket (bind_child_*), doubly linked, that only bind, listen and the
 *     ephemeral port search read: a child outlives its listener and still
 *     holds the port (Linux keeps it in the port's inet_bind_bucket);
 *   - the timer heap: slots with a pending deadline, earliest first.
 *
 * Files: tcp_fsm.c (states, transition table), tcp_table.c (arena and
 * indexes, ISN, ports), tcp_timer.c (deadlines, RTO), tcp_output.c
 * (segments out), tcp_input.c (segments in), tcp_socket.c (the socket API
 * of stack.h), tcp_icmp.c (ICMP errors, ARP failures), tcp_timewait.c
 * (the TIME_WAIT table).
 */
#ifndef SYNACK_CORE_TCP_H
#define SYNACK_CORE_TCP_H

#include <stdbool.h>
#include <stdint.h>

#include "ringbuf.h"
#include "stack_impl.h"
#include "tcp_cc.h"
#include "tcp_wire.h"

#define TCP_NIL (-1) /* end of an index chain */

/* RFC 9293 §3.7.1: the MSS assumed when the peer's SYN carries none. */
#define TCP_DEFAULT_MSS 536
/* Linux tcp_min_snd_mss: a tiny advertised MSS must not make us emit a
 * flood of minuscule segments (CVE-2019-11477 family). */
#define TCP_MIN_MSS 48
/* RFC 8985 §7.2 probe timeout floor (Linux tcp_schedule_loss_probe). */
#define TCP_PROBE_MIN SK_MS(10)
/* RFC 6298 §2: initial RTO 1 s; Linux's floor of 200 ms; §2.5 ceiling. */
#define TCP_RTO_INIT SK_SEC(1)
#define TCP_RTO_MIN  SK_MS(200)
#define TCP_RTO_MAX  SK_SEC(120)
/* Retransmissions of data/FIN before ETIMEDOUT (Linux tcp_retries2). */
#define TCP_MAX_RETRIES 15
/* SYN+ACK retransmissions of a passive child (Linux tcp_synack_retries). */
#define TCP_SYNACK_RETRIES 5
/* RFC 9293 §3.8.6.3 / RFC 1122 §4.2.3.2: delayed ACK timer (Linux 40 ms). */
#define TCP_DELACK SK_MS(40)
/* RFC 5961 §7 / Linux: one challenge ACK per 500 ms per connection. */
#define TCP_CHALLENGE_GAP SK_MS(500)
/* RFC 6928: initial window of 10 segments. */
#define TCP_INIT_CWND_SEGS 10
/* The 16-bit window field; RFC 7323 scaling multiplies it by 2^shift. */
#define TCP_MAX_WINDOW 65535u
/* RFC 6056 / Linux ip_local_port_range. */
#define TCP_EPHEMERAL_LO 32768
#define TCP_EPHEMERAL_HI 60999

/* Out-of-order data held in the receive ring (tcp_reass.c): disjoint
 * intervals above RCV.NXT, sorted by sequence. */
#define TCP_REASS_MAX 32
struct tcp_reass {
	struct {
		uint32_t left, right; /* [left, right) */
		uint32_t stamp;       /* reass clock when it last grew (SACK order) */
	} iv[TCP_REASS_MAX];
	uint8_t n;
	uint32_t clock;
	bool fin; /* an out-of-order FIN at fin_seq */
	uint32_t fin_seq;
};

/* The sender's SACK scoreboard (tcp_sack.c): what the peer reported
 * holding above SND.UNA, disjoint, sorted by sequence. */
#define TCP_SACK_SB_MAX 32
struct tcp_scoreboard {
	struct sk_tcp_sack_block blk[TCP_SACK_SB_MAX];
	uint8_t n;
};

struct tcb {
	int32_t id; /* index in the arena = socket number */
	bool in_use;
	bool user_owned; /* held by the application (sk_socket/sk_accept) */
	enum sk_tcp_state state;
	sk_time_t since; /* when it last left CLOSED (sk_sock_view); SK_TIME_NEVER */

	/* Endpoints, host byte order. laddr 0 = unbound address. */
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	bool in_conn_table, in_bind_table;
	int32_t conn_next, bind_next; /* chains of the two tables */
	/* A passive child's links in its port's bucket of bind_child_buckets
	 * (tcp.h header): O(1) in and out on the SYN and free paths. */
	bool in_bind_child;
	int32_t bchild_prev, bchild_next;

	/* Listener side. */
	int32_t parent;             /* listener of a passive child, or TCP_NIL */
	bool passive;               /* born from LISTEN (RFC 9293 §3.10.7.4 RST rule) */
	int32_t q_prev, q_next;     /* links in the parent's syn or accept list */
	bool in_accept_queue;       /* which list of the parent it is on */
	int32_t syn_head;           /* LISTEN: children in SYN_RECEIVED */
	int32_t acc_head, acc_tail; /* LISTEN: completed children, oldest first */
	uint32_t syn_count, acc_count, backlog;
	/* LISTEN: when the last SYN cookie was sent (0: never; its ACKs are
	 * checked for 2 minutes after, tcp_cookie.c), and whether the "SYN
	 * flood" warning was logged for this listener. */
	sk_time_t cookie_at;
	bool flood_warned;
	/* A passive child made from the ACK of a SYN cookie (tcp_cookie.c). */
	bool syncookie;
	/* A passive child's on-link peer: the source MAC of its SYN. Its
	 * SYN,ACKs go there while the ARP cache has no entry, and the
	 * completed handshake enters it in the cache (docs/security.md). */
	bool peer_mac_ok;
	uint8_t peer_mac[6];

	/* RFC 9293 §3.3.1 send sequence variables. snd_max is the highest
	 * SND.NXT ever reached: a retransmission rewinds snd_nxt only. */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wl1, snd_wl2;
	uint32_t snd_wnd, max_snd_wnd;
	uint32_t snd_buf_seq; /* sequence number of the send ring's first byte */
	uint32_t snd_sml;     /* end of the last short segment sent (Minshall) */
	/* Receive sequence variables; rcv_adv = right edge last advertised. */
	uint32_t irs, rcv_nxt, rcv_adv;

	/* Options agreed in the handshake (tcp_opts.c). */
	bool ws_ok, ts_ok, sack_ok;
	uint8_t snd_wscale;     /* the peer's shift, for windows it sends */
	uint8_t rcv_wscale;     /* ours, for windows we send */
	uint32_t ts_offset;     /* added to our 1 ms clock (RFC 7323 §5.4) */
	uint32_t ts_recent;     /* RFC 7323 §4.3 TS.Recent */
	sk_time_t ts_recent_at; /* when it was set (§5.5 24-day limit) */
	uint32_t last_ack_sent; /* RCV.NXT in our latest ACK (Last.ACK.sent) */

	uint16_t mss_ours; /* what our SYN announces */
	uint16_t snd_mss;  /* min(peer's, ours): the largest segment we send */
	uint32_t cwnd, ssthresh;
	/* Congestion control (tcp_cc.h): the algorithm (tcp_cc(), by number:
	 * its ops are at different addresses in each process) and its
	 * state; cc_ready once tcp_conn_init started it. */
	uint8_t cc_algo; /* SK_OPT_CONGESTION: enum tcp_cc_algo */
	bool cc_ready;
	struct tcp_cc_state cc_state;

	struct sk_ringbuf snd, rcv;
	struct tcp_reass reass;

	/* Connection-level flags, named after Linux's sk_shutdown bits so that
	 * sk_poll() can mirror tcp_poll(). */
	bool shut_rd;    /* RCV_SHUTDOWN: peer's FIN, SHUT_RD, or reset */
	bool shut_wr;    /* SEND_SHUTDOWN: SHUT_WR/close, or reset */
	bool fin_queued; /* our FIN follows the last byte of the send ring */
	bool fin_rcvd;   /* the peer's FIN was consumed into rcv_nxt */
	bool ever_connected;
	int err; /* pending error, positive errno (SO_ERROR) */
	/* Linux SS_CONNECTING: sk_connect started an attempt and has not yet
	 * given connect()'s final answer (inet_stream_connect). */
	bool connecting;
	/* Linux SOCK_NOSPACE: a writer ran out of send space (a short or
	 * refused sk_send), or sk_poll found the socket not writeable. Only
	 * then does an ACK that frees space wake the socket (tcp_check_space),
	 * once it is writeable again; the wake clears it. */
	bool nospace;

	/* Options (sk_setopt). */
	bool reuseaddr, keepalive, nodelay, quickack, linger_abort;
	bool reuseport; /* SK_OPT_REUSEPORT; a passive child inherits it (sk_clone) */
	int user_mss, keepidle, keepintvl, keepcnt;
	int rcvlowat; /* SO_RCVLOWAT (Linux sk_rcvlowat); 0 is read as 1 */
	uint32_t rcvbuf, sndbuf;
	bool rcvbuf_locked;     /* SK_OPT_RCVBUF was set: no autotuning (Linux SOCK_RCVBUF_LOCK) */
	uint8_t ip_tos;         /* SK_OPT_IP_TOS, ECN bits clear */
	uint8_t ip_ttl;         /* SK_OPT_IP_TTL; 0 = the default */
	uint32_t notsent_lowat; /* SK_OPT_NOTSENT_LOWAT; 0 = none */
	/* tcp_defer.c: a listener's TCP_DEFER_ACCEPT in SYN,ACK timeouts; a
	 * child whose bare ACK it dropped (Linux inet_rsk(req)->acked). */
	uint32_t defer_accept;
	bool defer_acked;

	/* A reader sleeping in a blocking receive (sk_recv_direct_begin): in-order
	 * data arriving while nothing is queued is copied straight into its
	 * buffer, direct_done bytes so far. NULL: none. The buffer is in the
	 * lender's address space: it is written only while the stack's owner
	 * (sk_stack_bind) is direct_owner, the process that lent it. */
	uint8_t *direct_buf;
	size_t direct_len, direct_done;
	uint32_t direct_owner;

	/* tcp_rcvbuf.c: receive autotuning. What the application read in the
	 * RTT measured last (Linux rcvq_space) and where this one began. */
	uint32_t rcv_copied; /* bytes the application read, modulo 2^32 */
	uint32_t rcvq_space, rcvq_seq;
	sk_time_t rcvq_time;

	/* tcp_keepalive.c: keepalive (RFC 1122 §4.2.3.6) and TCP_USER_TIMEOUT
	 * (RFC 5482). ka_at is lazy: it fires, then looks at last_rcv. */
	sk_time_t ka_at;
	sk_time_t last_rcv;    /* latest acceptable segment from the peer */
	uint32_t ka_probes;    /* unanswered probes (Linux icsk_probes_out) */
	uint32_t user_timeout; /* ms, 0 = off */
	sk_time_t ut_since;    /* oldest unacknowledged transmission, 0 = none */
	/* tcp_cork.c: TCP_CORK, MSG_MORE and the 200 ms ceiling. */
	bool cork, more, cork_due;
	uint32_t cork_seq; /* SND.NXT when the held partial segment was held */
	sk_time_t cork_at;

	/* ACK generation. */
	bool ack_now;             /* send an ACK on the next output */
	uint32_t rcv_unacked;     /* in-order bytes received since our last ACK */
	sk_time_t last_challenge; /* RFC 5961 §7 rate limit */

	/* RFC 6298 estimator, µs. rtt_seq: the timed segment's end (Karn). */
	sk_time_t srtt, rttvar, rto;
	bool rtt_active;
	uint32_t rtt_seq;
	sk_time_t rtt_start;
	uint32_t retries; /* consecutive RTO expiries */
	/* TCP_INFO's per-connection counters (tcp_info.c), 64-bit where Linux
	 * keeps them 64-bit so they do not wrap at 4 GiB: segments
	 * retransmitted (SYN and SYN,ACK included, Linux total_retrans),
	 * payload bytes transmitted (retransmissions included) and
	 * retransmitted, acknowledged by the peer, received in order. */
	uint32_t total_retrans;
	uint64_t bytes_sent, bytes_retrans, bytes_acked, bytes_received;
	/* Fast recovery (tcp_recovery.c): RFC 6582 "recover" is RFC 6675's
	 * RecoveryPoint; high_rxt is RFC 6675 HighRxt. */
	bool in_recovery;
	uint32_t recover, high_rxt;
	uint32_t rxt_mark; /* retransmissions above it left after SND.UNA's */
	/* A loss probe (tcp_recovery.c) is what rto_at waits for first;
	 * rto_real is then the retransmission timeout proper. */
	bool probe_armed;
	sk_time_t rto_real;
	struct tcp_scoreboard sb;
	bool persist;      /* the RTO timer is probing a zero window */
	bool sws_override; /* persist fired on a small open window: send it */
	uint32_t dupacks;

	/* Deadlines (SK_TIME_NEVER = off) and the slot's place in the heap. */
	sk_time_t rto_at, dack_at, state_at;
	sk_time_t deadline; /* min of the three, the heap key */
	int32_t heap_pos;
};

/* An orphaned connection in TIME_WAIT (tcp_timewait.c): what it still
 * needs to answer the peer for 2·MSL, and no more (Linux's
 * inet_timewait_sock). */
struct tcp_tw {
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	uint32_t snd_nxt, rcv_nxt; /* past our FIN and past the peer's */
	uint32_t ts_recent, ts_offset;
	sk_time_t expires;        /* 2·MSL after entering, or after the last FIN */
	sk_time_t last_challenge; /* RFC 5961 §7 rate limit, as the tcb's */
	int32_t sock;             /* the socket number it had: its trace's */
	int32_t conn_next;        /* 4-tuple chain, or the free list */
	int32_t port_prev, port_next; /* local port chain: it keeps the port */
	int32_t older, newer;     /* the FIFO by expiry, oldest first */
	uint16_t window;          /* the window field of our last ACK */
	uint8_t ip_tos, ip_ttl;
	bool in_use, ts_ok, reuseaddr, reuseport;
};

/* The arrays are self-relative pointers (rel.h), read through tcp_tcbs()
 * and the like: the state may be mapped at a different address in each
 * process that uses it. */
struct sk_tcp {
	uint32_t nslots;
	sk_rel tcbs; /* nslots */
	/* Slots [0, hwm) have been handed out at least once; the others were
	 * never written (zero, and in a shared region their pages not even
	 * allocated: writing 4096 slots of 1.3 KiB at start cost every new
	 * stack milliseconds). Every scan of the arena stops at hwm. */
	uint32_t hwm;
	int32_t free_head; /* freed slots (< hwm) chained through conn_next */

	/* The TIME_WAIT table (tcp_timewait.c): tw_cap entries, a 4-tuple
	 * hash and a local port hash of tw_mask + 1 buckets each, a free list
	 * through conn_next and a FIFO by expiry. Entries at tw_used and
	 * above were never used. */
	uint32_t tw_cap, tw_mask, tw_count, tw_used;
	sk_rel tw_entries, tw_conn_buckets, tw_port_buckets;
	int32_t tw_free, tw_oldest, tw_newest;
	sk_time_t tw_warn_at;   /* the next "table full" warning not before */
	uint64_t tw_warn_quiet; /* ended early since the last warning */

	uint32_t conn_mask, bind_mask;
	sk_rel conn_buckets, bind_buckets; /* int32_t[mask + 1] */
	/* Passive children by port (tcp_bind_child_insert), bind_mask too. */
	sk_rel bind_child_buckets;
	uint8_t hash_key[16];      /* per-stack secret for the connection table */
	uint8_t cookie_key[2][16]; /* SYN cookie secrets (tcp_cookie.c) */
	uint32_t next_ephemeral;   /* RFC 6056 §3.3.3's counter, in [0, range) */

	sk_rel heap; /* int32_t[nslots] */
	uint32_t heap_len;

	/* The latest `now` seen: for the few API calls that take no time
	 * (sk_setopt pushing Nagle-held data). Never read from a clock. */
	sk_time_t last_now;
};

static inline struct tcb *tcp_tcbs(const struct sk_tcp *tcp)
{
	return sk_rel_get(&tcp->tcbs);
}
static inline int32_t *tcp_conn_buckets(const struct sk_tcp *tcp)
{
	return sk_rel_get(&tcp->conn_buckets);
}
static inline int32_t *tcp_bind_buckets(const struct sk_tcp *tcp)
{
	return sk_rel_get(&tcp->bind_buckets);
}
static inline int32_t *tcp_bind_child_buckets(const struct sk_tcp *tcp)
{
	return sk_rel_get(&tcp->bind_child_buckets);
}
static inline int32_t *tcp_heap(const struct sk_tcp *tcp)
{
	return sk_rel_get(&tcp->heap);
}

/* The congestion controller of t (tcp_cc.h). */
static inline const struct cc_ops *tcp_cc(const struct tcb *t)
{
	return t->cc_algo == TCP_CC_NEWRENO ? &tcp_cc_newreno : &tcp_cc_cubic;
}

static inline void tcp_clock(struct sk_stack *st, sk_time_t now)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	if (now > tcp->last_now)
		tcp->last_now = now;
}

static inline struct tcb *tcp_tcb(struct sk_stack *st, int32_t id)
{
	return &tcp_tcbs(sk_tcp_of(st))[id];
}

/* ---- tcp_mem.c ---- */

/* Ring storage under sk_config.mem_max: is there room for `more` bytes
 * (a refusal is counted)? */
bool tcp_mem_room(struct sk_stack *st, size_t more);
/* Allocate a ring's storage if it has none: 0, or -ENOBUFS (mem_max, or
 * no memory). */
int tcp_ring_reserve(struct sk_stack *st, struct sk_ringbuf *rb);
/* sk_ringbuf_grow within mem_max: 0, -ENOBUFS, -EINVAL, -ENOMEM. */
int tcp_ring_grow(struct sk_stack *st, struct sk_ringbuf *rb, size_t cap, size_t span);
/* Free a ring's storage (sk_ringbuf_release) and its share of mem_max. */
void tcp_ring_release(struct sk_stack *st, struct sk_ringbuf *rb);

/* ---- tcp_cookie.c ---- */

/* What a valid SYN cookie says of the SYN it answered (Linux encodes the
 * same: the MSS in the ISN, the rest in the TSval). */
struct tcp_cookie {
	uint16_t mss; /* the peer's, rounded down to one of Linux's msstab */
	bool ts_ok, ws_ok, sack_ok;
	uint8_t snd_wscale; /* the peer's shift */
};
/* Answer the SYN (ip, r) to listener l with a SYN,ACK whose ISN is a
 * cookie, keeping no state. */
void tcp_cookie_synack(struct sk_stack *st, struct tcb *l, const struct sk_ipv4_repr *ip,
                       const struct sk_tcp_repr *r, sk_time_t now);
/* Is the ACK (ip, r) to listener l the answer to one of our cookies?
 * Checked only while l sent cookies within the last 2 minutes (Linux's
 * tcp_synq_no_recent_overflow): false without a check, or for an invalid
 * cookie (counted in tcp_syncookies_failed). */
bool tcp_cookie_check(struct sk_stack *st, const struct tcb *l, const struct sk_ipv4_repr *ip,
                      const struct sk_tcp_repr *r, sk_time_t now, struct tcp_cookie *out);

/* ---- tcp_fsm.c ---- */

/* The one place a state changes (style.md): checks (from, to) against
 * tcp_transitions[] (an illegal pair is an assertion failure), reports
 * hooks.state_change and wakes the socket's waiters. */
void tcp_set_state(struct sk_stack *st, struct tcb *t, enum sk_tcp_state to, const char *cause,
                   sk_time_t now);

/* Synchronised states (RFC 9293 §3.3.2): the handshake is over. */
bool tcp_state_synchronized(enum sk_tcp_state s);

/* ---- tcp_table.c ---- */

/* A fresh slot, or NULL when every slot holds a socket or a connection
 * (orphans in TIME_WAIT hold none: tcp_timewait.c). */
struct tcb *tcp_slot_alloc(struct sk_stack *st);
/* Give the slot back: leaves every table, frees rings, off the heap. */
void tcp_slot_free(struct sk_stack *st, struct tcb *t);
/* The bucket of a 4-tuple in the connection table, of a port in the bind
 * tables (tcp_repair.c rebuilds them). */
uint32_t tcp_conn_bucket(const struct sk_tcp *tcp, uint32_t laddr, uint16_t lport, uint32_t raddr,
                         uint16_t rport);
/* The keyed hash (SipHash) of a 4-tuple, before any mask. */
uint32_t tcp_tuple_hash(const struct sk_tcp *tcp, uint32_t laddr, uint16_t lport, uint32_t raddr,
                        uint16_t rport);
/* Linux inet_bind_conflict for t binding (addr, port) against another
 * holder of the port, described by its address and options. */
bool tcp_reuse_conflicts(const struct tcb *t, uint32_t addr, uint32_t o_laddr, bool o_reuseaddr,
                         bool o_reuseport, bool o_listens);
uint32_t tcp_bind_bucket(const struct sk_tcp *tcp, uint16_t port);
struct tcb *tcp_conn_lookup(struct sk_stack *st, uint32_t laddr, uint16_t lport, uint32_t raddr,
                            uint16_t rport);
void tcp_conn_insert(struct sk_stack *st, struct tcb *t);
void tcp_conn_remove(struct sk_stack *st, struct tcb *t);
/* The listener for a segment (raddr, rport) -> (laddr, lport) that matched
 * no connection, or NULL. A port where several listen (SK_OPT_REUSEPORT)
 * gives the one a keyed hash of the 4-tuple picks. */
struct tcb *tcp_listener_lookup(struct sk_stack *st, uint32_t laddr, uint16_t lport, uint32_t raddr,
                                uint16_t rport);
/* Bind t to (addr, port); port 0 picks an ephemeral port (RFC 6056).
 * -EADDRINUSE, -EADDRNOTAVAIL (no free ephemeral port). */
int tcp_bind_port(struct sk_stack *st, struct tcb *t, uint32_t addr, uint16_t port);
/* Bind unbound t to the ephemeral port for a connection to (raddr, rport),
 * RFC 6056 §3.3.3 (Algorithm 3). -EADDRNOTAVAIL when none is free. */
int tcp_bind_ephemeral(struct sk_stack *st, struct tcb *t, uint32_t raddr, uint16_t rport);
void tcp_bind_remove(struct sk_stack *st, struct tcb *t);
/* Linux inet_csk_bind_conflict for t taking (addr, port), with t's
 * current state and options: bind checks it, and listen again. */
bool tcp_bind_conflict(struct sk_stack *st, const struct tcb *t, uint32_t addr, uint16_t port);
/* A new passive child (lport set) holds its listener's port until its slot
 * is freed; tcp_slot_free takes it out. */
void tcp_bind_child_insert(struct sk_stack *st, struct tcb *c);
/* RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, key). */
uint32_t sk_tcp_isn(const uint8_t key[16], uint32_t laddr, uint16_t lport, uint32_t raddr,
                    uint16_t rport, sk_time_t now);
/* RFC 7323 §5.4: the offset added to our timestamp clock, a keyed hash of
 * the address pair (Linux secure_tcp_ts_off), key = cfg.isn_key. */
uint32_t sk_tcp_ts_offset(const uint8_t key[16], uint32_t laddr, uint32_t raddr);

/* ---- tcp_timewait.c ---- */

size_t tcp_tw_size_hint(const struct sk_config *cfg);
/* The table in the stack's memory, and back. */
bool tcp_tw_table_new(struct sk_stack *st, struct sk_tcp *tcp);
void tcp_tw_table_free(struct sk_stack *st, struct sk_tcp *tcp);
/* t is in TIME_WAIT and nobody holds it (it got there orphaned, or its
 * owner closed it there; a child still on its listener's accept queue
 * waits for accept): move it to the table and free its slot. Call it once
 * what t had to send (the ACK of the peer's FIN) has gone. */
void tcp_tw_adopt(struct sk_stack *st, struct tcb *t, sk_time_t now);
struct tcp_tw *tcp_tw_lookup(struct sk_stack *st, uint32_t laddr, uint16_t lport,
                             uint32_t raddr, uint16_t rport);
/* A segment for tw's 4-tuple (RFC 9293 §3.10.7.4 in TIME_WAIT). A SYN
 * that may open a new incarnation (RFC 6191) is the caller's. */
void tcp_tw_input(struct sk_stack *st, struct tcp_tw *tw, const struct sk_tcp_repr *r,
                  sk_time_t now);
/* The TIME_WAIT ends now: CLOSED, with `cause` in the trace. */
void tcp_tw_end(struct sk_stack *st, struct tcp_tw *tw, const char *cause, sk_time_t now);
void tcp_tw_run_timers(struct sk_stack *st, sk_time_t now);
sk_time_t tcp_tw_next_deadline(const struct sk_tcp *tcp);
/* The local port rules (tcp_table.c): TIME_WAITs keep their port, with
 * the SO_REUSEADDR and SO_REUSEPORT of the socket they were. */
bool tcp_tw_port_conflict(struct sk_stack *st, const struct tcb *t, uint32_t addr, uint16_t port);
bool tcp_tw_port_used(struct sk_stack *st, uint16_t port);
/* sk_stack_repair's part for the table: 0, or -1 with why. */
int tcp_tw_repair(struct sk_stack *st, char *why, size_t len);

/* ---- tcp_timer.c ---- */

/* Re-key t in the heap after any change of rto_at/dack_at/state_at. */
void tcp_timer_update(struct sk_stack *st, struct tcb *t);
void tcp_rtt_sample(struct tcb *t, sk_time_t rtt);
void tcp_rto_arm(struct sk_stack *st, struct tcb *t, sk_time_t now);
void tcp_rto_reset(struct tcb *t);

/* ---- tcp_opts.c ---- */

/* Our window scale (from rcvbuf) and timestamp offset, nothing agreed. */
void tcp_opts_init(struct sk_stack *st, struct tcb *t);
/* The window scale t's SYN or SYN,ACK offers (RFC 7323 §2.3). */
uint8_t tcp_rcv_wscale(const struct sk_stack *st, const struct tcb *t);
/* Options of our SYN (synack false) or SYN,ACK. */
void tcp_opts_syn(const struct tcb *t, bool synack, struct sk_tcp_repr *r, sk_time_t now);
/* What the peer's SYN (or SYN,ACK) offered decides what is used. */
void tcp_opts_peer_syn(struct tcb *t, const struct sk_tcp_repr *r, sk_time_t now);
/* Options of any other segment (the TSopt). */
void tcp_opts_out(struct tcb *t, struct sk_tcp_repr *r, sk_time_t now);
/* Bytes of options every data segment carries (taken off the MSS). */
size_t tcp_opts_space(const struct tcb *t);
/* Payload of a full data segment now: snd_mss less room for SACK blocks
 * while we hold out-of-order data. */
size_t tcp_seg_payload_max(const struct tcb *t);
/* The peer's window in bytes (scaled unless a SYN). */
uint32_t tcp_seg_window(const struct tcb *t, const struct sk_tcp_repr *r);
uint32_t tcp_ts_now(const struct tcb *t, sk_time_t now);
/* Our timestamp clock for a connection whose offset is ts_offset: a 1 ms
 * clock, as Linux's, within RFC 7323 §5.4's 1 ms .. 1 s (tcp_ts_now; the
 * TIME_WAIT table keeps the offset alone). */
static inline uint32_t tcp_ts_clock(uint32_t ts_offset, sk_time_t now)
{
	return (uint32_t)(now / 1000) + ts_offset;
}
/* RFC 7323 §5.3: true when the segment fails PAWS and must be dropped. */
bool tcp_paws_reject(struct tcb *t, const struct sk_tcp_repr *r, sk_time_t now);
/* RFC 7323 §4.3: record TS.Recent from an acceptable segment. */
void tcp_ts_update(struct tcb *t, const struct sk_tcp_repr *r, sk_time_t now);
/* RFC 7323 §4.1: an RTT sample from the echoed timestamp. */
bool tcp_ts_rtt(const struct tcb *t, const struct sk_tcp_repr *r, sk_time_t now, sk_time_t *rtt);

/* ---- tcp_rcvbuf.c ---- */

/* The largest the receive buffer may grow: cfg.rcvbuf_max while
 * autotuning is on, else rcvbuf. The window scale is chosen for it. */
uint32_t tcp_rcvbuf_cap(const struct sk_stack *st, const struct tcb *t);
/* A new connection: the first measurement starts now. */
void tcp_rcvbuf_init(struct tcb *t, sk_time_t now);
/* The application read n bytes (sk_recv, not a peek): once per RTT, grow
 * the receive ring when it reads more per RTT than before. Reallocates:
 * never call it on the per-segment path. */
void tcp_rcvbuf_adjust(struct sk_stack *st, struct tcb *t, size_t n, sk_time_t now);

/* ---- tcp_reass.c ---- */

void tcp_reass_reset(struct tcp_reass *q);
/* Hold `len` bytes at `seq` (above RCV.NXT, within the window), and a FIN
 * after them. Returns the bytes held: 0 when dropped for lack of an
 * interval. */
size_t tcp_reass_insert(struct tcb *t, uint32_t seq, const uint8_t *data, size_t len, bool fin);
/* RCV.NXT moved: make the held bytes that now follow it readable and
 * advance RCV.NXT over them; returns how many. */
uint32_t tcp_reass_advance(struct tcb *t);
/* True when a held FIN is the next thing expected. */
bool tcp_reass_fin_due(const struct tcb *t);
/* Up to max SACK blocks describing what is held, most recent first. */
size_t tcp_reass_sack(const struct tcb *t, struct sk_tcp_sack_block *out, size_t max);

/* ---- tcp_info.c ---- */

/* A new connection's TCP_INFO counters start from zero. */
void tcp_info_reset(struct tcb *t);
/* One segment of t (`bytes` of payload) was retransmitted: the stack's
 * tcp_retransmits and the connection's counters. */
void tcp_count_retrans(struct sk_stack *st, struct tcb *t, uint32_t bytes);

/* ---- tcp_defer.c ---- */

/* Linux secs_to_retrans / retrans_to_secs (1 s doubling, 120 s cap). */
int tcp_defer_from_secs(int secs);
int tcp_defer_to_secs(int retrans);
/* A passive child in SYN_RECEIVED got an acceptable ACK `r`: true when
 * its listener's TCP_DEFER_ACCEPT drops it (bare ACK within the period). */
bool tcp_defer_hold(struct sk_stack *st, struct tcb *c, const struct sk_tcp_repr *r);
enum tcp_defer_rto {
	TCP_DEFER_NONE,   /* not deferred: the usual SYN,ACK timeout */
	TCP_DEFER_WAIT,   /* back off without resending */
	TCP_DEFER_EXPIRE, /* drop the child silently */
};
/* The SYN,ACK timer of child c fired: what the deferral makes of it. */
enum tcp_defer_rto tcp_defer_rto(struct sk_stack *st, const struct tcb *c);

/* ---- tcp_keepalive.c ---- */

/* State hook (tcp_set_state): ESTABLISHED arms keepalive, CLOSED and
 * TIME_WAIT disarm keepalive and cork. */
void tcp_ka_state(struct sk_stack *st, struct tcb *t, sk_time_t now);
/* An acceptable segment arrived (before its ACK is processed): the peer is
 * alive; an ACK of new data restarts the user timeout. */
void tcp_ka_input(struct tcb *t, const struct sk_tcp_repr *r, sk_time_t now);
/* SO_KEEPALIVE / TCP_KEEPIDLE changed: re-arm as Linux does (switching on
 * waits a full idle time from now; a new idle time counts what has passed
 * since the peer was last heard). */
void tcp_ka_rearm(struct sk_stack *st, struct tcb *t, bool from_now, sk_time_t now);
/* ka_at fired. */
void tcp_ka_expired(struct sk_stack *st, struct tcb *t, sk_time_t now);
/* RTO/persist expiry: true when TCP_USER_TIMEOUT has run out (starting its
 * clock at the first expiry). While it is set it replaces the retry count. */
bool tcp_user_timeout_due(struct tcb *t, sk_time_t now);
bool tcp_user_timeout_active(const struct tcb *t);
/* After re-arming the RTO: never later than the user timeout's end. */
void tcp_user_timeout_clamp(struct sk_stack *st, struct tcb *t);

/* ---- tcp_cork.c ---- */

/* output_data asks before sending a partial (< MSS) new segment of `avail`
 * bytes that Nagle allowed: true = hold it (TCP_CORK / MSG_MORE). */
bool tcp_cork_hold(struct sk_stack *st, struct tcb *t, size_t avail, sk_time_t now);
/* cork_at fired: the held partial segment may go. */
void tcp_cork_expired(struct sk_stack *st, struct tcb *t, sk_time_t now);
/* TCP_CORK set or cleared (clearing pushes what was held). */
void tcp_cork_set(struct sk_stack *st, struct tcb *t, bool on, sk_time_t now);

/* ---- tcp_sack.c ---- */

void tcp_sack_reset(struct tcp_scoreboard *sb);
/* Take the SACK blocks of an ACK; returns the bytes newly SACKed. */
uint32_t tcp_sack_update(struct tcb *t, const struct sk_tcp_repr *r);
/* Forget what SND.UNA now covers. */
void tcp_sack_prune(struct tcb *t);
/* RFC 6675 §4 IsLost(seq), SetPipe, NextSeg (rules 1, or 3 when rule3). */
bool tcp_sack_is_lost(const struct tcb *t, uint32_t seq);
uint32_t tcp_sack_pipe(const struct tcb *t);
bool tcp_sack_next_seg(const struct tcb *t, bool rule3, uint32_t *seq, uint32_t *len);
/* Move *seq past SACKed data; returns the bytes before the next SACKed
 * block (UINT32_MAX: none). */
uint32_t tcp_sack_skip(const struct tcb *t, uint32_t *seq);

/* ---- tcp_recovery.c ---- */

/* A duplicate ACK (RFC 5681 §2, or RFC 6675's ACK bringing new SACK
 * information): may enter fast recovery. */
void tcp_recovery_dupack(struct sk_stack *st, struct tcb *t, sk_time_t now);
/* New data acknowledged (`acked` bytes; `sacked`: the ACK brought new
 * SACK information): congestion control outside recovery, or entering it;
 * partial or full ACK inside (RFC 6582 §3.2, RFC 6675 §5). */
void tcp_recovery_ack(struct sk_stack *st, struct tcb *t, uint32_t acked, bool sacked,
                      sk_time_t now);
/* The RTO fired: recovery ends, RecoveryPoint = HighData (RFC 6675 §5.1). */
void tcp_recovery_rto(struct tcb *t);
/* A duplicate ACK in SACK recovery: has SND.UNA's retransmission been
 * lost (a later retransmission arrived before it)? Then resend it. */
void tcp_recovery_sack(struct sk_stack *st, struct tcb *t, const struct sk_tcp_repr *r,
                       sk_time_t now);
/* RFC 8985 §7 tail loss probe: the probe timeout for the RTO being armed
 * at `now`, or SK_TIME_NEVER when no probe is due. */
sk_time_t tcp_probe_at(const struct tcb *t, sk_time_t now);
/* Data went out: the probe timeout restarts from now (the RTO stays). */
void tcp_probe_rearm(struct tcb *t, sk_time_t now);
/* The probe timeout passed without an ACK: send the probe. */
void tcp_probe_send(struct sk_stack *st, struct tcb *t, sk_time_t now);
/* SACK recovery's transmission loop (RFC 6675 §5 (C)). */
void tcp_recovery_output(struct sk_stack *st, struct tcb *t, sk_time_t now);

/* ---- tcp_output.c ---- */

/* Retransmit one segment at seq (at most max bytes and one MSS), with the
 * FIN if it reaches it; returns the sequence space sent (0: nothing). */
uint32_t tcp_retransmit(struct sk_stack *st, struct tcb *t, uint32_t seq, uint32_t max,
                        sk_time_t now);
/* Send one new segment at SND.NXT within `room` bytes of congestion
 * allowance (and the peer's window); false when nothing could go. */
bool tcp_send_new(struct sk_stack *st, struct tcb *t, uint32_t room, sk_time_t now);

/* "dispatch": send every segment the state allows now (SYN, SYN+ACK, data
 * within min(window, cwnd), FIN, a due ACK), then re-arm timers. */
void tcp_output(struct sk_stack *st, struct tcb *t, sk_time_t now);
/* A bare ACK now (challenge ACKs, duplicate ACKs, TIME_WAIT re-ACK). */
void tcp_send_ack(struct sk_stack *st, struct tcb *t, sk_time_t now);
/* RFC 1122 §4.2.3.6 keepalive probe: <SEQ=SND.UNA-1><ACK=RCV.NXT><CTL=ACK>,
 * no data (Linux tcp_xmit_probe_skb), which the peer must answer. */
void tcp_send_keepalive(struct sk_stack *st, struct tcb *t, sk_time_t now);
/* RST on an existing connection: <SEQ=SND.NXT><CTL=RST> (RFC 9293 §3.10.4
 * ABORT, §3.10.7.4). */
void tcp_send_rst(struct sk_stack *st, struct tcb *t, sk_time_t now);
/* RFC 9293 §3.10.7.1: the RST answering segment `in` that matched no
 * connection (never in answer to a RST). */
void tcp_reply_rst(struct sk_stack *st, const struct sk_ipv4_repr *ip, const struct sk_tcp_repr *in,
                   sk_time_t now);
/* Checksum a segment of l4_len bytes at buf, or leave it to the device
 * (sk_config.tx_csum_offload): then *off says so. */
void tcp_segment_checksum(struct sk_stack *st, uint8_t *buf, size_t l4_len, uint32_t src,
                          uint32_t dst, struct sk_tx_offload *off);
/* Window we would advertise now: free receive space, clamped. */
uint32_t tcp_rcv_window(const struct tcb *t);
/* The application consumed received data: send a window update if the
 * window opened enough to matter (RFC 9293 §3.8.6.2.2). */
void tcp_window_update(struct sk_stack *st, struct tcb *t, sk_time_t now);

/* ---- tcp_input.c / tcp_socket.c ---- */

/* Tear down a connection: state CLOSED with `err` pending (0 = none),
 * both directions shut, timers off, rings released; frees the slot when
 * the application no longer holds it. */
void tcp_close_conn(struct sk_stack *st, struct tcb *t, int err, const char *cause, sk_time_t now);
/* Abort a connection with RST where one is due (RFC 9293 §3.10.4 ABORT). */
void tcp_abort(struct sk_stack *st, struct tcb *t, int err, const char *cause, sk_time_t now);
/* An ACK freed send space: wake the socket if a writer ran out of it
 * (nospace) and it is writeable again (Linux tcp_check_space). */
void tcp_check_space(struct sk_stack *st, struct tcb *t);
/* Enough is queued to wake and poll readers: SO_RCVLOWAT bytes, or any
 * when the window left is one segment (Linux tcp_epollin_ready). */
bool tcp_rcv_ready(const struct tcb *t);
/* Our ISN, MSS, buffers (no storage yet: tcp_ring_reserve) and
 * congestion state for a new connection. */
int tcp_conn_init(struct sk_stack *st, struct tcb *t, sk_time_t now);
/* The MSS our SYN announces (RFC 9293 §3.7.1): MTU - 40, lowered by
 * TCP_MAXSEG. */
uint16_t tcp_mss_ours(const struct sk_stack *st, const struct tcb *t);
/* Peer's MSS option (-1 absent) -> snd_mss (RFC 9293 §3.7.1, RFC 6691). */
void tcp_set_peer_mss(struct sk_stack *st, struct tcb *t, int32_t peer_mss);
/* Take a completed child off its listener's syn list onto the accept
 * queue (false: the accept queue is full), or unlink it entirely. */
bool tcp_child_complete(struct sk_stack *st, struct tcb *child);
void tcp_child_unlink(struct sk_stack *st, struct tcb *child);

/* RFC 793 §3.9 SEND on a LISTEN socket with a foreign socket: the listener
 * becomes an active open (LISTEN -> SYN_SENT). BSD sockets cannot express
 * it; core keeps it so the whole diagram is reachable. Pending children
 * are aborted. -EINVAL if not listening. */
int sk_tcp_listen_connect(struct sk_stack *st, int sock, uint32_t addr, uint16_t port,
                          sk_time_t now);

#endif
