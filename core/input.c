/* Receive path of the link/IP layer: Ethernet demux, IPv4 checks, and the
 * hand-off to ARP, ICMP and TCP. Every byte is untrusted. */
#include <errno.h>
#include <string.h>

#include "arp_cache.h"
#include "icmp.h"
#include "stack_impl.h"

/* RFC 1122 §3.2.1.3: a host silently discards datagrams from a source
 * that cannot be a host (including our own address: a reflected frame or
 * a spoof). */
static bool source_ok(const struct sk_stack *st, uint32_t src)
{
	return src != st->cfg.addr && !sk_ipv4_is_martian(src);
}

/* loop: from our own output (loopback.c), whose source is our address. */
static void ipv4_input(struct sk_stack *st, const uint8_t *pkt, size_t len, unsigned rx_flags,
                       bool loop, sk_time_t now)
{
	struct sk_ipv4_repr ip;

	st->stats.ip_rx++;
	/* The header checksum is always ours to check: SK_RX_CSUM_TRUSTED
	 * speaks for the L4 checksum only. The parse accepts a total length
	 * up to 65535 in a frame longer than the MTU: a GSO super-frame from
	 * a veth peer is one valid IPv4 packet. */
	int err = sk_ipv4_parse(pkt, len, true, &ip);
	if (err == -EBADMSG) {
		st->stats.ip_drop_bad_csum++;
		return;
	}
	if (err == -EMSGSIZE) {
		st->stats.ip_drop_truncated++;
		return;
	}
	if (err < 0 || !(loop ? ip.src == st->cfg.addr : source_ok(st, ip.src))) {
		st->stats.ip_drop_bad_header++;
		return;
	}
	/* RFC 791 §3.2 asks hosts to reassemble; we do not yet, and a
	 * fragment is useless alone. Peers honour our DF and PMTU. */
	if (ip.mf || ip.frag_offset != 0) {
		st->stats.ip_drop_fragment++;
		return;
	}
	/* RFC 1122 §3.2.1.3: only datagrams for our address (we join no
	 * multicast group and answer no broadcast). */
	if (ip.dst != st->cfg.addr) {
		st->stats.ip_drop_not_ours++;
		return;
	}
	const uint8_t *payload = pkt + ip.hdr_len;
	bool trusted = (rx_flags & SK_RX_CSUM_TRUSTED) != 0;

	st->rx.ip_src = ip.src; /* sk_rx_sender_mac */
	switch (ip.proto) {
	case SK_IPPROTO_ICMP:
		sk_icmp_input(st, &ip, payload, ip.payload_len, trusted, now);
		break;
	case SK_IPPROTO_TCP:
		sk_tcp_input(st, &ip, payload, ip.payload_len, trusted, now);
		break;
	default:
		st->stats.ip_drop_proto++;
		break;
	}
}

void sk_input(struct sk_stack *st, const uint8_t *frame, size_t len, unsigned rx_flags,
              sk_time_t now)
{
	struct sk_eth_repr eth;

	st->stats.rx_frames++;
	st->stats.rx_bytes += len;
	if (sk_eth_parse(frame, len, &eth) < 0) {
		st->stats.rx_drop_short++;
		return;
	}
	/* A packet socket also sees frames for other hosts (promiscuous
	 * bridges, multicast): only ours and broadcast are for us. */
	if (memcmp(eth.dst, st->cfg.mac, SK_ETH_ALEN) != 0 &&
	    memcmp(eth.dst, sk_eth_broadcast, SK_ETH_ALEN) != 0) {
		st->stats.rx_drop_not_ours++;
		return;
	}
	const uint8_t *payload = frame + SK_ETH_HLEN;
	size_t plen = len - SK_ETH_HLEN;
	switch (eth.ethertype) {
	case SK_ETHERTYPE_ARP:
		sk_arp_input(st, payload, plen, now);
		break;
	case SK_ETHERTYPE_IPV4:
		st->rx.mac = eth.src;
		st->rx.ip_src = 0;
		ipv4_input(st, payload, plen, rx_flags, false, now);
		st->rx.mac = NULL;
		break;
	default:
		st->stats.rx_drop_ethertype++;
		break;
	}
}

void sk_ip_loop_input(struct sk_stack *st, const uint8_t *pkt, size_t len, sk_time_t now)
{
	ipv4_input(st, pkt, len, SK_RX_CSUM_TRUSTED, true, now);
}
