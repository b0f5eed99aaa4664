/* The locks of a command's run (src/cli/cli_lock.c). */
#ifndef EISNET_CLI_LOCK_H
#define EISNET_CLI_LOCK_H

#include "cli.h"
#include "eisnet/lock.h"

/* 0, or -1 after printing one line (another run holds a lock). */
int cli_lock_take(const cli_options *o, eisnet_lock locks[2]);
/* failed: the run failed; a data directory created for the lock goes too. */
void cli_lock_release(eisnet_lock locks[2], int failed);

#endif
