/* Shared by the cmocka test programs: one temporary directory per program,
 * and paths inside it. */
#ifndef EISNET_TEST_TMPDIR_H
#define EISNET_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char test_dir[256];

/* Creates /tmp/eisnet_<tag>_XXXXXX. 0 or -1 (cmocka group setup style). */
static inline int test_dir_make(const char *tag)
{
    snprintf(test_dir, sizeof test_dir, "/tmp/eisnet_%s_XXXXXX", tag);
    return mkdtemp(test_dir) ? 0 : -1;
}

/* Removes it and everything in it. */
static inline int test_dir_remove(void)
{
    char cmd[sizeof test_dir + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* "<test_dir>/<name>", in one of 8 rotating buffers (several may be live). */
static inline const char *test_path(const char *name)
{
    static char buf[8][sizeof test_dir + 1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", test_dir, name);
    return buf[k];
}

#endif
