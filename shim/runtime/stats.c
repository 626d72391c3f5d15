/* SYNACK_STATS (see stats.h, docs/configuration.md). */
#include "stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../../core/stack.h"
#include "log.h"
#include "packet_filter.h"
#include "../intercept/real.h"
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
	X(tcp_time_wait)                                                                           \
	X(tcp_time_wait_peak)                                                                      \
	X(tcp_tx_super_frames)                                                                     \
	X(tcp_tx_super_segs)                                                                       \
	X(tcp_syn_queue_full)                                                                      \
	X(tcp_syn_queue_drops)                                                                     \
	X(tcp_listen_overflows)                                                                    \
	X(tcp_syncookies_sent)                                                                     \
	X(tcp_syncookies_ok)                                                                       \
	X(tcp_syncookies_failed)                                                                   \
	X(tcp_challenge_acks_limited)                                                              \
	X(tcp_drop_bad_options)                                                                    \
	X(tcp_drop_reass_full)                                                                     \
	X(tcp_drop_no_mem)                                                                         \
	X(tcp_mem_refused)                                                                         \
	X(tcp_ring_bytes)                                                                          \
	X(tcp_ring_bytes_peak)                                                                     \
	X(ip_drop_truncated)                                                                       \
	X(arp_tx_sender_mac)                                                                       \
	X(arp_learned_tcp)                                                                         \
	X(ip_loop_packets)                                                                         \
	X(ip_loop_drops)

#define COUNT_ONE(f) +1
_Static_assert(sizeof(struct sk_stats) == (0 SK_STATS_FIELDS(COUNT_ONE)) * sizeof(uint64_t),
               "struct sk_stats has a counter SK_STATS_FIELDS (shim/runtime/stats.c) does not name");

/* The AF_PACKET device's counters (struct netdev_afpacket_stats), and its
 * gauges. */
#define DEV_COUNTERS(X)                                                                            \
	X(rx_frames)                                                                               \
	X(tx_frames)                                                                               \
	X(rx_truncated)                                                                            \
	X(rx_ignored)                                                                              \
	X(tx_errors)                                                                               \
	X(tx_batches)                                                                              \
	X(tx_unbatched)                                                                            \
	X(tx_gso_frames)                                                                           \
	X(tx_csum_offloaded)                                                                       \
	X(rx_gso_frames)                                                                           \
	X(rx_vnet_errors)
#define DEV_GAUGES(X)                                                                              \
	X(vnet_hdr)                                                                                \
	X(rcvbuf)                                                                                  \
	X(qdisc_bypass)

/* Append "<prefix>name value\n" to buf (bounded; a full buffer drops the
 * rest). */
static size_t line(char *buf, size_t size, size_t at, const char *prefix, const char *name,
                   uint64_t v)
{
	int n;

	if (at >= size)
		return at;
	n = snprintf(buf + at, size - at, "%s%s %" PRIu64 "\n", prefix, name, v);
	if (n < 0 || (size_t)n >= size - at) {
		buf[at] = '\0'; /* no half line */
		return size;
	}
	return at + (size_t)n;
}

void shim_stats_take(const struct sk_stack *st, struct shim_stats_snap *out)
{
	struct netdev *afp = shim_packet_device();

	out->s = *sk_get_stats(st);
	out->fc = rt_frame_counts();
	out->have_dev = afp && netdev_afpacket_get_stats(afp, &out->d) == 0;
	out->packet_filter = shim_packet_filter_attached();
}

size_t shim_stats_format(const struct shim_stats_snap *snap, const char *cp, const char *gp,
                         char *buf, size_t size)
{
	size_t at = 0;

	if (size == 0)
		return 0;
	buf[0] = '\0';
#define LINE(f) at = line(buf, size, at, cp, #f, snap->s.f);
	SK_STATS_FIELDS(LINE)
#undef LINE
	at = line(buf, size, at, cp, "rt_frames_by_runtime", snap->fc.by_runtime);
	at = line(buf, size, at, cp, "rt_frames_by_app", snap->fc.by_app);
	if (snap->have_dev) {
#define LINE(f) at = line(buf, size, at, cp, "dev_" #f, (uint64_t)snap->d.f);
		DEV_COUNTERS(LINE)
#undef LINE
#define LINE(f) at = line(buf, size, at, gp, "dev_" #f, (uint64_t)snap->d.f);
		DEV_GAUGES(LINE)
#undef LINE
		at = line(buf, size, at, gp, "dev_packet_filter", snap->packet_filter);
	}
	return at < size ? at : strlen(buf);
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
	struct shim_stats_snap snap;
	char buf[8192]; /* ~95 lines of at most 50 bytes */
	size_t len;

	if (!c->stats[0] || !rt_running())
		return;
	shim_stats_take(rt_lock(), &snap);
	rt_unlock();
	len = shim_stats_format(&snap, "", "", buf, sizeof(buf));
	write_file(c->stats, buf, len);
}
