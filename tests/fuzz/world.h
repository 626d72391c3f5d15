/* The fuzz harnesses' world: one stack under test on a fake link and a fake
 * clock, with a scripted peer (10.77.0.2) and live connections in several
 * states, built by feeding it frames at start-up (core is pure, so the
 * harness links core's sources directly and reads its internals, core/tcp.h).
 *
 * Connections, by index in w->c[] (W_C_* below):
 *   LISTEN       listener on :80 (segments to it come from a port the input picks)
 *   SYN_RCVD     child of the listener, our SYN+ACK unanswered
 *   EST_PASSIVE  accepted child, ESTABLISHED, timestamps + SACK + window scale
 *   EST_ACTIVE   our connect, ESTABLISHED, 20 000 bytes queued (10 segments in flight),
 *                500 bytes held out of order 1000 bytes above RCV.NXT
 *   FIN_WAIT_2   our shutdown(SHUT_WR), FIN acknowledged
 *   TIME_WAIT    closed by us first, the peer's FIN received, socket closed (orphan)
 *   CLOSE_WAIT   the peer's FIN received, nothing read
 *   SYN_SENT     our connect, unanswered (ICMP errors abort it)
 *
 * Every frame the stack emits is checked: an IPv4 frame must parse with a
 * good header checksum, fit the MTU and, for TCP, carry a good checksum, a
 * parsable header and the right bytes. A frame that does not aborts: a
 * finding.
 *
 * The bytes of every stream are a function of their sequence number
 * (w_byte): the peer's data is w_byte(seq, false), what the application
 * sends w_byte(seq, true). So a payload we emit must be the application's
 * bytes at its sequence numbers (retransmitted, resegmented or not), and
 * what sk_recv returns the peer's at the connection's read position
 * (w_check_read): reassembly, the rings and their growth are checked byte
 * by byte.
 */
#ifndef SYNACK_TESTS_FUZZ_WORLD_H
#define SYNACK_TESTS_FUZZ_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/stack.h"
#include "../../core/tcp_wire.h"

#define W_OUR_IP  0x0a4d0001u /* 10.77.0.1 */
#define W_PEER_IP 0x0a4d0002u /* 10.77.0.2 */
#define W_MTU     1500

enum {
	W_C_LISTEN,
	W_C_SYN_RCVD,
	W_C_EST_PASSIVE,
	W_C_EST_ACTIVE,
	W_C_FIN_WAIT_2,
	W_C_TIME_WAIT,
	W_C_CLOSE_WAIT,
	W_C_SYN_SENT,
	W_NCONN
};

struct w_conn {
	uint16_t lport, rport; /* the 4-tuple (addresses are W_OUR_IP, W_PEER_IP) */
	int sock;              /* the application's socket, or -1 (orphan, child) */
	/* The peer's view, refreshed from the connection while it lives
	 * (w_sync): its next sequence number (our RCV.NXT) and our SND.UNA /
	 * SND.MAX, the timestamp it last sent. */
	uint32_t peer_seq, snd_una, snd_max, peer_ts;
	bool ts; /* the connection agreed on timestamps */
};

struct world {
	struct sk_stack *st;
	struct sk_config cfg;
	sk_time_t now;
	struct w_conn c[W_NCONN];
	uint64_t tx_frames;
	int timer_runs; /* sk_run_timers calls, bounded per input */
};

/* The byte of a stream at sequence number seq: the application's (ours)
 * or the peer's. */
static inline uint8_t w_byte(uint32_t seq, bool ours)
{
	seq = seq * 2654435761u + (ours ? 0x9e3779b9u : 0);
	return (uint8_t)(seq >> 24 ^ seq >> 11);
}
/* Fill buf with the n bytes of a stream from seq on. */
void w_fill(uint8_t *buf, uint32_t seq, size_t n, bool ours);
/* The sequence number of socket sock's next byte to send (the end of its
 * send ring) and of its next byte to read (the start of its receive
 * ring): where w_fill's data for sk_send starts, and where the bytes
 * sk_recv returns must be the peer's. */
uint32_t w_send_seq(const struct world *w, int sock);
uint32_t w_read_seq(const struct world *w, int sock);
/* Abort unless buf[0..n) are the peer's bytes from seq on. */
void w_check_read(uint32_t seq, const uint8_t *buf, size_t n);

/* A new world in the states above; aborts if the script does not reach
 * them (the harness would fuzz something else than it says). */
struct world *w_new(void);
void w_free(struct world *w);

/* Feed one Ethernet frame at w->now. */
void w_input(struct world *w, const uint8_t *frame, size_t len, unsigned rx_flags);
/* Wrap an IPv4 packet from the peer in Ethernet (to our MAC) and feed it. */
void w_input_ip(struct world *w, const uint8_t *pkt, size_t len, unsigned rx_flags);
/* Build peer -> us IPv4/TCP around seg (payload from seg->payload) with a
 * correct checksum (corrupted when bad_csum) and feed it. */
void w_send_tcp(struct world *w, const struct sk_tcp_repr *seg, bool bad_csum);
/* Move the clock forward by dt, running the timers at each deadline on
 * the way (a bounded number of runs per world, so a timer that re-arms
 * itself in the past cannot hang the harness: that would be a finding of
 * its own, reported by abort). */
void w_advance(struct world *w, sk_time_t dt);

/* Refresh c[i]'s sequence numbers from its connection, if it still lives.
 * Returns the connection's state, or SK_TCP_CLOSED. */
enum sk_tcp_state w_sync(struct world *w, int i);

/* A segment template from the peer on connection i: ports, seq = the
 * peer's next, ack = our SND.UNA, ACK flag, window 65535, the timestamp
 * option when agreed (TSval the peer's clock, TSecr our latest). */
struct sk_tcp_repr w_seg(struct world *w, int i);

#endif
