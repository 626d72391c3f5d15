/* Resolution of the real libc functions (see real.h). */
#include "real.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>


#define REAL_NAME(name) #name,
static const char *const real_names[REAL__COUNT] = {REAL_FUNCS(REAL_NAME)};
#undef REAL_NAME

static _Atomic(void *) real_ptrs[REAL__COUNT];

void *real_get(enum real_idx idx)
{
	void *p = atomic_load_explicit(&real_ptrs[idx], memory_order_acquire);
	if (p)
		return p;
	/* Racing resolvers store the same value: no lock needed. */
	p = dlsym(RTLD_NEXT, real_names[idx]);
	if (!p) {
		/* Raw syscall: nothing in libc is known to be safe to call yet. */
		static const char msg[] = "synack: fatal: libc has no ";
		syscall(SYS_write, 2, msg, sizeof(msg) - 1);
		syscall(SYS_write, 2, real_names[idx], strlen(real_names[idx]));
		syscall(SYS_write, 2, "\n", 1);
		abort();
	}
	atomic_store_explicit(&real_ptrs[idx], p, memory_order_release);
	return p;
}

void real_init(void)
{
	for (int i = 0; i < REAL__COUNT; i++)
		real_get((enum real_idx)i);
}
