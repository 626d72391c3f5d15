/* Impairment: the parser names what is wrong, and the decorator really
 * loses, duplicates, reorders and delays frames at the configured rates,
 * reproducibly for a seed. Frames carry a sequence number so the test can
 * see exactly what happened to each. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../netdev/netdev.h"

#define N_FRAMES 10000

/* ---- parser ------------------------------------------------------- */

static struct netdev_impair_cfg parse_ok(const char *spec)
{
	struct netdev_impair_cfg cfg;
	char err[256] = "";

	cr_assert_eq(netdev_impair_parse(spec, &cfg, err, sizeof(err)), 0, "%s: %s", spec, err);
	return cfg;
}

static void parse_fails(const char *spec, const char *must_name)
{
	struct netdev_impair_cfg cfg;
	char err[256] = "";

	cr_assert_eq(netdev_impair_parse(spec, &cfg, err, sizeof(err)), -EINVAL, "%s", spec);
	cr_assert(strstr(err, must_name), "error for '%s' must name '%s': %s", spec, must_name,
	          err);
}

Test(impair_parse, full_spec)
{
	struct netdev_impair_cfg c = parse_ok("loss=2%,dup=1%,reorder=3%,delay=5ms,seed=42");

	cr_assert_float_eq(c.loss_pct, 2.0, 1e-9);
	cr_assert_float_eq(c.dup_pct, 1.0, 1e-9);
	cr_assert_float_eq(c.reorder_pct, 3.0, 1e-9);
	cr_assert_eq(c.delay_us, 5000);
	cr_assert_eq(c.seed, 42);
}

Test(impair_parse, fractions_units_and_bare_percentages)
{
	struct netdev_impair_cfg c = parse_ok("loss=0.5,delay=250us");

	cr_assert_float_eq(c.loss_pct, 0.5, 1e-9);
	cr_assert_eq(c.delay_us, 250);
	cr_assert_eq(parse_ok("delay=1.5s").delay_us, 1500000);
	cr_assert_eq(parse_ok("delay=0.5ms").delay_us, 500);
	cr_assert_float_eq(parse_ok("reorder=100%").reorder_pct, 100.0, 1e-9);
}

Test(impair_parse, empty_spec_means_no_impairment_with_a_fixed_seed)
{
	struct netdev_impair_cfg a = parse_ok(""), b = parse_ok("loss=1%,");

	cr_assert_float_eq(a.loss_pct, 0, 1e-9);
	cr_assert_eq(a.delay_us, 0);
	cr_assert_eq(a.seed, b.seed);
}

Test(impair_parse, errors_name_the_bad_field)
{
	parse_fails("loss=abc", "loss");
	parse_fails("loss=101%", "loss");
	parse_fails("dup=-1%", "dup");
	parse_fails("reorder=3%%", "reorder");
	parse_fails("delay=5", "delay");
	parse_fails("delay=5min", "delay");
	parse_fails("delay=11s", "delay");
	parse_fails("seed=-3", "seed");
	parse_fails("seed=99999999999999999999", "seed");
	parse_fails("los=2%", "los");
	parse_fails("loss=1%,jitter=2ms", "jitter");
	parse_fails("loss", "loss");
}

/* ---- decorator ---------------------------------------------------- */

static struct memlink *link;
static struct netdev *tx, *rx;

static void wrap(const char *spec)
{
	struct netdev_impair_cfg cfg = parse_ok(spec);

	link = memlink_new(1500, N_FRAMES + 16);
	cr_assert_not_null(link);
	tx = memlink_end(link, 0);
	rx = netdev_impair_wrap(memlink_end(link, 1), &cfg);
	cr_assert_not_null(rx);
}

static void teardown(void)
{
	netdev_close(rx);
	memlink_free(link);
}

TestSuite(impair, .fini = teardown, .timeout = 30);

static void send_seq(uint32_t first, uint32_t count)
{
	uint8_t f[64] = {0};

	for (uint32_t i = first; i < first + count; i++) {
		memcpy(f + 14, &i, 4);
		cr_assert_eq(netdev_send(tx, f, sizeof(f)), 0);
	}
}

