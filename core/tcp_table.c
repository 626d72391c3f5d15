/* The socket arena and its indexes: free list, connection table (4-tuple),
 * bind table (local port), ephemeral ports (RFC 6056) and ISNs (RFC 6528).
 * See tcp.h for the layout. */
#include <errno.h>
#include <string.h>

#include "byteorder.h"
#include "siphash.h"
#include "tcp.h"

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* The arena's geometry: `buckets` hash buckets for n slots. */
static uint32_t bucket_count(uint32_t n)
{
	/* Load factor <= 1 with chaining keeps chains O(1) on average. */
	return pow2_at_least(n);
}

size_t sk_tcp_size_hint(const struct sk_config *cfg)
{
	size_t n = cfg->max_sockets, buckets = bucket_count(cfg->max_sockets);

	return sizeof(struct sk_tcp) + n * (sizeof(struct tcb) + sizeof(int32_t)) +
	       3 * buckets * sizeof(int32_t) + tcp_tw_size_hint(cfg);
}

/* The arrays of an arena of n slots, in the stack's memory. */
static bool arrays_alloc(struct sk_stack *st, struct sk_tcp *tcp, uint32_t n, uint32_t buckets)
{
	const struct sk_mem_ops *m = &st->mem;

	sk_rel_set(&tcp->tcbs, sk_mem_alloc(m, n * sizeof(struct tcb)));
	sk_rel_set(&tcp->conn_buckets, sk_mem_alloc(m, buckets * sizeof(int32_t)));
	sk_rel_set(&tcp->bind_buckets, sk_mem_alloc(m, buckets * sizeof(int32_t)));
	sk_rel_set(&tcp->bind_child_buckets, sk_mem_alloc(m, buckets * sizeof(int32_t)));
	sk_rel_set(&tcp->heap, sk_mem_alloc(m, n * sizeof(int32_t)));
	return tcp->tcbs && tcp->conn_buckets && tcp->bind_buckets && tcp->bind_child_buckets &&
	       tcp->heap;
}

struct sk_tcp *sk_tcp_new(struct sk_stack *st)
{
	uint32_t n = st->cfg.max_sockets;
	struct sk_tcp *tcp = sk_mem_alloc(&st->mem, sizeof(*tcp));

	if (!tcp || n == 0 || n > (1u << 24))
		goto fail;
	tcp->nslots = n;
	uint32_t buckets = bucket_count(n);
	tcp->conn_mask = buckets - 1;
	tcp->bind_mask = buckets - 1;
	if (!arrays_alloc(st, tcp, n, buckets))
		goto fail;
	int32_t *conn = tcp_conn_buckets(tcp), *bind = tcp_bind_buckets(tcp),
	        *bchild = tcp_bind_child_buckets(tcp);
	for (uint32_t i = 0; i < buckets; i++)
		conn[i] = bind[i] = bchild[i] = TCP_NIL;
	/* The slots are left as allocated (zero): tcp_slot_alloc sets up
	 * each one when it first hands it out (hwm). */
	tcp->hwm = 0;
	tcp->free_head = TCP_NIL;
	if (!tcp_tw_table_new(st, tcp))
		goto fail;
	/* A secret per stack, distinct from the ISN key: knowing one table's
	 * layout must not help predict sequence numbers. */
	uint64_t k0 = sk_rand64(st), k1 = sk_rand64(st);
	memcpy(tcp->hash_key, &k0, 8);
	memcpy(tcp->hash_key + 8, &k1, 8);
	/* The SYN cookie secrets (Linux syncookie_secret[2]): derived from
	 * that secret through the PRF, so the random sequence that later
	 * picks ephemeral ports stays what it was. */
	for (uint8_t i = 0; i < 4; i++) {
		uint8_t label[] = {'c', 'o', 'o', 'k', 'i', 'e', i};
		uint64_t k = sk_siphash24(tcp->hash_key, label, sizeof(label));

		memcpy(tcp->cookie_key[i / 2] + 8 * (i % 2), &k, 8);
	}
	return tcp;
fail:
	sk_tcp_free(st, tcp);
	return NULL;
}

