/* For the suites that re-execute their own binary with libsynack.so
 * preloaded (test_shim_preload, test_shm_stack): the scenario runs in a
 * constructor of the re-executed copy, before Criterion starts, and exits
 * with its verdict. */
#ifndef SYNACK_TESTS_PRELOAD_H
#define SYNACK_TESTS_PRELOAD_H

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct preload_scenario {
	const char *name;
	void (*fn)(void);
};

/* In a constructor: when the environment variable `var` names one of the
 * n scenarios, run it under an alarm of `seconds` (never hang a test run);
 * it exits, and so does an unknown name (127). Returns when var is not
 * set (Criterion's own run). */
static inline void preload_dispatch(const char *var, const struct preload_scenario *s, size_t n,
                                    unsigned seconds)
{
	const char *mode = getenv(var);

	if (!mode)
		return;
	alarm(seconds);
	for (size_t i = 0; i < n; i++)
		if (strcmp(mode, s[i].name) == 0)
			s[i].fn();
	_exit(127);
}

/* This binary (self, PATH_MAX) and the library next to its build tree
 * (lib, PATH_MAX + 32): build/tests/test_x -> build/shim/libsynack.so. */
static inline void preload_paths(char *self, char *lib)
{
	ssize_t n = readlink("/proc/self/exe", self, PATH_MAX - 1);
	char *slash;

	cr_assert(n > 0);
	self[n] = '\0';
	snprintf(lib, PATH_MAX + 32, "%s", self);
	slash = strrchr(lib, '/');
	cr_assert_not_null(slash);
	strcpy(slash, "/../shim/libsynack.so");
	cr_assert(access(lib, R_OK) == 0, "build the library first: %s", lib);
}

#endif