static uint32_t seq_of(const struct netdev_frame *f)
{
	uint32_t s;

	cr_assert_eq(f->len, 64);
	memcpy(&s, f->data + 14, 4);
	return s;
}

/* Receive everything receivable at `now` into seqs; returns the count. */
static size_t drain(uint32_t *seqs, size_t max, sk_time_t now)
{
	struct netdev_frame fr[32];
	size_t n = 0;
	int got;

	while ((got = netdev_recv_batch(rx, fr, 32, now)) > 0)
		for (int i = 0; i < got; i++) {
			cr_assert_lt(n, max);
			seqs[n++] = seq_of(&fr[i]);
		}
	cr_assert_eq(got, 0);
	return n;
}

static uint32_t seqs[2 * N_FRAMES];

Test(impair, no_impairment_passes_everything_in_order)
{
	wrap("");
	send_seq(0, 1000);
	cr_assert_eq(drain(seqs, 2 * N_FRAMES, 0), 1000);
	for (uint32_t i = 0; i < 1000; i++)
		cr_assert_eq(seqs[i], i);
}

Test(impair, loss_rate_matches_over_10000_frames)
{
	struct netdev_impair_stats st;
	size_t n;

	wrap("loss=10%,seed=42");
	send_seq(0, N_FRAMES);
	/* Held reorders expire by time: none here, everything comes at once. */
	n = drain(seqs, 2 * N_FRAMES, 0);
	/* Binomial σ = 30: ±150 is five of them. */
	cr_assert(n > 8850 && n < 9150, "received %zu of 10000 with 10%% loss", n);
	for (size_t i = 1; i < n; i++)
		cr_assert_gt(seqs[i], seqs[i - 1], "loss alone never reorders");
	cr_assert_eq(netdev_impair_get_stats(rx, &st), 0);
	cr_assert_eq(st.lost, N_FRAMES - n);
	cr_assert_eq(st.frames_in, N_FRAMES);
	cr_assert_eq(st.frames_out, n);
}

Test(impair, duplicates_follow_their_original)
{
	size_t n, dups = 0;

	wrap("dup=5%,seed=7");
	send_seq(0, N_FRAMES);
	n = drain(seqs, 2 * N_FRAMES, 0);
	for (size_t i = 1; i < n; i++) {
		cr_assert_geq(seqs[i], seqs[i - 1]);
		dups += seqs[i] == seqs[i - 1];
	}
	cr_assert_eq(n, N_FRAMES + dups);
	cr_assert(dups > 350 && dups < 650, "%zu duplicates of 10000 at 5%%", dups);
}

Test(impair, reorder_swaps_neighbours_and_loses_nothing)
{
	static uint8_t seen[N_FRAMES];
	struct netdev_impair_stats st;
	size_t n, swaps = 0;

	wrap("reorder=10%,seed=3");
	send_seq(0, N_FRAMES);
	n = drain(seqs, 2 * N_FRAMES, 0);
	/* The last frame may be the held one: it comes out on the timeout. */
	n += drain(seqs + n, 2 * N_FRAMES - n, SK_SEC(1));
	cr_assert_eq(n, N_FRAMES);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(seen[seqs[i]], 0, "frame %u delivered twice", seqs[i]);
		seen[seqs[i]] = 1;
		if (i > 0 && seqs[i] < seqs[i - 1]) {
			cr_assert_eq(seqs[i] + 1, seqs[i - 1],
			             "a held frame comes right after one");
			swaps++;
		}
	}
	cr_assert(swaps > 700 && swaps < 1000, "%zu swaps of 10000 at 10%%", swaps);
	cr_assert_eq(netdev_impair_get_stats(rx, &st), 0);
	cr_assert_eq(st.reordered, swaps);
}

