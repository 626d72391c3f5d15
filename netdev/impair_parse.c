/* SYNACK_IMPAIR parser: "loss=2%,dup=1%,reorder=3%,delay=5ms,seed=42".
 *
 * Written by hand rather than with strtod: the shim parses this inside an
 * arbitrary program, whose locale may use a decimal comma. Every error names
 * the field and shows the accepted form, since the user typed it in an
 * environment variable and sees nothing else.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "netdev.h"

/* Longest delay accepted: anything longer is a typo, not a test (and
 * would hold a whole transfer in the impairment queue). */
#define IMPAIR_DELAY_MAX_US SK_SEC(10)

/* Parse an unsigned decimal with an optional fraction at *p, advancing it.
 * False when no digit is present. */
static bool parse_decimal(const char **p, double *out)
{
	const char *s = *p;
	double v = 0, scale = 1;
	bool digits = false;

	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (*s++ - '0');
		digits = true;
	}
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9') {
			scale /= 10;
			v += (*s++ - '0') * scale;
			digits = true;
		}
	}
	*p = s;
	*out = v;
	return digits;
}

static bool parse_pct(const char *val, size_t len, double *out)
{
	const char *p = val, *end = val + len;

	if (!parse_decimal(&p, out))
		return false;
	if (p < end && *p == '%')
		p++;
	return p == end && *out <= 100.0;
}

static bool parse_delay(const char *val, size_t len, sk_time_t *out)
{
	static const struct {
		const char *unit;
		double us;
	} units[] = {{"us", 1}, {"ms", 1000}, {"s", 1000000}};
	const char *p = val, *end = val + len;
	double v;

	if (!parse_decimal(&p, &v))
		return false;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t ulen = strlen(units[i].unit);

		if ((size_t)(end - p) == ulen && memcmp(p, units[i].unit, ulen) == 0) {
			double us = v * units[i].us;

			if (us > (double)IMPAIR_DELAY_MAX_US)
				return false;
			*out = (sk_time_t)(us + 0.5);
			return true;
		}
	}
	return false;
}

static bool parse_seed(const char *val, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(val[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

enum field_kind { FIELD_PCT, FIELD_DELAY, FIELD_SEED };

#define PCT_FIELD(name, member)                                                                    \
	{                                                                                          \
		name, FIELD_PCT, offsetof(struct netdev_impair_cfg, member)                        \
	}

static const struct field {
	const char *name;
	enum field_kind kind;
	size_t pct_offset; /* FIELD_PCT: where the percentage goes in the cfg */
} fields[] = {
    PCT_FIELD("loss", loss_pct), PCT_FIELD("dup", dup_pct), PCT_FIELD("reorder", reorder_pct),
    {"delay", FIELD_DELAY, 0},   {"seed", FIELD_SEED, 0},
};

static const struct field *find_field(const char *key, size_t klen)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strlen(fields[i].name) == klen && memcmp(fields[i].name, key, klen) == 0)
			return &fields[i];
	return NULL;
}

static bool parse_value(const struct field *f, const char *val, size_t vlen,
                        struct netdev_impair_cfg *cfg)
{
	switch (f->kind) {
	case FIELD_DELAY:
		return parse_delay(val, vlen, &cfg->delay_us);
	case FIELD_SEED:
		return parse_seed(val, vlen, &cfg->seed);
	case FIELD_PCT:
		break;
	}
	return parse_pct(val, vlen, (double *)((char *)cfg + f->pct_offset));
}

static void bad_value(const struct field *f, const char *val, size_t vlen, char *err, size_t errlen)
{
	static const char *const expected[] = {
	    [FIELD_PCT] = "a percentage from 0 to 100, e.g. loss=2%",
	    [FIELD_DELAY] = "a duration up to 10s with a unit (us, ms, s), e.g. delay=5ms",
	    [FIELD_SEED] = "an unsigned decimal integer, e.g. seed=42",
	};

	snprintf(err, errlen, "SYNACK_IMPAIR: bad value '%.*s' for %s — expected %s", (int)vlen,
	         val, f->name, expected[f->kind]);
}

/* One "key=value" item of `len` bytes. */
static int parse_item(const char *item, size_t len, struct netdev_impair_cfg *cfg, char *err,
                      size_t errlen)
{
	const char *eq = memchr(item, '=', len);
	const struct field *f;
	size_t klen;

	if (!eq) {
		snprintf(err, errlen,
		         "SYNACK_IMPAIR: '%.*s' is not key=value — expected e.g. "
		         "loss=2%%,dup=1%%,reorder=3%%,delay=5ms,seed=42",
		         (int)len, item);
		return -EINVAL;
	}
	klen = (size_t)(eq - item);
	f = find_field(item, klen);
	if (!f) {
		snprintf(err, errlen,
		         "SYNACK_IMPAIR: unknown field '%.*s' — known fields are loss, dup, "
		         "reorder, delay, seed",
		         (int)klen, item);
		return -EINVAL;
	}
	if (!parse_value(f, eq + 1, len - klen - 1, cfg)) {
		bad_value(f, eq + 1, len - klen - 1, err, errlen);
		return -EINVAL;
	}
	return 0;
}

int netdev_impair_parse(const char *spec, struct netdev_impair_cfg *out, char *err, size_t errlen)
{
	struct netdev_impair_cfg cfg = {0};
	const char *p = spec ? spec : "";

	/* A fixed default seed: runs without seed= are reproducible too. */
	cfg.seed = 1;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		/* Tolerate an empty item ("loss=1%,,dup=1%" or a trailing
		 * comma): it says nothing wrong. */
		if (len > 0) {
			int rc = parse_item(p, len, &cfg, err, errlen);

			if (rc < 0)
				return rc;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	*out = cfg;
	return 0;
}
