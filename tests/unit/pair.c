/* Two synack stacks over the in-memory link: see pair.h. */
#include "pair.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/arp.h"
#include "../../core/ethernet.h"
#include "../../core/ipv4.h"

static void on_state(void *ctx, const struct sk_state_change *ev)
{
	struct pair_end *e = ctx;

	cr_assert_lt(e->nev, PAIR_MAX_EV, "%s: too many state changes", e->name);
	e->ev[e->nev++] = *ev;
}

static void on_log(void *ctx, enum sk_log_level level, const char *msg)
{
	const struct pair_end *e = ctx;

	if (level <= SK_LOG_WARN)
		cr_log_info("stack %s log %d: %s", e->name, level, msg);
}

static void end_up(struct pair *p, struct pair_end *e, int end, const struct pair_opts *o)
{
	struct sk_config cfg;

	e->hooks = (struct sk_hooks){.ctx = e, .state_change = o->no_events ? NULL : on_state};
	if (o->log_warnings)
		e->hooks.log = on_log;
	e->name = end ? "B" : "A";
	e->pair = p;
	e->addr = end ? PAIR_B_IP : PAIR_A_IP;
	e->dev = memlink_end(p->link, end);
	cr_assert_not_null(e->dev);
	if (o->impair) {
		struct netdev_impair_cfg c;
		char err[256];

		cr_assert_eq(netdev_impair_parse(o->impair, &c, err, sizeof(err)), 0, "%s", err);
		c.seed += (uint64_t)end; /* the two directions impaired differently */
		e->dev = netdev_impair_wrap(e->dev, &c);
		cr_assert_not_null(e->dev);
	}
	sk_config_defaults(&cfg);
	memcpy(cfg.mac, e->dev->mac, 6);
	cfg.addr = e->addr;
	cfg.prefix_len = 24;
	cfg.mtu = (uint16_t)e->dev->mtu;
	if (o->msl_ms)
		cfg.msl_ms = o->msl_ms;
	cfg.rng_seed = (uint64_t)end + 1;
	memset(cfg.isn_key, end + 1, sizeof(cfg.isn_key));
	if (o->cfg_tweak)
		o->cfg_tweak(&cfg, end);
	if (end == 0 && o->mem_a)
		e->st = sk_stack_new_in(&cfg, &netdev_link_ops, e->dev, &e->hooks, o->mem_a);
	else
		e->st = sk_stack_new(&cfg, &netdev_link_ops, e->dev, &e->hooks);
	cr_assert_not_null(e->st);
}

void pair_rebind(struct pair_end *e, struct sk_stack *st, const struct sk_mem_ops *mem,
                 uint32_t owner)
{
	e->st = st;
	sk_stack_bind(st, &netdev_link_ops, e->dev, &e->hooks, mem, owner);
}

struct pair *pair_new(const struct pair_opts *opts)
{
	static const struct pair_opts defaults;
	const struct pair_opts *o = opts ? opts : &defaults;
	struct pair *p = calloc(1, sizeof(*p));

	cr_assert_not_null(p);
	p->link = memlink_new(o->mtu ? o->mtu : 1500, o->queue_frames ? o->queue_frames : 512);
	cr_assert_not_null(p->link);
	p->now = SK_SEC(1);
	end_up(p, &p->a, 0, o);
	end_up(p, &p->b, 1, o);
	if (o->introduce) {
		pair_introduce(p, &p->a, &p->b);
		pair_introduce(p, &p->b, &p->a);
		pair_pump(p);
	}
	return p;
}

void pair_free(struct pair *p)
{
	if (!p)
		return;
	sk_stack_free(p->a.st);
	sk_stack_free(p->b.st);
	netdev_close(p->a.dev); /* a memlink end ignores it; a wrapper is freed */
	netdev_close(p->b.dev);
	memlink_free(p->link);
	free(p);
}

struct pair_end *pair_peer(struct pair *p, const struct pair_end *e)
{
	return e == &p->a ? &p->b : &p->a;
}

void pair_introduce(struct pair *p, struct pair_end *from, struct pair_end *to)
{
	uint8_t frame[SK_ETH_HLEN + SK_ARP_LEN];
	struct sk_eth_repr eth = {.ethertype = SK_ETHERTYPE_ARP};
	struct sk_arp_repr arp = {.op = SK_ARP_REQUEST, .spa = from->addr, .tpa = to->addr};

	memcpy(eth.dst, sk_eth_broadcast, 6);
	memcpy(eth.src, from->dev->mac, 6);
	memcpy(arp.sha, from->dev->mac, 6);
	sk_eth_emit(&eth, frame);
	sk_arp_emit(&arp, frame + SK_ETH_HLEN);
	sk_input(to->st, frame, sizeof(frame), 0, p->now);
}

int pair_deliver(struct pair *p, struct pair_end *to)
{
	struct netdev_frame fr[64];
	int total = 0, n;

	while ((n = netdev_recv_batch(to->dev, fr, 64, p->now)) > 0) {
		for (int i = 0; i < n; i++) {
			if (p->filter && !p->filter(p->filter_ctx, to, fr[i].data, fr[i].len))
				continue;
			sk_input(to->st, fr[i].data, fr[i].len, fr[i].flags, p->now);
		}
		total += n;
	}
	cr_assert_geq(n, 0, "%s: netdev_recv_batch: %d", to->name, n);
	return total;
}

void pair_pump(struct pair *p)
{
	while (pair_deliver(p, &p->a) + pair_deliver(p, &p->b) > 0)
		;
}

sk_time_t pair_next_event(const struct pair *p)
{
	sk_time_t t = sk_next_deadline(p->a.st), u = sk_next_deadline(p->b.st);

	if (u < t)
		t = u;
	u = netdev_next_rx_time(p->a.dev);
	if (u < t)
		t = u;
	u = netdev_next_rx_time(p->b.dev);
	return u < t ? u : t;
}

