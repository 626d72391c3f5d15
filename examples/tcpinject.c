/* tcpinject: crafted Ethernet/IPv4/TCP frames for the attack tests of the
 * lab (tests/lab/110-112, docs/security.md). It runs as root on the kernel
 * peer's side of a veth pair and writes frames with an AF_PACKET socket; it
 * is bounded in count and time in every mode.
 *
 *   tcpinject IFACE DST_MAC DST_IP MODE ARGS...
 *
 * synflood PORT COUNT RATE NET LO HI SIGNAL
 *     COUNT SYNs (MSS 1460, SACK, timestamps, window scale 7, as Linux's)
 *     to DST_IP:PORT from spoofed on-link sources NET.LO..NET.HI (NET as
 *     "10.77.0"), each with a random source port and a random locally
 *     administered source MAC, RATE per second. Creates the file SIGNAL
 *     once a quarter is sent (the test starts its real client then). Prints
 *     "sent N in T s".
 * blind SRC_MAC SRC_IP SPORT DPORT RATE MAX STOP
 *     Off-path injection into the connection SRC_IP:SPORT -> DST_IP:DPORT
 *     (the 4-tuple known, the sequence numbers guessed): in turn an RST, a
 *     SYN and a 64-byte data segment (ACK|PSH), each with random SEQ and
 *     ACK, RATE per second until the file STOP exists or MAX are sent.
 *     Prints "rst N syn N data N".
 * malformed SRC_MAC SRC_IP K
 *     K frames of each malformed kind (truncated headers, lying lengths and
 *     offsets, fragments, IP options, bad option lengths, bad checksums...)
 *     and one line per kind: "kind NAME COUNTER K", COUNTER being the
 *     sk_stats counter that must count it (SYNACK_STATS).
 * rawconn SRC_MAC SRC_IP PORT
 *     A TCP client of its own from a spoofed on-link address: sequence
 *     numbers that wrap during the transfer, a zero then a huge (1 GiB)
 *     window, and a storm of window probes beyond synack's window. Talks to
 *     tests/lab/111's "rawconn server" (read 65536 bytes, answer "N SUM\n"
 *     and 200000 pattern bytes). Prints "ok CASE" / "FAIL CASE: why".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

static int tx_fd = -1;
static struct sockaddr_ll tx_addr;
static uint8_t dst_mac[6], src_mac[6];
static uint32_t dst_ip, src_ip; /* host order */

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: any sequence will do, it only has to be unpredictable to
 * nobody (the stack under test does not see it). */
static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static bool parse_mac(const char *s, uint8_t *mac)
{
	unsigned v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return true;
}

static uint32_t parse_ip(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "tcpinject: bad address %s\n", s);
		exit(2);
	}
	return ntohl(a.s_addr);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* ---- frames ---- */

struct seg {
	uint32_t sip, dip;
	const uint8_t *smac;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window;
	bool syn_opts; /* MSS 1460, SACK-permitted, timestamps, window scale 7 */
	int wscale;    /* >= 0: a window scale option with this shift (rawconn) */
	const uint8_t *payload;
	size_t len;
};

/* Ethernet + IPv4 (20) + TCP into f; returns the frame length. The TCP
 * header starts at f + 34. */
static size_t build(uint8_t *f, const struct seg *s)
{
	uint8_t *ip = f + 14, *tcp = f + 34;
	size_t hl = 20;

	memcpy(f, dst_mac, 6);
	memcpy(f + 6, s->smac, 6);
	wr16(f + 12, 0x0800);
	memset(tcp, 0, 60);
	if (s->syn_opts) {
		/* MSS, SACK_PERM, TS, NOP, WS: Linux's order (40 bytes of header
		 * in all, 20 of options). */
		uint8_t o[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7};

		wr32(o + 8, rnd());
		memcpy(tcp + 20, o, sizeof(o));
		hl = 40;
	} else if (s->wscale >= 0) {
		uint8_t o[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, (uint8_t)s->wscale};

		memcpy(tcp + 20, o, sizeof(o));
		hl = 28;
	}
	wr16(tcp, s->sport);
	wr16(tcp + 2, s->dport);
	wr32(tcp + 4, s->seq);
	wr32(tcp + 8, s->ack);
	tcp[12] = (uint8_t)(hl / 4 << 4);
	tcp[13] = s->flags;
	wr16(tcp + 14, s->window);
	if (s->len)
		memcpy(tcp + hl, s->payload, s->len);
	size_t l4 = hl + s->len;
	uint8_t pseudo[12];

	wr32(pseudo, s->sip);
	wr32(pseudo + 4, s->dip);
	pseudo[8] = 0;
	pseudo[9] = 6;
	wr16(pseudo + 10, (uint16_t)l4);
	wr16(tcp + 16, fold(sum16(sum16(0, pseudo, 12), tcp, l4)));
	ip[0] = 0x45;
	ip[1] = 0;
	wr16(ip + 2, (uint16_t)(20 + l4));
	wr16(ip + 4, (uint16_t)rnd());
	wr16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	wr16(ip + 10, 0);
	wr32(ip + 12, s->sip);
	wr32(ip + 16, s->dip);
	wr16(ip + 10, fold(sum16(0, ip, 20)));
	return 34 + l4;
}

