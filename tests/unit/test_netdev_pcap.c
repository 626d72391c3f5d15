/* The pcap writer: the file it leaves is classic pcap that tools read, and
 * its records are exactly the frames that went through, in order. The
 * test parses the file back itself rather than trusting a reader. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../netdev/netdev.h"

static char dir[] = "/tmp/synack-pcap-XXXXXX";
static char path[sizeof(dir) + 16];

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.pcap", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

TestSuite(pcap, .init = setup, .fini = teardown, .timeout = 10);

struct record {
	uint32_t sec, usec, caplen, origlen;
	uint8_t *data;
};

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* Read the whole capture: checks the global header, returns the records. */
static size_t read_capture(struct record *recs, size_t max, uint8_t **blob)
{
	FILE *f = fopen(path, "rb");
	long size;
	size_t n = 0, off = 24;

	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	*blob = malloc((size_t)size);
	cr_assert_eq(fread(*blob, 1, (size_t)size, f), (size_t)size);
	fclose(f);

	cr_assert_geq(size, 24);
	cr_assert_eq(get32(*blob), 0xa1b2c3d4u, "magic (µs, native order)");
	cr_assert_eq((*blob)[4] | (*blob)[5] << 8, 2, "major version");
	cr_assert_eq((*blob)[6] | (*blob)[7] << 8, 4, "minor version");
	cr_assert_eq(get32(*blob + 16), 262144u, "snaplen");
	cr_assert_eq(get32(*blob + 20), 1u, "LINKTYPE_ETHERNET");
	while (off < (size_t)size) {
		cr_assert_lt(n, max);
		cr_assert_leq(off + 16, (size_t)size, "truncated record header");
		recs[n].sec = get32(*blob + off);
		recs[n].usec = get32(*blob + off + 4);
		recs[n].caplen = get32(*blob + off + 8);
		recs[n].origlen = get32(*blob + off + 12);
		recs[n].data = *blob + off + 16;
		cr_assert_leq(off + 16 + recs[n].caplen, (size_t)size, "truncated record");
		cr_assert_lt(recs[n].usec, 1000000u);
		off += 16 + recs[n].caplen;
		n++;
	}
	return n;
}

static void fill(uint8_t *buf, size_t len, uint8_t tag)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(tag ^ (i * 13));
}

Test(pcap, records_sent_and_received_frames_in_order_with_real_timestamps)
{
	struct memlink *link = memlink_new(1500, 16);
	struct netdev *peer = memlink_end(link, 1);
	char err[256] = "";
	struct netdev *dev = netdev_pcap_wrap(memlink_end(link, 0), path, err, sizeof(err));
	static uint8_t a[60], b[1514], c[200];
	struct netdev_frame got[4];
	struct record recs[8];
	uint8_t *blob;
	time_t before = time(NULL);

	cr_assert_not_null(dev, "%s", err);
	cr_assert_str_eq(dev->name, "memlink0");
	cr_assert_eq(dev->mtu, 1500);
	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	fill(c, sizeof(c), 3);
	cr_assert_eq(netdev_send(dev, a, sizeof(a)), 0);
	cr_assert_eq(netdev_send(peer, b, sizeof(b)), 0);
	cr_assert_eq(netdev_send(peer, c, sizeof(c)), 0);
	cr_assert_eq(netdev_recv_batch(dev, got, 4, 0), 2);
	cr_assert_arr_eq(got[1].data, c, sizeof(c), "the wrapper passes frames through");
	cr_assert_eq(netdev_send(dev, b, sizeof(b)), 0);
	netdev_close(dev);

	cr_assert_eq(read_capture(recs, 8, &blob), 4);
	const uint8_t *want[] = {a, b, c, b};
	size_t wlen[] = {sizeof(a), sizeof(b), sizeof(c), sizeof(b)};
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(recs[i].caplen, wlen[i], "record %d", i);
		cr_assert_eq(recs[i].origlen, wlen[i], "record %d", i);
		cr_assert_arr_eq(recs[i].data, want[i], wlen[i], "record %d", i);
		cr_assert_geq((time_t)recs[i].sec, before);
		cr_assert_leq((time_t)recs[i].sec, time(NULL));
	}
	free(blob);
	memlink_free(link);
}

