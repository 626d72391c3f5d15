/* libFuzzer harness: the SYNACK_IMPAIR parser (netdev/impair_parse.c). The
 * input is the specification text. Accepted: every percentage in 0..100
 * and the delay within its 10 s bound; refused: -EINVAL and a message,
 * NUL-terminated within the buffer and naming something.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../netdev/netdev.h"

#define CHECK(c)                                                                   \
	do {                                                                       \
		if (!(c)) {                                                        \
			fprintf(stderr, "fuzz_impair: %s\n", #c);                  \
			abort();                                                   \
		}                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *spec = malloc(size + 1);
	char err[200];
	struct netdev_impair_cfg cfg;

	CHECK(spec);
	memcpy(spec, data, size);
	spec[size] = '\0';
	memset(err, 'x', sizeof(err));
	int r = netdev_impair_parse(spec, &cfg, err, sizeof(err));
	if (r == 0) {
		CHECK(cfg.loss_pct >= 0 && cfg.loss_pct <= 100);
		CHECK(cfg.dup_pct >= 0 && cfg.dup_pct <= 100);
		CHECK(cfg.reorder_pct >= 0 && cfg.reorder_pct <= 100);
		CHECK(cfg.delay_us >= 0 && cfg.delay_us <= SK_SEC(10));
	} else {
		CHECK(r == -EINVAL);
		CHECK(memchr(err, '\0', sizeof(err)) && err[0] != '\0');
	}
	/* A small error buffer truncates, never overflows. */
	char small[8];
	netdev_impair_parse(spec, &cfg, small, sizeof(small));
	free(spec);
	return 0;
}