static void send_frame(const uint8_t *f, size_t len)
{
	while (sendto(tx_fd, f, len, 0, (const struct sockaddr *)&tx_addr, sizeof(tx_addr)) < 0) {
		if (errno == ENOBUFS || errno == EAGAIN) {
			usleep(100); /* the device queue is full: wait, never drop */
			continue;
		}
		die("sendto");
	}
}

static void open_iface(const char *iface)
{
	/* Protocol 0: this socket only sends, nothing is queued to it. */
	tx_fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (tx_fd < 0)
		die("socket(AF_PACKET)");
	memset(&tx_addr, 0, sizeof(tx_addr));
	tx_addr.sll_family = AF_PACKET;
	tx_addr.sll_ifindex = (int)if_nametoindex(iface);
	if (!tx_addr.sll_ifindex)
		die(iface);
	tx_addr.sll_halen = 6;
	memcpy(tx_addr.sll_addr, dst_mac, 6);
	if (bind(tx_fd, (const struct sockaddr *)&tx_addr, sizeof(tx_addr)) < 0)
		die("bind");
}

/* Sleep until `n` frames at `rate` per second are due since `t0`. */
static void pace(double t0, uint64_t n, double rate)
{
	double due = t0 + (double)n / rate, now = now_s();

	if (due > now)
		usleep((useconds_t)((due - now) * 1e6));
}

static bool file_exists(const char *p)
{
	return access(p, F_OK) == 0;
}

static void touch(const char *p)
{
	FILE *f = fopen(p, "w");

	if (f)
		fclose(f);
}

/* ---- synflood ---- */

static int synflood(char **a)
{
	uint16_t port = (uint16_t)atoi(a[0]);
	uint64_t count = strtoull(a[1], NULL, 10);
	double rate = atof(a[2]), t0 = now_s();
	uint32_t net = parse_ip(a[3]) & 0xffffff00u, lo = (uint32_t)atoi(a[4]),
	         hi = (uint32_t)atoi(a[5]);
	const char *signal = a[6];
	uint8_t f[128], mac[6] = {0x02};
	uint64_t i;

	for (i = 0; i < count; i++) {
		uint32_t r = rnd();
		struct seg s = {
		    .sip = net | (lo + r % (hi - lo + 1)),
		    .dip = dst_ip,
		    .smac = mac,
		    .sport = (uint16_t)(1024 + rnd() % 60000),
		    .dport = port,
		    .seq = rnd(),
		    .flags = F_SYN,
		    .window = 64240,
		    .syn_opts = true,
		};

		wr32(mac + 2, rnd());
		mac[0] = 0x02; /* unicast, locally administered */
		send_frame(f, build(f, &s));
		if (i + 1 == count / 4)
			touch(signal);
		if (i % 64 == 63)
			pace(t0, i + 1, rate);
		if (now_s() - t0 > 120)
			break; /* the time bound */
	}
	printf("sent %llu in %.2f s\n", (unsigned long long)i, now_s() - t0);
	return 0;
}

/* ---- blind ---- */

