/* synack core: the public contract of the protocol stack.
 *
 * core/ is pure protocol logic (design brief §8): no syscalls, no clock
 * reads, no globals, no libev. Time is passed in (sk_time_t, µs), frames
 * leave through the link callbacks given at creation, and everything the
 * caller must know about (a socket became readable, a state changed) is
 * reported through hooks. One struct sk_stack is one host: one MAC, one IPv4
 * address. The caller serialises all calls on one stack (the shim holds its
 * stack lock around every call). A stack shared by several processes
 * (sk_stack_new_in) is used by one at a time, and every call must be
 * preceded, under the same hold of the lock, by that process's
 * sk_stack_bind.
 *
 * Errors are negative errno values (-EAGAIN, -ECONNRESET, ...): the shim
 * turns them into errno.
 */
#ifndef SYNACK_CORE_STACK_H
#define SYNACK_CORE_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sk_time.h"

struct sk_stack;

/* ------------------------------------------------------------------ */
/* The link: how frames leave the stack                                */
/* ------------------------------------------------------------------ */

/* What the device finishes for a frame that xmit_offload hands it: only
 * what the device announced and sk_config enables (tso_max,
 * tx_csum_offload). The fields are those of Linux's virtio_net_hdr
 * (include/uapi/linux/virtio_net.h), which AF_PACKET's PACKET_VNET_HDR
 * takes as is. */
/* A piece of a frame that is not in the frame buffer (sk_tx_offload.frags). */
struct sk_tx_frag {
	const uint8_t *data;
	size_t len;
};

struct sk_tx_offload {
	/* > 0: a TCP super-frame (GSO_TCPV4). The device, the kernel or the
	 * NIC's TSO cuts its payload into segments of gso_size bytes, each with
	 * a copy of the headers (sequence numbers, IP id and lengths adjusted,
	 * FIN and PSH only on the last, as Linux's tcp_gso_segment does). */
	uint16_t gso_size;
	/* Bytes of Ethernet + IPv4 + TCP headers (with options). */
	uint16_t hdr_len;
	/* csum_start > 0: the L4 checksum is the device's (NEEDS_CSUM). The
	 * field at csum_start + csum_offset holds the pseudo-header sum
	 * (not complemented) and the device folds in [csum_start, end). */
	uint16_t csum_start;
	uint16_t csum_offset;
	/* nfrags > 0: the frame handed over stops after its headers; its
	 * payload is in these pieces (a super-frame's, straight from the
	 * socket's send buffer), for the device to gather as it sends, so the
	 * payload is not copied into the frame first. Valid for the call. */
	uint8_t nfrags;
	struct sk_tx_frag frags[2];
};

/* The payload bytes of off's frags (0 for NULL). */
static inline size_t sk_tx_frags_len(const struct sk_tx_offload *off)
{
	size_t n = 0;

	for (unsigned i = 0; off && i < off->nfrags; i++)
		n += off->frags[i].len;
	return n;
}

struct sk_link_ops {
	/* Transmit one complete Ethernet II frame (no FCS). The buffer is only
	 * valid for the duration of the call. Returns 0 or -errno (the frame is
	 * then lost; TCP recovers by retransmission). */
	int (*xmit)(void *ctx, const uint8_t *frame, size_t len);
	/* The same for a frame the device must finish (*off). Required when
	 * sk_config asks for tso_max or tx_csum_offload; NULL otherwise. */
	int (*xmit_offload)(void *ctx, const uint8_t *frame, size_t len,
	                    const struct sk_tx_offload *off);
};

/* Flags of a received frame (sk_input). */
enum sk_rx_flags {
	/* The L4 checksum must not be verified: the frame came from a local
	 * kernel peer that left it unfilled (AF_PACKET TP_STATUS_CSUMNOTREADY)
	 * or already verified (TP_STATUS_CSUM_VALID). */
	SK_RX_CSUM_TRUSTED = 1u << 0,
};

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

struct sk_config {
	uint8_t mac[6];
	uint32_t addr;      /* our IPv4 address, host byte order */
	uint8_t prefix_len; /* on-link prefix, 1..32 */
	uint32_t gateway;   /* host byte order; 0 = no gateway (on-link only) */
	uint16_t mtu;       /* IP MTU of the link, 68..9000 */

