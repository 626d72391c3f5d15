/* fd table (see fdtable.h). */
#include "fdtable.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "../intercept/sigguard.h"
#include "../runtime/locks.h"

/* Upper bound on the table: a hard limit of 1M fds would cost 8 MiB of
 * address space, untouched pages stay free. */
#define FDT_MAX (1 << 20)
#define FDT_MIN 1024

static char internal_marker;
#define INTERNAL ((struct shim_ofd *)&internal_marker)

static _Atomic(struct shim_ofd *) *table;
static int capacity;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The program's signals wait while the table is locked (see shim_sig_enter):
 * a handler's socket call would deadlock on it. */
static void table_lock(void)
{
	shim_mutex_lock(&lock, SHIM_LOCK_FDTABLE);
}

static void table_unlock(void)
{
	shim_mutex_unlock(&lock, SHIM_LOCK_FDTABLE);
}

static const struct shim_ofd_ops *kind_ops[SHIM_OFD__KINDS];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void do_init(void)
{
	struct rlimit rl;
	rlim_t n = FDT_MIN;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		n = rl.rlim_max == RLIM_INFINITY ? FDT_MAX : rl.rlim_max;
		if (n < rl.rlim_cur && rl.rlim_cur != RLIM_INFINITY)
			n = rl.rlim_cur;
	}
	if (n > FDT_MAX)
		n = FDT_MAX;
	if (n < FDT_MIN)
		n = FDT_MIN;
	table = calloc(n, sizeof(*table));
	capacity = table ? (int)n : 0;
}

void fdt_init(const struct shim_ofd_ops *const ops[SHIM_OFD__KINDS])
{
	pthread_once(&init_once, do_init);
	for (int k = 0; ops && k < SHIM_OFD__KINDS; k++)
		kind_ops[k] = ops[k];
}

int fdt_capacity(void)
{
	return capacity;
}

struct shim_ofd *ofd_new(enum shim_ofd_kind kind)
{
	struct shim_ofd *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->kind = kind;
	o->sock = -1;
	o->family = AF_INET;
	pthread_mutex_init(&o->kside_lock, NULL);
	return o;
}

const struct shim_ofd_ops *ofd_ops(const struct shim_ofd *o)
{
	static const struct shim_ofd_ops none = {.name = "?"};

	return (unsigned)o->kind < SHIM_OFD__KINDS && kind_ops[o->kind] ? kind_ops[o->kind] : &none;
}

void ofd_last_close(struct shim_ofd *o)
{
	const struct shim_ofd_ops *ops = ofd_ops(o);

	if (ops->last_close)
		ops->last_close(o);
	else
		atomic_store(&o->closed, true);
}

void ofd_get(struct shim_ofd *o)
{
	atomic_fetch_add(&o->refs, 1);
}

void ofd_put(struct shim_ofd *o)
{
	if (atomic_fetch_sub(&o->refs, 1) == 1) {
		const struct shim_ofd_ops *ops = ofd_ops(o);

		if (ops->release)
			ops->release(o);
		pthread_mutex_destroy(&o->kside_lock);
		free(o->epregs);
		free(o);
	}
}

static bool in_range(int fd)
{
	return fd >= 0 && fd < capacity;
}

bool fdt_maybe_tracked(int fd)
{
	return in_range(fd) && atomic_load_explicit(&table[fd], memory_order_relaxed) != NULL;
}

/* Under the lock: empty slot fd, returning its description (slot ref
 * transferred to the caller) or NULL. */
static struct shim_ofd *detach(int fd, bool *last)
{
	struct shim_ofd *o = atomic_load(&table[fd]);

	atomic_store(&table[fd], NULL);
	if (!o || o == INTERNAL)
		return NULL;
	o->nfds--;
	if (last)
		*last = o->nfds == 0;
	return o;
}

int fdt_install(int fd, struct shim_ofd *o)
{
	struct shim_ofd *stale;

	if (!in_range(fd))
		return -1;
	table_lock();
	stale = detach(fd, NULL);
	o->nfds++;
	ofd_get(o);
	atomic_store(&table[fd], o);
	table_unlock();
	if (stale)
		ofd_put(stale);
	return 0;
}

struct shim_ofd *fdt_get(int fd)
{
	struct shim_ofd *o;

	if (!fdt_maybe_tracked(fd))
		return NULL;
	table_lock();
	o = atomic_load(&table[fd]);
	if (o == INTERNAL)
		o = NULL;
	if (o)
		ofd_get(o);
	table_unlock();
	return o;
}

struct shim_ofd *fdt_remove(int fd, bool *last)
{
	struct shim_ofd *o;

	if (!fdt_maybe_tracked(fd))
		return NULL;
	table_lock();
	if (atomic_load(&table[fd]) == INTERNAL) {
		table_unlock();
		return NULL;
	}
	o = detach(fd, last);
	table_unlock();
	return o;
}

void fdt_purge(int fd)
{
	struct shim_ofd *o;

	if (!fdt_maybe_tracked(fd))
		return;
	table_lock();
	o = detach(fd, NULL);
	table_unlock();
	if (o)
		ofd_put(o);
}

void fdt_forget(struct shim_ofd *o)
{
	int dropped = 0;

	table_lock();
	for (int fd = 0; fd < capacity && o->nfds > 0; fd++) {
		if (atomic_load_explicit(&table[fd], memory_order_relaxed) == o) {
			detach(fd, NULL);
			dropped++;
		}
	}
	table_unlock();
	while (dropped--)
		ofd_put(o);
}

void fdt_mark_internal(int fd)
{
	if (!in_range(fd))
		return;
	table_lock();
	struct shim_ofd *stale = detach(fd, NULL);
	atomic_store(&table[fd], INTERNAL);
	table_unlock();
	if (stale)
		ofd_put(stale);
}

bool fdt_is_internal(int fd)
{
	return in_range(fd) && atomic_load(&table[fd]) == INTERNAL;
}

void fdt_foreach(void (*fn)(int fd, struct shim_ofd *o, void *arg), void *arg)
{
	table_lock();
	for (int fd = 0; fd < capacity; fd++) {
		struct shim_ofd *o = atomic_load_explicit(&table[fd], memory_order_relaxed);

		if (o && o != INTERNAL)
			fn(fd, o, arg);
	}
	table_unlock();
}

void fdt_foreach_internal(void (*fn)(int fd, void *arg), void *arg)
{
	table_lock();
	for (int fd = 0; fd < capacity; fd++)
		if (atomic_load_explicit(&table[fd], memory_order_relaxed) == INTERNAL)
			fn(fd, arg);
	table_unlock();
}

void fdt_lock(void)
{
	table_lock();
}

void fdt_unlock(void)
{
	table_unlock();
}