static int blind(char **a)
{
	uint16_t sport = (uint16_t)atoi(a[2]), dport = (uint16_t)atoi(a[3]);
	double rate = atof(a[4]), t0 = now_s();
	uint64_t max = strtoull(a[5], NULL, 10), n = 0, kinds[3] = {0};
	const char *stop = a[6];
	uint8_t f[256], junk[64];

	if (!parse_mac(a[0], src_mac))
		return 2;
	src_ip = parse_ip(a[1]);
	while (n < max && !file_exists(stop) && now_s() - t0 < 120) {
		int k = (int)(n % 3);
		struct seg s = {
		    .sip = src_ip,
		    .dip = dst_ip,
		    .smac = src_mac,
		    .sport = sport,
		    .dport = dport,
		    .seq = rnd(),
		    .ack = rnd(),
		    .window = 502,
		    .wscale = -1,
		};

		if (k == 0) {
			s.flags = F_RST;
			s.ack = 0;
		} else if (k == 1) {
			s.flags = F_SYN;
			s.ack = 0;
		} else {
			for (size_t i = 0; i < sizeof(junk); i++)
				junk[i] = (uint8_t)rnd();
			s.flags = F_ACK | F_PSH;
			s.payload = junk;
			s.len = sizeof(junk);
		}
		send_frame(f, build(f, &s));
		kinds[k]++;
		n++;
		if (n % 16 == 0)
			pace(t0, n, rate);
	}
	printf("rst %llu syn %llu data %llu in %.2f s\n", (unsigned long long)kinds[0],
	       (unsigned long long)kinds[1], (unsigned long long)kinds[2], now_s() - t0);
	return 0;
}

/* ---- malformed ---- */

/* A SYN from src to a closed port (9) of the target, well formed: each kind
 * below breaks one thing of it. Returns the frame length. */
static size_t base_syn(uint8_t *f)
{
	struct seg s = {
	    .sip = src_ip,
	    .dip = dst_ip,
	    .smac = src_mac,
	    .sport = (uint16_t)(20000 + rnd() % 20000),
	    .dport = 9,
	    .seq = rnd(),
	    .flags = F_SYN,
	    .window = 1024,
	    .wscale = -1,
	};

	return build(f, &s);
}

static void ip_csum(uint8_t *f)
{
	size_t hl = (size_t)(f[14] & 15) * 4;

	if (hl < 20 || hl > 60)
		hl = 20;
	wr16(f + 24, 0);
	wr16(f + 24, fold(sum16(0, f + 14, hl)));
}

