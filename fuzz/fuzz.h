/*
 * fuzz.h - what the libFuzzer targets share: the entry point's prototype,
 * NUL-terminated copies of the input, splitting it into fields, and a
 * scratch file for the parsers that read a path.
 *
 * Each copy is malloc'd at its exact size, so that AddressSanitizer sees a
 * read one byte past the end of a field.
 */
#ifndef DG_FUZZ_H
#define DG_FUZZ_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libFuzzer's entry point, which each target defines: run one input, abort on a defect. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A malloc'd NUL-terminated copy of n bytes (a NUL inside ends the string early). */
static inline char *fuzz_str(const uint8_t *d, size_t n)
{
    char *s = malloc(n + 1);

    if (s == NULL)
        abort();
    memcpy(s, d, n);
    s[n] = '\0';
    return s;
}

/*
 * Split d at every sep into at most max malloc'd strings (the last one
 * takes the rest); returns how many.  Free them with fuzz_free_fields.
 */
static inline int fuzz_fields(const uint8_t *d, size_t n, char sep, char **out, int max)
{
    int k = 0;
    size_t start = 0;

    for (size_t i = 0; i <= n && k < max; i++)
        if (i == n || (d[i] == (uint8_t)sep && k < max - 1)) {
            out[k++] = fuzz_str(d + start, i - start);
            start = i + 1;
        }
    return k;
}

/* Free the n strings fuzz_fields made. */
static inline void fuzz_free_fields(char **f, int n)
{
    for (int i = 0; i < n; i++)
        free(f[i]);
}

static char fuzz_scratch[128];

/* Remove the scratch file (registered with atexit by fuzz_file). */
static inline void fuzz_remove_scratch(void)
{
    unlink(fuzz_scratch);
}

/*
 * Write d to a scratch file of this process with the given mode and return
 * its path (static storage).  The file is rewritten, not appended to.
 */
static inline const char *fuzz_file(const uint8_t *d, size_t n, mode_t mode)
{
    char *path = fuzz_scratch;
    int fd;

    if (path[0] == '\0') {
        const char *dir = getenv("TMPDIR");

        snprintf(path, sizeof(fuzz_scratch), "%s/dg-fuzz-%d", dir && dir[0] ? dir : "/tmp",
                 (int)getpid());
        atexit(fuzz_remove_scratch);
    }
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0 || fchmod(fd, mode) != 0 || (n > 0 && write(fd, d, n) != (ssize_t)n))
        abort();
    close(fd);
    return path;
}

/* Is s (NUL-terminated) within a buffer of len bytes? */
#define FUZZ_TERMINATED(buf) (memchr((buf), '\0', sizeof(buf)) != NULL)

#endif
