/* Flag validation for every command, run once before any work. */
#ifndef EISNET_CLI_VALIDATE_H
#define EISNET_CLI_VALIDATE_H

#include "cli.h"

/* More threads than this is a typo, not a machine: OpenMP runtimes crash
 * (stack overflow) long before 100000 threads. */
#define CLI_MAX_THREADS 1024

/* 0, or -1 after printing one line naming the flag. */
int cli_validate(const cli_options *o);
int cli_flag_given(const cli_options *o, const char *name);
/* The nearest existing ancestor of dir is a writable directory; -1 after
 * printing "eisnet CMD: FLAG: ..." otherwise. */
int cli_check_writable_dir(const char *cmd, const char *flag, const char *dir);

#endif