/* TCP checksum over the `l4` bytes at f + 14 + ihl. */
static void tcp_csum(uint8_t *f, size_t l4)
{
	size_t hl = (size_t)(f[14] & 15) * 4;
	uint8_t *tcp = f + 14 + hl, pseudo[12];

	memcpy(pseudo, f + 26, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	wr16(pseudo + 10, (uint16_t)l4);
	wr16(tcp + 16, 0);
	if (l4 >= 18)
		wr16(tcp + 16, fold(sum16(sum16(0, pseudo, 12), tcp, l4)));
}

/* Move the TCP segment (len bytes from f + 34) `by` bytes on and give the
 * IP header IHL 5 + by / 4 with `opts` as its options. */
static size_t with_ip_options(uint8_t *f, size_t len, const uint8_t *opts, size_t by)
{
	size_t l4 = len - 34;

	memmove(f + 34 + by, f + 34, l4);
	memcpy(f + 34, opts, by);
	f[14] = (uint8_t)(0x40 | (5 + by / 4));
	wr16(f + 16, (uint16_t)(20 + by + l4));
	ip_csum(f);
	tcp_csum(f, l4);
	return len + by;
}

struct kind {
	const char *name, *counter;
	size_t (*make)(uint8_t *f);
};

static size_t k_eth_only(uint8_t *f)
{
	base_syn(f);
	return 14;
}
static size_t k_ethertype_ipv6(uint8_t *f)
{
	size_t n = base_syn(f);

	wr16(f + 12, 0x86dd);
	return n;
}
static size_t k_ip_header_truncated(uint8_t *f)
{
	base_syn(f);
	return 14 + 10;
}
static size_t k_ip_version_6(uint8_t *f)
{
	size_t n = base_syn(f);

	f[14] = 0x65;
	ip_csum(f);
	return n;
}
static size_t k_ip_ihl_4(uint8_t *f)
{
	size_t n = base_syn(f);

	f[14] = 0x44;
	ip_csum(f);
	return n;
}
static size_t k_ip_ihl_beyond_packet(uint8_t *f)
{
	base_syn(f);
	f[14] = 0x4f; /* a 60-byte header in a 40-byte packet */
	wr16(f + 16, 40);
	ip_csum(f);
	return 14 + 40;
}
static size_t k_ip_total_length_above_frame(uint8_t *f)
{
	size_t n = base_syn(f);

	wr16(f + 16, (uint16_t)(n - 14 + 100));
	ip_csum(f);
	return n;
}
static size_t k_ip_total_length_below_header(uint8_t *f)
{
	size_t n = base_syn(f);

	wr16(f + 16, 19);
	ip_csum(f);
	return n;
}
static size_t k_ip_bad_checksum(uint8_t *f)
{
	size_t n = base_syn(f);

	f[25] ^= 0x5a;
	return n;
}
static size_t k_ip_fragment_first(uint8_t *f)
{
	size_t n = base_syn(f);

	wr16(f + 20, 0x2000); /* MF */
	ip_csum(f);
	return n;
}
static size_t k_ip_fragment_later(uint8_t *f)
{
	size_t n = base_syn(f);

	wr16(f + 20, 0x0010); /* offset 128 */
	ip_csum(f);
	return n;
}
static size_t k_ip_martian_source(uint8_t *f)
{
	size_t n = base_syn(f);

	wr32(f + 26, 0x7f000001);
	ip_csum(f);
	tcp_csum(f, n - 34);
	return n;
}
static size_t k_ip_not_our_address(uint8_t *f)
{
	size_t n = base_syn(f);

	wr32(f + 30, dst_ip ^ 0x40);
	ip_csum(f);
	tcp_csum(f, n - 34);
	return n;
}
static size_t k_ip_protocol_udp(uint8_t *f)
{
	size_t n = base_syn(f);

	f[23] = 17;
	ip_csum(f);
	return n;
}
static size_t k_ip_options_nop(uint8_t *f)
{
	static const uint8_t nops[4] = {1, 1, 1, 0};

	return with_ip_options(f, base_syn(f), nops, 4);
}
static size_t k_ip_option_bad_length(uint8_t *f)
{
	static const uint8_t rr[4] = {7, 0, 4, 0}; /* record route, length 0 */

	return with_ip_options(f, base_syn(f), rr, 4);
}
/* The IP total length ends 12 bytes into the TCP header (what follows is
 * link padding); the checksum covers those 12. */
static size_t k_ip_total_length_cuts_tcp(uint8_t *f)
{
	size_t n = base_syn(f);

	wr16(f + 16, 20 + 12);
	ip_csum(f);
	tcp_csum(f, 12);
	return n;
}
static size_t k_tcp_data_offset_4(uint8_t *f)
{
	size_t n = base_syn(f);

	f[46] = 4 << 4;
	tcp_csum(f, n - 34);
	return n;
}
static size_t k_tcp_data_offset_beyond_segment(uint8_t *f)
{
	size_t n = base_syn(f);

	f[46] = 15 << 4;
	tcp_csum(f, n - 34);
	return n;
}
static size_t k_tcp_option_length_0(uint8_t *f)
{
	size_t n = base_syn(f);
	static const uint8_t opt[4] = {2, 0, 0, 0};

	memcpy(f + 54, opt, 4);
	f[46] = 6 << 4;
	wr16(f + 16, 20 + 24);
	ip_csum(f);
	tcp_csum(f, 24);
	return n + 4;
}
static size_t k_tcp_option_past_header(uint8_t *f)
{
	size_t n = base_syn(f);
	static const uint8_t opt[4] = {1, 1, 8, 10}; /* a timestamp 2 bytes from the end */

	memcpy(f + 54, opt, 4);
	f[46] = 6 << 4;
	wr16(f + 16, 20 + 24);
	ip_csum(f);
	tcp_csum(f, 24);
	return n + 4;
}
static size_t k_tcp_bad_checksum(uint8_t *f)
{
	size_t n = base_syn(f);

	f[50] ^= 0x5a;
	return n;
}
static size_t k_tcp_port_0(uint8_t *f)
{
	size_t n = base_syn(f);

	wr16(f + 34, 0);
	tcp_csum(f, n - 34);
	return n;
}

static const struct kind kinds[] = {
    {"ethernet_header_only", "ip_drop_bad_header", k_eth_only},
    {"ethertype_ipv6", "rx_drop_ethertype", k_ethertype_ipv6},
    {"ip_header_truncated", "ip_drop_bad_header", k_ip_header_truncated},
    {"ip_version_6", "ip_drop_bad_header", k_ip_version_6},
    {"ip_ihl_4", "ip_drop_bad_header", k_ip_ihl_4},
    {"ip_ihl_beyond_packet", "ip_drop_bad_header", k_ip_ihl_beyond_packet},
    {"ip_total_length_above_frame", "ip_drop_truncated", k_ip_total_length_above_frame},
    {"ip_total_length_below_header", "ip_drop_bad_header", k_ip_total_length_below_header},
    {"ip_total_length_cuts_tcp_header", "tcp_drop_malformed", k_ip_total_length_cuts_tcp},
    {"ip_bad_checksum", "ip_drop_bad_csum", k_ip_bad_checksum},
    {"ip_fragment_first", "ip_drop_fragment", k_ip_fragment_first},
    {"ip_fragment_later", "ip_drop_fragment", k_ip_fragment_later},
    {"ip_martian_source", "ip_drop_bad_header", k_ip_martian_source},
    {"ip_not_our_address", "ip_drop_not_ours", k_ip_not_our_address},
    {"ip_protocol_udp", "ip_drop_proto", k_ip_protocol_udp},
    /* Not malformed: IP options are legal (RFC 791) and skipped, so the
     * SYN to a closed port is answered with a RST. A bad option length is
     * not looked at either (Linux would drop it, ip_options_compile). */
    {"ip_options_nop", "tcp_rst_sent", k_ip_options_nop},
    {"ip_option_bad_length", "tcp_rst_sent", k_ip_option_bad_length},
    {"tcp_data_offset_4", "tcp_drop_malformed", k_tcp_data_offset_4},
    {"tcp_data_offset_beyond_segment", "tcp_drop_malformed", k_tcp_data_offset_beyond_segment},
    {"tcp_option_length_0", "tcp_drop_bad_options", k_tcp_option_length_0},
    {"tcp_option_past_header", "tcp_drop_bad_options", k_tcp_option_past_header},
    {"tcp_bad_checksum", "tcp_drop_bad_csum", k_tcp_bad_checksum},
    {"tcp_port_0", "tcp_drop_malformed", k_tcp_port_0},
};

static int malformed(char **a)
{
	int k = atoi(a[2]);
	uint8_t f[256];

	if (!parse_mac(a[0], src_mac))
		return 2;
	src_ip = parse_ip(a[1]);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		for (int j = 0; j < k; j++) {
			memset(f, 0, sizeof(f));
			send_frame(f, kinds[i].make(f));
			if (j % 50 == 49)
				usleep(2000); /* never overrun the receiver's socket */
		}
		printf("kind %s %s %d\n", kinds[i].name, kinds[i].counter, k);
	}
	return 0;
}