	uint32_t msl_ms;         /* TIME_WAIT lasts 2*MSL. Default 30000. */
	uint32_t fin_timeout_ms; /* orphaned FIN_WAIT_2 lifetime. Default 60000. */
	uint32_t syn_retries;    /* SYN retransmissions before ETIMEDOUT. Default 6. */

	/* Size of the socket arena: sockets and connections, those the
	 * program closed included, except TIME_WAIT. Default 4096, at most
	 * 2^24. */
	uint32_t max_sockets;
	/* Connections the program closed that wait out TIME_WAIT, in a table
	 * of their own of about 80 bytes each (Linux tcp_max_tw_buckets). When
	 * it is full the oldest ends early (stats tcp_tw_recycled). Default
	 * 4 * max_sockets (0 = the default), at most 2^24. */
	uint32_t max_time_wait;
	uint32_t rcvbuf; /* per-connection receive buffer, bytes. Default 256 KiB. */
	uint32_t sndbuf; /* per-connection send buffer, bytes. Default 256 KiB. */
	/* Receive-buffer autotuning (Linux tcp_rcv_space_adjust): the buffer
	 * starts at rcvbuf and grows with what the application reads per RTT,
	 * up to this cap (window scale chosen for it). At or below rcvbuf, or
	 * on a socket with SK_OPT_RCVBUF set: no autotuning. Default 4 MiB. */
	uint32_t rcvbuf_max;
	/* The SYN queue of a listener (Linux's request queue): at most
	 * min(listen backlog, syn_backlog) half-open connections, at least
	 * one. Separate from the accept queue (backlog + 1 established
	 * connections not yet accepted, as Linux). Default 256. */
	uint32_t syn_backlog;
	/* SYN cookies (RFC 4987 §3.6, Linux's net.ipv4.tcp_syncookies): 0
	 * never (a SYN that finds the SYN queue full is dropped), 1 when the
	 * SYN queue is full (default), 2 for every SYN. */
	uint8_t syncookies;
	/* Cap on the bytes of send and receive ring storage of all
	 * connections together (Linux tcp_mem's hard limit): a ring is
	 * allocated when first written, and refused beyond it (sk_send
	 * -ENOBUFS, received data dropped, autotuning stops). 0: no cap
	 * (default). */
	uint64_t mem_max;
	/* SK_OPT_CONGESTION of every new socket: 0 = CUBIC (default), 1 =
	 * NewReno. sk_stack_new refuses any other value. */
	uint8_t default_cc;

	/* Offloads the device announced (netdev: gso_max, tx_csum). tso_max > 0:
	 * new data may leave in TCP super-frames of up to this many payload
	 * bytes (rounded down to whole segments, within window and cwnd), which
	 * the device cuts into MSS-sized segments; retransmissions stay one
	 * segment. At most SK_TSO_MAX. 0: every frame fits the MTU.
	 * tx_csum_offload: TCP checksums are left to the device. Both need
	 * sk_link_ops.xmit_offload. */
	uint32_t tso_max;
	uint32_t tso_max_segs; /* and at most this many segments; 0: no limit */
	bool tx_csum_offload;

	/* Randomness is injected so tests are deterministic (RFC 6528 ISN key,
	 * RFC 6056 ephemeral ports). The shim fills both from getrandom(). */
	uint8_t isn_key[16];
	/* Key of the TCP timestamp offset (RFC 7323 §5.4), one per address
	 * pair. Every synack process on a host should share it, so that TSvals
	 * towards a peer keep increasing from one process to the next and the
	 * peer's TIME_WAIT accepts a reused 4-tuple (RFC 6191); the shim
	 * derives it from the host's boot id. All zero: isn_key is used. */
	uint8_t ts_key[16];
	uint64_t rng_seed;
};

/* The largest TCP payload of a super-frame: the IPv4 total length is 16 bits
 * (RFC 791), less a 20-byte IPv4 header and a TCP header with 40 bytes of
 * options. */
#define SK_TSO_MAX (65535u - 20u - 60u)

/* Fill *cfg with defaults (zero MAC and address; the caller sets those). */
void sk_config_defaults(struct sk_config *cfg);

/* ------------------------------------------------------------------ */
/* Hooks: what the stack reports to its owner                          */
/* ------------------------------------------------------------------ */

/* TCP states, numbered as Linux numbers them (include/net/tcp_states.h) so
 * TCP_INFO answers match the kernel's. */
