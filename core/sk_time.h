/* Time in core/ is an argument, never read from a clock (design brief §8).
 * Unit: microseconds on a monotonic clock chosen by the caller. */
#ifndef SYNACK_CORE_SK_TIME_H
#define SYNACK_CORE_SK_TIME_H

#include <stdint.h>

typedef uint64_t sk_time_t;

#define SK_TIME_NEVER UINT64_MAX
#define SK_US(x) ((sk_time_t)(x))
#define SK_MS(x) ((sk_time_t)(x) * 1000u)
#define SK_SEC(x) ((sk_time_t)(x) * 1000000u)

#endif
