/* The keeper: when the last process using a stack exits while connections
 * are still closing (FIN_WAIT, CLOSING, LAST_ACK, TIME_WAIT), the kernel
 * would carry them to their end after the process is gone; so does a small
 * process forked from the last one, holding only the stack and the packet
 * socket. It leaves as soon as the arena is empty (and removes the stack),
 * another program attaches (which carries them on), or the interface goes.
 * The exiting program does not wait for its TIME_WAITs, nor loses them. */
#ifndef SYNACK_SHIM_SHARED_KEEPER_H
#define SYNACK_SHIM_SHARED_KEEPER_H

#include <stdbool.h>

#include "../../core/sk_time.h"

/* In the exiting process, after its sockets were closed and the linger
 * ran: fork the keeper, which holds the stack and the packet socket.
 * Returns in the parent only: true when the keeper runs. */
bool shm_keeper_start(sk_time_t give_up);

#endif
