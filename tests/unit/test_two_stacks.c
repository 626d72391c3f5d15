/* Two stacks in one process over the in-memory link (design brief §9.2).
 *
 * A small event loop with a fake clock drives both: it delivers every
 * frame the link holds, runs the timers that are due, lets each side's
 * "application" send and receive, and when nothing can happen any more
 * jumps the clock to the next deadline (a stack's timer or a delayed frame
 * of the impaired link). 10 MiB of random data go each way and are compared
 * byte for byte; then the client closes first and both sides must end as
 * RFC 9293 says: the client through TIME_WAIT, the server in CLOSED.
 * The same runs again with both directions impaired (netdev_impair_wrap on
 * each end): loss, duplication, reordering and delay.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pair.h"

/* End A (10.77.0.1) is the client, end B (10.77.0.2) the server. */
#define PORT     8080
#define TRANSFER (10u * 1024u * 1024u)

struct host {
	const char *name;
	struct sk_stack *st;
	int listener, sock;
	bool is_client;

	uint8_t *out; /* what this side sends */
	size_t sent;
	const uint8_t *expect; /* what the other side sends */
	size_t rcvd;
	bool eof, shut, closed;
};

static struct pair *p;
static struct host a = {.name = "client", .is_client = true}, b = {.name = "server"};

static uint8_t *random_bytes(size_t len, uint64_t seed)
{
	uint8_t *p = malloc(len);

	cr_assert_not_null(p);
	for (size_t i = 0; i < len; i += 8) {
		/* splitmix64 */
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		memcpy(p + i, &z, len - i < 8 ? len - i : 8);
	}
	return p;
}

static void host_up(struct host *h, struct pair_end *end, uint64_t seed)
{
	h->st = end->st;
	h->out = random_bytes(TRANSFER, seed);
	h->listener = h->sock = -1;
}

static void setup_link(const char *impair_spec)
{
	p = pair_new(&(struct pair_opts){.queue_frames = 1024, .impair = impair_spec});
	host_up(&a, &p->a, 1);
	host_up(&b, &p->b, 2);
	a.expect = b.out;
	b.expect = a.out;
}

static void teardown(void)
{
	pair_free(p);
	free(a.out);
	free(b.out);
}

TestSuite(two_stacks, .fini = teardown, .timeout = 240);

static bool app_send(struct host *h)
{
	bool any = false;

	while (h->sent < TRANSFER) {
		ssize_t n = sk_send(h->st, h->sock, h->out + h->sent, TRANSFER - h->sent, p->now);

		if (n == -EAGAIN)
			break;
		cr_assert_gt(n, 0, "%s: sk_send: %zd", h->name, n);
		h->sent += (size_t)n;
		any = true;
	}
	/* The client closes first: it half-closes once everything is queued. */
	if (h->sent == TRANSFER && h->is_client && !h->shut) {
		cr_assert_eq(sk_shutdown(h->st, h->sock, SK_SHUT_WR, p->now), 0);
		h->shut = any = true;
	}
	return any;
}

static bool app_recv(struct host *h)
{
	static uint8_t buf[65536];
	bool any = false;

	while (!h->eof) {
		ssize_t n = sk_recv(h->st, h->sock, buf, sizeof(buf), 0, p->now);

		if (n == -EAGAIN)
			break;
		cr_assert_geq(n, 0, "%s: sk_recv: %zd", h->name, n);
		any = true;
		if (n == 0) {
			cr_assert_eq(h->rcvd, TRANSFER, "%s: early end of stream", h->name);
			h->eof = true;
			break;
		}
		cr_assert_leq(h->rcvd + (size_t)n, TRANSFER, "%s: too much data", h->name);
		cr_assert_arr_eq(buf, h->expect + h->rcvd, (size_t)n, "%s: data differs at %zu",
		                 h->name, h->rcvd);
		h->rcvd += (size_t)n;
	}
	return any;
}

static bool app(struct host *h)
{
	bool any = false;

	if (h->sock < 0 && h->listener >= 0) {
		struct sk_endpoint peer;
		int s = sk_accept(h->st, h->listener, &peer);

		if (s == -EAGAIN)
			return false;
		cr_assert_geq(s, 0);
		cr_assert_eq(peer.addr, PAIR_A_IP);
		h->sock = s;
		any = true;
	}
	if (h->sock < 0 || h->closed)
		return any;
	if (sk_sock_state(h->st, h->sock) == SK_TCP_SYN_SENT)
		return any; /* the handshake first: nothing to send or read yet */
	any |= app_send(h);
	any |= app_recv(h);
	/* Both directions done: release the socket (the server's close sends
	 * its FIN; the client's only detaches, its FIN is already out). */
	if (h->eof && h->sent == TRANSFER) {
		sk_close(h->st, h->sock, p->now);
		h->closed = any = true;
	}
	return any;
}

