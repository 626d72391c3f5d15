/* exec (design brief §6): sockets without close-on-exec survive into the
 * new program, as kernel sockets do.
 *
 * The connections live in the shared stack (shared/shm_stack.h), not in
 * this image's memory; what the new image needs is the map from its fds to
 * core sockets and this process's slot, whose holder bits it takes over
 * (same pid). Both travel in the environment:
 *   SYNACK_SHM_SLOT=<slot>:<token>     the slot and its attach token
 *   SYNACK_INHERIT=<fd>:<sock>:<family>,...   fds without close-on-exec
 *   SYNACK_PACKET_FD=<fd>              the packet socket, kept open across
 *                                      exec (so no privilege is needed)
 *   SYNACK_SHM_FD=<fd>                 the stack's object, whose shared flock
 *                                      says a process holds the stack
 * The new image's constructor attaches at once and installs the fds before
 * main runs (exec_handover_adopt). Sockets this image held behind fds with
 * close-on-exec are dropped by the new image (shm_exec_adopt): the kernel
 * closed those fds. When exec fails, nothing changed but the environment
 * entries and the packet socket's close-on-exec flag, which are put back.
 */
#include "exec_handover.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "../../netdev/netdev.h"
#include "../fd/fdtable.h"
#include "../runtime/log.h"
#include "../intercept/real.h"
#include "../runtime/runtime.h"
#include "../socket/opts.h"
#include "shm_stack.h"

#define INHERIT_MAX 256

struct inherit_scan {
	char *buf;
	size_t len, cap;
	int count;
};

static void note(int fd, struct shim_ofd *o, void *arg)
{
	struct inherit_scan *s = arg;
	int n;

	if (ofd_core_sock(o) < 0 || (REAL(fcntl)(fd, F_GETFD) & FD_CLOEXEC) ||
	    s->count >= INHERIT_MAX)
		return;
	n = snprintf(s->buf + s->len, s->cap - s->len, "%s%d:%d:%d", s->count ? "," : "", fd,
	             o->sock, o->family);
	if (n > 0 && (size_t)n < s->cap - s->len) {
		s->len += (size_t)n;
		s->count++;
	}
}

static bool is_ours(const char *entry)
{
	return !strncmp(entry, "SYNACK_SHM_SLOT=", 16) || !strncmp(entry, "SYNACK_INHERIT=", 15) ||
	       !strncmp(entry, "SYNACK_PACKET_FD=", 17) || !strncmp(entry, "SYNACK_SHM_FD=", 14);
}

/* Clear close-on-exec: the flags to put back, or -1. */
static int keep_open(int fd)
{
	int flags = fd >= 0 ? REAL(fcntl)(fd, F_GETFD) : -1;

	if (flags >= 0)
		(void)REAL(fcntl)(fd, F_SETFD, flags & ~FD_CLOEXEC);
	return flags;
}

int exec_handover_prepare(struct exec_handover *h, char *const envp[])
{
	static char inherit[16 + INHERIT_MAX * 32];
	struct inherit_scan scan = {inherit, 0, sizeof(inherit), 0};
	struct netdev *dev = rt_device();
	size_t n = 0, k = 0;

	memset(h, 0, sizeof(*h));
	h->packet_fd = h->lock_fd = -1;
	if (shim_inside() || !rt_running() || !shm_stack() || !dev || dev->fd < 0)
		return 0;
	scan.len = (size_t)snprintf(inherit, sizeof(inherit), "SYNACK_INHERIT=");
	fdt_foreach(note, &scan);
	if (shm_exec_slot_env(h->slot, sizeof(h->slot)) < 0)
		return 0;
	snprintf(h->packet, sizeof(h->packet), "SYNACK_PACKET_FD=%d", dev->fd);
	snprintf(h->lock, sizeof(h->lock), "SYNACK_SHM_FD=%d", shm_lock_fd());
	while (envp && envp[n])
		n++;
	h->env = malloc((n + 5) * sizeof(char *));
	if (!h->env)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!is_ours(envp[i]))
			h->env[k++] = envp[i];
	h->env[k++] = h->slot;
	h->env[k++] = h->packet;
	h->env[k++] = h->lock;
	if (scan.count)
		h->env[k++] = inherit;
	h->env[k] = NULL;
	/* The packet socket stays open across exec: the new image needs no
	 * privilege to open its own. So does the stack's lock fd: the stack
	 * is never without a holder between the two images. */
	h->packet_fd = dev->fd;
	h->packet_flags = keep_open(dev->fd);
	h->lock_fd = shm_lock_fd();
	h->lock_flags = keep_open(h->lock_fd);
	return 0;
}

void exec_handover_failed(struct exec_handover *h)
{
	int err = errno;

	if (h->packet_fd >= 0 && h->packet_flags >= 0)
		(void)REAL(fcntl)(h->packet_fd, F_SETFD, h->packet_flags);
	if (h->lock_fd >= 0 && h->lock_flags >= 0)
		(void)REAL(fcntl)(h->lock_fd, F_SETFD, h->lock_flags);
	free(h->env);
	h->env = NULL;
	errno = err;
}

/* ---- the new image ------------------------------------------------- */

static int install(int fd, int sock, int family, struct shim_ofd **same)
{
	struct stat sb;
	struct shim_ofd *o = *same;
	int fl;

	if (fstat(fd, &sb) < 0 || !S_ISSOCK(sb.st_mode))
		return -EBADF; /* closed or replaced before exec */
	if (!o) {
		o = ofd_new(SHIM_OFD_SYNACK);
		if (!o)
			return -ENOMEM;
		o->sock = sock;
		o->family = family == AF_INET6 ? AF_INET6 : AF_INET;
		fl = REAL(fcntl)(fd, F_GETFL);
		o->nonblock = fl >= 0 && (fl & O_NONBLOCK);
		/* The placeholder kept it across exec (shim/socket/opts.h). */
		atomic_store(&o->busy_poll_us, shim_busy_poll_of(fd));
	}
	if (fdt_install(fd, o) < 0) {
		if (!*same)
			free(o);
		return -EBADF;
	}
	*same = o;
	return 0;
}

void exec_handover_adopt(void)
{
	const char *list = getenv("SYNACK_INHERIT");
	struct shim_ofd *by_sock[INHERIT_MAX] = {0};
	int socks[INHERIT_MAX], nsocks = 0;
	const char *p = list;

	if (!getenv("SYNACK_SHM_SLOT"))
		return;
	if (rt_start() < 0) {
		unsetenv("SYNACK_INHERIT");
		unsetenv("SYNACK_SHM_SLOT");
		return;
	}
	while (p && *p && nsocks < INHERIT_MAX) {
		int fd, sock, family, used = 0, i;

		if (sscanf(p, "%d:%d:%d%n", &fd, &sock, &family, &used) != 3)
			break;
		p += used;
		if (*p == ',')
			p++;
		for (i = 0; i < nsocks && socks[i] != sock; i++)
			;
		if (install(fd, sock, family, &by_sock[i]) < 0)
			shim_log(SK_LOG_WARN, "exec: inherited fd %d (synack socket %d) is gone",
			         fd, sock);
		else if (i == nsocks)
			socks[nsocks++] = sock;
	}
	/* Sockets with no fd left here are let go of (close-on-exec). */
	shm_exec_adopt(socks, nsocks);
	unsetenv("SYNACK_INHERIT");
	unsetenv("SYNACK_SHM_SLOT");
	shim_log(SK_LOG_DEBUG, "exec: %d inherited synack socket(s) adopted", nsocks);
}
