/*
 * pidfile.c - postmaster.pid: pidfile_parse on the text, and
 * pidfile_read on the same text written into a scratch data
 * directory (each "@PGDATA@" in the input replaced by that directory's
 * path, so that line 2 can name it).  What is accepted has every line the
 * proof needs present and taken whole; a file read as OK names the
 * directory it was read from.
 */
#include <limits.h>

#include "fuzz.h"
#include "pidfile.h"

static char pgdata[PATH_MAX];

static void remove_pgdata(void)
{
    char path[PATH_MAX + 32];

    snprintf(path, sizeof(path), "%s/postmaster.pid", pgdata);
    unlink(path);
    rmdir(pgdata);
}

/* Line n (1-based) of text, exactly as it is there, into a malloc'd string; NULL when absent. */
static char *line_of(const char *text, int n)
{
    const char *p = text, *e;

    for (int i = 1; i < n; i++) {
        if ((p = strchr(p, '\n')) == NULL)
            return NULL;
        p++;
    }
    e = strchr(p, '\n');
    return strndup(p, e ? (size_t)(e - p) : strlen(p));
}

/* text with every @PGDATA@ replaced by the scratch directory */
static char *substitute(const char *text)
{
    size_t cap = strlen(text) * (strlen(pgdata) + 1) + 1, o = 0;
    char *out = malloc(cap);

    if (out == NULL)
        abort();
    for (const char *p = text; *p;)
        if (strncmp(p, "@PGDATA@", 8) == 0) {
            o += (size_t)sprintf(out + o, "%s", pgdata);
            p += 8;
        } else
            out[o++] = *p++;
    out[o] = '\0';
    return out;
}

static void check_parsed(const char *text, const struct pidfile *pf)
{
    char *l2 = line_of(text, 2);

    if (pf->pid <= 0 || pf->datadir[0] != '/' || pf->start_time <= 0 || pf->nlines < 3 ||
        pf->nlines > 8 || pf->port < 0 || pf->port > 65535 || !FUZZ_TERMINATED(pf->datadir) ||
        !FUZZ_TERMINATED(pf->socket_dir) || pf->status > PIDFILE_STATUS_STANDBY)
        abort();
    /* line 2 proves whose file it is: taken whole, never cut short */
    if (l2 == NULL || strcmp(l2, pf->datadir) != 0)
        abort();
    free(l2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size), *text, path[PATH_MAX + 32];
    struct pidfile pf;
    char err[512];
    enum pidfile_result r;
    int fd;

    if (pgdata[0] == '\0') {
        const char *dir = getenv("TMPDIR");

        snprintf(pgdata, sizeof(pgdata), "%s/dg-fuzz-pgdata-XXXXXX", dir && dir[0] ? dir : "/tmp");
        if (mkdtemp(pgdata) == NULL)
            abort();
        atexit(remove_pgdata);
    }
    err[0] = '\0';
    if (pidfile_parse(s, &pf, err, sizeof(err))) {
        check_parsed(s, &pf);
        if (pf.dir_ino != 0)
            abort(); /* a parse alone proves no directory */
    } else if (err[0] == '\0')
        abort(); /* a refusal says why */

    text = substitute(s);
    snprintf(path, sizeof(path), "%s/postmaster.pid", pgdata);
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
    err[0] = '\0';
    r = pidfile_read(pgdata, &pf, err, sizeof(err));
    if (r == PIDFILE_OK) {
        struct stat a, b;

        check_parsed(text, &pf);
        if (stat(pgdata, &a) != 0 || stat(pf.datadir, &b) != 0 || a.st_ino != b.st_ino ||
            a.st_dev != b.st_dev || pf.dir_ino != a.st_ino)
            abort(); /* OK only for a file that names this directory */
    } else if (err[0] == '\0' || pf.pid != 0)
        abort();
    free(text);
    free(s);
    return 0;
}