void sk_tcp_free(struct sk_stack *st, struct sk_tcp *tcp)
{
	const struct sk_mem_ops *m = &st->mem;

	if (!tcp)
		return;
	uint32_t n = tcp->nslots, buckets = tcp->conn_mask + 1;
	struct tcb *tcbs = tcp_tcbs(tcp);

	for (uint32_t i = 0; tcbs && i < tcp->hwm; i++) {
		sk_ringbuf_release(&tcbs[i].snd, m);
		sk_ringbuf_release(&tcbs[i].rcv, m);
	}
	sk_mem_free(m, tcbs, n * sizeof(struct tcb));
	sk_mem_free(m, tcp_conn_buckets(tcp), buckets * sizeof(int32_t));
	sk_mem_free(m, tcp_bind_buckets(tcp), buckets * sizeof(int32_t));
	sk_mem_free(m, tcp_bind_child_buckets(tcp), buckets * sizeof(int32_t));
	sk_mem_free(m, tcp_heap(tcp), n * sizeof(int32_t));
	tcp_tw_table_free(st, tcp);
	sk_mem_free(m, tcp, sizeof(*tcp));
}

/* A slot: a freed one first, else the next never used. */
static int32_t slot_take(struct sk_stack *st)
{
	struct sk_tcp *tcp = sk_tcp_of(st);
	int32_t id = tcp->free_head;

	if (id == TCP_NIL)
		return tcp->hwm < tcp->nslots ? (int32_t)tcp->hwm++ : TCP_NIL;
	tcp->free_head = tcp_tcbs(tcp)[id].conn_next;
	return id;
}

static void bind_child_remove(struct sk_tcp *tcp, struct tcb *c);

struct tcb *tcp_slot_alloc(struct sk_stack *st)
{
	int32_t id = slot_take(st);

	if (id == TCP_NIL)
		return NULL;
	struct tcb *t = &tcp_tcbs(sk_tcp_of(st))[id];

	*t = (struct tcb){
	    .id = id,
	    .in_use = true,
	    .state = SK_TCP_CLOSED,
	    .since = SK_TIME_NEVER,
	    .conn_next = TCP_NIL,
	    .bind_next = TCP_NIL,
	    .bchild_prev = TCP_NIL,
	    .bchild_next = TCP_NIL,
	    .parent = TCP_NIL,
	    .q_prev = TCP_NIL,
	    .q_next = TCP_NIL,
	    .syn_head = TCP_NIL,
	    .acc_head = TCP_NIL,
	    .acc_tail = TCP_NIL,
	    .rcvbuf = st->cfg.rcvbuf,
	    .sndbuf = st->cfg.sndbuf,
	    /* SYNACK_CC; SK_OPT_CONGESTION overrides it per socket */
	    .cc_algo = st->cfg.default_cc,
	    .keepidle = 7200, /* Linux defaults, reported by getsockopt */
	    .keepintvl = 75,
	    .keepcnt = 9,
	    .rto = TCP_RTO_INIT,
	    .rto_at = SK_TIME_NEVER,
	    .dack_at = SK_TIME_NEVER,
	    .state_at = SK_TIME_NEVER,
	    .ka_at = SK_TIME_NEVER,
	    .cork_at = SK_TIME_NEVER,
	    .deadline = SK_TIME_NEVER,
	    .heap_pos = TCP_NIL,
	};
	return t;
}

void tcp_slot_free(struct sk_stack *st, struct tcb *t)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	tcp_conn_remove(st, t);
	tcp_bind_remove(st, t);
	bind_child_remove(tcp, t);
	if (t->parent != TCP_NIL)
		tcp_child_unlink(st, t);
	t->rto_at = t->dack_at = t->state_at = SK_TIME_NEVER;
	t->ka_at = t->cork_at = SK_TIME_NEVER;
	tcp_timer_update(st, t);
	tcp_ring_release(st, &t->snd);
	tcp_ring_release(st, &t->rcv);
	t->in_use = false;
	t->user_owned = false;
	t->conn_next = tcp->free_head;
	tcp->free_head = t->id;
}

/* ---- connection table ---- */

/* SipHash-2-4 of a 4-tuple under `key`. */
static uint64_t tuple_hash(const uint8_t key[16], uint32_t laddr, uint16_t lport, uint32_t raddr,
                           uint16_t rport)
{
	uint8_t k[12];

	sk_wr32(k, laddr);
	sk_wr16(k + 4, lport);
	sk_wr32(k + 6, raddr);
	sk_wr16(k + 10, rport);
	return sk_siphash24(key, k, sizeof(k));
}

