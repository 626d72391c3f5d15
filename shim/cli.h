/* The verbs of the `synack` command beyond run and lab (synack_cli.c
 * dispatches; docs/operations.md shows each one's output). Each takes the
 * verb's own argv (argv[0] is the verb) and returns the exit status. */
#ifndef SYNACK_SHIM_CLI_H
#define SYNACK_SHIM_CLI_H

#include <stdbool.h>
#include <stddef.h>

/* cli_query.c: the live connection table and counters of running synack
 * processes, read from their query socket (query.h). */
int cli_ss(int argc, char **argv);
int cli_stat(int argc, char **argv);

/* cli_check.c: can this machine run synack on IF with A/N? */
int cli_check(int argc, char **argv);

/* cli_iface.c: a macvlan or ipvlan child of a real interface for synack. */
int cli_iface(int argc, char **argv);

/* "synack: " + the message + "\n" on stderr; returns status. */
int cli_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