enum sk_tcp_state {
	SK_TCP_ESTABLISHED = 1,
	SK_TCP_SYN_SENT = 2,
	SK_TCP_SYN_RECEIVED = 3,
	SK_TCP_FIN_WAIT_1 = 4,
	SK_TCP_FIN_WAIT_2 = 5,
	SK_TCP_TIME_WAIT = 6,
	SK_TCP_CLOSED = 7,
	SK_TCP_CLOSE_WAIT = 8,
	SK_TCP_LAST_ACK = 9,
	SK_TCP_LISTEN = 10,
	SK_TCP_CLOSING = 11,
};

const char *sk_tcp_state_name(enum sk_tcp_state s); /* "SYN_SENT", ... */

struct sk_endpoint {
	uint32_t addr; /* host byte order */
	uint16_t port; /* host byte order */
};

/* One state transition, for SYNACK_TRACE=states and tests. */
struct sk_state_change {
	sk_time_t now;
	int sock;
	struct sk_endpoint local, remote;
	enum sk_tcp_state from, to;
	const char *cause; /* short, static: "rcv SYN+ACK", "close()", "2MSL timeout", ... */
	uint16_t mss;      /* negotiated MSS, min(ours, peer's); meaningful from ESTABLISHED on */
};

enum sk_log_level { SK_LOG_ERROR = 0, SK_LOG_WARN, SK_LOG_INFO, SK_LOG_DEBUG };

struct sk_hooks {
	void *ctx;
	/* The readiness (sk_poll) of socket `sock` may have changed: data or
	 * a FIN arrived, send space opened, a connection completed, failed or
	 * was reset, a listener got a connection. Called with the stack in a
	 * consistent state; must not call back into the stack. May be NULL. */
	void (*wake)(void *ctx, int sock);
	/* Every TCP state transition. May be NULL. */
	void (*state_change)(void *ctx, const struct sk_state_change *ev);
	/* A log line (no trailing newline). May be NULL. */
	void (*log)(void *ctx, enum sk_log_level level, const char *msg);
};

/* ------------------------------------------------------------------ */
/* Stack life and the driving loop                                     */
/* ------------------------------------------------------------------ */

/* Where the stack's memory comes from. Everything a stack owns (the stack
 * itself, the socket arena, tables, timer heap, rings, ARP pool, loopback
 * queue) is allocated through these, and freed with the size it was
 * allocated with. alloc returns zero-filled memory or NULL; realloc returns
 * NULL and leaves p as it was when it cannot. */
struct sk_mem_ops {
	void *ctx;
	void *(*alloc)(void *ctx, size_t size);
	/* The same, contents undefined: the rings, whose bytes are written
	 * before they are read (a region's allocator need not zero, nor touch,
	 * a ring's pages). NULL: alloc. */
	void *(*alloc_uninit)(void *ctx, size_t size);
	void *(*realloc)(void *ctx, void *p, size_t old_size, size_t new_size);
	void (*free)(void *ctx, void *p, size_t size);
};

/* calloc, realloc and free: what sk_stack_new uses. */
extern const struct sk_mem_ops sk_mem_libc;

/* Returns NULL on allocation failure or an invalid configuration (the
 * reason goes to hooks->log at SK_LOG_ERROR). `link` and `hooks` are
 * copied. Memory from sk_mem_libc; bound as owner 1 (sk_stack_bind). */
struct sk_stack *sk_stack_new(const struct sk_config *cfg, const struct sk_link_ops *link,
                              void *link_ctx, const struct sk_hooks *hooks);
/* The same with every byte of the stack from `mem` (copied), for a stack
 * that lives in a region several processes map, at different addresses
 * (docs/architecture.md, "The stack's memory"): nothing in the state is an
 * absolute pointer into it. */
struct sk_stack *sk_stack_new_in(const struct sk_config *cfg, const struct sk_link_ops *link,
                                 void *link_ctx, const struct sk_hooks *hooks,
                                 const struct sk_mem_ops *mem);
/* Frees everything through the stack's current mem ops. */
void sk_stack_free(struct sk_stack *st);

/* The configuration the stack was made with (the secrets in it included:
 * for its own processes only). */
const struct sk_config *sk_stack_config(const struct sk_stack *st);

/* Roughly the bytes a stack with this configuration needs before any ring
 * storage (the stack, arena, tables, heap, ARP pool): for sizing a region. */
size_t sk_stack_size_hint(const struct sk_config *cfg);

