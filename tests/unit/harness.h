/* Segment-level test harness (the smoltcp/lwIP style of design brief §9.1).
 *
 * A harness is one stack under test on a fake link and a fake clock, and a
 * scripted peer: tests feed frames "from the peer" and pop the frames the
 * stack emitted, asserting them field by field.
 *
 *   struct harness *h = h_new(NULL);
 *   int s = h_connect(h, H_PEER_PORT);          // SYN emitted, SYN_SENT
 *   struct h_tcp syn = h_expect_tcp(h, SK_TCP_SYN);
 *   h_send(h, h_seg(SK_TCP_SYN | SK_TCP_ACK, 1000, syn.seq + 1));
 *   h_expect_tcp(h, SK_TCP_ACK);
 *
 * The peer's MAC is in the stack's ARP cache from the start (h_new feeds an
 * ARP request from the peer), so TCP tests see no ARP traffic. Time only
 * moves through h_advance / h_advance_to, which run the stack's timers at
 * each deadline on the way, like the real loop does.
 */
#ifndef SYNACK_TESTS_HARNESS_H
#define SYNACK_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/stack.h"
#include "../../core/tcp_wire.h"

#define H_OUR_IP     0x0a4d0001u /* 10.77.0.1 */
#define H_PEER_IP    0x0a4d0002u /* 10.77.0.2 */
#define H_OUR_PORT   40000
#define H_PEER_PORT  80
#define H_MAX_FRAMES 512
#define H_MAX_EVENTS 256
#define H_FRAME_MAX  70000

extern const uint8_t H_OUR_MAC[6];
extern const uint8_t H_PEER_MAC[6];

struct h_frame {
	uint8_t *data;
	size_t len;
	/* What the stack left to the device (xmit_offload); all zero for a
	 * frame sent complete through xmit. */
	struct sk_tx_offload off;
};

struct harness {
	struct sk_stack *st;
	struct sk_config cfg;
	sk_time_t now;

	/* Frames the stack transmitted, oldest first, not yet popped. */
	struct h_frame frames[H_MAX_FRAMES];
	size_t nframes;

	/* Every state transition and wake-up, in order. */
	struct sk_state_change events[H_MAX_EVENTS];
	size_t nevents;
	unsigned wakes[64]; /* wake count per socket id (< 64) */

	int xmit_error; /* when nonzero, xmit fails with it (frames still recorded) */

	/* When set, h_advance/h_advance_to answer the stack's ARP requests
	 * for the peer (and drop them from the captured frames), so tests of
	 * long TCP timers see only TCP. */
	bool auto_arp;
};

/* A decoded TCP segment emitted by the stack, payload copied out. */
struct h_tcp {
	struct sk_tcp_repr r;
	uint8_t payload[H_FRAME_MAX];
	uint32_t src, dst;        /* IP addresses */
	struct sk_tx_offload off; /* as the frame's (h_frame.off) */
	size_t frame_len;
};

/* cfg_tweak may adjust the default config (MTU, MSL...) before the stack
 * is created; NULL for defaults: 10.77.0.1/24, MTU 1500, fixed ISN key
 * and seed, start time 1 s. */
struct harness *h_new(void (*cfg_tweak)(struct sk_config *cfg));
void h_free(struct harness *h);

/* Move the clock forward, running timers at each deadline passed. */
void h_advance(struct harness *h, sk_time_t dt);
void h_advance_to(struct harness *h, sk_time_t t);

/* Remove captured ARP frames; if one was a request, the peer replies. */
void h_answer_arp(struct harness *h);

/* ---- input ---- */

/* Feed a raw Ethernet frame. */
void h_input(struct harness *h, const uint8_t *frame, size_t len, unsigned rx_flags);

/* A segment template from the peer (H_PEER_PORT -> H_OUR_PORT) with the
 * given flags, seq and ack, window 64240, no options, no payload. */
struct sk_tcp_repr h_seg(uint8_t flags, uint32_t seq, uint32_t ack);
/* h_seg(ACK|PSH) carrying n bytes of payload from p. */
struct sk_tcp_repr h_data(uint32_t seq, uint32_t ack, const void *p, size_t n);

/* Build peer -> us Ethernet/IPv4/TCP around `seg` (payload from
 * seg.payload/payload_len) with a correct checksum, and feed it. */
void h_send(struct harness *h, struct sk_tcp_repr seg);
/* Same, but from an arbitrary IP address (e.g. another peer). */
void h_send_from(struct harness *h, uint32_t src_ip, struct sk_tcp_repr seg);
/* Build the frame only (for tests that corrupt it). Returns its length. */
size_t h_build(uint8_t *frame, uint32_t src_ip, uint32_t dst_ip, const struct sk_tcp_repr *seg);

/* ---- output ---- */

size_t h_pending(const struct harness *h);
/* Pop the oldest emitted frame (caller frees f.data). Fails the test if none. */
struct h_frame h_pop_frame(struct harness *h);
/* Pop the oldest emitted frame, assert it is IPv4/TCP from us to the peer
 * with exactly `flags`, and decode it. A frame whose checksum was left to
 * the device gets it as a device would (sk_tx_finish_csum) before it is
 * checked; a super-frame (off.gso_size) may exceed the MTU, each segment
 * cut from it may not. */
struct h_tcp h_expect_tcp(struct harness *h, uint8_t flags);
/* Assert the stack emitted nothing (since the last pop). */
void h_expect_nothing(struct harness *h);
/* Drop everything emitted so far. */
void h_clear(struct harness *h);

/* ---- sockets in a known state ---- */

/* Active open to the peer (port H_PEER_PORT) from H_OUR_PORT; returns the
 * socket; the SYN is left in the output queue. */
int h_connect(struct harness *h);
/* Active open completed: returns the socket in ESTABLISHED, output queue
 * empty. *our_isn / *peer_isn (may be NULL) receive the ISNs; the peer's
 * ISN is `peer_isn_in`, its MSS option 1460. */
int h_established(struct harness *h, uint32_t peer_isn_in, uint32_t *our_isn);
/* A new harness (h_new(NULL), auto_arp on) with an active open already
 * completed as h_established: the socket in *sock, our ISN in *our_isn
 * (may be NULL). The fixture of suites that start ESTABLISHED. */
struct harness *h_new_established(uint32_t peer_isn, uint32_t *our_isn, int *sock);
/* A listener on H_OUR_PORT. */
int h_listen(struct harness *h, int backlog);

/* Last state-change event for `sock`, or NULL. */
const struct sk_state_change *h_last_event(const struct harness *h, int sock);

#endif
