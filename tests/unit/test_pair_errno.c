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

#include "pair.h"

#define B_PORT 5002

static struct pair *p;
static struct sk_stack *A, *B; /* p->a.st, p->b.st */

static void setup(void)
{
	p = pair_new(&(struct pair_opts){.queue_frames = 256, .introduce = true});
	A = p->a.st;
	B = p->b.st;
}

static void teardown(void)
{
	pair_free(p);
}

TestSuite(pair_errno, .init = setup, .fini = teardown, .timeout = 20);

Test(pair_errno, reset_in_established_econnreset_then_end_of_stream_then_epipe)
{
	int a, b;
	char c;

	pair_establish(p, 0, B_PORT, &a, &b);
	pair_abort(p, &p->b, b);
	cr_assert_eq(sk_sock_state(A, a), SK_TCP_CLOSED);
	cr_assert_eq(sk_recv(A, a, &c, 1, 0, p->now), -ECONNRESET);
	cr_assert_eq(sk_recv(A, a, &c, 1, 0, p->now), 0);
	cr_assert_eq(sk_send(A, a, "x", 1, p->now), -EPIPE);
}

Test(pair_errno, reset_in_established_so_error_is_econnreset)
{
	int a, b;

	pair_establish(p, 0, B_PORT, &a, &b);
	pair_abort(p, &p->b, b);
	cr_assert_eq(sk_take_error(A, a), ECONNRESET);
	cr_assert_eq(sk_take_error(A, a), 0, "SO_ERROR is cleared once read");
}

/* A connection; B half-closes, A reads the FIN (CLOSE_WAIT); then B resets.
 * Returns A's socket. */
static int reset_in_close_wait(void)
{
	int a, b;
	char c;

	pair_establish(p, 0, B_PORT, &a, &b);
	cr_assert_eq(sk_shutdown(B, b, SK_SHUT_WR, p->now), 0);
	pair_run_for(p, SK_MS(1));
	cr_assert_eq(sk_recv(A, a, &c, 1, 0, p->now), 0, "A reads B's FIN");
	cr_assert_eq(sk_sock_state(A, a), SK_TCP_CLOSE_WAIT);
	pair_abort(p, &p->b, b);
	return a;
}

/* The peer half-closed (we read its FIN: CLOSE_WAIT), then reset. Linux
 * reports EPIPE, not ECONNRESET: a program that still writes in CLOSE_WAIT
 * gets "Broken pipe" on the kernel. */
Test(pair_errno, reset_in_close_wait_is_epipe_as_on_linux)
{
	int a = reset_in_close_wait();
	char c;

	cr_assert_eq(sk_sock_state(A, a), SK_TCP_CLOSED);
	cr_assert(sk_poll(A, a) & SK_POLLERR);
	cr_assert_eq(sk_recv(A, a, &c, 1, 0, p->now), 0, "the FIN was read: end of stream");
	int err = sk_take_error(A, a);
	cr_assert_eq(err, EPIPE, "SO_ERROR %d (%s); Linux's tcp_reset() sets EPIPE in CLOSE_WAIT",
	             err, strerror(err));
}

Test(pair_errno, reset_in_close_wait_send_fails_with_epipe_as_on_linux)
{
	int a = reset_in_close_wait();
	ssize_t n = sk_send(A, a, "x", 1, p->now);
	cr_assert_eq(n, -EPIPE, "send in CLOSE_WAIT after a reset: %zd (%s), Linux: -EPIPE", n,
	             strerror((int)-n));
	cr_assert_eq(sk_send(A, a, "x", 1, p->now), -EPIPE);
}