/* A stack used by several processes: function pointers and contexts are
 * each process's own (libraries load at different addresses). The process
 * that takes the stack's lock calls this before any other call on it, in
 * the same hold of the lock: it replaces the link ops and context, the
 * hooks (NULL: none) and the mem ops (NULL: sk_mem_libc), and records
 * `owner`, a nonzero token naming the calling process (a buffer lent with
 * sk_recv_direct_begin is written only while its lender is the owner).
 * sk_stack_new and sk_stack_new_in bind their arguments as owner 1. */
void sk_stack_bind(struct sk_stack *st, const struct sk_link_ops *link, void *link_ctx,
                   const struct sk_hooks *hooks, const struct sk_mem_ops *mem, uint32_t owner);

/* The offloads of the device the bound process transmits through
 * (sk_config.tso_max, tso_max_segs, tx_csum_offload): processes sharing a
 * stack may each have their own device (one asked for no offloads). Call
 * after sk_stack_bind; what the link cannot do is turned off. */
void sk_stack_bind_device(struct sk_stack *st, uint32_t tso_max, uint32_t tso_max_segs,
                          bool tx_csum_offload);

/* After a process died holding the lock, in the middle of any call:
 * rebuild every index derived from the socket arena (connection and bind
 * tables, the free list, the TIME_WAIT FIFO, the timer heap, the listeners'
 * queues when broken) and check what cannot be rebuilt (ring bounds,
 * states, links). 0: the stack is usable; -1 with a one-line reason in
 * `why` (why_len bytes, NUL-terminated) when it is not. */
int sk_stack_repair(struct sk_stack *st, char *why, size_t why_len);

/* Feed one received Ethernet frame. Every byte is untrusted. Frames longer
 * than the MTU are accepted (GSO super-frames from a veth peer, up to 64 KiB
 * of IP). */
void sk_input(struct sk_stack *st, const uint8_t *frame, size_t len, unsigned rx_flags,
              sk_time_t now);

/* The earliest time at which sk_run_timers has work to do, or SK_TIME_NEVER.
 * Cheap (O(1)): the shim asks after every call. */
sk_time_t sk_next_deadline(const struct sk_stack *st);

/* Run everything due at or before `now` (retransmissions, delayed ACKs,
 * TIME_WAIT expiry, ARP retries and expiry), packets sent to our own
 * address first (they wait for this call: sk_next_deadline asks for it at
 * once). */
void sk_run_timers(struct sk_stack *st, sk_time_t now);

/* Deliver the packets sent to our own address now, and what they answer,
 * without running any timer (core/loopback.c). True when there were some.
 * For the caller that sent them, before it lets go of the stack. */
bool sk_run_loopback(struct sk_stack *st, sk_time_t now);

/* ------------------------------------------------------------------ */
/* TCP sockets                                                         */
/* ------------------------------------------------------------------ */
/* A socket is an index into the stack's arena (>= 0). After sk_close the
 * index belongs to the stack again (the connection may live on, orphaned,
 * through FIN_WAIT/TIME_WAIT) and must not be used by the caller. */

/* Poll bits: the values of <poll.h> on Linux, so the shim passes them
 * through unchanged (it asserts equality at compile time). */
#define SK_POLLIN     0x001
#define SK_POLLPRI    0x002
#define SK_POLLOUT    0x004
#define SK_POLLERR    0x008
#define SK_POLLHUP    0x010
#define SK_POLLRDNORM 0x040
#define SK_POLLWRNORM 0x100
#define SK_POLLRDHUP  0x2000

/* sk_recv flags */
#define SK_MSG_PEEK 0x1
/* sk_sendmsg flags: MSG_MORE, the per-call TCP_CORK (Linux tcp_sendmsg): a
 * partial segment this call leaves is held until a later send without it,
 * an uncork, or the 200 ms cork ceiling. */
#define SK_MSG_MORE 0x8000

/* sk_shutdown how */
#define SK_SHUT_RD   0
#define SK_SHUT_WR   1
#define SK_SHUT_RDWR 2