Test(impair, held_frame_is_released_by_timeout_when_nothing_follows)
{
	wrap("reorder=100%");
	send_seq(5, 1);
	cr_assert_eq(drain(seqs, 4, 0), 0);
	cr_assert_neq(netdev_next_rx_time(rx), SK_TIME_NEVER);
	cr_assert_eq(drain(seqs, 4, netdev_next_rx_time(rx)), 1);
	cr_assert_eq(seqs[0], 5);
	cr_assert_eq(netdev_next_rx_time(rx), SK_TIME_NEVER);
}

Test(impair, delay_holds_frames_until_due)
{
	wrap("delay=5ms");
	send_seq(0, 10);
	cr_assert_eq(drain(seqs, 32, SK_MS(100)), 0, "nothing before now + delay");
	cr_assert_eq(netdev_next_rx_time(rx), SK_MS(105));
	send_seq(10, 10);
	cr_assert_eq(drain(seqs, 32, SK_MS(102)), 0);
	cr_assert_eq(netdev_next_rx_time(rx), SK_MS(105), "earliest frame first");
	cr_assert_eq(drain(seqs, 32, SK_MS(105) - 1), 0);
	cr_assert_eq(drain(seqs, 32, SK_MS(105)), 10);
	cr_assert_eq(netdev_next_rx_time(rx), SK_MS(107));
	cr_assert_eq(drain(seqs, 32, SK_MS(107)), 10);
	cr_assert_eq(seqs[9], 19);
	cr_assert_eq(netdev_next_rx_time(rx), SK_TIME_NEVER);
}

Test(impair, holding_queue_is_bounded)
{
	struct netdev_impair_stats st;
	size_t n;

	wrap("delay=1s");
	send_seq(0, N_FRAMES);
	cr_assert_eq(drain(seqs, 2 * N_FRAMES, 0), 0);
	cr_assert_eq(netdev_impair_get_stats(rx, &st), 0);
	cr_assert_lt(st.frames_in, N_FRAMES, "the queue took everything: it is not bounded");
	cr_assert_gt(st.frames_in, 1000);
	/* What did not fit waited in the inner device, nothing was lost. */
	n = drain(seqs, 2 * N_FRAMES, SK_SEC(1));
	n += drain(seqs + n, 2 * N_FRAMES - n, SK_SEC(2));
	n += drain(seqs + n, 2 * N_FRAMES - n, SK_SEC(3));
	cr_assert_eq(n, N_FRAMES);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(seqs[i], i);
}

static size_t run_once(const char *spec, uint32_t *out)
{
	size_t n;

	wrap(spec);
	send_seq(0, 2000);
	n = drain(out, 2 * N_FRAMES, 0);
	n += drain(out + n, 2 * N_FRAMES - n, SK_SEC(1));
	teardown();
	rx = NULL;
	link = NULL;
	return n;
}

Test(impair, same_seed_same_run_other_seed_other_run)
{
	static uint32_t a[2 * N_FRAMES], b[2 * N_FRAMES], c[2 * N_FRAMES];
	size_t na = run_once("loss=5%,dup=5%,reorder=5%,seed=11", a);
	size_t nb = run_once("loss=5%,dup=5%,reorder=5%,seed=11", b);
	size_t nc = run_once("loss=5%,dup=5%,reorder=5%,seed=12", c);

	cr_assert_eq(na, nb);
	cr_assert_arr_eq(a, b, na * sizeof(a[0]));
	cr_assert(na != nc || memcmp(a, c, na * sizeof(a[0])) != 0);
}

Test(impair, wrapper_is_transparent_for_sending_and_identity)
{
	uint8_t f[64] = {1, 2, 3};
	struct netdev_frame got[1];
	struct netdev_impair_stats st;

	wrap("loss=100%");
	cr_assert_str_eq(rx->name, "memlink1");
	cr_assert_eq(rx->mtu, 1500);
	cr_assert_eq(netdev_send(rx, f, sizeof(f)), 0, "sending is not impaired");
	cr_assert_eq(netdev_recv_batch(tx, got, 1, 0), 1);
	cr_assert_eq(got[0].data[2], 3);
	cr_assert_eq(netdev_impair_get_stats(tx, &st), -EINVAL, "not a wrapper");
}
