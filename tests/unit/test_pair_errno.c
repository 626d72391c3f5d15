/* What a program sees after its peer resets the connection, with synack on
 * both ends of the in-memory link: the errno of SO_ERROR, recv and send,
 * compared with what Linux reports for the same sequence.
 *
 * The reference values were measured on Linux 6.x (two kernel sockets,
 * the peer closes with SO_LINGER {1, 0}); they come from tcp_reset():
 *
 *   switch (sk->sk_state) {
 *   case TCP_SYN_SENT:   err = ECONNREFUSED; break;
 *   case TCP_CLOSE_WAIT: err = EPIPE; break;
 *   case TCP_CLOSE:      return;
 *   default:             err = ECONNRESET;
 *   }
 *
 *   ESTABLISHED: SO_ERROR ECONNRESET; recv -> ECONNRESET, then 0; send -> EPIPE
 *   CLOSE_WAIT:  SO_ERROR EPIPE; recv -> 0 (the FIN was read); send -> EPIPE
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../core/arp.h"
#include "../../core/ethernet.h"
#include "../../core/stack.h"
#include "../../netdev/netdev.h"

#define A_IP   0x0a4d0001u /* 10.77.0.1 */
#define B_IP   0x0a4d0002u /* 10.77.0.2 */
#define B_PORT 5002

static struct memlink *mlink;
static struct sk_stack *A, *B;
static struct netdev *devA, *devB;
static sk_time_t now;

static struct sk_stack *make_stack(struct netdev *dev, uint32_t addr)
{
	struct sk_config cfg;

	sk_config_defaults(&cfg);
	memcpy(cfg.mac, dev->mac, 6);
	cfg.addr = addr;
	cfg.prefix_len = 24;
	cfg.mtu = 1500;
	for (int i = 0; i < 16; i++)
		cfg.isn_key[i] = (uint8_t)(i * 5 + addr);
	cfg.rng_seed = addr;
	const struct sk_hooks hooks = {0};
	struct sk_stack *st = sk_stack_new(&cfg, &netdev_link_ops, dev, &hooks);
	cr_assert_not_null(st);
	return st;
}

static int deliver(struct sk_stack *st, struct netdev *dev)
{
	struct netdev_frame fr[64];
	int total = 0, n;

	while ((n = netdev_recv_batch(dev, fr, 64, now)) > 0) {
		for (int i = 0; i < n; i++)
			sk_input(st, fr[i].data, fr[i].len, 0, now);
		total += n;
	}
	return total;
}

/* Deliver everything, running both stacks' timers up to now + dt. */
static void run_for(sk_time_t dt)
{
	sk_time_t end = now + dt;

	for (;;) {
		while (deliver(A, devA) + deliver(B, devB) > 0)
			;
		sk_time_t a = sk_next_deadline(A), b = sk_next_deadline(B);
		sk_time_t d = a < b ? a : b;
		if (d == SK_TIME_NEVER || d > end)
			break;
		if (d > now)
			now = d;
		sk_run_timers(A, now);
		sk_run_timers(B, now);
	}
	now = end;
}

/* A learns B's MAC from an ARP request (RFC 826 merge); B learns A's
 * from the reply. */
static void introduce(void)
{
	uint8_t frame[SK_ETH_HLEN + SK_ARP_LEN];
	struct sk_eth_repr eth = {.ethertype = SK_ETHERTYPE_ARP};
	struct sk_arp_repr arp = {.op = SK_ARP_REQUEST, .spa = B_IP, .tpa = A_IP};

	memcpy(eth.dst, sk_eth_broadcast, 6);
	memcpy(eth.src, devB->mac, 6);
	memcpy(arp.sha, devB->mac, 6);
	sk_eth_emit(&eth, frame);
	sk_arp_emit(&arp, frame + SK_ETH_HLEN);
	sk_input(A, frame, sizeof(frame), 0, now);
	run_for(0);
}

static void setup(void)
{
	mlink = memlink_new(1500, 256);
	cr_assert_not_null(mlink);
	devA = memlink_end(mlink, 0);
	devB = memlink_end(mlink, 1);
	now = SK_SEC(1);
	A = make_stack(devA, A_IP);
	B = make_stack(devB, B_IP);
	introduce();
}

