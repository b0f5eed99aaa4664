/* eisnet/fileio.h: atomic writes (the file appears whole or not at all, no
 * temporary file is left behind), whole-file reads with their limits,
 * directories, path joins and checkpoint stems. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eisnet/error.h"
#include "eisnet/fileio.h"
#include "test_tmpdir.h"

static int setup(void **state)
{
    (void)state;
    return test_dir_make("fileio");
}

static int teardown(void **state)
{
    (void)state;
    return test_dir_remove();
}

/* Entries of dir other than . and .. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static void test_write_and_read(void **state)
{
    (void)state;
    const char *p = test_path("a.bin");
    const char data[] = "line one\nline two\0binary";
    assert_int_equal(eisnet_write_file_atomic(p, data, sizeof data), 0);
    char *got = NULL;
    size_t n = 0;
    assert_int_equal(eisnet_read_file(p, 1024, &got, &n), 0);
    assert_int_equal(n, sizeof data);
    assert_memory_equal(got, data, sizeof data);
    assert_int_equal(got[n], '\0'); /* terminated for convenience */
    free(got);
    /* overwriting replaces the whole content */
    assert_int_equal(eisnet_write_file_atomic(p, "xy", 2), 0);
    assert_int_equal(eisnet_read_file(p, 1024, &got, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(got, "xy", 2);
    free(got);
    /* an empty file */
    assert_int_equal(eisnet_write_file_atomic(test_path("empty"), "", 0), 0);
    assert_int_equal(eisnet_read_file(test_path("empty"), 16, &got, &n), 0);
    assert_int_equal(n, 0);
    free(got);
}

static void test_read_limits(void **state)
{
    (void)state;
    const char *p = test_path("big.txt");
    char buf[100];
    memset(buf, 'x', sizeof buf);
    assert_int_equal(eisnet_write_file_atomic(p, buf, sizeof buf), 0);
    char *got = NULL;
    size_t n = 0;
    assert_int_equal(eisnet_read_file(p, 99, &got, &n), -1);
    assert_null(got);
    assert_int_equal(eisnet_read_file(p, 100, &got, &n), 0);
    free(got);
    got = NULL;
    assert_int_equal(eisnet_read_file(test_path("missing"), 100, &got, &n), -1);
    assert_non_null(strstr(eisnet_last_error(), "missing"));
    /* a directory is not a regular file */
    assert_int_equal(mkdir(test_path("d"), 0700), 0);
    assert_int_equal(eisnet_read_regular_file(test_path("d"), 100, &got, &n), -1);
    assert_int_equal(eisnet_read_regular_file(p, 100, &got, &n), 0);
    assert_int_equal(n, 100);
    free(got);
}

static void test_atomic_abort_and_commit(void **state)
{
    (void)state;
    assert_int_equal(eisnet_ensure_dir(test_path("at")), 0);
    const char *p = test_path("at/f.txt");
    eisnet_atomic_file af;
    assert_int_equal(eisnet_atomic_open(&af, p), 0);
    assert_int_equal(eisnet_atomic_write(&af, "partial", 7), 0);
    /* nothing under the final name before the commit */
    struct stat st;
    assert_int_not_equal(stat(p, &st), 0);
    eisnet_atomic_abort(&af);
    eisnet_atomic_abort(&af); /* safe twice */
    assert_int_equal(entries(test_path("at")), 0);
    assert_int_equal(eisnet_atomic_open(&af, p), 0);
    assert_int_equal(eisnet_atomic_write(&af, "whole", 5), 0);
    assert_int_equal(eisnet_atomic_commit(&af), 0);
    assert_int_equal(entries(test_path("at")), 1); /* the file, no temporary */
    char *got = NULL;
    size_t n = 0;
    assert_int_equal(eisnet_read_file(p, 100, &got, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(got, "whole", 5);
    free(got);
    /* a file in a directory that does not exist fails cleanly */
    assert_int_equal(eisnet_write_file_atomic(test_path("no/such/dir/f"), "x", 1), -1);
}

static void test_dirs_and_paths(void **state)
{
    (void)state;
    const char *d = test_path("x/y/z");
    assert_int_equal(eisnet_ensure_dir(d), 0);
    struct stat st;
    assert_int_equal(stat(d, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(eisnet_ensure_dir(d), 0); /* already there */
    /* a file where a directory should be */
    assert_int_equal(eisnet_write_file_atomic(test_path("file"), "x", 1), 0);
    assert_int_equal(eisnet_ensure_dir(test_path("file")), -1);
    char *j = eisnet_path_join("dir", "name.txt");
    assert_string_equal(j, "dir/name.txt");
    free(j);
    static const char *const cases[][2] = {
        {"x/model.safetensors", "x/model"}, {"x/model.npz", "x/model"}, {"model", "model"},
        {"a.b/m.last.safetensors", "a.b/m.last"}, {".safetensors", ".safetensors"}, {"m.txt", "m.txt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = eisnet_checkpoint_stem(cases[i][0]);
        assert_non_null(s);
        assert_string_equal(s, cases[i][1]);
        free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_and_read),
        cmocka_unit_test(test_read_limits),
        cmocka_unit_test(test_atomic_abort_and_commit),
        cmocka_unit_test(test_dirs_and_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
