/* SYNACK_STATS (see stats.h, docs/configuration.md). */
#include "stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../core/stack.h"
#include "log.h"
#include "packet_filter.h"
#include "real.h"
#include "runtime.h"

/* Every counter of struct sk_stats (core/stack.h), in its order. */
#define SK_STATS_FIELDS(X)                                                                         \
	X(rx_frames)                                                                               \
	X(rx_bytes)                                                                                \
	X(tx_frames)                                                                               \
	X(tx_bytes)                                                                                \
	X(tx_errors)                                                                               \
	X(rx_drop_short)                                                                           \
	X(rx_drop_not_ours)                                                                        \
	X(rx_drop_ethertype)                                                                       \
	X(arp_rx)                                                                                  \
	X(arp_replies_sent)                                                                        \
	X(arp_requests_sent)                                                                       \
	X(arp_resolve_failed)                                                                      \
	X(arp_queue_drops)                                                                         \
	X(ip_rx)                                                                                   \
	X(ip_drop_bad_header)                                                                      \
	X(ip_drop_bad_csum)                                                                        \
	X(ip_drop_fragment)                                                                        \
	X(ip_drop_not_ours)                                                                        \
	X(ip_drop_proto)                                                                           \
	X(icmp_rx)                                                                                 \
	X(icmp_echo_replies)                                                                       \
	X(icmp_drop)                                                                               \
	X(tcp_rx_segs)                                                                             \
	X(tcp_tx_segs)                                                                             \
	X(tcp_drop_bad_csum)                                                                       \
	X(tcp_drop_malformed)                                                                      \
	X(tcp_rst_sent)                                                                            \
	X(tcp_retransmits)                                                                         \
	X(tcp_conn_active)                                                                         \
	X(tcp_conn_passive)                                                                        \
	X(tcp_conn_reset)                                                                          \
	X(tcp_challenge_acks)                                                                      \
	X(tcp_drop_out_of_window)                                                                  \
	X(tcp_tw_recycled)                                                                         \
	X(tcp_tx_super_frames)                                                                     \
	X(tcp_tx_super_segs)                                                                       \
	X(ip_loop_packets)                                                                         \
	X(ip_loop_drops)

#define COUNT_ONE(f) +1
_Static_assert(sizeof(struct sk_stats) == (0 SK_STATS_FIELDS(COUNT_ONE)) * sizeof(uint64_t),
               "struct sk_stats has a counter SK_STATS_FIELDS (shim/stats.c) does not name");

/* Append "name value\n" to buf (bounded; a full buffer drops the rest). */
static size_t line(char *buf, size_t size, size_t at, const char *name, uint64_t v)
{
	int n;

	if (at >= size)
		return at;
	n = snprintf(buf + at, size - at, "%s %" PRIu64 "\n", name, v);
	return n < 0 ? at : at + (size_t)n;
}

static void write_file(const char *path, const char *buf, size_t len)
{
	int fd = REAL(open)(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t done = 0;

	while (fd >= 0 && done < len) {
		ssize_t n = REAL(write)(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (fd < 0 || done < len)
		shim_log(SK_LOG_WARN, "SYNACK_STATS: cannot write %s: %s", path,
		         fd < 0 ? strerror(errno) : "short write");
	if (fd >= 0)
		REAL(close)(fd);
}

void shim_stats_write(void)
{
	const struct shim_config *c = shim_config();
	struct netdev *afp = shim_packet_device();
	struct netdev_afpacket_stats d;
	struct sk_stats s;
	struct rt_frame_counts fc;
	bool have_dev;
	char buf[4096];
	size_t at = 0;

	if (!c->stats[0] || !rt_running())
		return;
	s = *sk_get_stats(rt_lock());
	have_dev = afp && netdev_afpacket_get_stats(afp, &d) == 0;
	fc = rt_frame_counts();
	rt_unlock();
#define LINE(f) at = line(buf, sizeof(buf), at, #f, s.f);
	SK_STATS_FIELDS(LINE)
#undef LINE
	at = line(buf, sizeof(buf), at, "rt_frames_by_runtime", fc.by_runtime);
	at = line(buf, sizeof(buf), at, "rt_frames_by_app", fc.by_app);
	if (have_dev) {
		at = line(buf, sizeof(buf), at, "dev_rx_frames", d.rx_frames);
		at = line(buf, sizeof(buf), at, "dev_tx_frames", d.tx_frames);
		at = line(buf, sizeof(buf), at, "dev_rx_truncated", d.rx_truncated);
		at = line(buf, sizeof(buf), at, "dev_rx_ignored", d.rx_ignored);
		at = line(buf, sizeof(buf), at, "dev_tx_errors", d.tx_errors);
		at = line(buf, sizeof(buf), at, "dev_tx_batches", d.tx_batches);
		at = line(buf, sizeof(buf), at, "dev_tx_unbatched", d.tx_unbatched);
		at = line(buf, sizeof(buf), at, "dev_tx_gso_frames", d.tx_gso_frames);
		at = line(buf, sizeof(buf), at, "dev_tx_csum_offloaded", d.tx_csum_offloaded);
		at = line(buf, sizeof(buf), at, "dev_rx_gso_frames", d.rx_gso_frames);
		at = line(buf, sizeof(buf), at, "dev_rx_vnet_errors", d.rx_vnet_errors);
		at = line(buf, sizeof(buf), at, "dev_vnet_hdr", d.vnet_hdr);
		at = line(buf, sizeof(buf), at, "dev_rcvbuf", (uint64_t)d.rcvbuf);
		at = line(buf, sizeof(buf), at, "dev_qdisc_bypass", d.qdisc_bypass);
		at = line(buf, sizeof(buf), at, "dev_packet_filter", shim_packet_filter_attached());
	}
	write_file(c->stats, buf, at < sizeof(buf) ? at : sizeof(buf) - 1);
}
