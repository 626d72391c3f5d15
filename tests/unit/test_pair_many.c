/* Ten thousand concurrent connections between two stacks over the in-memory
 * link (docs/security.md, resource limits): they open (most of them through
 * SYN cookies, the listener's SYN queue holding 256), each carries data both
 * ways, all close, and afterwards nothing is left: no ring memory (the
 * tcp_ring_bytes gauge back to 0), every slot of both socket tables free
 * again. The ASan run of tests/run.sh adds its leak check at exit. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pair.h"

#define N      10000
#define BATCH  1000
#define PORT   80
#define SLOTS  (N + 16)
#define RING   2304 /* the smallest SO_RCVBUF Linux gives: 20 MiB per direction for N */
#define MSGLEN 32

static void tweak(struct sk_config *cfg, int end)
{
	(void)end;
	cfg->max_sockets = SLOTS;
	cfg->rcvbuf = cfg->sndbuf = RING;
	cfg->rcvbuf_max = RING; /* no autotuning: the figures below stay exact */
}

static int a[N], b[N];

static void message(char *buf, int i, char dir)
{
	memset(buf, 0, MSGLEN);
	snprintf(buf, MSGLEN, "%c connection %d", dir, i);
}

/* Every slot of the table is free: sk_socket hands out all of them. */
static void expect_table_empty(struct sk_stack *st, const char *name)
{
	static int s[SLOTS];
	int n = 0;

	while (n < SLOTS && (s[n] = sk_socket(st)) >= 0)
		n++;
	cr_expect_eq(n, SLOTS, "%s: %d of %d slots free", name, n, SLOTS);
	cr_expect_eq(sk_socket(st), -ENOBUFS);
	for (int i = 0; i < n; i++)
		sk_close(st, s[i], 0);
}

Test(pair_many, ten_thousand_connections_open_carry_data_close_and_leave_nothing, .timeout = 600)
{
	struct pair *p = pair_new(&(struct pair_opts){
	    .queue_frames = 4 * BATCH, .introduce = true, .msl_ms = 100, .no_events = true,
	    .log_warnings = true, .cfg_tweak = tweak});
	struct sk_stack *A = p->a.st, *B = p->b.st;
	int l = pair_bound_socket(&p->b, PORT);
	char buf[MSGLEN], want[MSGLEN];

	cr_assert_eq(sk_listen(B, l, N, p->now), 0);
	for (int i = 0; i < N; i += BATCH) {
		for (int j = i; j < i + BATCH; j++) {
			a[j] = sk_socket(A);
			cr_assert_geq(a[j], 0);
			cr_assert_eq(sk_connect(A, a[j], PAIR_B_IP, PORT, p->now), -EINPROGRESS);
		}
		pair_pump(p);
		for (int j = i; j < i + BATCH; j++) {
			b[j] = sk_accept(B, l, NULL);
			cr_assert_geq(b[j], 0, "connection %d not accepted", j);
		}
	}
	const struct sk_stats *sa = sk_get_stats(A), *sb = sk_get_stats(B);

	cr_expect_eq(sk_accept(B, l, NULL), -EAGAIN);
	cr_expect_gt(sb->tcp_syncookies_ok, N / 2, "most through SYN cookies (%llu)",
	             (unsigned long long)sb->tcp_syncookies_ok);
	cr_expect_eq(sb->tcp_syncookies_failed, 0);
	cr_expect_eq(sa->tcp_ring_bytes + sb->tcp_ring_bytes, 0, "idle: no ring yet");

	/* Data both ways on every connection, a batch at a time (the link
	 * queues 4 * BATCH frames). */
	for (int i0 = 0; i0 < N; i0 += BATCH) {
		for (int i = i0; i < i0 + BATCH; i++) {
			cr_assert_eq(sk_sock_state(A, a[i]), SK_TCP_ESTABLISHED);
			message(buf, i, '>');
			cr_assert_eq(sk_send(A, a[i], buf, MSGLEN, p->now), MSGLEN);
		}
		pair_pump(p);
		for (int i = i0; i < i0 + BATCH; i++) {
			message(want, i, '>');
			cr_assert_eq(sk_recv(B, b[i], buf, sizeof(buf), 0, p->now), MSGLEN);
			cr_assert_eq(memcmp(buf, want, MSGLEN), 0, "connection %d", i);
			message(buf, i, '<');
			cr_assert_eq(sk_send(B, b[i], buf, MSGLEN, p->now), MSGLEN);
		}
		pair_pump(p);
		for (int i = i0; i < i0 + BATCH; i++) {
			message(want, i, '<');
			cr_assert_eq(sk_recv(A, a[i], buf, sizeof(buf), 0, p->now), MSGLEN);
			cr_assert_eq(memcmp(buf, want, MSGLEN), 0, "connection %d", i);
		}
	}
	cr_expect_eq(sa->tcp_ring_bytes, (uint64_t)N * 2 * RING, "both rings of each");
	cr_expect_eq(sb->tcp_ring_bytes, (uint64_t)N * 2 * RING);

	/* A closes first, B after reading the FIN; TIME_WAIT (2 * 100 ms)
	 * ends on A. */
	for (int i0 = 0; i0 < N; i0 += BATCH) {
		for (int i = i0; i < i0 + BATCH; i++)
			sk_close(A, a[i], p->now);
		pair_pump(p);
		for (int i = i0; i < i0 + BATCH; i++) {
			cr_assert_eq(sk_recv(B, b[i], buf, sizeof(buf), 0, p->now), 0, "connection %d",
			             i);
			sk_close(B, b[i], p->now);
		}
		pair_pump(p);
	}
	sk_close(B, l, p->now);
	pair_run_for(p, SK_SEC(1));
	cr_expect(sk_quiescent(A) && sk_quiescent(B));
	cr_expect_eq(sa->tcp_ring_bytes, 0, "A: %llu ring bytes left",
	             (unsigned long long)sa->tcp_ring_bytes);
	cr_expect_eq(sb->tcp_ring_bytes, 0, "B: %llu ring bytes left",
	             (unsigned long long)sb->tcp_ring_bytes);
	cr_expect_eq(sa->tcp_ring_bytes_peak, (uint64_t)N * 2 * RING);
	expect_table_empty(A, "A");
	expect_table_empty(B, "B");
	pair_free(p);
}
