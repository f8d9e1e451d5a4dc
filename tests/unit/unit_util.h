/*
 * unit_util.h - helpers shared by the unit tests: a temporary directory per
 * test (created in setup, removed in teardown so a failed assertion does not
 * leave it behind), writing fixture files, reading a file back.
 */
#ifndef DG_UNIT_UTIL_H
#define DG_UNIT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Remove one entry of a tree walked depth-first. */
static inline int ut_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove a directory tree; quiet when it is already gone. */
static inline void ut_rm_tree(const char *dir)
{
    (void)nftw(dir, ut_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* cmocka setup: *state becomes a malloc'd path of a fresh temporary directory. */
static inline int ut_tmpdir_setup(void **state)
{
    const char *base = getenv("TMPDIR");
    char *dir = malloc(PATH_MAX);

    if (dir == NULL)
        return -1;
    snprintf(dir, PATH_MAX, "%s/dg-unit-XXXXXX", base && base[0] ? base : "/tmp");
    if (mkdtemp(dir) == NULL) {
        free(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

/* cmocka teardown: remove the temporary directory and free its path. */
static inline int ut_tmpdir_teardown(void **state)
{
    ut_rm_tree(*state);
    free(*state);
    return 0;
}

/* Build DIR/NAME into buf (PATH_MAX); fails the test when it does not fit. */
static inline void ut_path(char *buf, const char *dir, const char *name)
{
    int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);

    assert_true(n > 0 && n < PATH_MAX);
}

/* Write len bytes to DIR/NAME, creating or truncating it. */
static inline void ut_write_bytes(const char *dir, const char *name, const char *data, size_t len)
{
    char path[PATH_MAX];
    FILE *f;

    ut_path(path, dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Write a NUL-terminated text to DIR/NAME. */
static inline void ut_write_file(const char *dir, const char *name, const char *text)
{
    ut_write_bytes(dir, name, text, strlen(text));
}

/* Create DIR/NAME as a directory. */
static inline void ut_mkdir(const char *dir, const char *name)
{
    char path[PATH_MAX];

    ut_path(path, dir, name);
    assert_int_equal(mkdir(path, 0700), 0);
}

/* Read a whole file into a malloc'd NUL-terminated string (caller frees). */
static inline char *ut_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t n;

    assert_non_null(f);
    buf = calloc(1, 65536);
    assert_non_null(buf);
    n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* How many '\n'-terminated lines a string holds. */
static inline int ut_count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

#endif
