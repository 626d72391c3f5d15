/* A stack in memory that processes map at different addresses
 * (docs/architecture.md, "The stack's memory"): stack A lives in a memfd
 * mapped twice, built with sk_stack_new_in over shim/shared/heap.c. Half of
 * a transfer runs through the first mapping; the first mapping is then
 * unmapped (any absolute pointer left into it faults) and the same stack,
 * through the second mapping and sk_stack_bind, finishes the transfer and
 * the close. Also the allocator alone, and a region that runs full. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pair.h"
#include "heap.h"

#define REGION   (64u << 20)
#define TRANSFER (4u << 20)

struct region {
	int fd;
	uint8_t *m1, *m2;
};

static struct region region_new(size_t size)
{
	struct region r = {.fd = memfd_create("synack-test-stack", 0)};

	cr_assert_geq(r.fd, 0, "memfd_create: %s", strerror(errno));
	cr_assert_eq(ftruncate(r.fd, (off_t)size), 0);
	r.m1 = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
	r.m2 = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
	cr_assert_neq(r.m1, MAP_FAILED);
	cr_assert_neq(r.m2, MAP_FAILED);
	cr_assert_neq(r.m1, r.m2);
	return r;
}

/* ---- the allocator ---- */

Test(stack_shared, heap_allocates_inside_reuses_and_refuses)
{
	static uint8_t block[1 << 16] __attribute__((aligned(64)));
	size_t used, free_bytes;

	cr_assert_eq(shm_heap_init(block, sizeof(block), 100), 0);
	uint8_t *res = shm_heap_reserved(block);
	cr_assert(res > block && res + 100 <= block + sizeof(block));

	uint8_t *a = shm_heap_alloc(block, 100), *b = shm_heap_alloc(block, 3000);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert(a >= res + 100 && a + 100 <= block + sizeof(block), "inside, after the reserve");
	cr_assert(b + 3000 <= block + sizeof(block));
	cr_assert_eq((uintptr_t)a % SHM_HEAP_ALIGN, 0);
	cr_assert_eq((uintptr_t)b % SHM_HEAP_ALIGN, 0);
	memset(a, 0xaa, 100);
	shm_heap_free(block, a, 100);
	uint8_t *c = shm_heap_alloc(block, 120);
	cr_assert_eq(c, a, "a freed block of the same class comes back");
	for (int i = 0; i < 120; i++)
		cr_assert_eq(c[i], 0, "zero-filled");

	/* realloc within a class stays put; across classes it moves the bytes. */
	memset(c, 7, 120);
	cr_assert_eq(shm_heap_realloc(block, c, 120, 128), c);
	uint8_t *d = shm_heap_realloc(block, c, 128, 1000);
	cr_assert_not_null(d);
	cr_assert_neq(d, c);
	cr_assert_eq(d[0], 7);
	cr_assert_eq(d[119], 7);

	/* Exhaustion: NULL, never memory outside. */
	uint8_t *last = NULL, *p;
	while ((p = shm_heap_alloc(block, 1024)))
		last = p;
	cr_assert_not_null(last);
	cr_assert(last + 1024 <= block + sizeof(block));
	cr_assert_null(shm_heap_alloc(block, 1 << 20));
	shm_heap_stats(block, &used, &free_bytes);
	cr_assert_lt(free_bytes, 1024);
	cr_assert_gt(used, 0);

	/* A damaged free list link is not followed out of the block. */
	shm_heap_free(block, last, 1024);
	uint64_t bogus = (uint64_t)1 << 40;
	memcpy(last, &bogus, sizeof(bogus));
	cr_assert_eq(shm_heap_alloc(block, 1024), last);
	cr_assert_null(shm_heap_alloc(block, 1024), "the bogus link was dropped");
	/* Nor is a pointer that is none of its blocks freed. */
	uint8_t outside[64];
	shm_heap_free(block, outside, sizeof(outside));
	shm_heap_free(block, block + 8, 64);
}

/* ---- the transfer through two mappings ---- */

static uint8_t pattern(size_t i, uint8_t seed)
{
	return (uint8_t)(((i * 2654435761u) >> 13) ^ (i >> 9) ^ seed);
}

struct flow {
	size_t sent, recvd;
	uint8_t seed;
};

struct xfer {
	int a, b;
	struct flow ab, ba; /* A to B, B to A */
	size_t upto;        /* each direction stops at this offset */
};

