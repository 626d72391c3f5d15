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
#include <stdlib.h>
#include <string.h>

#include "../../netdev/netdev.h"

#define A_IP       0x0a4d0001u /* 10.77.0.1: client */
#define B_IP       0x0a4d0002u /* 10.77.0.2: server */
#define PORT       8080
#define TRANSFER   (10u * 1024u * 1024u)
#define MAX_EVENTS 64
/* Time the link takes per loop round: keeps RTTs non-zero. */
#define ROUND_US 20

struct host {
	const char *name;
	struct sk_stack *st;
	struct netdev *dev;
	int listener, sock;
	bool is_client;

	uint8_t *out; /* what this side sends */
	size_t sent;
	const uint8_t *expect; /* what the other side sends */
	size_t rcvd;
	bool eof, shut, closed;

	enum sk_tcp_state states[MAX_EVENTS]; /* every state entered, in order */
	size_t nstates;
};

static sk_time_t now;
static struct host a = {.name = "client", .is_client = true}, b = {.name = "server"};
static struct memlink *link;

static void on_state(void *ctx, const struct sk_state_change *ev)
{
	struct host *h = ctx;

	cr_assert_lt(h->nstates, MAX_EVENTS);
	h->states[h->nstates++] = ev->to;
}

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

static void host_up(struct host *h, struct netdev *dev, uint32_t ip, uint64_t seed)
{
	struct sk_config cfg;
	struct sk_hooks hooks = {.ctx = h, .state_change = on_state};

	sk_config_defaults(&cfg);
	memcpy(cfg.mac, dev->mac, 6);
	cfg.addr = ip;
	cfg.prefix_len = 24;
	cfg.mtu = (uint16_t)dev->mtu;
	cfg.rng_seed = seed;
	memset(cfg.isn_key, (int)seed, sizeof(cfg.isn_key));
	h->dev = dev;
	h->st = sk_stack_new(&cfg, &netdev_link_ops, dev, &hooks);
	cr_assert_not_null(h->st);
	h->out = random_bytes(TRANSFER, seed);
	h->listener = h->sock = -1;
}

static void setup_link(const char *impair_spec)
{
	struct netdev *d0, *d1;

	link = memlink_new(1500, 1024);
	cr_assert_not_null(link);
	d0 = memlink_end(link, 0);
	d1 = memlink_end(link, 1);
	if (impair_spec) {
		struct netdev_impair_cfg c0, c1;
		char err[256];

		cr_assert_eq(netdev_impair_parse(impair_spec, &c0, err, sizeof(err)), 0, "%s", err);
		c1 = c0;
		c1.seed = c0.seed + 1; /* the two directions impaired differently */
		d0 = netdev_impair_wrap(d0, &c0);
		d1 = netdev_impair_wrap(d1, &c1);
	}
	host_up(&a, d0, A_IP, 1);
	host_up(&b, d1, B_IP, 2);
	a.expect = b.out;
	b.expect = a.out;
}

static void teardown(void)
{
	struct host *hs[] = {&a, &b};

	for (int i = 0; i < 2; i++) {
		sk_stack_free(hs[i]->st);
		netdev_close(hs[i]->dev); /* a memlink end ignores it; a wrapper is freed */
		free(hs[i]->out);
	}
	memlink_free(link);
}

TestSuite(two_stacks, .fini = teardown, .timeout = 240);

/* Feed every frame the host's device has for it now. */
static bool deliver(struct host *h)
{
	struct netdev_frame fr[64];
	bool any = false;
	int n;

	while ((n = netdev_recv_batch(h->dev, fr, 64, now)) > 0) {
		for (int i = 0; i < n; i++)
			sk_input(h->st, fr[i].data, fr[i].len, fr[i].flags, now);
		any = true;
	}
	cr_assert_geq(n, 0);
	return any;
}

static bool app_send(struct host *h)
{
	bool any = false;

	while (h->sent < TRANSFER) {
		ssize_t n = sk_send(h->st, h->sock, h->out + h->sent, TRANSFER - h->sent, now);

		if (n == -EAGAIN)
			break;
		cr_assert_gt(n, 0, "%s: sk_send: %zd", h->name, n);
		h->sent += (size_t)n;
		any = true;
	}
	/* The client closes first: it half-closes once everything is queued. */
	if (h->sent == TRANSFER && h->is_client && !h->shut) {
		cr_assert_eq(sk_shutdown(h->st, h->sock, SK_SHUT_WR, now), 0);
		h->shut = any = true;
	}
	return any;
}

