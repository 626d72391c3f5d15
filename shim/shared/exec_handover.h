/* exec: sockets without close-on-exec survive into the new image
 * (exec_handover.c). */
#ifndef SYNACK_SHIM_EXEC_HANDOVER_H
#define SYNACK_SHIM_EXEC_HANDOVER_H

struct exec_handover {
	char **env; /* the new image's environment; NULL: pass envp unchanged */
	char slot[64], packet[32], lock[32];
	int packet_fd, packet_flags, lock_fd, lock_flags;
};

/* Before an exec with environment envp: h->env (when set) is what to
 * pass instead. 0, or -ENOMEM. */
int exec_handover_prepare(struct exec_handover *h, char *const envp[]);
/* The exec returned (failed): undo (errno kept). */
void exec_handover_failed(struct exec_handover *h);

/* The new image's constructor: attach and install the inherited fds. */
void exec_handover_adopt(void);

#endif