static bool pump_flow(struct sk_stack *tx, int ts, struct sk_stack *rx, int rs, struct flow *f,
                      size_t upto, sk_time_t now)
{
	uint8_t buf[16384];
	bool busy = false;

	while (f->sent < upto) {
		size_t n = upto - f->sent < sizeof(buf) ? upto - f->sent : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(f->sent + i, f->seed);
		ssize_t k = sk_send(tx, ts, buf, n, now);
		if (k == -EAGAIN)
			break;
		cr_assert_gt(k, 0, "sk_send: %zd", k);
		f->sent += (size_t)k;
		busy = true;
	}
	for (;;) {
		ssize_t k = sk_recv(rx, rs, buf, sizeof(buf), 0, now);
		if (k == -EAGAIN)
			break;
		cr_assert_gt(k, 0, "sk_recv: %zd", k);
		for (ssize_t i = 0; i < k; i++)
			cr_assert_eq(buf[i], pattern(f->recvd + (size_t)i, f->seed),
			             "byte %zu differs", f->recvd + (size_t)i);
		f->recvd += (size_t)k;
		busy = true;
	}
	return busy;
}

static bool xfer_step(struct pair *p, void *ctx)
{
	struct xfer *x = ctx;
	bool busy = pump_flow(p->a.st, x->a, p->b.st, x->b, &x->ab, x->upto, p->now);

	return pump_flow(p->b.st, x->b, p->a.st, x->a, &x->ba, x->upto, p->now) || busy;
}

static bool xfer_done(struct pair *p, void *ctx)
{
	const struct xfer *x = ctx;

	(void)p;
	return x->ab.recvd == x->upto && x->ba.recvd == x->upto;
}

static void xfer_run(struct pair *p, struct xfer *x, size_t upto)
{
	x->upto = upto;
	pair_run(p, &(struct pair_app){.step = xfer_step, .done = xfer_done, .ctx = x},
	         p->now + SK_SEC(60));
}

static bool inside(const void *p, const uint8_t *base, size_t size)
{
	return (const uint8_t *)p >= base && (const uint8_t *)p < base + size;
}

Test(stack_shared, one_stack_through_two_mappings)
{
	struct region r = region_new(REGION);
	cr_assert_eq(shm_heap_init(r.m1, REGION, 4096), 0);
	struct sk_mem_ops mem1 = shm_heap_mem_ops(r.m1), mem2 = shm_heap_mem_ops(r.m2);
	struct pair *p = pair_new(&(struct pair_opts){.introduce = true, .mem_a = &mem1});
	struct xfer x = {.ab.seed = 0x5a, .ba.seed = 0xc3};

	cr_assert(inside(p->a.st, r.m1, REGION), "A's stack is in the region");
	pair_establish(p, 0, 5002, &x.a, &x.b);
	xfer_run(p, &x, TRANSFER / 2);

	/* Another process: the same bytes at another address. The first
	 * mapping goes away, so a pointer left into it faults. */
	struct sk_stack *st2 = (struct sk_stack *)((uint8_t *)p->a.st - r.m1 + r.m2);
	cr_assert_eq(munmap(r.m1, REGION), 0);
	pair_rebind(&p->a, st2, &mem2, 2);
	cr_assert_eq(sk_sock_state(p->a.st, x.a), SK_TCP_ESTABLISHED);
	xfer_run(p, &x, TRANSFER);

	/* A closes first: A ends in TIME_WAIT, B in CLOSED (RFC 9293 §3.6). */
	sk_close(p->a.st, x.a, p->now);
	pair_run_for(p, SK_MS(10));
	cr_assert_eq(sk_recv(p->b.st, x.b, (uint8_t[1]){0}, 1, 0, p->now), 0, "B reads the FIN");
	sk_close(p->b.st, x.b, p->now);
	pair_run_for(p, SK_MS(10));
	cr_assert_eq(pair_last_state(&p->a), SK_TCP_TIME_WAIT);
	cr_assert_eq(pair_last_state(&p->b), SK_TCP_CLOSED);
	pair_run_for(p, SK_SEC(61)); /* 2 MSL */
	cr_assert_eq(pair_last_state(&p->a), SK_TCP_CLOSED);
	cr_assert(sk_quiescent(p->a.st));

	size_t used, free_bytes;
	pair_free(p); /* A's stack freed through the second mapping's ops */
	shm_heap_stats(r.m2, &used, &free_bytes);
	cr_assert_eq(used, 0, "every byte of the stack went back to the region");
	munmap(r.m2, REGION);
	close(r.fd);
}

/* ---- the socket arena is set up slot by slot ---- */

/* Bytes of the region the kernel has pages for (a memfd is shmem). */
static size_t resident(int fd)
{
	struct stat sb;

	cr_assert_eq(fstat(fd, &sb), 0);
	return (size_t)sb.st_blocks * 512u;
}

