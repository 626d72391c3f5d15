/* TCP_INFO and TCP_CONGESTION on an offloaded socket (see tcp_info.h).
 *
 * struct tcp_info is taken from <linux/tcp.h> (glibc's <netinet/tcp.h>
 * stops at tcpi_total_retrans; programs such as iperf3 read the later
 * fields), which is why this lives in its own file: the two headers cannot
 * be included together. */
#include "tcp_info.h"

#include <errno.h>
#include <linux/tcp.h>
#include <string.h>


#ifndef TCP_CA_NAME_MAX
#define TCP_CA_NAME_MAX 16
#endif

static int copy_out(void *val, socklen_t *len, const void *src, socklen_t srclen)
{
	if (!val || !len)
		return -EFAULT;
	if ((int)*len < 0)
		return -EINVAL;
	if (*len > srclen)
		*len = srclen;
	memcpy(val, src, *len);
	return 0;
}

int shim_tcp_info_get(const struct sk_tcp_info *in, void *val, socklen_t *len)
{
	struct tcp_info ti;

	/* Every field core does not track stays 0; docs/compatibility.md
	 * lists which ones are real. */
	memset(&ti, 0, sizeof(ti));
	ti.tcpi_state = (uint8_t)in->state;
	ti.tcpi_ca_state = in->ca_state;
	ti.tcpi_retransmits = in->retransmits;
	/* Linux counts one backoff per RTO expiry, like icsk_retransmits. */
	ti.tcpi_backoff = in->retransmits;
	ti.tcpi_options = in->options;
	ti.tcpi_snd_wscale = in->snd_wscale & 0xf;
	ti.tcpi_rcv_wscale = in->rcv_wscale & 0xf;
	ti.tcpi_rto = in->rto_us;
	ti.tcpi_ato = in->ato_us;
	ti.tcpi_snd_mss = in->snd_mss;
	ti.tcpi_rcv_mss = in->rcv_mss;
	ti.tcpi_unacked = in->unacked;
	ti.tcpi_sacked = in->sacked;
	ti.tcpi_pmtu = in->pmtu;
	ti.tcpi_rtt = in->rtt_us;
	ti.tcpi_rttvar = in->rttvar_us;
	ti.tcpi_snd_ssthresh = in->snd_ssthresh;
	ti.tcpi_snd_cwnd = in->snd_cwnd;
	ti.tcpi_advmss = in->advmss;
	ti.tcpi_bytes_acked = in->bytes_acked;
	ti.tcpi_bytes_received = in->bytes_received;
	ti.tcpi_bytes_sent = in->bytes_sent;
	ti.tcpi_bytes_retrans = in->bytes_retrans;
	ti.tcpi_total_retrans = in->total_retrans;
	ti.tcpi_notsent_bytes = in->notsent_bytes;
	ti.tcpi_snd_wnd = in->snd_wnd;
	return copy_out(val, len, &ti, sizeof(ti));
}

/* SK_OPT_CONGESTION values (stack.h: 0 CUBIC, 1 NewReno) and the names
 * Linux gives those algorithms (tcp_ca_find). */
static const char *const names[] = {"cubic", "reno"};

int shim_congestion_parse(const void *val, socklen_t len)
{
	char name[TCP_CA_NAME_MAX];

	if (!val)
		return -EFAULT;
	if ((int)len < 1)
		return -EINVAL;
	/* do_tcp_setsockopt: at most TCP_CA_NAME_MAX - 1 bytes, need not be
	 * NUL-terminated. */
	if (len > sizeof(name) - 1)
		len = sizeof(name) - 1;
	memcpy(name, val, len);
	name[len] = '\0';
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return (int)i;
	return -ENOENT;
}

int shim_congestion_get(int algo, void *val, socklen_t *len)
{
	char name[TCP_CA_NAME_MAX] = "";

	if (algo < 0 || (unsigned)algo >= sizeof(names) / sizeof(names[0]))
		return -EINVAL;
	strncpy(name, names[algo], sizeof(name) - 1);
	return copy_out(val, len, name, sizeof(name));
}