/* ---- rawconn ---- */

static int rx_fd = -1;
static uint16_t rc_sport, rc_dport;

/* The next TCP segment from the target to us within `secs`: its header
 * fields and payload. False on timeout. */
struct rxseg {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window;
	uint8_t data[65536];
	size_t len;
};

static bool rx_seg(struct rxseg *r, double secs)
{
	double end = now_s() + secs;
	static uint8_t f[70000]; /* a super-frame from the peer's GSO */

	for (;;) {
		double left = end - now_s();
		struct pollfd p = {.fd = rx_fd, .events = POLLIN};

		if (left <= 0)
			return false;
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(rx_fd, f, sizeof(f), 0, (struct sockaddr *)&from, &fl);

		if (n < 54 || from.sll_pkttype == PACKET_OUTGOING || rd16(f + 12) != 0x0800 ||
		    f[23] != 6)
			continue;
		size_t ihl = (size_t)(f[14] & 15) * 4, tot = rd16(f + 16);
		const uint8_t *t = f + 14 + ihl;

		if (rd32(f + 26) != dst_ip || rd32(f + 30) != src_ip || rd16(t) != rc_dport ||
		    rd16(t + 2) != rc_sport || tot > (size_t)n - 14)
			continue;
		size_t doff = (size_t)(t[12] >> 4) * 4;

		r->seq = rd32(t + 4);
		r->ack = rd32(t + 8);
		r->flags = t[13];
		r->window = rd16(t + 14);
		r->len = tot - ihl - doff;
		if (r->len > sizeof(r->data))
			r->len = sizeof(r->data);
		memcpy(r->data, t + doff, r->len);
		return true;
	}
}

