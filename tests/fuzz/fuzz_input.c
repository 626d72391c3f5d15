/* libFuzzer harness: the whole frame input path (sk_input) of a stack that
 * holds live connections in several states (world.h), timers run between
 * frames, the clock advanced by the input.
 *
 * The input is a sequence of records; each starts with an op byte whose
 * high nibble advances the clock by that many 100 µs (timers run) and whose
 * low nibble says what follows. Most records are segment TEMPLATES relative
 * to a live connection's sequence numbers, so the fuzzer reaches the deep
 * code (SACK scoreboard, loss recovery, reassembly, autotuning, ICMP
 * errors) instead of dying on the 4-tuple, sequence and checksum checks.
 * Payloads carry each stream's bytes at their sequence numbers (world.h),
 * and what the application reads is checked against them.
 *
 *   op 0        raw Ethernet frame: len u16, bytes; then an rx-flags byte
 *   op 1        raw IPv4 packet from the peer (Ethernet added): len u16, bytes, rx-flags
 *   op 2-4, 10-15  TCP template: conn u8, flags u8, seq_off s16 (from the peer's next
 *               sequence number, our RCV.NXT), ack_off s16 (from our SND.UNA), window
 *               u16, opt u8 (bit 0 flips the timestamp option, 1 MSS (u16 follows),
 *               2 window scale (u8), 3 SACK-permitted, 4-6 number of SACK blocks, each
 *               left_off u16 from SND.UNA and len u16, 7 bad checksum), if timestamps
 *               ts_delta s8 and ecr_back u8 (ms), payload length u16 (<= 1460, or a
 *               GSO super-frame of up to 32 KiB when bit 15 is set). To the listener,
 *               the source port is 1100 + seq_off's low byte and seq/ack are absolute.
 *   op 5        ICMP destination unreachable quoting a segment of a connection: conn u8,
 *               code u8, next-hop MTU u16, seq_off s16 from SND.UNA, extra quoted bytes u8
 *   op 6        other ICMP: type u8, code u8, len u8, bytes
 *   op 7        a long wait: u16 milliseconds
 *   op 8        the application: conn u8, call u8, arg u16 (recv, send, send MSG_MORE,
 *               shutdown, close, setopt (then a value s16), accept, reconnect,
 *               poll/info/error, a connect to a host that never answers ARP)
 *   op 9        ARP from the peer or a stranger: op u8, who u8
 *
 * Byte streams shorter than a record read zeros. tests/fuzz/gen_corpus.py
 * writes the seed corpus in this format.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/arp.h"
#include "../../core/byteorder.h"
#include "../../core/checksum.h"
#include "../../core/ethernet.h"
#include "../../core/ipv4.h"
#include "../../core/seq.h"
#include "../../core/tcp.h"
#include "world.h"

#define MAX_RECORDS 512
#define GSO_MAX     32768

struct cursor {
	const uint8_t *p;
	size_t left;
};

static uint8_t u8(struct cursor *c)
{
	if (!c->left)
		return 0;
	c->left--;
	return *c->p++;
}

static uint16_t u16(struct cursor *c)
{
	uint16_t hi = u8(c);

	return (uint16_t)(hi << 8 | u8(c));
}

/* Up to n bytes of the input (fewer at its end). */
static const uint8_t *take(struct cursor *c, size_t *n)
{
	const uint8_t *p = c->p;

	if (*n > c->left)
		*n = c->left;
	c->p += *n;
	c->left -= *n;
	return p;
}

static uint8_t payload[65536]; /* GSO_MAX of a segment, any sk_send length (u16) */
static uint8_t pkt[2048];