uint32_t tcp_tuple_hash(const struct sk_tcp *tcp, uint32_t laddr, uint16_t lport, uint32_t raddr,
                        uint16_t rport)
{
	return (uint32_t)tuple_hash(tcp->hash_key, laddr, lport, raddr, rport);
}

uint32_t tcp_conn_bucket(const struct sk_tcp *tcp, uint32_t laddr, uint16_t lport, uint32_t raddr,
                         uint16_t rport)
{
	return tcp_tuple_hash(tcp, laddr, lport, raddr, rport) & tcp->conn_mask;
}

struct tcb *tcp_conn_lookup(struct sk_stack *st, uint32_t laddr, uint16_t lport, uint32_t raddr,
                            uint16_t rport)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	for (int32_t i = tcp_conn_buckets(tcp)[tcp_conn_bucket(tcp, laddr, lport, raddr, rport)];
	     i != TCP_NIL; i = tcp_tcbs(tcp)[i].conn_next) {
		struct tcb *t = &tcp_tcbs(tcp)[i];

		if (t->lport == lport && t->rport == rport && t->laddr == laddr &&
		    t->raddr == raddr)
			return t;
	}
	return NULL;
}

void tcp_conn_insert(struct sk_stack *st, struct tcb *t)
{
	struct sk_tcp *tcp = sk_tcp_of(st);
	uint32_t b = tcp_conn_bucket(tcp, t->laddr, t->lport, t->raddr, t->rport);

	t->conn_next = tcp_conn_buckets(tcp)[b];
	tcp_conn_buckets(tcp)[b] = t->id;
	t->in_conn_table = true;
}

/* Unlinking walks one chain: O(1) on average with a keyed hash. */
void tcp_conn_remove(struct sk_stack *st, struct tcb *t)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	if (!t->in_conn_table)
		return;
	int32_t *p =
	    &tcp_conn_buckets(tcp)[tcp_conn_bucket(tcp, t->laddr, t->lport, t->raddr, t->rport)];

	while (*p != t->id)
		p = &tcp_tcbs(tcp)[*p].conn_next;
	*p = t->conn_next;
	t->conn_next = TCP_NIL;
	t->in_conn_table = false;
}

/* ---- bind table ---- */

uint32_t tcp_bind_bucket(const struct sk_tcp *tcp, uint16_t port)
{
	/* Ports are not secret and at most 65536: a multiplicative hash is
	 * enough to spread them. */
	return (uint32_t)(port * 2654435761u) & tcp->bind_mask;
}

static int32_t *bind_chain(struct sk_tcp *tcp, uint16_t port)
{
	return &tcp_bind_buckets(tcp)[(uint32_t)(port * 2654435761u) & tcp->bind_mask];
}

/* ---- SO_REUSEPORT groups ---- */

/* A member of the group listening on exactly (addr, port). Linux groups the
 * listeners of one address and port (reuseport_add_sock at listen, out at
 * close): a socket bound but not listening is in no group and gets no SYN. */
static bool group_member(const struct tcb *t, uint32_t addr, uint16_t port)
{
	return t->lport == port && t->laddr == addr && t->state == SK_TCP_LISTEN;
}

/* The listener number `hash` picks among those on exactly (addr, port), or
 * NULL when none listens there. Linux reuseport_select_sock takes
 * socks[reciprocal_scale(hash, num_socks)]; the order here is the bind
 * chain's, which only a member's arrival or departure changes (others are
 * inserted at the head, and unlinking keeps the order of the rest), so a
 * flow keeps its listener while the group is unchanged. Two walks of one
 * bind bucket: this runs only for a port whose listener set the option. */
static struct tcb *group_pick(struct sk_tcp *tcp, uint32_t addr, uint16_t port, uint32_t hash)
{
	uint32_t n = 0;

	for (int32_t i = *bind_chain(tcp, port); i != TCP_NIL; i = tcp_tcbs(tcp)[i].bind_next)
		n += group_member(&tcp_tcbs(tcp)[i], addr, port);
	if (n == 0)
		return NULL;
	uint32_t pick = (uint32_t)(((uint64_t)hash * n) >> 32); /* reciprocal_scale */

