/* libFuzzer harness: the SYNACK_* environment parser (shim/runtime/config.c, which
 * links alone with netdev/impair_parse.c; docs/configuration.md). The input
 * is the environment, one NAME=VALUE per line; the lookup function returns
 * the value of the first line naming the variable (NULL when none does).
 * Whatever the values, the parse returns, and then: valid means the
 * required fields are there and in range; invalid means one line of error
 * text, NUL-terminated within the buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../shim/runtime/config.h"

#define CHECK(c)                                                                   \
	do {                                                                       \
		if (!(c)) {                                                        \
			fprintf(stderr, "fuzz_config: %s\n", #c);                  \
			abort();                                                   \
		}                                                                  \
	} while (0)

#define MAX_VARS 32

struct env {
	char *names[MAX_VARS], *values[MAX_VARS];
	int n;
};

static const char *lookup(const char *name, void *ctx)
{
	const struct env *e = ctx;

	for (int i = 0; i < e->n; i++)
		if (strcmp(e->names[i], name) == 0)
			return e->values[i];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct env e = {.n = 0};
	struct shim_config *c = malloc(sizeof(*c));
	char *text = malloc(size + 1);

	CHECK(c && text);
	memcpy(text, data, size);
	text[size] = '\0';
	for (char *line = text, *next; line && e.n < MAX_VARS; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		e.names[e.n] = line;
		e.values[e.n] = eq + 1;
		e.n++;
	}
	memset(c, 0xa5, sizeof(*c)); /* every field must be set by the parse */
	bool ok = shim_config_parse(c, lookup, &e);

	CHECK(ok == c->valid);
	if (ok) {
		CHECK(c->iface[0] != '\0' && memchr(c->iface, '\0', sizeof(c->iface)));
		CHECK(c->prefix_len >= 1 && c->prefix_len <= 32);
		CHECK(memchr(c->pcap, '\0', sizeof(c->pcap)));
		CHECK(c->max_sockets >= 1);
		if (c->impair) {
			CHECK(c->impair_cfg.loss_pct >= 0 && c->impair_cfg.loss_pct <= 100);
			CHECK(c->impair_cfg.dup_pct >= 0 && c->impair_cfg.dup_pct <= 100);
			CHECK(c->impair_cfg.reorder_pct >= 0 && c->impair_cfg.reorder_pct <= 100);
		}
		struct sk_config sc;
		sk_config_defaults(&sc);
		shim_config_stack(c, &sc);
	} else {
		CHECK(memchr(c->err, '\0', sizeof(c->err)) && c->err[0] != '\0');
		CHECK(!strchr(c->err, '\n'));
	}
	free(text);
	free(c);
	return 0;
}