static void op_tcp(struct world *w, struct cursor *c)
{
	int ci = u8(c) % W_NCONN;
	uint8_t flags = u8(c);
	int16_t seq_off = (int16_t)u16(c), ack_off = (int16_t)u16(c);
	uint16_t window = u16(c);
	uint8_t opt = u8(c);

	w_sync(w, ci);
	struct w_conn *conn = &w->c[ci];
	struct sk_tcp_repr r = w_seg(w, ci);

	r.flags = flags;
	r.window = window;
	if (ci == W_C_LISTEN) {
		r.src_port = (uint16_t)(1100 + (uint8_t)seq_off);
		r.seq = (uint32_t)seq_off * 2654435761u;
		r.ack = (uint32_t)ack_off * 40503u;
	} else {
		r.seq = conn->peer_seq + (uint32_t)(int32_t)seq_off;
		r.ack = conn->snd_una + (uint32_t)(int32_t)ack_off;
	}
	if (opt & 0x01)
		r.has_timestamp = !r.has_timestamp;
	if (opt & 0x02)
		r.mss = u16(c);
	if (opt & 0x04)
		r.wscale = (int8_t)(u8(c) & 0x0f);
	r.sack_permitted = opt & 0x08;
	r.sack_count = (opt >> 4) & 0x07;
	if (r.sack_count > SK_TCP_MAX_SACK)
		r.sack_count = SK_TCP_MAX_SACK;
	for (int i = 0; i < r.sack_count; i++) {
		uint32_t left = conn->snd_una + u16(c);

		r.sack[i].left = left;
		r.sack[i].right = left + u16(c);
	}
	if (r.has_timestamp) {
		/* TSval: the peer's clock plus a few ms either way, or (0x70..0x7f,
		 * 0xf0..0xff) a jump of 2^24 ms multiples (PAWS, RFC 7323 §5);
		 * TSecr: our clock that many ms ago (RTT samples). */
		uint8_t d = u8(c), back = u8(c);
		int32_t delta = (int8_t)d;

		if ((d & 0x7f) >= 0x70)
			delta *= 0x01000000;
		r.ts_val += (uint32_t)delta;
		r.ts_ecr -= back;
		if (!r.ts_ecr)
			r.ts_ecr = 1;
	}
	uint16_t plen = u16(c);
	r.payload_len = plen & 0x8000 ? (plen & 0x7fff) : plen % 1461;
	/* A SYN takes the first sequence number: data with it starts after. */
	w_fill(payload, r.seq + (r.flags & SK_TCP_SYN ? 1u : 0u), r.payload_len, false);
	r.payload = payload;
	w_send_tcp(w, &r, opt & 0x80);
}

static void op_icmp_error(struct world *w, struct cursor *c)
{
	int ci = u8(c) % W_NCONN;
	uint8_t code = u8(c);
	uint16_t mtu = u16(c);
	int16_t seq_off = (int16_t)u16(c);
	size_t extra = u8(c) % 64;

	w_sync(w, ci);
	struct w_conn *conn = &w->c[ci];
	/* IPv4 header, ICMP header, quoted IPv4 header, quoted TCP bytes. */
	size_t icmp_len = 8 + 20 + 8 + extra;
	uint8_t *icmp = pkt + SK_IPV4_HLEN;

	memset(icmp, 0, icmp_len);
	icmp[0] = 3;
	icmp[1] = code % 16;
	sk_wr16(icmp + 6, mtu);
	struct sk_ipv4_repr q = {.src = W_OUR_IP,
	                         .dst = W_PEER_IP,
	                         .proto = SK_IPPROTO_TCP,
	                         .ttl = 64,
	                         .df = true,
	                         .payload_len = (uint16_t)(SK_TCP_HLEN + 1000)};
	sk_ipv4_emit(&q, icmp + 8);
	uint8_t *th = icmp + 28;
	sk_wr16(th, conn->lport);
	sk_wr16(th + 2, conn->rport);
	sk_wr32(th + 4, conn->snd_una + (uint32_t)(int32_t)seq_off);
	for (size_t i = 8; i < 8 + extra; i++)
		th[i] = (uint8_t)i;
	sk_wr16(icmp + 2, sk_csum_finish(sk_csum_add(0, icmp, icmp_len)));
	struct sk_ipv4_repr ip = {.src = W_PEER_IP,
	                          .dst = W_OUR_IP,
	                          .proto = SK_IPPROTO_ICMP,
	                          .ttl = 64,
	                          .payload_len = (uint16_t)icmp_len};
	sk_ipv4_emit(&ip, pkt);
	w_input_ip(w, pkt, SK_IPV4_HLEN + icmp_len, 0);
}

