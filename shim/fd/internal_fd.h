/* Internal fds: the packet socket, libev's epoll and eventfd, the per-thread
 * eventfds. They are moved to a high fd number, out of the range programs
 * use and expect to be free (a daemon that closes 3..N, a server that
 * dup2()s onto 3), and marked in the fd table so that the program's
 * close()/dup2() cannot hit them (design brief §3). */
#ifndef SYNACK_SHIM_INTERNAL_FD_H
#define SYNACK_SHIM_INTERNAL_FD_H

/* Move fd (just created by synack) to the high base, close-on-exec, and
 * mark it internal. Returns the new number (fd itself if it could not be
 * moved: still marked). A negative fd is returned unchanged. */
int shim_internal_adopt(int fd);

/* Close an internal fd and forget its mark. */
void shim_internal_close(int fd);

#endif