Test(pcap, frame_not_sent_is_not_recorded)
{
	struct memlink *link = memlink_new(1500, 1);
	char err[256] = "";
	struct netdev *dev = netdev_pcap_wrap(memlink_end(link, 0), path, err, sizeof(err));
	uint8_t f[60] = {0};
	struct record recs[4];
	uint8_t *blob;

	cr_assert_not_null(dev, "%s", err);
	cr_assert_eq(netdev_send(dev, f, sizeof(f)), 0);
	cr_assert_eq(netdev_send(dev, f, sizeof(f)), -EAGAIN);
	netdev_close(dev);
	cr_assert_eq(read_capture(recs, 4, &blob), 1);
	free(blob);
	memlink_free(link);
}

/* A device returning one giant frame: longer than the snap length and the
 * writer's buffer, which a GSO super-frame near 256 KiB would be. */
static uint8_t giant[300000];

static int giant_send(struct netdev *d, const uint8_t *f, size_t len)
{
	(void)d, (void)f, (void)len;
	return 0;
}

static int giant_recv(struct netdev *d, struct netdev_frame *fr, int max, sk_time_t now)
{
	(void)d, (void)max, (void)now;
	fr[0] = (struct netdev_frame){.data = giant, .len = sizeof(giant)};
	return 1;
}

static void giant_close(struct netdev *d)
{
	(void)d;
}

Test(pcap, giant_frame_is_cut_at_the_snap_length_and_keeps_its_length)
{
	static const struct netdev_ops ops = {
	    .send = giant_send, .recv_batch = giant_recv, .close = giant_close};
	struct netdev inner = {.ops = &ops, .name = "giant", .mtu = 1500, .fd = -1};
	char err[256] = "";
	struct netdev *dev = netdev_pcap_wrap(&inner, path, err, sizeof(err));
	struct netdev_frame got[1];
	uint8_t small[100];
	struct record recs[4];
	uint8_t *blob;

	cr_assert_not_null(dev, "%s", err);
	fill(giant, sizeof(giant), 7);
	fill(small, sizeof(small), 8);
	cr_assert_eq(netdev_send(dev, small, sizeof(small)), 0);
	cr_assert_eq(netdev_recv_batch(dev, got, 1, 0), 1);
	cr_assert_eq(netdev_send(dev, small, sizeof(small)), 0);
	netdev_close(dev);

	cr_assert_eq(read_capture(recs, 4, &blob), 3);
	cr_assert_arr_eq(recs[0].data, small, sizeof(small));
	cr_assert_eq(recs[1].caplen, 262144u);
	cr_assert_eq(recs[1].origlen, sizeof(giant));
	cr_assert_arr_eq(recs[1].data, giant, 262144u);
	cr_assert_arr_eq(recs[2].data, small, sizeof(small));
	free(blob);
}

Test(pcap, fd_moved_on_the_wrapper_reaches_the_inner_device)
{
	static const struct netdev_ops ops = {
	    .send = giant_send, .recv_batch = giant_recv, .close = giant_close};
	struct netdev inner = {.ops = &ops, .name = "giant", .mtu = 1500, .fd = 5};
	char err[256] = "";
	struct netdev *dev = netdev_pcap_wrap(&inner, path, err, sizeof(err));
	uint8_t f[60] = {0};

	cr_assert_not_null(dev, "%s", err);
	cr_assert_eq(dev->fd, 5);
	dev->fd = 1000;
	cr_assert_eq(netdev_send(dev, f, sizeof(f)), 0);
	cr_assert_eq(inner.fd, 1000);
	netdev_close(dev);
}

Test(pcap, unwritable_path_fails_with_a_clear_error_and_keeps_the_device)
{
	struct memlink *link = memlink_new(1500, 4);
	char err[256] = "";
	char bad[sizeof(dir) + 32];
	uint8_t f[60] = {0};

	snprintf(bad, sizeof(bad), "%s/no/such/dir.pcap", dir);
	cr_assert_null(netdev_pcap_wrap(memlink_end(link, 0), bad, err, sizeof(err)));
	cr_assert(strstr(err, bad), "error names the file: %s", err);
	cr_assert(strstr(err, "SYNACK_PCAP"), "error says how to fix it: %s", err);
	cr_assert_eq(netdev_send(memlink_end(link, 0), f, sizeof(f)), 0, "inner still usable");
	memlink_free(link);
}