static void op_icmp_other(struct world *w, struct cursor *c)
{
	uint8_t type = u8(c), code = u8(c);
	size_t n = u8(c);
	const uint8_t *body = take(c, &n);
	uint8_t *icmp = pkt + SK_IPV4_HLEN;

	memset(icmp, 0, 8);
	icmp[0] = type;
	icmp[1] = code;
	memcpy(icmp + 4, body, n);
	sk_wr16(icmp + 2, sk_csum_finish(sk_csum_add(0, icmp, 4 + n)));
	struct sk_ipv4_repr ip = {.src = W_PEER_IP,
	                          .dst = W_OUR_IP,
	                          .proto = SK_IPPROTO_ICMP,
	                          .ttl = 64,
	                          .payload_len = (uint16_t)(4 + n)};
	sk_ipv4_emit(&ip, pkt);
	w_input_ip(w, pkt, SK_IPV4_HLEN + 4 + n, 0);
}

static void op_arp(struct world *w, struct cursor *c)
{
	uint8_t op = u8(c), who = u8(c);
	uint8_t frame[SK_ETH_HLEN + SK_ARP_LEN];
	static const uint32_t spas[4] = {W_PEER_IP, 0x0a4d0003u, W_OUR_IP, 0};
	struct sk_arp_repr arp = {.op = (uint16_t)(op % 3), .spa = spas[who % 4], .tpa = W_OUR_IP};
	struct sk_eth_repr eth = {.ethertype = SK_ETHERTYPE_ARP};

	memcpy(eth.dst, sk_eth_broadcast, 6);
	eth.src[0] = 0x02;
	eth.src[5] = (uint8_t)(2 + (who >> 2) % 4);
	memcpy(arp.sha, eth.src, 6);
	if (who & 0x80)
		arp.tpa = 0x0a4d0009u;
	sk_eth_emit(&eth, frame);
	sk_arp_emit(&arp, frame + SK_ETH_HLEN);
	w_input(w, frame, sizeof(frame), 0);
}

static int trace = -1; /* FUZZ_TRACE set */
static uint8_t app_buf[65536];