static void run_timers(struct pair *p)
{
	sk_run_timers(p->a.st, p->now);
	sk_run_timers(p->b.st, p->now);
}

void pair_run_for(struct pair *p, sk_time_t dt)
{
	sk_time_t end = p->now + dt;

	pair_pump(p);
	for (;;) {
		sk_time_t d = pair_next_event(p);

		if (d == SK_TIME_NEVER || d > end)
			break;
		if (d > p->now)
			p->now = d;
		run_timers(p);
		pair_pump(p);
	}
	p->now = end;
	run_timers(p);
	pair_pump(p);
}

static const char *status_of(struct pair *p, const struct pair_app *app, char *buf, size_t len)
{
	buf[0] = '\0';
	if (app->status)
		app->status(p, app->ctx, buf, len);
	return buf;
}

void pair_run(struct pair *p, const struct pair_app *app, sk_time_t limit)
{
	char why[512];

	while (!app->done(p, app->ctx)) {
		bool busy = false;

		busy |= pair_deliver(p, &p->a) > 0;
		busy |= pair_deliver(p, &p->b) > 0;
		if (sk_next_deadline(p->a.st) <= p->now)
			sk_run_timers(p->a.st, p->now);
		if (sk_next_deadline(p->b.st) <= p->now)
			sk_run_timers(p->b.st, p->now);
		busy |= app->step(p, app->ctx);
		if (busy) {
			p->now += PAIR_ROUND_US;
		} else if (!app->done(p, app->ctx)) {
			sk_time_t t = pair_next_event(p);

			cr_assert_neq(t, SK_TIME_NEVER, "stuck at %llu µs: %s",
			              (unsigned long long)p->now,
			              status_of(p, app, why, sizeof(why)));
			p->now = t > p->now ? t : p->now + 1;
		}
		cr_assert_lt(p->now, limit, "fake time limit reached: %s",
		             status_of(p, app, why, sizeof(why)));
	}
}

int pair_bound_socket(struct pair_end *e, uint16_t port)
{
	int sock = sk_socket(e->st);

	cr_assert_geq(sock, 0, "%s: sk_socket: %d", e->name, sock);
	cr_assert_eq(sk_bind(e->st, sock, e->addr, port), 0, "%s: sk_bind", e->name);
	return sock;
}

void pair_establish(struct pair *p, uint16_t a_port, uint16_t b_port, int *a, int *b)
{
	int l = pair_bound_socket(&p->b, b_port);

	cr_assert_eq(sk_listen(p->b.st, l, 4, p->now), 0);
	if (a_port) {
		*a = pair_bound_socket(&p->a, a_port);
	} else {
		*a = sk_socket(p->a.st);
		cr_assert_geq(*a, 0);
	}
	cr_assert_eq(sk_connect(p->a.st, *a, PAIR_B_IP, b_port, p->now), -EINPROGRESS);
	pair_run_for(p, SK_MS(1));
	*b = sk_accept(p->b.st, l, NULL);
	cr_assert_geq(*b, 0, "B: sk_accept: %d", *b);
	sk_close(p->b.st, l, p->now);
	cr_assert_eq(sk_sock_state(p->a.st, *a), SK_TCP_ESTABLISHED);
	cr_assert_eq(sk_sock_state(p->b.st, *b), SK_TCP_ESTABLISHED);
}

void pair_abort(struct pair *p, struct pair_end *e, int sock)
{
	cr_assert_eq(sk_setopt(e->st, sock, SK_OPT_LINGER_ABORT, 1), 0);
	sk_close(e->st, sock, p->now);
	pair_run_for(p, SK_MS(1));
}

enum sk_tcp_state pair_last_state(const struct pair_end *e)
{
	return e->nev ? e->ev[e->nev - 1].to : SK_TCP_CLOSED;
}

bool pair_entered(const struct pair_end *e, enum sk_tcp_state s)
{
	for (size_t i = 0; i < e->nev; i++)
		if (e->ev[i].to == s)
			return true;
	return false;
}

void pair_assert_states(const struct pair_end *e, int sock, size_t from, const char *want)
{
	char got[512];
	size_t used = 0;
	bool first = true;

	got[0] = '\0';
	for (size_t i = from; i < e->nev; i++) {
		if (e->ev[i].sock != sock)
			continue;
		if (first) {
			used += (size_t)snprintf(got + used, sizeof(got) - used, "%s",
			                         sk_tcp_state_name(e->ev[i].from));
			first = false;
		}
		used += (size_t)snprintf(got + used, sizeof(got) - used, ">%s",
		                         sk_tcp_state_name(e->ev[i].to));
		cr_assert_lt(used, sizeof(got));
	}
	cr_assert_str_eq(got, want, "%s: states %s, want %s", e->name, got, want);
}

bool pair_frame_tcp(const uint8_t *frame, size_t len, struct sk_tcp_repr *out)
{
	struct sk_eth_repr eth;
	struct sk_ipv4_repr ip;

	if (sk_eth_parse(frame, len, &eth) != 0 || eth.ethertype != SK_ETHERTYPE_IPV4)
		return false;
	const uint8_t *p = frame + SK_ETH_HLEN;
	if (sk_ipv4_parse(p, len - SK_ETH_HLEN, true, &ip) != 0 || ip.proto != 6)
		return false;
	p += ip.hdr_len;
	cr_assert(sk_tcp_checksum_ok(p, ip.payload_len, ip.src, ip.dst),
	          "bad TCP checksum on the link");
	cr_assert_eq(sk_tcp_parse(p, ip.payload_len, out), 0);
	return true;
}
