/* The two TCP options whose values are not ints: TCP_INFO (get) and
 * TCP_CONGESTION (get/set), on an offloaded socket. */
#ifndef SYNACK_SHIM_TCP_INFO_H
#define SYNACK_SHIM_TCP_INFO_H

#include <sys/socket.h>

#include "../../core/stack.h"

/* Fill the program's struct tcp_info from core's figures, Linux's length
 * rules (copies min(*len, sizeof), sets *len). 0 or -errno. */
int shim_tcp_info_get(const struct sk_tcp_info *in, void *val, socklen_t *len);

/* "cubic" / "reno" -> SK_OPT_CONGESTION value; -ENOENT for any other name
 * (as Linux for an algorithm it does not have). */
int shim_congestion_parse(const void *val, socklen_t len);

/* The algorithm's name, NUL-padded to TCP_CA_NAME_MAX as Linux copies it. */
int shim_congestion_get(int algo, void *val, socklen_t *len);

#endif
