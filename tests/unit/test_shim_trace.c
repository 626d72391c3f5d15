/* shim SYNACK_TRACE=states line format. */
#include <criterion/criterion.h>

#include "trace.h"

Test(shim_trace, established_line_carries_the_mss)
{
	struct sk_state_change ev = {
	    .now = SK_MS(1012) + 345,
	    .sock = 0,
	    .local = {0x0a4d0001u, 40000},
	    .remote = {0x0a4d0002u, 80},
	    .from = SK_TCP_SYN_SENT,
	    .to = SK_TCP_ESTABLISHED,
	    .cause = "rcv SYN+ACK",
	    .mss = 1460,
	};
	char buf[256];
	size_t n = shim_trace_format(buf, sizeof(buf), &ev, SK_MS(1000));

	cr_assert_str_eq(buf, "synack: trace 12.345 10.77.0.1:40000 > 10.77.0.2:80 SYN_SENT -> "
	                      "ESTABLISHED (rcv SYN+ACK) mss 1460\n");
	cr_assert_eq(n, strlen(buf));
}

Test(shim_trace, other_transitions_have_no_mss)
{
	struct sk_state_change ev = {
	    .now = SK_SEC(3),
	    .local = {0x0a4d0001u, 40000},
	    .remote = {0x0a4d0002u, 80},
	    .from = SK_TCP_FIN_WAIT_2,
	    .to = SK_TCP_TIME_WAIT,
	    .cause = "rcv FIN",
	    .mss = 1460,
	};
	char buf[256];

	shim_trace_format(buf, sizeof(buf), &ev, 0);
	cr_assert_str_eq(buf, "synack: trace 3000.000 10.77.0.1:40000 > 10.77.0.2:80 "
	                      "FIN_WAIT_2 -> TIME_WAIT (rcv FIN)\n");
}

Test(shim_trace, truncates_like_snprintf)
{
	struct sk_state_change ev = {.local = {1, 1},
	                             .remote = {2, 2},
	                             .from = SK_TCP_CLOSED,
	                             .to = SK_TCP_SYN_SENT,
	                             .cause = "connect()"};
	char buf[16];
	size_t n = shim_trace_format(buf, sizeof(buf), &ev, 0);

	cr_assert_eq(n, sizeof(buf) - 1);
	cr_assert_eq(buf[15], '\0');
}