/* Options (sk_setopt / sk_getopt). Values are ints; booleans are 0/1. */
enum sk_opt {
	SK_OPT_REUSEADDR,
	SK_OPT_KEEPALIVE,
	SK_OPT_NODELAY,
	SK_OPT_MAXSEG,    /* get: effective send MSS (or the user cap before connect) */
	SK_OPT_KEEPIDLE,  /* seconds */
	SK_OPT_KEEPINTVL, /* seconds */
	SK_OPT_KEEPCNT,
	SK_OPT_RCVBUF,
	SK_OPT_SNDBUF,
	SK_OPT_QUICKACK,
	SK_OPT_LINGER_ABORT, /* 1: close() aborts with RST (SO_LINGER {1, 0}) */
	SK_OPT_ACCEPTCONN,   /* get only: 1 when listening */
	SK_OPT_CONGESTION,   /* 0 = CUBIC (RFC 9438, default), 1 = NewReno (RFC 5681/6582) */
	SK_OPT_USER_TIMEOUT, /* ms, 0 = off: TCP_USER_TIMEOUT (RFC 5482, Linux semantics) */
	SK_OPT_CORK,         /* 1: hold partial segments (TCP_CORK; 200 ms ceiling) */
	/* SO_RCVLOWAT: sk_poll reports POLLIN (and data wakes readers) from
	 * this many queued bytes on (Linux tcp_poll); < 0 or above half the
	 * receive buffer is capped there, 0 is 1. Blocking receives wait for
	 * min(it, len) bytes: the shim's loop. */
	SK_OPT_RCVLOWAT,
	/* IP_TOS: the DSCP/ECN byte of the connection's IPv4 headers. As
	 * Linux for a stream socket, the two ECN bits are not the
	 * application's: they are kept (0) whatever the value set. */
	SK_OPT_IP_TOS,
	/* IP_TTL: 1..255, or -1 for the default (64, which get reports);
	 * anything else -EINVAL. */
	SK_OPT_IP_TTL,
	/* TCP_NOTSENT_LOWAT, bytes; 0 = no limit (Linux's default sysctl).
	 * sk_poll reports POLLOUT only while twice the bytes queued and never
	 * sent are below it, and sk_send takes data only while those bytes
	 * are below it (Linux tcp_stream_memory_free). */
	SK_OPT_NOTSENT_LOWAT,
	/* TCP_DEFER_ACCEPT, seconds (a listener's): a connection whose
	 * handshake ends with a bare ACK is not accepted until data arrives
	 * or the period ends (core/tcp_defer.c). get reports the period as
	 * Linux rounds it (whole SYN,ACK timeouts: 5 -> 7). */
	SK_OPT_DEFER_ACCEPT,
	/* SO_REUSEPORT: several sockets may bind one address and port when
	 * every one of them set it before binding (Linux
	 * inet_csk_bind_conflict), and a SYN to their port goes to one of
	 * those that listen, chosen by a keyed hash of its 4-tuple (Linux
	 * reuseport_select_sock): one flow always reaches the same listener
	 * while the group is unchanged. */
	SK_OPT_REUSEPORT,
	SK_OPT__COUNT
};

/* New socket in CLOSED; -ENOBUFS when the arena is full and none of its
 * slots is an orphaned TIME_WAIT connection to recycle. */
int sk_socket(struct sk_stack *st);

/* addr 0 = INADDR_ANY; port 0 = an ephemeral port (RFC 6056, random).
 * -EADDRNOTAVAIL if addr is neither ours nor 0, -EADDRINUSE, -EINVAL if
 * already bound. */
int sk_bind(struct sk_stack *st, int sock, uint32_t addr, uint16_t port);

/* Bind an unbound socket to the ephemeral port sk_connect to (addr, port)
 * would pick (RFC 6056 §3.3.3: a keyed hash of the destination plus a
 * counter), for a caller that must know it before the SYN leaves.
 * -EADDRNOTAVAIL (no free port), -EINVAL if already bound. */
int sk_bind_for_connect(struct sk_stack *st, int sock, uint32_t addr, uint16_t port);

/* -EINVAL if connected. Binds an ephemeral port if unbound. */
int sk_listen(struct sk_stack *st, int sock, int backlog, sk_time_t now);

/* Starts an active open and returns -EINPROGRESS, or an immediate error:
 * -EALREADY (SYN_SENT), -EISCONN, -ENETUNREACH, -EADDRNOTAVAIL (no ephemeral
 * port). Completion or failure is reported through sk_poll (POLLOUT or
 * POLLERR) and sk_take_error. Called again once the attempt settled, it
 * answers as Linux inet_stream_connect: 0 when it connected (then -EISCONN),
 * or the pending error (taken) or -ECONNABORTED when it failed, and the
 * socket is then a fresh CLOSED one (tcp_disconnect): only the next call
 * starts a new attempt. A blocking connect is this second call after the
 * wait. */