	for (int32_t i = *bind_chain(tcp, port); i != TCP_NIL; i = tcp_tcbs(tcp)[i].bind_next) {
		struct tcb *t = &tcp_tcbs(tcp)[i];

		if (group_member(t, addr, port) && pick-- == 0)
			return t;
	}
	return NULL; /* not reached: the chain did not change between the walks */
}

/* Linux inet_lhash2_lookup: the listeners on the segment's own address
 * first, then those on INADDR_ANY; within them reuseport_select_sock with
 * inet_ehashfn(daddr, dport, saddr, sport), here the connection table's
 * keyed SipHash of the 4-tuple (the high half: the table uses the low
 * bits), so a peer can neither predict nor steer which listener it gets. */
static struct tcb *reuseport_select(struct sk_tcp *tcp, uint32_t laddr, uint16_t lport,
                                    uint32_t raddr, uint16_t rport)
{
	uint32_t hash = (uint32_t)(tuple_hash(tcp->hash_key, laddr, lport, raddr, rport) >> 32);
	struct tcb *t = group_pick(tcp, laddr, lport, hash);

	return t ? t : group_pick(tcp, 0, lport, hash);
}

/* A listener without SO_REUSEPORT is alone on its port at every address
 * that overlaps its own (tcp_bind_conflict, checked again at listen), so
 * the first one found is the answer, as before groups existed: the
 * per-segment path of such a port pays one flag test more. */
struct tcb *tcp_listener_lookup(struct sk_stack *st, uint32_t laddr, uint16_t lport, uint32_t raddr,
                                uint16_t rport)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	for (int32_t i = *bind_chain(tcp, lport); i != TCP_NIL; i = tcp_tcbs(tcp)[i].bind_next) {
		struct tcb *t = &tcp_tcbs(tcp)[i];

		if (t->lport == lport && t->state == SK_TCP_LISTEN &&
		    (t->laddr == 0 || t->laddr == laddr))
			return t->reuseport ? reuseport_select(tcp, laddr, lport, raddr, rport) : t;
	}
	return NULL;
}

static int32_t *bind_child_chain(struct sk_tcp *tcp, uint16_t port)
{
	return &tcp_bind_child_buckets(tcp)[tcp_bind_bucket(tcp, port)];
}

/* Passive children hold their listener's port too (Linux: inet_csk_clone
 * puts the child in the port's bind bucket, __inet_inherit_port), and
 * keep holding it after the listener closed: a new server bound there
 * would take over the 4-tuples of live connections. They are not in the
 * bind chains themselves: tcp_listener_lookup walks those for every SYN
 * and every segment without a connection, and a busy listener's thousands
 * of children would sit in its way. A per-port count would not do either:
 * whether a child conflicts depends on its state and SO_REUSEADDR at the
 * time of the bind (and setsockopt may change the latter), and a count
 * would have to follow every state change on the per-segment path. So
 * children get a second chain per bind bucket, doubly linked: in at the
 * SYN and out at tcp_slot_free in O(1); only bind, listen and the
 * ephemeral search read it, O(that bucket), never the arena. */
void tcp_bind_child_insert(struct sk_stack *st, struct tcb *c)
{
	struct sk_tcp *tcp = sk_tcp_of(st);
	int32_t *head = bind_child_chain(tcp, c->lport);

	c->bchild_prev = TCP_NIL;
	c->bchild_next = *head;
	if (*head != TCP_NIL)
		tcp_tcbs(tcp)[*head].bchild_prev = c->id;
	*head = c->id;
	c->in_bind_child = true;
}

static void bind_child_remove(struct sk_tcp *tcp, struct tcb *c)
{
	if (!c->in_bind_child)
		return;
	if (c->bchild_prev != TCP_NIL)
		tcp_tcbs(tcp)[c->bchild_prev].bchild_next = c->bchild_next;
	else
		*bind_child_chain(tcp, c->lport) = c->bchild_next;
	if (c->bchild_next != TCP_NIL)
		tcp_tcbs(tcp)[c->bchild_next].bchild_prev = c->bchild_prev;
	c->bchild_prev = c->bchild_next = TCP_NIL;
	c->in_bind_child = false;
}