static void op_app(struct world *w, struct cursor *c)
{
	int ci = u8(c) % W_NCONN;
	uint8_t call = u8(c);
	uint16_t arg = u16(c);
	struct w_conn *conn = &w->c[ci];
	struct sk_stack *st = w->st;
	int s = conn->sock;

	if (trace)
		fprintf(stderr, "app: conn %d socket %d call %d arg %u\n", ci, s, call % 10, arg);
	switch (call % 10) {
	case 0:
		if (s >= 0) {
			uint32_t seq = w_read_seq(w, s);
			ssize_t n = sk_recv(st, s, app_buf, arg, call & 0x80 ? SK_MSG_PEEK : 0, w->now);

			if (n > 0)
				w_check_read(seq, app_buf, (size_t)n);
		}
		break;
	case 1:
	case 2:
		if (s >= 0) {
			w_fill(payload, w_send_seq(w, s), arg, true);
			sk_sendmsg(st, s, payload, arg, call % 9 == 2 ? SK_MSG_MORE : 0, w->now);
		}
		break;
	case 3:
		if (s >= 0)
			sk_shutdown(st, s, arg % 3, w->now);
		break;
	case 4:
		if (s >= 0 && ci != W_C_LISTEN) {
			sk_close(st, s, w->now);
			conn->sock = -1;
		}
		break;
	case 5: {
		/* arg: the option (low 4 bits), bit 4 multiplies the value (an
		 * s16 that follows) by 64, for buffer sizes. */
		int value = (int16_t)u16(c) * (arg & 0x10 ? 64 : 1);

		if (s >= 0)
			sk_setopt(st, s, (enum sk_opt)(arg % SK_OPT__COUNT), value);
		break;
	}
	case 6: {
		struct sk_endpoint peer;
		int a = sk_accept(st, w->c[W_C_LISTEN].sock, &peer);

		/* An accepted child replaces a passive slot's socket when that
		 * one was closed; else it is closed again at once. */
		if (a >= 0) {
			if (ci != W_C_LISTEN && conn->sock < 0 && conn->lport == 80 &&
			    conn->rport == peer.port)
				conn->sock = a;
			else
				sk_close(st, a, w->now);
		}
		break;
	}
	case 7:
		/* A new active open on this connection's 4-tuple once the
		 * application let go of the old one (TIME_WAIT reuse, RFC
		 * 6191), with SO_REUSEADDR. */
		if (s < 0 && ci != W_C_LISTEN && conn->lport != 80) {
			int n = sk_socket(st);

			if (n < 0)
				break;
			sk_setopt(st, n, SK_OPT_REUSEADDR, 1);
			if (sk_bind(st, n, 0, conn->lport) != 0) {
				sk_close(st, n, w->now);
				break;
			}
			sk_connect(st, n, W_PEER_IP, conn->rport, w->now);
			conn->sock = n;
		}
		break;
	case 8:
		if (s >= 0) {
			struct sk_tcp_info info;
			struct sk_endpoint ep;
			int v;

			sk_poll(st, s);
			sk_take_error(st, s);
			sk_get_info(st, s, &info);
			sk_getopt(st, s, (enum sk_opt)(arg % SK_OPT__COUNT), &v);
			sk_getsockname(st, s, &ep);
			sk_getpeername(st, s, &ep);
			sk_rx_queued(st, s);
			sk_tx_queued(st, s);
			sk_connect(st, s, W_PEER_IP, conn->rport, w->now);
		}
		sk_quiescent(st);
		break;
	case 9: {
		/* An active open to a host that never answers ARP: on the link,
		 * or behind the gateway (which never answers either), or off
		 * every route when the arg says so. ARP gives up, and the
		 * SYN_SENT connection with it (sk_tcp_neighbour_unreachable). */
		static const uint32_t dst[4] = {0x0a4d0003u, 0xc0000201u, 0x0a4d00feu, 0x0a4d0002u};
		int n = sk_socket(st);

		if (n >= 0 && sk_connect(st, n, dst[arg % 4], (uint16_t)(7000 + (arg >> 2) % 64),
		                         w->now) != -EINPROGRESS)
			sk_close(st, n, w->now);
		break;
	}
	}
}

/* What must hold of every connection after every record. */
static void check_invariants(struct world *w)
{
	struct sk_tcp *tcp = sk_tcp_of(w->st);

	for (uint32_t i = 0; i < tcp->nslots; i++) {
		const struct tcb *t = &tcp_tcbs(tcp)[i];

		if (!t->in_use || t->state == SK_TCP_LISTEN || t->state == SK_TCP_CLOSED)
			continue;
		if (!seq_leq(t->snd_una, t->snd_nxt) || !seq_leq(t->snd_nxt, t->snd_max)) {
			fprintf(stderr, "fuzz: socket %u in %s: SND.UNA %u SND.NXT %u SND.MAX %u\n",
			        i, sk_tcp_state_name(t->state), t->snd_una, t->snd_nxt, t->snd_max);
			abort();
		}
		if (sk_ringbuf_len(&t->rcv) > t->rcv.cap || sk_ringbuf_len(&t->snd) > t->snd.cap) {
			fprintf(stderr, "fuzz: socket %u: a ring holds more than its capacity\n", i);
			abort();
		}
		/* No segment size below the floor the MSS option gets (TCP_MIN_MSS,
		 * Linux tcp_min_snd_mss), whatever lowered it. */
		if (tcp_state_synchronized(t->state) &&
		    t->snd_mss + tcp_opts_space(t) < TCP_MIN_MSS) {
			fprintf(stderr, "fuzz: socket %u in %s: send MSS %u (+%zu of options) below %d\n",
			        i, sk_tcp_state_name(t->state), t->snd_mss, tcp_opts_space(t),
			        TCP_MIN_MSS);
			abort();
		}
		/* The SACK scoreboard: sorted, disjoint intervals of what we sent. */
		for (unsigned k = 0; k < t->sb.n; k++) {
			const struct sk_tcp_sack_block *b = &t->sb.blk[k];

			if (!seq_lt(b->left, b->right) || seq_gt(b->right, t->snd_max) ||
			    (k + 1 < t->sb.n && !seq_lt(b->right, t->sb.blk[k + 1].left))) {
				fprintf(stderr, "fuzz: socket %u: scoreboard block %u [%u, %u) of %u, SND.MAX %u\n",
				        i, k, b->left, b->right, t->sb.n, t->snd_max);
				abort();
			}
		}
		/* Out-of-order data: sorted, disjoint intervals above RCV.NXT
		 * whose bytes lie inside the receive ring. */
		for (unsigned k = 0; k < t->reass.n; k++) {
			uint32_t l = t->reass.iv[k].left, r = t->reass.iv[k].right;

			if (!seq_gt(l, t->rcv_nxt) || !seq_lt(l, r) ||
			    (size_t)(r - t->rcv_nxt) + sk_ringbuf_len(&t->rcv) > t->rcv.cap ||
			    (k + 1 < t->reass.n && !seq_lt(r, t->reass.iv[k + 1].left))) {
				fprintf(stderr, "fuzz: socket %u: reassembly interval %u [%u, %u) of %u, RCV.NXT %u, ring %zu/%zu\n",
				        i, k, l, r, t->reass.n, t->rcv_nxt, sk_ringbuf_len(&t->rcv), t->rcv.cap);
				abort();
			}
		}
	}
}