static bool apps(struct pair *pr, void *ctx)
{
	(void)pr, (void)ctx;
	bool any = app(&a);

	return app(&b) || any;
}

static void status(struct pair *pr, void *ctx, char *buf, size_t len)
{
	(void)ctx;
	snprintf(buf, len, "client sent %zu rcvd %zu state %s, server sent %zu rcvd %zu state %s",
	         a.sent, a.rcvd, sk_tcp_state_name(pair_last_state(&pr->a)), b.sent, b.rcvd,
	         sk_tcp_state_name(pair_last_state(&pr->b)));
}

/* Run until `done` or the fake clock passes `limit`. */
static void run(bool (*done)(struct pair *, void *), sk_time_t limit)
{
	pair_run(p, &(struct pair_app){.step = apps, .done = done, .status = status}, limit);
}

static bool both_closed(struct pair *pr, void *ctx)
{
	(void)ctx;
	return a.closed && b.closed && pair_last_state(&pr->a) == SK_TCP_TIME_WAIT &&
	       pair_last_state(&pr->b) == SK_TCP_CLOSED;
}

static bool time_wait_over(struct pair *pr, void *ctx)
{
	(void)ctx;
	return pair_last_state(&pr->a) == SK_TCP_CLOSED;
}

static void transfer_both_ways_and_close(sk_time_t limit)
{
	b.listener = sk_socket(b.st);
	cr_assert_geq(b.listener, 0);
	cr_assert_eq(sk_bind(b.st, b.listener, 0, PORT), 0);
	cr_assert_eq(sk_listen(b.st, b.listener, 8, p->now), 0);
	a.sock = sk_socket(a.st);
	cr_assert_geq(a.sock, 0);
	cr_assert_eq(sk_connect(a.st, a.sock, PAIR_B_IP, PORT, p->now), -EINPROGRESS);

	run(both_closed, limit);
	cr_assert_eq(a.rcvd, TRANSFER);
	cr_assert_eq(b.rcvd, TRANSFER);
	cr_assert(pair_entered(&p->a, SK_TCP_ESTABLISHED) &&
	          pair_entered(&p->a, SK_TCP_FIN_WAIT_1));
	cr_assert(pair_entered(&p->b, SK_TCP_CLOSE_WAIT) && pair_entered(&p->b, SK_TCP_LAST_ACK));
	cr_assert(!pair_entered(&p->a, SK_TCP_CLOSE_WAIT), "the client closed first");

	/* 2·MSL later the client's TIME_WAIT is over too. */
	sk_close(b.st, b.listener, p->now);
	run(time_wait_over, p->now + SK_MS(2 * 30000) + SK_SEC(5));
	cr_assert(sk_quiescent(a.st));
	cr_assert(sk_quiescent(b.st));
}

Test(two_stacks, ten_mib_each_way_byte_exact_then_clean_close)
{
	setup_link(NULL);
	transfer_both_ways_and_close(SK_SEC(120));
	cr_assert_eq(memlink_dropped(p->link), 0, "the clean link dropped frames");
	/* On a clean link nothing arrives after its connection is gone. (With
	 * duplication a late copy of the last ACK may, and earn an RST.) */
	cr_assert_eq(sk_get_stats(a.st)->tcp_rst_sent + sk_get_stats(b.st)->tcp_rst_sent, 0);
	cr_assert_eq(sk_get_stats(a.st)->tcp_retransmits, 0);
	cr_assert_eq(sk_get_stats(b.st)->tcp_retransmits, 0);
}

Test(two_stacks, ten_mib_each_way_over_a_lossy_reordering_duplicating_delaying_link)
{
	struct netdev_impair_stats s0, s1;

	setup_link("loss=5%,dup=1%,reorder=5%,delay=1ms,seed=42");
	transfer_both_ways_and_close(SK_SEC(3600));
	cr_assert_eq(netdev_impair_get_stats(p->a.dev, &s0), 0);
	cr_assert_eq(netdev_impair_get_stats(p->b.dev, &s1), 0);
	cr_assert_gt(s0.lost + s1.lost, 0, "the link really lost frames");
	cr_assert_gt(s0.reordered + s1.reordered, 0);
	cr_assert_gt(s0.duplicated + s1.duplicated, 0);
	cr_assert_gt(sk_get_stats(a.st)->tcp_retransmits + sk_get_stats(b.st)->tcp_retransmits, 0);
}