/* A child holds the port while it is a connection: one that was reset or
 * timed out and waits in CLOSED for its owner's close() does not (Linux
 * tcp_set_state(TCP_CLOSE) -> inet_put_port; measured on 6.18). */
static bool child_holds(const struct tcb *c, uint16_t port)
{
	return c->lport == port && c->state != SK_TCP_CLOSED;
}

/* Linux inet_bind_conflict (relax, reuseport_ok): o stands in the way of
 * t binding (addr, port) when their addresses overlap (INADDR_ANY
 * overlaps every address) unless both set SO_REUSEADDR and o does not
 * listen, or both set SO_REUSEPORT. TIME_WAIT is no exception: it keeps
 * the SO_REUSEADDR and SO_REUSEPORT of the socket it was (tw_reuse,
 * tw_reuseport), so a TIME_WAIT child of a listener without them still
 * refuses a new socket with them (measured on Linux 6.18). Linux also
 * wants SO_REUSEPORT sockets to have the same effective uid (or o in
 * TIME_WAIT), so that another user cannot steal a share of a port's
 * connections: that always holds here, one stack serves one user (its
 * shared memory object is per uid, shim/shared/shm_stack.h). */
bool tcp_reuse_conflicts(const struct tcb *t, uint32_t addr, uint32_t o_laddr, bool o_reuseaddr,
                         bool o_reuseport, bool o_listens)
{
	if (addr != 0 && o_laddr != 0 && addr != o_laddr)
		return false;
	if (t->reuseport && o_reuseport)
		return false;
	return !(t->reuseaddr && o_reuseaddr && !o_listens);
}

static bool holder_conflicts(const struct tcb *t, uint32_t addr, const struct tcb *o)
{
	return o != t && tcp_reuse_conflicts(t, addr, o->laddr, o->reuseaddr, o->reuseport,
	                                     o->state == SK_TCP_LISTEN);
}

bool tcp_bind_conflict(struct sk_stack *st, const struct tcb *t, uint32_t addr, uint16_t port)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	for (int32_t i = *bind_chain(tcp, port); i != TCP_NIL; i = tcp_tcbs(tcp)[i].bind_next) {
		const struct tcb *o = &tcp_tcbs(tcp)[i];

		if (o->lport == port && holder_conflicts(t, addr, o))
			return true;
	}
	for (int32_t i = *bind_child_chain(tcp, port); i != TCP_NIL;
	     i = tcp_tcbs(tcp)[i].bchild_next) {
		const struct tcb *c = &tcp_tcbs(tcp)[i];

		if (child_holds(c, port) && holder_conflicts(t, addr, c))
			return true;
	}
	return tcp_tw_port_conflict(st, t, addr, port);
}

static bool port_used(struct sk_stack *st, uint16_t port)
{
	struct sk_tcp *tcp = sk_tcp_of(st);

	for (int32_t i = *bind_chain(tcp, port); i != TCP_NIL; i = tcp_tcbs(tcp)[i].bind_next)
		if (tcp_tcbs(tcp)[i].lport == port)
			return true;
	for (int32_t i = *bind_child_chain(tcp, port); i != TCP_NIL;
	     i = tcp_tcbs(tcp)[i].bchild_next)
		if (child_holds(&tcp_tcbs(tcp)[i], port))
			return true;
	return tcp_tw_port_used(st, port);
}

static void bind_insert(struct sk_stack *st, struct tcb *t, uint32_t addr, uint16_t port)
{
	int32_t *head = bind_chain(sk_tcp_of(st), port);

	t->laddr = addr;
	t->lport = port;
	t->bind_next = *head;
	*head = t->id;
	t->in_bind_table = true;
}

#define TCP_EPHEMERAL_NUM (TCP_EPHEMERAL_HI - TCP_EPHEMERAL_LO + 1)

/* RFC 6056's search, shared by Algorithms 1 and 3: the first free port
 * from min + (*next + offset) on; *next (in [0, num)) moves past every
 * port looked at. Runs on bind/connect only, never per segment. */