/* FUZZ_TRACE=1: one line per record, the connections' states and
 * sequence numbers after it (to see what a seed or a finding does). */
static void print_record(struct world *w, int rec, uint8_t op)
{
	fprintf(stderr, "  after %d (op %u) t=%lld ms:", rec, op & 0x0f, (long long)(w->now / 1000));
	for (int i = 0; i < W_NCONN; i++) {
		enum sk_tcp_state s = w_sync(w, i);

		fprintf(stderr, " %s", sk_tcp_state_name(s));
		if (s == SK_TCP_CLOSED || i == W_C_LISTEN)
			continue;
		const struct tcb *t = tcp_conn_lookup(w->st, W_OUR_IP, w->c[i].lport, W_PEER_IP,
		                                      w->c[i].rport);
		fprintf(stderr, "(una+%u nxt %u rq %zu%s", t->snd_max - t->snd_una, t->rcv_nxt,
		        sk_ringbuf_len(&t->rcv), t->fin_rcvd ? " fin" : "");
		if (t->reass.fin)
			fprintf(stderr, " ooo-fin %+d", (int)(t->reass.fin_seq - t->rcv_nxt));
		for (unsigned k = 0; k < t->reass.n; k++)
			fprintf(stderr, " [%u,%u)", t->reass.iv[k].left - t->rcv_nxt,
			        t->reass.iv[k].right - t->rcv_nxt);
		fprintf(stderr, ")");
	}
	fprintf(stderr, " tx %llu\n", (unsigned long long)w->tx_frames);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cursor c = {data, size};

	if (trace < 0)
		trace = getenv("FUZZ_TRACE") != NULL;
	struct world *w = w_new();

	for (int rec = 0; rec < MAX_RECORDS && c.left; rec++) {
		uint8_t op = u8(&c);

		if (trace)
			fprintf(stderr, "record %d: op %u, %zu input bytes left\n", rec, op & 0x0f, c.left);

		w_advance(w, (sk_time_t)(op >> 4) * 100);
		switch (op & 0x0f) {
		case 0:
		case 1: {
			size_t n = u16(&c) % 2048;
			const uint8_t *b = take(&c, &n);
			unsigned rx = u8(&c) & SK_RX_CSUM_TRUSTED;

			if ((op & 0x0f) == 0)
				w_input(w, b, n, rx);
			else
				w_input_ip(w, b, n, rx);
			break;
		}
		case 5:
			op_icmp_error(w, &c);
			break;
		case 6:
			op_icmp_other(w, &c);
			break;
		case 7:
			w_advance(w, SK_MS(u16(&c)));
			break;
		case 8:
			op_app(w, &c);
			break;
		case 9:
			op_arp(w, &c);
			break;
		default:
			op_tcp(w, &c);
			break;
		}
		check_invariants(w);
		if (trace)
			print_record(w, rec, op);
	}
	w_free(w);
	return 0;
}
