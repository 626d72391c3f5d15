/* Signal guard (see sigguard.h): deferred delivery, without a syscall on
 * the way in or out.
 *
 * The program's handlers of asynchronous signals are registered with the
 * kernel through one trampoline (OpenOnload defers signals the same way,
 * citp_signal_intercept): a signal that finds its thread outside synack
 * runs the program's handler at once, on the kernel's signal frame; one
 * that finds it inside (sig_guard > 0) is noted in the thread's queue, and
 * its handler runs when the thread leaves synack's outermost section
 * (shim_sig_leave), with the mask the kernel would have given it. The
 * kernel keeps everything else of the action (flags, mask: siginterrupt()
 * and the like still change them there); the table below only remembers
 * which function the program gave. */
#include "sigguard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

/* entry.h's state, here with the guard it drives (the pure library's
 * fd table enters too). */
_Thread_local int shim_inside_depth;
_Thread_local int shim_entry_errno;

/* The trampoline reads these in a signal handler: libsynack.so is loaded at
 * start (LD_PRELOAD), so its thread-local storage is allocated with each
 * thread and reading it never allocates. (Not initial-exec: `synack run`
 * and `synack check` dlopen the library, where the static TLS surplus is
 * too small for the queue.) */
static _Thread_local int sig_guard;

/* The program's handler of each routed signal (0: not routed), and whether
 * it takes siginfo (SA_SIGINFO) and is reset on delivery (SA_RESETHAND). */
struct prog_action {
	_Atomic uintptr_t fn;
	_Atomic bool siginfo, resethand;
};
static struct prog_action prog[NSIG];
static pthread_mutex_t action_lock = PTHREAD_MUTEX_INITIALIZER;

/* Signals noted inside synack, oldest first. A standard signal is pending
 * at most once, as in the kernel; a full queue drops a real-time signal as
 * a full kernel queue does (RLIMIT_SIGPENDING). Written by the trampoline
 * only while sig_guard > 0 and read by deliver() only while it is 0, so the
 * two never overlap on one thread. */
#define DEFER_MAX 16
struct deferred {
	int sig;
	bool siginfo;
	uintptr_t fn;
	siginfo_t info;
};
static _Thread_local struct deferred queue[DEFER_MAX];
static _Thread_local volatile sig_atomic_t queued;

/* Fault signals come from the faulting instruction (and SIGABRT from
 * abort()): they cannot wait, and synack's crash reporter takes them as
 * they are. SIGKILL and SIGSTOP have no handler. */
static bool routable(int sig)
{
	return sig > 0 && sig < NSIG && sig != SIGKILL && sig != SIGSTOP && sig != SIGSEGV &&
	       sig != SIGBUS && sig != SIGILL && sig != SIGFPE && sig != SIGABRT &&
	       sig != SIGTRAP && sig != SIGSYS;
}

static bool is_function(const struct sigaction *a)
{
	return (a->sa_flags & SA_SIGINFO) ||
	       (a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN);
}

static void call(uintptr_t fn, bool siginfo, int sig, siginfo_t *info, void *uc)
{
	if (siginfo)
		((void (*)(int, siginfo_t *, void *))fn)(sig, info, uc);
	else
		((void (*)(int))fn)(sig);
}

static void note(int sig, uintptr_t fn, bool siginfo, const siginfo_t *info)
{
	int n = queued;

	if (sig < SIGRTMIN)
		for (int i = 0; i < n; i++)
			if (queue[i].sig == sig)
				return;
	if (n == DEFER_MAX)
		return;
	queue[n].sig = sig;
	queue[n].fn = fn;
	queue[n].siginfo = siginfo;
	memcpy(&queue[n].info, info, sizeof(*info));
	atomic_signal_fence(memory_order_seq_cst);
	queued = n + 1;
}

static void trampoline(int sig, siginfo_t *info, void *uc)
{
	struct prog_action *p = &prog[sig];
	uintptr_t fn = atomic_load(&p->fn);
	bool siginfo = atomic_load(&p->siginfo);

	/* The kernel has reset the action to SIG_DFL already. */
	if (atomic_load(&p->resethand))
		atomic_store(&p->fn, 0);
	if (fn == 0)
		return; /* changed to SIG_DFL or SIG_IGN meanwhile */
	if (sig_guard > 0) {
		note(sig, fn, siginfo, info);
		return;
	}
	call(fn, siginfo, sig, info, uc);
}