static int ephemeral_search(struct sk_stack *st, struct tcb *t, uint32_t addr, uint32_t offset,
                            uint32_t *next)
{
	for (uint32_t count = 0; count < TCP_EPHEMERAL_NUM; count++) {
		uint16_t p = (uint16_t)(TCP_EPHEMERAL_LO + (*next + offset) % TCP_EPHEMERAL_NUM);

		*next = (*next + 1) % TCP_EPHEMERAL_NUM;
		/* An ephemeral port is never shared, even with SO_REUSEADDR. */
		if (!port_used(st, p)) {
			bind_insert(st, t, addr, p);
			return 0;
		}
	}
	return -EADDRNOTAVAIL;
}

int tcp_bind_port(struct sk_stack *st, struct tcb *t, uint32_t addr, uint16_t port)
{
	if (port != 0) {
		if (tcp_bind_conflict(st, t, addr, port))
			return -EADDRINUSE;
		bind_insert(st, t, addr, port);
		return 0;
	}
	/* RFC 6056 §3.3.1 (Algorithm 1): a random start, then the next free
	 * port. No peer is known yet (bind, listen); connect uses
	 * tcp_bind_ephemeral. */
	uint32_t next = 0;

	return ephemeral_search(st, t, addr, (uint32_t)(sk_rand64(st) % TCP_EPHEMERAL_NUM), &next);
}

int tcp_bind_ephemeral(struct sk_stack *st, struct tcb *t, uint32_t raddr, uint16_t rport)
{
	/* RFC 6056 §3.3.3 (Algorithm 3, simple hash-based selection):
	 *   offset = F(local_IP, remote_IP, remote_port, secret_key)
	 *   port = min + (next_ephemeral + offset) % num, next_ephemeral++
	 * Towards one destination the ports follow each other, so a 4-tuple
	 * comes back only after the counter went round the whole range: the
	 * peer's TIME_WAIT for it is long gone (with random ports the first
	 * reuse came after ~100-260 connections and hit it, docs/performance.md
	 * §4). F keeps the sequence secret from whoever does not see our
	 * traffic to that destination (Linux __inet_hash_connect, Algorithm
	 * 4-like, does the same). */
	uint8_t k[1 + 4 + 4 + 2];

	k[0] = 'P';
	sk_wr32(k + 1, st->cfg.addr);
	sk_wr32(k + 5, raddr);
	sk_wr16(k + 9, rport);
	uint32_t offset =
	    (uint32_t)(sk_siphash24(st->cfg.isn_key, k, sizeof(k)) % TCP_EPHEMERAL_NUM);

	return ephemeral_search(st, t, 0, offset, &sk_tcp_of(st)->next_ephemeral);
}

void tcp_bind_remove(struct sk_stack *st, struct tcb *t)
{
	if (!t->in_bind_table)
		return;
	int32_t *p = bind_chain(sk_tcp_of(st), t->lport);

	while (*p != t->id)
		p = &tcp_tcbs(sk_tcp_of(st))[*p].bind_next;
	*p = t->bind_next;
	t->bind_next = TCP_NIL;
	t->in_bind_table = false;
}

uint32_t sk_tcp_isn(const uint8_t key[16], uint32_t laddr, uint16_t lport, uint32_t raddr,
                    uint16_t rport, sk_time_t now)
{
	/* RFC 6528 §3: M is a timer ticking every 4 µs; F a keyed PRF of the
	 * 4-tuple (SipHash-2-4, as Linux uses). */
	uint32_t m = (uint32_t)(now / 4);

	return m + (uint32_t)tuple_hash(key, laddr, lport, raddr, rport);
}

uint32_t sk_tcp_ts_offset(const uint8_t key[16], uint32_t laddr, uint32_t raddr)
{
	/* RFC 7323 §5.4 allows an offset per connection; one per address
	 * pair (Linux secure_tcp_ts_off) keeps our TSvals towards a peer
	 * increasing across connections, so a SYN reusing a 4-tuple passes
	 * the peer's TIME_WAIT PAWS check (RFC 6191). The tag byte keeps
	 * these inputs apart from the ISN's and the ports' under one key:
	 * SipHash is a PRF, an output tells nothing of another input's. */
	uint8_t k[1 + 4 + 4];

	k[0] = 'T';
	sk_wr32(k + 1, laddr);
	sk_wr32(k + 5, raddr);
	return (uint32_t)sk_siphash24(key, k, sizeof(k));
}