static void rc_send(uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd, const uint8_t *p,
                    size_t len, int wscale)
{
	uint8_t f[1600];
	struct seg s = {
	    .sip = src_ip,
	    .dip = dst_ip,
	    .smac = src_mac,
	    .sport = rc_sport,
	    .dport = rc_dport,
	    .seq = seq,
	    .ack = ack,
	    .flags = flags,
	    .window = wnd,
	    .wscale = wscale,
	    .payload = p,
	    .len = len,
	};

	send_frame(f, build(f, &s));
}

static int fails;

static void check(bool ok, const char *name, const char *why)
{
	if (ok)
		printf("ok %s\n", name);
	else {
		printf("FAIL %s: %s\n", name, why);
		fails++;
	}
	fflush(stdout);
}

#define OUR_DATA   65536
#define THEIR_DATA 200000

static int rawconn(char **a)
{
	static uint8_t out[OUR_DATA], in[THEIR_DATA + 128];
	const uint32_t iss = 0xffffffffu - 30000; /* our data crosses 2^32 */
	uint32_t sum = 0, irs, una, nxt, rcv_nxt;
	struct rxseg r;
	char why[160];

	if (!parse_mac(a[0], src_mac))
		return 2;
	src_ip = parse_ip(a[1]);
	rc_dport = (uint16_t)atoi(a[2]);
	rc_sport = (uint16_t)(40000 + rnd() % 20000);
	struct sockaddr_ll rx_addr = tx_addr;

	rx_addr.sll_protocol = htons(ETH_P_ALL);
	rx_fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (rx_fd < 0)
		die("socket(AF_PACKET)");
	if (bind(rx_fd, (const struct sockaddr *)&rx_addr, sizeof(rx_addr)) < 0)
		die("bind");
	for (size_t i = 0; i < OUR_DATA; i++) {
		out[i] = (uint8_t)rnd();
		sum += out[i];
	}
	/* Handshake: window scale 14 offered, so our windows below are
	 * scaled by 2^14. */
	bool got = false;

	for (int i = 0; i < 5 && !got; i++) {
		rc_send(iss, 0, F_SYN, 65535, NULL, 0, 14);
		got = rx_seg(&r, 1.0) && r.flags == (F_SYN | F_ACK) && r.ack == iss + 1;
	}
	check(got, "handshake from a spoofed on-link address, ISN 2^32 - 30001", "no SYN,ACK");
	if (!got)
		return 1;
	irs = r.seq;
	rcv_nxt = irs + 1;
	/* Zero window at first: synack may not send. */
	rc_send(iss + 1, rcv_nxt, F_ACK, 0, NULL, 0, -1);

	/* 64 KiB across the wrap, go-back-N until all is acknowledged. */
	una = nxt = iss + 1;
	double t0 = now_s();
	while (una != iss + 1 + OUR_DATA && now_s() - t0 < 20) {
		while (nxt != iss + 1 + OUR_DATA && nxt - una < 32768) {
			uint32_t off = nxt - (iss + 1), n = OUR_DATA - off < 1024 ? OUR_DATA - off : 1024;

			rc_send(nxt, rcv_nxt, F_ACK | F_PSH, 0, out + off, n, -1);
			nxt += n;
		}
		if (!rx_seg(&r, 0.3)) {
			nxt = una; /* go back */
			continue;
		}
		if (r.flags & F_ACK && r.ack - una <= nxt - una)
			una = r.ack;
	}
	snprintf(why, sizeof(why), "acknowledged up to %u, want %u", una, iss + 1 + OUR_DATA);
	check(una == iss + 1 + OUR_DATA,
	      "64 KiB sent across the sequence wrap, every byte acknowledged (ACK wraps to a small "
	      "number)",
	      why);

	/* Our window is still zero: synack has the answer queued and must
	 * probe. Count its probes for 3.5 s, acknowledging none of them. */
	int probes = 0;

	t0 = now_s();
	while (now_s() - t0 < 3.5) {
		if (rx_seg(&r, 3.5 - (now_s() - t0)) && r.len > 0) {
			probes++;
			if (r.seq != rcv_nxt || r.len != 1)
				probes = -1000;
			rc_send(una, rcv_nxt, F_ACK, 0, NULL, 0, -1);
		}
	}
	snprintf(why, sizeof(why), "%d one-byte probes at RCV.NXT in 3.5 s", probes);
	/* RFC 9293 §3.8.6.1 with RFC 6298 backoff from a 200 ms RTO: about
	 * 4 in 3.5 s; the bounds leave room for a loaded machine. */
	check(probes >= 1 && probes <= 8,
	      "zero window: synack probes with one byte, backing off (1..8 probes in 3.5 s)", why);

	/* A storm of window probes beyond synack's receive window: each is
	 * dropped, answered by an ACK that does not move. */
	int acks = 0, bad = 0;
	uint8_t one = 'z';

	for (int i = 0; i < 1000; i++)
		rc_send(una + (1u << 20) + (uint32_t)i, rcv_nxt, F_ACK, 0, &one, 1, -1);
	t0 = now_s();
	while (now_s() - t0 < 1.0 && rx_seg(&r, 0.5)) {
		if (r.len == 0 && r.ack == una)
			acks++;
		else if (r.len == 0)
			bad++;
	}
	snprintf(why, sizeof(why), "%d ACKs at %u, %d others", acks, una, bad);
	check(bad == 0 && acks > 0 && acks <= 1000,
	      "1000 probes beyond synack's window: dropped, answered by unmoved ACKs", why);

	/* Open a huge window (65535 << 14 = 1 GiB) and take the answer. */
	size_t got_len = 0;

	rc_send(una, rcv_nxt, F_ACK, 65535, NULL, 0, -1);
	t0 = now_s();
	while (got_len < sizeof(in) && now_s() - t0 < 20) {
		if (!rx_seg(&r, 0.5)) {
			rc_send(una, rcv_nxt, F_ACK, 65535, NULL, 0, -1);
			continue;
		}
		if (r.len > 0 && r.seq == rcv_nxt) {
			size_t n = r.len < sizeof(in) - got_len ? r.len : sizeof(in) - got_len;

			memcpy(in + got_len, r.data, n);
			got_len += n;
			rcv_nxt += (uint32_t)r.len;
		}
		if (r.flags & F_FIN && r.seq + r.len == rcv_nxt) {
			rcv_nxt++;
			break;
		}
		if (r.len > 0)
			rc_send(una, rcv_nxt, F_ACK, 65535, NULL, 0, -1);
	}
	char line[64];
	int hl = snprintf(line, sizeof(line), "%d %u\n", OUR_DATA, sum);
	bool pattern = got_len == (size_t)hl + THEIR_DATA && memcmp(in, line, (size_t)hl) == 0;

	for (size_t i = 0; pattern && i < THEIR_DATA; i++)
		pattern = in[hl + i] == (uint8_t)(i * 7);
	snprintf(why, sizeof(why), "%zu bytes, first line '%.*s'", got_len,
	         (int)(memchr(in, '\n', got_len) ? (char *)memchr(in, '\n', got_len) - (char *)in
	                                          : 0),
	         (char *)in);
	check(pattern,
	      "window opened to 1 GiB: the server saw our 64 KiB intact and its 200000 bytes "
	      "arrive intact",
	      why);
	/* Close: our FIN, synack's FIN (the server closes after EOF). */
	rc_send(una, rcv_nxt, F_ACK | F_FIN, 65535, NULL, 0, -1);
	bool fin = false;

	t0 = now_s();
	while (!fin && now_s() - t0 < 5 && rx_seg(&r, 1.0)) {
		if (r.flags & F_FIN) {
			fin = true;
			rc_send(una + 1, r.seq + r.len + 1, F_ACK, 65535, NULL, 0, -1);
		}
	}
	check(fin, "orderly close", "no FIN from synack");
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 5 || !parse_mac(argv[2], dst_mac)) {
		fprintf(stderr, "usage: tcpinject IFACE DST_MAC DST_IP MODE ARGS... (see the source)\n");
		return 2;
	}
	dst_ip = parse_ip(argv[3]);
	rng_state ^= (uint64_t)getpid() << 32 ^ (uint64_t)(now_s() * 1e9);
	open_iface(argv[1]);
	const char *mode = argv[4];
	int n = argc - 5;

	if (!strcmp(mode, "synflood") && n == 7)
		return synflood(argv + 5);
	if (!strcmp(mode, "blind") && n == 7)
		return blind(argv + 5);
	if (!strcmp(mode, "malformed") && n == 3)
		return malformed(argv + 5);
	if (!strcmp(mode, "rawconn") && n == 3)
		return rawconn(argv + 5);
	fprintf(stderr, "tcpinject: bad mode or arguments (see the source)\n");
	return 2;
}
