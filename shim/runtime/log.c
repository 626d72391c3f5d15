/* stderr logging (see log.h). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "../intercept/real.h"

static _Atomic int current_level = SK_LOG_WARN;

void shim_log_set_level(enum sk_log_level level)
{
	current_level = (int)level;
}

enum sk_log_level shim_log_level(void)
{
	return (enum sk_log_level)current_level;
}

void shim_log_raw(const char *buf, size_t len)
{
	int saved = errno; /* logging must never change what the program sees */

	while (len > 0) {
		ssize_t n = REAL(write)(2, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf += n;
		len -= (size_t)n;
	}
	errno = saved;
}

void shim_log(enum sk_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error: ", "warning: ", "", "debug: "};
	char line[512];
	va_list ap;
	int n, m;

	if ((int)level > current_level)
		return;
	n = snprintf(line, sizeof(line), "synack: %s", names[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	shim_log_raw(line, (size_t)n);
}