int sk_connect(struct sk_stack *st, int sock, uint32_t addr, uint16_t port, sk_time_t now);

/* Takes an established connection off a listener's accept queue:
 * returns the new socket, or -EAGAIN, -EINVAL (not listening). */
int sk_accept(struct sk_stack *st, int sock, struct sk_endpoint *peer);

/* Queue up to len bytes for sending; returns the count accepted (> 0),
 * -EAGAIN (no space, or the handshake is not complete), -EPIPE (we shut
 * down writing or the connection is closed), -ECONNRESET, -ENOTCONN. An
 * ACK that frees send space wakes the socket only after a send accepted
 * less than asked (or sk_poll saw it not writeable), once it is writeable
 * again (Linux SOCK_NOSPACE). */
ssize_t sk_send(struct sk_stack *st, int sock, const void *buf, size_t len, sk_time_t now);
/* sk_send with flags (SK_MSG_MORE); sk_send is sk_sendmsg(..., 0, now). */
ssize_t sk_sendmsg(struct sk_stack *st, int sock, const void *buf, size_t len, int flags,
                   sk_time_t now);

/* Copy out up to len received bytes (> 0), 0 at end of stream (the peer's
 * FIN was consumed, or SHUT_RD), -EAGAIN, -ENOTCONN, or a pending error
 * (-ECONNRESET, -ETIMEDOUT...) once. */
ssize_t sk_recv(struct sk_stack *st, int sock, void *buf, size_t len, int flags, sk_time_t now);

/* Receiving into a waiting reader's buffer, one copy less (Linux once did
 * it as "prequeue"/ucopy). A reader about to sleep in a blocking receive
 * of up to len bytes lends buf: in-order data that arrives while nothing
 * is queued (and nothing is held out of order) is copied straight into it
 * instead of the receive buffer, and counts as read. One reader per socket:
 * -EBUSY if another has lent a buffer, -EBADF for a bad socket, -EINVAL
 * for len 0. buf must stay valid until sk_recv_direct_end, which the
 * reader calls when it wakes (the socket is woken when bytes land there):
 * it returns the bytes placed and takes the buffer back. sk_close takes it
 * back too (what was placed is then the closed socket's). */
int sk_recv_direct_begin(struct sk_stack *st, int sock, void *buf, size_t len);
size_t sk_recv_direct_end(struct sk_stack *st, int sock, sk_time_t now);

int sk_shutdown(struct sk_stack *st, int sock, int how, sk_time_t now);

/* Release the socket: graceful close (FIN after queued data), or RST with
 * SK_OPT_LINGER_ABORT or when unread data is discarded (RFC 9293 §3.10.4,
 * as Linux does). Always succeeds. */
void sk_close(struct sk_stack *st, int sock, sk_time_t now);

/* Readiness exactly as Linux tcp_poll() reports it (SK_POLL* bits). Like
 * tcp_poll, finding the socket not writeable marks it as waiting for space
 * (SOCK_NOSPACE), so the ACK that makes it writeable wakes it. */
unsigned sk_poll(const struct sk_stack *st, int sock);

/* SO_ERROR: returns and clears the pending error (a positive errno, or 0). */
int sk_take_error(struct sk_stack *st, int sock);

int sk_setopt(struct sk_stack *st, int sock, enum sk_opt opt, int value);
int sk_getopt(const struct sk_stack *st, int sock, enum sk_opt opt, int *value);

int sk_getsockname(const struct sk_stack *st, int sock, struct sk_endpoint *out);
int sk_getpeername(const struct sk_stack *st, int sock, struct sk_endpoint *out); /* -ENOTCONN */

enum sk_tcp_state sk_sock_state(const struct sk_stack *st, int sock);

/* Bytes readable now (FIONREAD) and bytes not yet acknowledged (SIOCOUTQ). */
size_t sk_rx_queued(const struct sk_stack *st, int sock);
size_t sk_tx_queued(const struct sk_stack *st, int sock);

/* True when no connection has queued data, an unacknowledged FIN or a
 * handshake in progress: the shim's exit linger waits for this. TIME_WAIT,
 * FIN_WAIT_2 and LISTEN count as quiescent. */
bool sk_quiescent(const struct sk_stack *st);

/* ------------------------------------------------------------------ */
/* Per-connection figures (TCP_INFO)                                   */
/* ------------------------------------------------------------------ */

