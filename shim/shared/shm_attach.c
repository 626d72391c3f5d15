/* Attaching to the interface's stack: its name, the region created or mapped,
 * the fanout group, stale stacks (see shm_stack.h, shm_self.h). */
#include "shm_stack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../../netdev/netdev.h"
#include "../fd/internal_fd.h"
#include "../intercept/real.h"
#include "../runtime/config.h"
#include "../runtime/locks.h"
#include "../runtime/log.h"
#include "heap.h"
#include "shm_self.h"

static bool still_named(int fd);
static bool flocked_layout(int fd);

/* exec: the old image's lock fd (exec_handover.c), so that the stack is
 * never without a holder between the two images. Checked to be ours. */
static int inherited_lock_fd(void)
{
	const char *v = getenv("SYNACK_SHM_FD");
	int fd = v ? atoi(v) : -1;

	if (fd < 0 || !still_named(fd))
		return -1;
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

/* ---- the stack's memory ---------------------------------------------- */

/* Blocks this large (a connection's rings) give their pages back to the
 * system when freed, as the C library's free() of a large block does
 * (munmap): a punched hole in the shared object, zero when touched again.
 * The first page holds the heap's free-list link. Not while the free lists
 * hold less than SHM_WARM_MAX: a server's connections come and go, and the
 * next one takes the block just freed (the lists are last in, first out);
 * punching it costs two page faults per page and a madvise per ring, at
 * every connection (glibc, likewise, raises its mmap threshold to a freed
 * block's size, so that the next such block stays on its heap). What a
 * burst of closes frees beyond it goes back. */
#define SHM_RELEASE_MIN (128u << 10)
#define SHM_WARM_MAX    (8u << 20)

static void mem_free(void *ctx, void *p, size_t n)
{
	if (n >= SHM_RELEASE_MIN && shm_heap_freed(ctx) >= SHM_WARM_MAX) {
		uintptr_t lo = ((uintptr_t)p + 4096u + 4095u) & ~(uintptr_t)4095u;
		uintptr_t hi = ((uintptr_t)p + n) & ~(uintptr_t)4095u;

		if (hi > lo)
			(void)madvise((void *)lo, hi - lo, MADV_REMOVE);
	}
	shm_heap_free(ctx, p, n);
}

static struct sk_mem_ops region_mem(void *heap)
{
	struct sk_mem_ops m = shm_heap_mem_ops(heap);

	m.free = mem_free;
	return m;
}

/* ---- attach -------------------------------------------------------- */

static unsigned long long netns_inode(void)
{
	struct stat sb;

	return stat("/proc/self/ns/net", &sb) == 0 ? (unsigned long long)sb.st_ino : 0;
}

static void make_name(const struct shim_config *cfg)
{
	const char *o = cfg->stack;

	if (o[0])
		snprintf(shm_me.name, sizeof(shm_me.name), "/synack-u%u-%s", (unsigned)getuid(), o);
	else
		snprintf(shm_me.name, sizeof(shm_me.name), "/synack-u%u-n%llu-%s",
		         (unsigned)getuid(), netns_inode(), cfg->iface);
}

/* The region's size: enough virtual space for every socket's buffers at
 * their default size (pages are only used when touched), within what
 * /dev/shm can hold. */
static size_t region_size(const struct sk_config *sc)
{
	uint64_t want = SHM_REGION_MIN + (uint64_t)sc->max_sockets * (sc->rcvbuf + sc->sndbuf) * 2u;
	struct statvfs vfs;

	if (want > SHM_REGION_MAX)
		want = SHM_REGION_MAX;
	if (statvfs("/dev/shm", &vfs) == 0) {
		uint64_t room = (uint64_t)vfs.f_bavail * vfs.f_frsize;

		if (want > room && room > SHM_REGION_MIN)
			want = room;
	}
	return (size_t)want;
}

static int create_region(int fd, const struct sk_config *sc, const struct shim_config *cfg)
{
	size_t size = region_size(sc), off;
	struct shm_header *h;
	pthread_mutexattr_t ma;
	struct sk_stack *st;

	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;
	h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return -errno;
	shm_me.hdr = h;
	shm_me.size = size;
	h->magic = SHM_MAGIC;
	h->version = SHM_VERSION;
	h->region_size = size;
	h->creator_pid = getpid();
	h->max_sockets = sc->max_sockets;
	h->addr = cfg->addr;
	h->prefix_len = cfg->prefix_len;
	h->gateway = cfg->gateway;
	if (getrandom(&h->stack_id, sizeof(h->stack_id), 0) != sizeof(h->stack_id))
		h->stack_id = (uint64_t)now_us() ^ (uint64_t)getpid() << 32;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&h->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	off = (sizeof(*h) + 63) & ~(size_t)63;
	h->socks_off = off;
	off += ((size_t)sc->max_sockets * sizeof(struct shm_sock) + 4095) & ~(size_t)4095;
	h->heap_off = off;
	if (shm_heap_init((char *)h + off, size - off, 0) < 0)
		return -ENOMEM;
	shm_me.mem = region_mem((char *)h + off);
	st = sk_stack_new_in(sc, &shm_me.link, shm_me.link_ctx, &shm_me.hooks, &shm_me.mem);
	if (!st)
		return -ENOMEM;
	h->stack_off = (uint64_t)((char *)st - (char *)h);
	return 0;
}

/* Map an existing region and wait (bounded) for its creator to finish. */
static int map_region(int fd)
{
	struct stat sb;
	struct shm_header *h;

	for (int tries = 0; tries < 500; tries++) {
		if (fstat(fd, &sb) < 0)
			return -errno;
		if ((size_t)sb.st_size >= sizeof(*h))
			break;
		usleep(10000);
	}
	if ((size_t)sb.st_size < sizeof(*h))
		return -EAGAIN;
	if (sb.st_uid != getuid())
		return -EACCES;
	h = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return -errno;
	for (int tries = 0; tries < 500 && atomic_load(&h->state) == SHM_INIT; tries++)
		usleep(10000);
	/* A creator that died before the stack was ready left a husk. */
	if (atomic_load(&h->state) == SHM_INIT && h->magic == SHM_MAGIC &&
	    shm_proc_start_time(h->creator_pid) == 0) {
		munmap(h, (size_t)sb.st_size);
		shm_unlink(shm_me.name);
		return -EAGAIN;
	}
	if (h->magic != SHM_MAGIC || h->version != SHM_VERSION ||
	    h->region_size != (uint64_t)sb.st_size || atomic_load(&h->state) == SHM_INIT) {
		munmap(h, (size_t)sb.st_size);
		return -EPROTO;
	}
	shm_me.hdr = h;
	shm_me.size = (size_t)sb.st_size;
	shm_me.mem = region_mem((char *)h + h->heap_off);
	return 0;
}

static void unmap(void)
{
	if (shm_me.hdr)
		munmap(shm_me.hdr, shm_me.size);
	shm_me.hdr = NULL;
	if (shm_me.lock_fd >= 0)
		shim_internal_close(shm_me.lock_fd);
	shm_me.lock_fd = -1;
}

/* A process joining a running stack must agree on what identifies it; the
 * tunables are the first process's. */
static int check_identity(const struct shim_config *cfg)
{
	struct shm_header *h = shm_me.hdr;

	if (h->addr == cfg->addr && h->prefix_len == cfg->prefix_len && h->gateway == cfg->gateway)
		return 0;
	shim_log(SK_LOG_ERROR,
	         "stack %s already runs on %s with address %u.%u.%u.%u/%u, not "
	         "SYNACK_ADDR=%u.%u.%u.%u/%u (or another SYNACK_GATEWAY): give every program on "
	         "an interface the same address, or SYNACK_STACK=<name> for a separate stack",
	         shm_me.name, cfg->iface, h->addr >> 24, (h->addr >> 16) & 255,
	         (h->addr >> 8) & 255, h->addr & 255, h->prefix_len, cfg->addr >> 24,
	         (cfg->addr >> 16) & 255, (cfg->addr >> 8) & 255, cfg->addr & 255, cfg->prefix_len);
	return -EADDRINUSE;
}

/* The settings that size or tune the whole stack are its creator's: the
 * ones a later program sets in its environment do not apply to it. Say so,
 * once per setting, with the stack's value and how to get the program's. */
static void warn_stack_settings(const struct sk_config *want)
{
	const struct sk_config *have = sk_stack_config(stack_of(shm_me.hdr));
	const struct {
		const char *env;
		uint64_t want, have;
	} v[] = {
	    {"SYNACK_MAX_SOCKETS", want->max_sockets, have->max_sockets},
	    {"SYNACK_MAX_TIME_WAIT", want->max_time_wait, have->max_time_wait},
	    {"SYNACK_MSL_MS", want->msl_ms, have->msl_ms},
	    {"SYNACK_FIN_TIMEOUT_MS", want->fin_timeout_ms, have->fin_timeout_ms},
	    {"SYNACK_SYN_RETRIES", want->syn_retries, have->syn_retries},
	    {"SYNACK_SYN_BACKLOG", want->syn_backlog, have->syn_backlog},
	    {"SYNACK_SYNCOOKIES", want->syncookies, have->syncookies},
	    {"SYNACK_RCVBUF_MAX", want->rcvbuf_max, have->rcvbuf_max},
	    {"SYNACK_MEM_MAX", want->mem_max, have->mem_max},
	    {"SYNACK_CC", want->default_cc, have->default_cc},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const char *set = getenv(v[i].env);

		if (!set || v[i].want == v[i].have)
			continue;
		shim_log(SK_LOG_WARN,
		         "stack %s: %s=%s does not apply: the stack was made with %llu%s by the "
		         "first program on %s, and its settings are every program's; it applies "
		         "once every program using the stack has ended (synack ss -p shows them), "
		         "or give this program a stack of its own with SYNACK_STACK=<name> on "
		         "another interface",
		         shm_me.name, v[i].env, set, (unsigned long long)v[i].have,
		         strcmp(v[i].env, "SYNACK_CC") == 0 ? " (0 cubic, 1 reno)" : "",
		         shm_me.dev ? shm_me.dev->name : "the interface");
	}
}

/* Join this process's packet socket to the stack's fanout group, so that
 * each frame reaches one process only (netdev_afpacket_fanout). A socket
 * inherited from a process of the stack (fork, exec) is in it already.
 *
 * A process that has the stack to itself (it created it, or only a keeper
 * holds it) starts a new group instead. A packet socket stays in its group
 * until its last reference is closed, a while after its process stopped
 * reading it: a keeper that just left (keeper.c), a program's exit
 * (runtime/closer.h). The kernel would hand such a socket its share of the
 * new program's flows, frames nobody reads: a lost SYN-ACK costs a 1 s
 * retransmission. Sockets still in the old group only get copies. */
static int join_fanout(bool fresh)
{
	uint16_t old = shm_me.hdr->fanout_id;
	char err[256] = "";
	int r = -EINVAL;

	if (!fresh) {
		r = netdev_afpacket_fanout(shm_me.dev, old, err, sizeof(err));
		if (r == 0 || r == -EALREADY)
			return 0;
		shim_log(SK_LOG_ERROR,
		         "stack %s: %s — without it every process would process every frame; is "
		         "another program holding that packet fanout group on %s?",
		         shm_me.name, err, shm_me.dev->name);
		return r;
	}
	for (int tries = 0; tries < 16; tries++) {
		uint16_t id = 0;

		if (getrandom(&id, sizeof(id), 0) != sizeof(id) || id == 0 || id == old)
			continue;
		r = netdev_afpacket_fanout(shm_me.dev, id, err, sizeof(err));
		if (r == -EALREADY) /* an inherited socket: its group is the stack's */
			id = netdev_afpacket_fanout_group(shm_me.dev);
		if (r == 0 || (r == -EALREADY && id != 0)) {
			shm_me.hdr->fanout_id = id;
			return 0;
		}
		if (r != -EINVAL && r != -EADDRINUSE)
			break;
	}
	shim_log(SK_LOG_ERROR, "stack %s: %s", shm_me.name, err);
	return r;
}

/* One attempt: open (or create) the object, take a slot. -EAGAIN: the
 * object went away under us (its last process removed it): try again. */
static int try_attach(const struct sk_config *sc, const struct shim_config *cfg, int want_slot,
                      uint64_t want_token)
{
	int fd = inherited_lock_fd(), r;
	bool created = false;
	struct sk_stack *st;

	if (fd < 0) {
		fd = shm_open(shm_me.name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		created = fd >= 0;
		if (fd < 0 && errno == EEXIST)
			fd = shm_open(shm_me.name, O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0)
			return errno == ENOENT ? -EAGAIN : -errno;
		/* Held for this process's life (remove_stale_stacks). */
		if (flock(fd, LOCK_SH) < 0 || !still_named(fd)) {
			REAL(close)(fd);
			return -EAGAIN;
		}
	}
	r = created ? create_region(fd, sc, cfg) : map_region(fd);
	if (r < 0) {
		if (created) {
			shm_unlink(shm_me.name);
			unmap();
		}
		if (r == -EPROTO)
			shim_log(SK_LOG_ERROR,
			         "the stack %s was made by another version of synack (%s): let its "
			         "programs finish first; if none runs any more, remove /dev/shm%s",
			         shm_me.name,
			         flocked_layout(fd) ? "still in use"
			                            : "too old to tell whether in use",
			         shm_me.name);
		REAL(close)(fd);
		return r;
	}
	if (shm_me.lock_fd >= 0)
		shim_internal_close(shm_me.lock_fd);
	shm_me.lock_fd = shim_internal_adopt(fd);
	if (!created && (r = check_identity(cfg)) < 0) {
		unmap();
		return r;
	}
	unsetenv("SYNACK_SHM_FD");
	st = shm_stack_lock();
	if (atomic_load(&shm_me.hdr->state) == SHM_REMOVED) {
		shm_stack_unlock();
		unmap();
		return -EAGAIN;
	}
	if (atomic_load(&shm_me.hdr->state) == SHM_BROKEN) {
		shim_log(SK_LOG_ERROR, "stack %s is broken (%s): remove it (synack check says how)",
		         shm_me.name, shm_me.hdr->broken_why);
		shm_stack_unlock();
		unmap();
		return -ENETDOWN;
	}
	shm_sweep_now(st, true);
	if (want_slot >= 0 && want_slot < SHM_MAX_PROCS &&
	    shm_me.hdr->procs[want_slot].token == want_token &&
	    shm_me.hdr->procs[want_slot].pid == getpid()) {
		/* exec: the new image takes its old self's slot and sockets. */
		shm_me.slot = want_slot;
		shm_me.hdr->procs[want_slot].token = ++shm_me.hdr->next_token;
		shm_me.hdr->procs_gen++;
	} else {
		shm_me.slot = shm_slot_alloc();
	}
	if (shm_me.slot < 0) {
		shm_stack_unlock();
		unmap();
		shim_log(SK_LOG_ERROR, "stack %s: %d processes use it already (the most it takes)",
		         shm_me.name, SHM_MAX_PROCS);
		return -EMFILE;
	}
	shm_me.hdr->procs[shm_me.slot].pid = getpid();
	shm_me.hdr->procs[shm_me.slot].start_time = shm_proc_start_time(getpid());
	shm_me.hdr->procs[shm_me.slot].state = SHM_PROC_LIVE;
	shm_me.trace_states = cfg->trace_states;
	shm_me.hdr->procs[shm_me.slot].trace_states = shm_me.trace_states;
	shm_me.token = shm_me.hdr->procs[shm_me.slot].token;
	shm_me.hdr->bound_token = 0;
	shm_bind_me(st);
	if ((r = join_fanout(created || shm_live_procs() == 1)) < 0) {
		shm_slot_release(st, shm_me.slot, NULL);
		shm_me.slot = -1;
		if (created) {
			atomic_store(&shm_me.hdr->state, SHM_REMOVED);
			shm_unlink(shm_me.name);
		}
		shm_stack_unlock();
		unmap();
		return r == -EAGAIN ? -EIO : r;
	}
	if (created)
		atomic_store(&shm_me.hdr->state, SHM_READY);
	else if (want_slot < 0) /* an exec'd image said it before the exec */
		warn_stack_settings(sc);
	shm_stack_unlock();
	shim_log(SK_LOG_INFO, "stack %s: %s (slot %d)", shm_me.name,
	         created ? "created" : "attached", shm_me.slot);
	return 0;
}

/* Stacks of this user that no process holds any more (killed: no
 * destructor ran), often in a network namespace that is gone too: no
 * process will ever run them again, and their pages stay in /dev/shm. The
 * connections such a stack holds died with their processes, as when the
 * last process of a stack is killed: a new process starts a new stack.
 * Whether a process holds a stack is the kernel's to say: every process
 * attached keeps a shared flock on the object (shm_me.lock_fd, inherited by
 * fork children and the keeper, passed across exec), released when it
 * dies however it dies; an exclusive lock granted at once means nobody
 * does. Whatever the layout version that made the object. Looked for
 * whenever a process attaches, our own name included (a namespace's inode
 * number is reused once it is gone, and with it the name). */

static bool flocked_layout(int fd)
{
	struct {
		uint64_t magic;
		uint32_t version;
	} head;

	return pread(fd, &head, sizeof(head), 0) == (ssize_t)sizeof(head) &&
	       head.magic == SHM_MAGIC && head.version >= SHM_VERSION_FLOCK;
}

/* Another user's stack on this interface sees the same frames and resets
 * the connections it does not know, ours among them (and ours its): say
 * so while it runs. Its object (mode 0600) opens for root only: then a
 * stale one is removed like ours; for anyone else it can only be seen. */
static const char *after_uid(const char *name) /* "synack-u<uid>-REST" -> "-REST" */
{
	const char *dash = strchr(name, '-');

	return dash ? strchr(dash + 1, '-') : NULL;
}

static void other_user(const char *name)
{
	const char *suffix = after_uid(shm_me.name + 1), *theirs = after_uid(name);
	char path[300];
	int fd;

	if (!suffix || !theirs || strncmp(name, "synack-u", 8) || strcmp(theirs, suffix) != 0)
		return;
	snprintf(path, sizeof(path), "/%s", name);
	fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd >= 0 && flocked_layout(fd) && flock(fd, LOCK_EX | LOCK_NB) == 0) {
		shm_unlink(path);
		REAL(close)(fd);
		return;
	}
	if (fd >= 0)
		REAL(close)(fd);
	shim_log(SK_LOG_WARN,
	         "/dev/shm%s: another user's synack stack on this interface: the two stacks see "
	         "each other's frames and reset each other's connections while both run — run "
	         "every program on an interface as one user",
	         path);
}

static void remove_stale_stacks(void)
{
	char prefix[32], path[300];
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	int n = snprintf(prefix, sizeof(prefix), "synack-u%u-", (unsigned)getuid());

	while (d && (e = readdir(d))) {
		int fd;

		if (strncmp(e->d_name, prefix, (size_t)n)) {
			other_user(e->d_name);
			continue;
		}
		snprintf(path, sizeof(path), "/%s", e->d_name);
		fd = shm_open(path, O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0)
			continue;
		if (flocked_layout(fd) && flock(fd, LOCK_EX | LOCK_NB) == 0) {
			shm_unlink(path);
			shim_log(SK_LOG_INFO, "removed the stack %s: no process uses it any more",
			         path);
		}
		REAL(close)(fd);
	}
	if (d)
		closedir(d);
}

/* Does fd still hold the object named shm_me.name? (A remover may have
 * unlinked it between our open and our lock.) */
static bool still_named(int fd)
{
	char path[160];
	struct stat a, b;

	snprintf(path, sizeof(path), "/dev/shm%s", shm_me.name);
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/* Not under the lock, after attaching: a keeper (keeper.c) still reading
 * frames would take some of ours (the fanout group spreads flows over its
 * packet socket too) and report their state changes to nobody. It leaves
 * when it sees us: tell it at once, and wait for it, boundedly (it only
 * finishes the frames it has). It is gone within a wake-up, some tens of
 * microseconds, or a few hundred when it was only just forked: look after
 * 50 us, then twice as late each time up to 250 us, and every 5 ms after
 * 20 ms (looking every 1 ms made every program started while a keeper ran
 * wait at least that long). */
#define KEEPER_WAIT_FIRST_US 50u
#define KEEPER_WAIT_STEP_US  250u
#define KEEPER_WAIT_FAST_US  20000u
#define KEEPER_WAIT_SLOW_US  5000u
#define KEEPER_WAIT_US       10000000ull

static void wait_keepers_gone(void)
{
	unsigned nap = KEEPER_WAIT_FIRST_US;

	for (unsigned long long waited = 0; waited < KEEPER_WAIT_US; waited += nap) {
		bool any = false;

		shm_stack_lock();
		for (int i = 0; i < SHM_MAX_PROCS; i++) {
			if (shm_me.hdr->procs[i].state == SHM_PROC_FREE ||
			    !shm_me.hdr->procs[i].keeper)
				continue;
			any = true;
			shm_signal_slot(i);
		}
		shm_stack_unlock();
		if (!any)
			return;
		if (waited >= KEEPER_WAIT_FAST_US)
			nap = KEEPER_WAIT_SLOW_US;
		else if (waited > 0)
			nap = nap * 2 < KEEPER_WAIT_STEP_US ? nap * 2 : KEEPER_WAIT_STEP_US;
		usleep(nap);
	}
	shim_log(SK_LOG_WARN, "stack %s: the keeper did not leave; carrying on beside it",
	         shm_me.name);
}

int shm_stack_attach_as(const struct shim_config *cfg, const struct sk_link_ops *link,
                        struct netdev *dev, const struct sk_hooks *hooks,
                        const struct sk_config *sc, int want_slot, uint64_t want_token)
{
	int r = -EAGAIN;

	make_name(cfg);
	remove_stale_stacks();
	shm_me.dev = dev;
	shm_me.link = *link;
	shm_me.link_ctx = dev;
	shm_me.hooks = *hooks;
	for (int tries = 0; tries < 20 && r == -EAGAIN; tries++)
		r = try_attach(sc, cfg, want_slot, want_token);
	if (r < 0) {
		if (r != -EADDRINUSE && r != -ENETDOWN && r != -EMFILE)
			shim_log(SK_LOG_ERROR, "cannot attach to the stack %s in /dev/shm: %s",
			         shm_me.name, strerror(-r));
		return r;
	}
	shm_open_wake_sockets();
	shim_locks_stack_check(shm_stack_locked_by_me);
	wait_keepers_gone();
	return 0;
}
