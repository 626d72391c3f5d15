/* Two synack stacks in one process over the in-memory link (design brief
 * §9.2), with a fake clock: the fixture of the two-stack suites
 * (test_two_stacks, test_pair_lifecycle, test_pair_errno, test_pair_lossy).
 *
 *   struct pair *p = pair_new(&(struct pair_opts){.msl_ms = 1000});
 *   int a, b;
 *   pair_establish(p, 0, 5002, &a, &b);      // B listens, A connects
 *   sk_send(p->a.st, a, "hi", 2, p->now);
 *   pair_run_for(p, SK_MS(1));               // frames cross, timers run
 *   pair_free(p);
 *
 * End A is memlink end 0 at 10.77.0.1, end B end 1 at 10.77.0.2, both /24,
 * MTU of the link. Either end may be wrapped by netdev_impair (opts.impair:
 * one spec, B's seed one more than A's, so the directions differ). Every
 * state change of each stack is recorded in its end's `ev`. Time only moves
 * through pair_run_for / pair_run (or by the test setting p->now).
 */
#ifndef SYNACK_TESTS_PAIR_H
#define SYNACK_TESTS_PAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/stack.h"
#include "../../core/tcp_wire.h"
#include "../../netdev/netdev.h"

#define PAIR_A_IP     0x0a4d0001u /* 10.77.0.1 */
#define PAIR_B_IP     0x0a4d0002u /* 10.77.0.2 */
#define PAIR_MAX_EV   128
#define PAIR_ROUND_US 20 /* link time per pair_run round: RTTs are never zero */

struct pair;

struct pair_end {
	const char *name; /* "A" or "B" */
	struct pair *pair;
	struct sk_stack *st;
	struct netdev *dev; /* the memlink end, or the impair wrapper around it */
	struct sk_hooks hooks;
	uint32_t addr;
	/* Every state change of this stack, in order (all sockets). */
	struct sk_state_change ev[PAIR_MAX_EV];
	size_t nev;
};

/* Called for every frame the link delivers to `to`, before the stack sees
 * it; return false to drop the frame. */
typedef bool (*pair_filter_fn)(void *ctx, struct pair_end *to, const uint8_t *frame, size_t len);

struct pair_opts {
	unsigned mtu;          /* 0: 1500 */
	unsigned queue_frames; /* memlink queue per direction; 0: 512 */
	uint32_t msl_ms;       /* 0: the stack's default */
	const char *impair;    /* NULL: a clean link; else a netdev_impair spec for both ends */
	bool introduce;        /* exchange ARP first, so no SYN waits for ARP */
	bool log_warnings;     /* the stacks' warnings and errors go to cr_log_info */
	bool no_events;        /* record no state changes (thousands of connections) */
	/* Adjust an end's config (0 = A, 1 = B) after the pair's defaults:
	 * rng_seed end+1, isn_key all bytes end+1. */
	void (*cfg_tweak)(struct sk_config *cfg, int end);
	/* A's stack from this memory (sk_stack_new_in); NULL: the C library's. */
	const struct sk_mem_ops *mem_a;
};

struct pair {
	struct memlink *link;
	struct pair_end a, b;
	sk_time_t now;         /* starts at 1 s */
	pair_filter_fn filter; /* NULL: deliver everything */
	void *filter_ctx;
};

/* opts may be NULL for defaults. */
struct pair *pair_new(const struct pair_opts *opts);
/* Free stacks, impair wrappers and link. */
void pair_free(struct pair *p);

/* e's stack is now `st` (the same state, seen through another mapping),
 * bound to e's link and hooks with `mem` as `owner` (sk_stack_bind). */
void pair_rebind(struct pair_end *e, struct sk_stack *st, const struct sk_mem_ops *mem,
                 uint32_t owner);

/* The other end. */
struct pair_end *pair_peer(struct pair *p, const struct pair_end *e);

/* `from` announces itself to `to` with an ARP request (RFC 826's merge
 * rule puts it in to's cache); to's reply crosses at the next delivery. */
void pair_introduce(struct pair *p, struct pair_end *from, struct pair_end *to);

/* Feed `to` every frame the link holds for it now (through the filter).
 * Returns how many frames were taken from the link, dropped ones included. */
int pair_deliver(struct pair *p, struct pair_end *to);
/* Deliver in both directions until the link is quiet (no time passes). */
void pair_pump(struct pair *p);
/* Let `dt` pass: at each timer deadline (or delayed frame of an impaired
 * link) on the way, run both stacks' timers and deliver what they sent, as
 * the runtime loop would; at the end, once more at now + dt. */
void pair_run_for(struct pair *p, sk_time_t dt);

/* The applications of an event-loop test (pair_run). */
struct pair_app {
	/* Both applications' work at p->now; true if anything happened. */
	bool (*step)(struct pair *p, void *ctx);
	bool (*done)(struct pair *p, void *ctx);
	/* What to say when the loop is stuck or out of time; may be NULL. */
	void (*status)(struct pair *p, void *ctx, char *buf, size_t len);
	void *ctx;
};

/* Run until app->done or the fake clock reaches `limit`: each round
 * delivers what the link holds, runs the timers that are due and the
 * applications; a busy round takes PAIR_ROUND_US, and when nothing can
 * happen the clock jumps to the next deadline or delayed frame. Fails the
 * test when stuck (no deadline left) or at the limit. */
void pair_run(struct pair *p, const struct pair_app *app, sk_time_t limit);

/* The earliest of both stacks' deadlines and both devices' delayed frames. */
sk_time_t pair_next_event(const struct pair *p);

/* ---- sockets ---- */

/* A socket on `e` bound to its address and `port`. */
int pair_bound_socket(struct pair_end *e, uint16_t port);
/* B listens on b_port, A connects (from a_port, or an ephemeral port when
 * 0); returns both ESTABLISHED in *a and *b, the listener closed. */
void pair_establish(struct pair *p, uint16_t a_port, uint16_t b_port, int *a, int *b);
/* Close `sock` of `e` abortively (SO_LINGER {1, 0}) and let 1 ms pass. */
void pair_abort(struct pair *p, struct pair_end *e, int sock);

/* ---- state changes ---- */

/* The state the stack last entered (any socket), CLOSED if none. */
enum sk_tcp_state pair_last_state(const struct pair_end *e);
/* Whether the stack ever entered `s` (any socket). */
bool pair_entered(const struct pair_end *e, enum sk_tcp_state s);
/* Assert the states `sock` of `e` went through, from its event `from` on,
 * as "A>B>C" (the first event's from-state first). */
void pair_assert_states(const struct pair_end *e, int sock, size_t from, const char *want);

/* Decode an Ethernet/IPv4/TCP frame (asserting its TCP checksum); false
 * for anything else. */
bool pair_frame_tcp(const uint8_t *frame, size_t len, struct sk_tcp_repr *out);

#endif