/* What core tracks about one socket, for the shim's TCP_INFO (tcp_info.c).
 * Units and meanings are Linux's struct tcp_info ones so the shim copies
 * them across; what core does not track is absent, not zero-filled here. */
struct sk_tcp_info {
	enum sk_tcp_state state;
	uint8_t ca_state;    /* Linux TCP_CA_*: 0 Open, 1 Disorder, 3 Recovery, 4 Loss */
	uint8_t retransmits; /* consecutive RTO expiries of the oldest segment */
	uint8_t options;     /* TCPI_OPT_TIMESTAMPS 1 | SACK 2 | WSCALE 4, as agreed */
	uint8_t snd_wscale, rcv_wscale;
	uint32_t rto_us, ato_us; /* retransmission and delayed-ACK timeouts */
	uint32_t snd_mss;        /* largest segment we send */
	uint32_t rcv_mss;        /* Linux tcp_initialize_rcv_mss: min(advmss, snd_mss) */
	uint32_t advmss;         /* the MSS our SYN announced */
	/* Segments in flight (ceil((SND.MAX - SND.UNA) / MSS)); on a listener,
	 * as Linux: the accept queue length. */
	uint32_t unacked;
	/* Segments the peer SACKed above SND.UNA; on a listener the backlog. */
	uint32_t sacked;
	uint32_t pmtu;              /* the link's IP MTU */
	uint32_t rtt_us, rttvar_us; /* RFC 6298 SRTT and RTTVAR; 0 before any sample */
	uint32_t snd_cwnd;          /* segments */
	uint32_t snd_ssthresh;      /* segments; 0x7fffffff while infinite (Linux) */
	/* Application bytes the peer acknowledged / we received in order
	 * (SYN and FIN excluded); payload bytes we transmitted, retransmissions
	 * included (Linux bytes_sent), and retransmitted: 64-bit counters. */
	uint64_t bytes_acked, bytes_received, bytes_sent, bytes_retrans;
	/* Segments retransmitted over the connection's life, the SYN or
	 * SYN,ACK included (Linux total_retrans). */
	uint32_t total_retrans;
	uint32_t notsent_bytes; /* queued but never sent */
	uint32_t snd_wnd;       /* the peer's window, scaled, bytes */
};

/* Fill *out for `sock`: 0, or -EBADF when sock is not the caller's. */
int sk_get_info(const struct sk_stack *st, int sock, struct sk_tcp_info *out);

/* ------------------------------------------------------------------ */
/* Listing the sockets (`synack ss`)                                   */
/* ------------------------------------------------------------------ */

/* The first socket after `after` (-1: from the start) whose slot is in use,
 * or -1 after the last: the program's sockets and those the stack holds
 * alone (connections the program closed, in FIN_WAIT, CLOSING, LAST_ACK or
 * TIME_WAIT; passive children not accepted yet) alike. In slot order, a
 * scan of the arena: for an operator's listing, not the data path. */
int sk_next_socket(const struct sk_stack *st, int after);

/* One past the highest socket number the stack has ever handed out: every
 * socket, now or before, is below it. A caller keeping something per
 * socket number scans [0, that) and leaves the rest, never used, alone. */
uint32_t sk_socket_limit(const struct sk_stack *st);

/* One socket as `ss` shows it. */
struct sk_sock_view {
	bool user_owned; /* the program holds it (sk_socket, sk_accept) */
	int parent;      /* the listener of a child not accepted yet, else -1 */
	/* local.addr 0: bound to any address (a listener); remote all 0: no
	 * peer (CLOSED, LISTEN). */
	struct sk_endpoint local, remote;
	/* Bytes received and not read, bytes sent or queued and not
	 * acknowledged (FIONREAD, SIOCOUTQ); on a listener, as Linux's
	 * inet_diag: the accept queue length and the backlog. */
	uint32_t rx_queued, tx_queued;
	/* When the socket left CLOSED (connect, listen, a SYN to a listener),
	 * on the stack's clock; SK_TIME_NEVER while it never has. */
	sk_time_t since;
	/* sk_get_info's figures, for any socket in use. */
	struct sk_tcp_info info;
};

/* Fill *out for any socket in use (sk_next_socket): 0, or -EBADF. */
int sk_sock_view(const struct sk_stack *st, int sock, struct sk_sock_view *out);

/* sk_sock_view's parent alone, without the rest (TCP_INFO): the listener
 * of a passive connection not yet accepted, or -1. */