Test(stack_shared, new_stack_leaves_the_socket_arena_untouched)
{
	struct region r = region_new(REGION);
	cr_assert_eq(shm_heap_init(r.m1, REGION, 0), 0);
	struct sk_mem_ops mem = shm_heap_mem_ops(r.m1);
	struct sk_config cfg;

	sk_config_defaults(&cfg);
	cfg.mac[5] = 2;
	cfg.addr = PAIR_A_IP;
	size_t arena = cfg.max_sockets * (size_t)1024; /* slots are larger than 1 KiB */
	struct sk_stack *st = sk_stack_new_in(&cfg, &netdev_link_ops, NULL, NULL, &mem);
	cr_assert_not_null(st);
	cr_assert_lt(resident(r.fd), arena / 8, "a new stack wrote %zu bytes of the region",
	             resident(r.fd));
	cr_assert_eq(sk_socket_limit(st), 0);
	cr_assert_eq(sk_next_socket(st, -1), -1);

	/* Slots in order; a freed one comes back before a new one. */
	cr_assert_eq(sk_socket(st), 0);
	cr_assert_eq(sk_socket(st), 1);
	cr_assert_eq(sk_socket(st), 2);
	cr_assert_eq(sk_socket_limit(st), 3);
	sk_close(st, 1, 0);
	cr_assert_eq(sk_next_socket(st, 0), 2);
	cr_assert_eq(sk_socket(st), 1);
	cr_assert_eq(sk_socket(st), 3);
	cr_assert_eq(sk_socket_limit(st), 4);
	cr_assert(sk_quiescent(st));
	cr_assert_lt(resident(r.fd), arena / 8);
	sk_stack_free(st);
	munmap(r.m1, REGION);
	munmap(r.m2, REGION);
	close(r.fd);
}

Test(stack_shared, arena_fills_to_max_sockets_then_refuses)
{
	struct sk_config cfg;

	sk_config_defaults(&cfg);
	cfg.mac[5] = 2;
	cfg.addr = PAIR_A_IP;
	cfg.max_sockets = 5;
	struct sk_stack *st = sk_stack_new(&cfg, &netdev_link_ops, NULL, NULL);
	cr_assert_not_null(st);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(sk_socket(st), i);
	cr_assert_eq(sk_socket(st), -ENOBUFS, "no sixth slot");
	sk_close(st, 3, 0);
	cr_assert_eq(sk_socket(st), 3);
	cr_assert_eq(sk_socket(st), -ENOBUFS);
	cr_assert_eq(sk_socket_limit(st), 5);
	sk_stack_free(st);
}

/* ---- a full region ---- */

static void small_arena(struct sk_config *cfg, int end)
{
	(void)end;
	cfg->max_sockets = 16;
}

Test(stack_shared, full_region_refuses_cleanly)
{
	struct region r = region_new(1u << 20);
	cr_assert_eq(shm_heap_init(r.m1, 1u << 20, 0), 0);
	struct sk_mem_ops mem = shm_heap_mem_ops(r.m1);
	struct sk_config cfg;

	/* Too small for even the arena: no stack, nothing left allocated. */
	sk_config_defaults(&cfg);
	cfg.mac[5] = 2;
	cfg.addr = PAIR_A_IP;
	cfg.max_sockets = 1u << 16;
	cr_assert_gt(sk_stack_size_hint(&cfg), 1u << 20);
	cr_assert_null(sk_stack_new_in(&cfg, &netdev_link_ops, NULL, NULL, &mem));
	size_t used, free_bytes;
	shm_heap_stats(r.m1, &used, &free_bytes);
	cr_assert_eq(used, 0);

	/* A stack that fits, then a region that fills up: sending is
	 * refused with -ENOBUFS (no ring storage), nothing crashes. */
	struct pair *p = pair_new(
	    &(struct pair_opts){.introduce = true, .mem_a = &mem, .cfg_tweak = small_arena});
	int a, b;
	pair_establish(p, 0, 5002, &a, &b);
	for (size_t n = 1u << 20; n >= 64; n /= 2) /* every class's free list too */
		while (shm_heap_alloc(r.m1, n))
			;
	ssize_t k = sk_send(p->a.st, a, "x", 1, p->now);
	cr_assert_eq(k, -ENOBUFS, "sk_send: %zd", k);
	cr_assert_gt(sk_get_stats(p->a.st)->tcp_rx_segs, 0);
	/* Received data with no room for the ring is dropped, not stored. */
	cr_assert_eq(sk_send(p->b.st, b, "hello", 5, p->now), 5);
	pair_run_for(p, SK_MS(10));
	cr_assert_eq(sk_recv(p->a.st, a, (uint8_t[8]){0}, 8, 0, p->now), -EAGAIN);
	cr_assert_gt(sk_get_stats(p->a.st)->tcp_drop_no_mem, 0);
	pair_free(p);
	munmap(r.m1, 1u << 20);
	munmap(r.m2, 1u << 20);
	close(r.fd);
}