/* The noted signals' handlers, as the kernel would run them: the action's
 * mask and the signal itself (unless SA_NODEFER) blocked meanwhile, errno
 * kept. A handler that enters synack and is hit again adds to the queue,
 * which its own leave delivers. */
static void deliver(void)
{
	int saved_errno = errno, saved_entry = shim_entry_errno;

	while (queued > 0) {
		struct deferred d = queue[0];
		struct sigaction now = {0};
		sigset_t block, old;
		ucontext_t uc;

		memmove(&queue[0], &queue[1], (size_t)(queued - 1) * sizeof(queue[0]));
		queued = queued - 1;
		sigemptyset(&block);
		if (sigaction(d.sig, NULL, &now) == 0)
			block = now.sa_mask;
		if (!(now.sa_flags & SA_NODEFER))
			sigaddset(&block, d.sig);
		pthread_sigmask(SIG_BLOCK, &block, &old);
		getcontext(&uc);
		call(d.fn, d.siginfo, d.sig, &d.info, &uc);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	shim_entry_errno = saved_entry;
	errno = saved_errno;
}

void shim_sig_enter(void)
{
	sig_guard++;
	atomic_signal_fence(memory_order_seq_cst);
}

void shim_sig_leave(void)
{
	atomic_signal_fence(memory_order_seq_cst);
	if (sig_guard > 0 && --sig_guard == 0 && queued > 0)
		deliver();
}

void shim_sig_after_fork_child(void)
{
	/* The kernel gives a child no pending signal: one noted for the
	 * parent during fork() is the parent's alone. */
	queued = 0;
}

/* What the program would read back: its own function and flags. */
static void as_program(struct sigaction *a, uintptr_t fn, bool siginfo)
{
	if (a->sa_sigaction != trampoline)
		return;
	if (siginfo) {
		a->sa_sigaction = (void (*)(int, siginfo_t *, void *))fn;
	} else {
		a->sa_handler = (void (*)(int))fn;
		a->sa_flags &= ~SA_SIGINFO;
	}
}

int shim_sig_action(int sig, const struct sigaction *act, struct sigaction *oact, sigaction_fn real)
{
	struct prog_action *p;
	struct sigaction k, old;
	uintptr_t was_fn;
	bool was_siginfo, was_resethand, route;
	int r;

	if (!routable(sig))
		return real(sig, act, oact);
	p = &prog[sig];
	route = act && is_function(act);
	if (route) {
		k = *act;
		k.sa_sigaction = trampoline;
		k.sa_flags |= SA_SIGINFO;
	}
	/* A handler that installs a handler (signal() in a SysV-style
	 * handler) must not run while this thread holds the table's lock. */
	shim_sig_enter();
	pthread_mutex_lock(&action_lock);
	was_fn = atomic_load(&p->fn);
	was_siginfo = atomic_load(&p->siginfo);
	was_resethand = atomic_load(&p->resethand);
	/* A new function is in the table before the kernel can call the
	 * trampoline for it; SIG_DFL or SIG_IGN leaves it once the kernel
	 * has them. */
	if (route) {
		atomic_store(&p->siginfo, (act->sa_flags & SA_SIGINFO) != 0);
		atomic_store(&p->resethand, (act->sa_flags & SA_RESETHAND) != 0);
		atomic_store(&p->fn, (act->sa_flags & SA_SIGINFO) ? (uintptr_t)act->sa_sigaction
		                                                  : (uintptr_t)act->sa_handler);
	}
	r = real(sig, route ? &k : act, &old);
	if (r < 0 && route) {
		atomic_store(&p->fn, was_fn);
		atomic_store(&p->siginfo, was_siginfo);
		atomic_store(&p->resethand, was_resethand);
	} else if (r == 0 && act && !route) {
		atomic_store(&p->fn, 0);
	}
	pthread_mutex_unlock(&action_lock);
	shim_sig_leave();
	if (r == 0 && oact) {
		as_program(&old, was_fn, was_siginfo);
		*oact = old;
	}
	return r;
}

void shim_sig_adopt(sigaction_fn real)
{
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction cur;

		if (routable(sig) && real(sig, NULL, &cur) == 0 && is_function(&cur) &&
		    cur.sa_sigaction != trampoline)
			(void)shim_sig_action(sig, &cur, NULL, real);
	}
}