int sk_sock_parent(const struct sk_stack *st, int sock);

/* Connections the program closed in TIME_WAIT are no sockets any more:
 * they wait out 2·MSL in a table of their own (Linux's timewait sockets).
 * How many there are, and each in turn: the first entry after `after` (-1:
 * from the start), or -1 after the last. An operator's listing, a scan. */
struct sk_tw_view {
	struct sk_endpoint local, remote;
	sk_time_t expires; /* when its 2·MSL ends, on the stack's clock */
};
uint32_t sk_time_wait_count(const struct sk_stack *st);
int sk_time_wait_next(const struct sk_stack *st, int after, struct sk_tw_view *out);

/* ------------------------------------------------------------------ */
/* Counters                                                            */
/* ------------------------------------------------------------------ */

struct sk_stats {
	uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes, tx_errors;
	uint64_t rx_drop_short, rx_drop_not_ours, rx_drop_ethertype;
	uint64_t arp_rx, arp_replies_sent, arp_requests_sent, arp_resolve_failed, arp_queue_drops;
	uint64_t ip_rx, ip_drop_bad_header, ip_drop_bad_csum, ip_drop_fragment, ip_drop_not_ours,
	    ip_drop_proto;
	uint64_t icmp_rx, icmp_echo_replies, icmp_drop;
	uint64_t tcp_rx_segs, tcp_tx_segs, tcp_drop_bad_csum, tcp_drop_malformed, tcp_rst_sent,
	    tcp_retransmits, tcp_conn_active, tcp_conn_passive, tcp_conn_reset, tcp_challenge_acks,
	    tcp_drop_out_of_window;
	/* TIME_WAIT connections ended early because the TIME_WAIT table
	 * (sk_config.max_time_wait) was full (Linux
	 * LINUX_MIB_TCPTIMEWAITOVERFLOW, "time wait bucket table overflow"). */
	uint64_t tcp_tw_recycled;
	/* Gauges: connections in the TIME_WAIT table now, and at most. */
	uint64_t tcp_time_wait, tcp_time_wait_peak;
	/* TCP super-frames handed to the device (tso_max), and the
	 * MSS-sized segments they stand for. */
	uint64_t tcp_tx_super_frames, tcp_tx_super_segs;
	/* Listeners (docs/security.md): SYNs that found their listener's SYN
	 * queue full; SYNs dropped (the SYN queue full with cookies off, or
	 * the socket table full); SYNs and cookie ACKs dropped because the
	 * accept queue was full (Linux ListenOverflows). */
	uint64_t tcp_syn_queue_full, tcp_syn_queue_drops, tcp_listen_overflows;
	/* SYN cookies: SYN,ACKs sent with one; ACKs with a valid one (a
	 * connection made from it); ACKs to a listener that sent cookies
	 * lately whose cookie was invalid (answered with RST, as Linux). */
	uint64_t tcp_syncookies_sent, tcp_syncookies_ok, tcp_syncookies_failed;
	/* Challenge ACKs (tcp_challenge_acks: due) not sent because of the
	 * per-connection rate limit (RFC 5961 §7). */
	uint64_t tcp_challenge_acks_limited;
	/* Segments dropped: a bad option length (RFC 9293 §3.1); out of
	 * order with no reassembly interval left (32 per connection); data
	 * whose receive ring could not be allocated (mem_max). */
	uint64_t tcp_drop_bad_options, tcp_drop_reass_full, tcp_drop_no_mem;
	/* Ring allocations and growths refused by mem_max. */
	uint64_t tcp_mem_refused;
	/* Gauges, not counters: bytes of ring storage allocated now, and
	 * the most at any time. */
	uint64_t tcp_ring_bytes, tcp_ring_bytes_peak;
	/* IPv4 packets whose total length is beyond the frame (truncated). */
	uint64_t ip_drop_truncated;
	/* Frames to an on-link neighbour the ARP cache has not resolved,
	 * sent to the source MAC of the frame they answer or of the
	 * connection's SYN instead of waiting for ARP; neighbours entered in
	 * the cache from a passive handshake that completed (docs/security.md). */
	uint64_t arp_tx_sender_mac, arp_learned_tcp;
	/* Packets to our own address, delivered to our own input (loopback.c),
	 * and those dropped because the loop queue was full. */
	uint64_t ip_loop_packets, ip_loop_drops;
};

const struct sk_stats *sk_get_stats(const struct sk_stack *st);

#endif