static void teardown(void)
{
	sk_stack_free(A);
	sk_stack_free(B);
	memlink_free(mlink);
}

TestSuite(pair_errno, .init = setup, .fini = teardown, .timeout = 20);

/* A connection from A to a listener on B; *a and *b ESTABLISHED. */
static void establish(int *a, int *b)
{
	int l = sk_socket(B);

	cr_assert_eq(sk_bind(B, l, B_IP, B_PORT), 0);
	cr_assert_eq(sk_listen(B, l, 4, now), 0);
	*a = sk_socket(A);
	cr_assert_eq(sk_connect(A, *a, B_IP, B_PORT, now), -EINPROGRESS);
	run_for(SK_MS(1));
	*b = sk_accept(B, l, NULL);
	cr_assert_geq(*b, 0);
	sk_close(B, l, now);
	cr_assert_eq(sk_sock_state(A, *a), SK_TCP_ESTABLISHED);
}

static void abort_b(int b)
{
	cr_assert_eq(sk_setopt(B, b, SK_OPT_LINGER_ABORT, 1), 0);
	sk_close(B, b, now);
	run_for(SK_MS(1));
}

Test(pair_errno, reset_in_established_econnreset_then_end_of_stream_then_epipe)
{
	int a, b;
	char c;

	establish(&a, &b);
	abort_b(b);
	cr_assert_eq(sk_sock_state(A, a), SK_TCP_CLOSED);
	cr_assert_eq(sk_recv(A, a, &c, 1, 0, now), -ECONNRESET);
	cr_assert_eq(sk_recv(A, a, &c, 1, 0, now), 0);
	cr_assert_eq(sk_send(A, a, "x", 1, now), -EPIPE);
}

Test(pair_errno, reset_in_established_so_error_is_econnreset)
{
	int a, b;

	establish(&a, &b);
	abort_b(b);
	cr_assert_eq(sk_take_error(A, a), ECONNRESET);
	cr_assert_eq(sk_take_error(A, a), 0, "SO_ERROR is cleared once read");
}

/* The peer half-closed (we read its FIN: CLOSE_WAIT), then reset. Linux
 * reports EPIPE, not ECONNRESET: a program that still writes in CLOSE_WAIT
 * gets "Broken pipe" on the kernel. */
Test(pair_errno, reset_in_close_wait_is_epipe_as_on_linux)
{
	int a, b;
	char c;

	establish(&a, &b);
	cr_assert_eq(sk_shutdown(B, b, SK_SHUT_WR, now), 0);
	run_for(SK_MS(1));
	cr_assert_eq(sk_recv(A, a, &c, 1, 0, now), 0);
	cr_assert_eq(sk_sock_state(A, a), SK_TCP_CLOSE_WAIT);
	abort_b(b);
	cr_assert_eq(sk_sock_state(A, a), SK_TCP_CLOSED);
	cr_assert(sk_poll(A, a) & SK_POLLERR);
	cr_assert_eq(sk_recv(A, a, &c, 1, 0, now), 0, "the FIN was read: end of stream");
	int err = sk_take_error(A, a);
	cr_assert_eq(err, EPIPE, "SO_ERROR %d (%s); Linux's tcp_reset() sets EPIPE in CLOSE_WAIT",
	             err, strerror(err));
}

Test(pair_errno, reset_in_close_wait_send_fails_with_epipe_as_on_linux)
{
	int a, b;
	char c;

	establish(&a, &b);
	cr_assert_eq(sk_shutdown(B, b, SK_SHUT_WR, now), 0);
	run_for(SK_MS(1));
	cr_assert_eq(sk_recv(A, a, &c, 1, 0, now), 0);
	abort_b(b);
	ssize_t n = sk_send(A, a, "x", 1, now);
	cr_assert_eq(n, -EPIPE, "send in CLOSE_WAIT after a reset: %zd (%s), Linux: -EPIPE", n,
	             strerror((int)-n));
	cr_assert_eq(sk_send(A, a, "x", 1, now), -EPIPE);
}