static bool app_recv(struct host *h)
{
	static uint8_t buf[65536];
	bool any = false;

	while (!h->eof) {
		ssize_t n = sk_recv(h->st, h->sock, buf, sizeof(buf), 0, now);

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
		cr_assert_eq(peer.addr, A_IP);
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
		sk_close(h->st, h->sock, now);
		h->closed = any = true;
	}
	return any;
}

static sk_time_t next_event(void)
{
	sk_time_t t = sk_next_deadline(a.st), u = sk_next_deadline(b.st);

	if (u < t)
		t = u;
	u = netdev_next_rx_time(a.dev);
	if (u < t)
		t = u;
	u = netdev_next_rx_time(b.dev);
	return u < t ? u : t;
}

static enum sk_tcp_state last_state(const struct host *h)
{
	return h->nstates ? h->states[h->nstates - 1] : SK_TCP_CLOSED;
}

/* Run until `done` or the fake clock passes `limit`. */
static void run(bool (*done)(void), sk_time_t limit)
{
	while (!done()) {
		bool busy = false;

		busy |= deliver(&a);
		busy |= deliver(&b);
		if (sk_next_deadline(a.st) <= now)
			sk_run_timers(a.st, now);
		if (sk_next_deadline(b.st) <= now)
			sk_run_timers(b.st, now);
		busy |= app(&a);
		busy |= app(&b);
		if (busy) {
			now += ROUND_US;
		} else if (!done()) {
			sk_time_t t = next_event();

			cr_assert_neq(t, SK_TIME_NEVER,
			              "stuck at %llu µs: client sent %zu rcvd %zu state %s, server "
			              "sent %zu rcvd %zu state %s",
			              (unsigned long long)now, a.sent, a.rcvd,
			              sk_tcp_state_name(last_state(&a)), b.sent, b.rcvd,
			              sk_tcp_state_name(last_state(&b)));
			now = t > now ? t : now + 1;
		}
		cr_assert_lt(now, limit, "fake time limit reached (client %zu/%zu, server %zu/%zu)",
		             a.rcvd, b.rcvd, a.sent, b.sent);
	}
}

static bool entered(const struct host *h, enum sk_tcp_state s)
{
	for (size_t i = 0; i < h->nstates; i++)
		if (h->states[i] == s)
			return true;
	return false;
}

static bool both_closed(void)
{
	return a.closed && b.closed && last_state(&a) == SK_TCP_TIME_WAIT &&
	       last_state(&b) == SK_TCP_CLOSED;
}

static bool time_wait_over(void)
{
	return last_state(&a) == SK_TCP_CLOSED;
}

static void transfer_both_ways_and_close(sk_time_t limit)
{
	b.listener = sk_socket(b.st);
	cr_assert_geq(b.listener, 0);
	cr_assert_eq(sk_bind(b.st, b.listener, 0, PORT), 0);
	cr_assert_eq(sk_listen(b.st, b.listener, 8, now), 0);
	a.sock = sk_socket(a.st);
	cr_assert_geq(a.sock, 0);
	cr_assert_eq(sk_connect(a.st, a.sock, B_IP, PORT, now), -EINPROGRESS);

	run(both_closed, limit);
	cr_assert_eq(a.rcvd, TRANSFER);
	cr_assert_eq(b.rcvd, TRANSFER);
	cr_assert(entered(&a, SK_TCP_ESTABLISHED) && entered(&a, SK_TCP_FIN_WAIT_1));
	cr_assert(entered(&b, SK_TCP_CLOSE_WAIT) && entered(&b, SK_TCP_LAST_ACK));
	cr_assert(!entered(&a, SK_TCP_CLOSE_WAIT), "the client closed first");

	/* 2·MSL later the client's TIME_WAIT is over too. */
	sk_close(b.st, b.listener, now);
	run(time_wait_over, now + SK_MS(2 * 30000) + SK_SEC(5));
	cr_assert(sk_quiescent(a.st));
	cr_assert(sk_quiescent(b.st));
}

Test(two_stacks, ten_mib_each_way_byte_exact_then_clean_close)
{
	setup_link(NULL);
	transfer_both_ways_and_close(SK_SEC(120));
	cr_assert_eq(memlink_dropped(link), 0, "the clean link dropped frames");
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
	cr_assert_eq(netdev_impair_get_stats(a.dev, &s0), 0);
	cr_assert_eq(netdev_impair_get_stats(b.dev, &s1), 0);
	cr_assert_gt(s0.lost + s1.lost, 0, "the link really lost frames");
	cr_assert_gt(s0.reordered + s1.reordered, 0);
	cr_assert_gt(s0.duplicated + s1.duplicated, 0);
	cr_assert_gt(sk_get_stats(a.st)->tcp_retransmits + sk_get_stats(b.st)->tcp_retransmits, 0);
}
