/* The operator's query socket: what `synack ss` and `synack stat` read from
 * a running program (docs/operations.md).
 *
 * Every process running a synack stack listens on the abstract AF_UNIX
 * stream socket "\0synack.<pid>" (abstract names belong to the network
 * namespace: the tool finds them in /proc/net/unix). The runtime thread
 * serves it from its libev loop, non-blocking, so a query never stops the
 * program: a client sends one request line ("ss" or "stat"), the answer is
 * built under the stack lock (taken for a bounded number of sockets at a
 * time) and written back as the client reads it; then the connection is
 * closed. Only the process's own user and root are answered (SO_PEERCRED).
 *
 * The answer is text, one record per line:
 *   synack 1 pid=N uid=N comm=NAME iface=IF addr=A/N uptime_us=N
 *   stat NAME VALUE       a counter (the SYNACK_STATS list, stats.h)
 *   gauge NAME VALUE      a state, not a count (dev_vnet_hdr...)
 *   sock id=N fds=3,5 owned=1 parent=-1 state=N local=A:P peer=A:P rq=N sq=N
 *        age_us=N cc=cubic KEY=VALUE...   (ss only: one per socket in use)
 *   truncated             the answer hit its size bound (QUERY_REPLY_MAX)
 *   end
 * or a single "error TEXT" line.
 */
#ifndef SYNACK_SHIM_QUERY_H
#define SYNACK_SHIM_QUERY_H

#include <ev.h>

/* "synack." followed by the pid: the abstract name's prefix. */
#define SHIM_QUERY_PREFIX "synack."

/* Listen and serve from loop (called where the runtime thread's loop is
 * set up, before the thread runs). A process that is not the one that
 * opened the socket (daemon()'s child carrying the stack on) replaces it
 * with its own. A failure is logged; the program runs on without it. */
void shim_query_start(struct ev_loop *loop);

/* Close the socket and every client connection, without touching the
 * loop (fork's child: the parent's loop is not its own). */
void shim_query_stop(void);

#endif
