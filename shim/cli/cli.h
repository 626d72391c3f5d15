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

/* cli_elf.c: why the program at path (found in PATH when it has no '/')
 * cannot be served through LD_PRELOAD, written into why (one line, no
 * newline): a static binary, a Go program; a script is judged by its
 * interpreter. false when nothing is known against it. */
bool cli_elf_unservable(const char *path, char *why, size_t len);

/* "synack: " + the message + "\n" on stderr; returns status. */
int cli_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
