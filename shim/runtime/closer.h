/* The packet socket's last reference, dropped away from the exiting
 * program (closer.c). */
#ifndef SYNACK_SHIM_RUNTIME_CLOSER_H
#define SYNACK_SHIM_RUNTIME_CLOSER_H

#include <stdbool.h>

/* At exit, after synack's own exit work: a detached child takes a
 * reference of the packet socket `fd` and drops it once every thread of
 * this process has exited, so that this process's close is not the last
 * one (which waits for an RCU grace period). True when the child holds it;
 * false when it could not be made (the program then pays the wait). */
bool shim_close_later(int fd);

/* Close every fd but a and b (either may be -1): a child that must hold
 * none of the program's files (closer.c, shared/keeper.c). */
void shim_close_all_but(int a, int b);

#endif
