/*
 * token.c - the bearer token file, read the same way by the daemon and by
 * the clients and hooks: what one accepts, the other sends unchanged
 *
 * The rule: a regular file (opened with O_NONBLOCK, so a FIFO is refused
 * at once instead of hanging a hook), at most TOKEN_MAX_BYTES, its content
 * without trailing whitespace, printable ASCII without blanks, not empty.
 * The daemon, which guards the secret, also refuses a file others may read.
 */
#include "token.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * PostgreSQL's rule for its key files: nobody but the owner may read it,
 * except the group when root owns it (a Kubernetes Secret mounted with an
 * fsGroup is root:GROUP 0440).  Nobody else may ever write it.
 */
bool token_mode_private(const struct stat *st)
{
    mode_t m = st->st_mode & 07777;

    if (!S_ISREG(st->st_mode))
        return false;
    return st->st_uid == 0 ? (m & 0037) == 0 : (m & 0077) == 0;
}

/* Open path without blocking and stat it; -1 with err naming the file. */
static int token_open(const char *path, struct stat *st, char *err, size_t errlen)
{
    /* O_NONBLOCK: a FIFO opens at once (and is refused after) instead of blocking */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0 || fstat(fd, st) != 0) {
        snprintf(err, errlen, "could not open token file \"%s\": %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Is the opened file one this reader takes?  False with err naming the file. */
static bool token_file_ok(const char *path, const struct stat *st, enum token_reader who, char *err,
                          size_t errlen)
{
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "token file \"%s\" is not a regular file", path);
        return false;
    }
    if (who == TOKEN_FOR_DAEMON && !token_mode_private(st)) {
        snprintf(err, errlen,
                 "token file \"%s\" may be read by others (mode %04o, owner uid %u): make it "
                 "0600 or stricter, or 0640 or stricter if owned by root",
                 path, (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid);
        return false;
    }
    return true;
}

/* Read up to cap bytes of fd into buf (a short read is retried); -1 on an error. */
static ssize_t token_read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;

    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    return (ssize_t)n;
}

/* Check the n bytes of token (trailing whitespace already cut); false with err naming the file. */
static bool token_text_ok(const char *path, const char *token, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (token[i] <= ' ' || token[i] > '~') { /* a NUL too: the token would be cut there */
            snprintf(err, errlen,
                     "token file \"%s\": the token must be printable ASCII without blanks", path);
            return false;
        }
    if (n == 0) {
        snprintf(err, errlen, "token file \"%s\" is empty", path);
        return false;
    }
    return true;
}

/*
 * One byte more than the token may hold is read, to tell a file that is
 * too long (the limit is on the file, trailing whitespace included); the
 * copy on the stack is wiped either way.
 */
bool token_read(const char *path, enum token_reader who, char *token, size_t len, char *err,
                size_t errlen)
{
    char buf[TOKEN_MAX_BYTES + 2];
    size_t max = len - 1 < TOKEN_MAX_BYTES ? len - 1 : TOKEN_MAX_BYTES;
    struct stat st;
    ssize_t n;
    bool ok;
    int fd;

    if (len < 2) { /* no room for a token of one byte and its NUL */
        snprintf(err, errlen, "could not read token file \"%s\": no room for a token", path);
        return false;
    }
    token[0] = '\0';
    fd = token_open(path, &st, err, errlen);
    if (fd < 0)
        return false;
    if (!token_file_ok(path, &st, who, err, errlen)) {
        close(fd);
        return false;
    }
    n = token_read_all(fd, buf, max + 1);
    if (n < 0)
        snprintf(err, errlen, "could not read token file \"%s\": %s", path, strerror(errno));
    else if ((size_t)n > max)
        snprintf(err, errlen, "could not read token file \"%s\": longer than %zu bytes", path, max);
    close(fd);
    if (n < 0 || (size_t)n > max) {
        explicit_bzero(buf, sizeof(buf));
        return false;
    }
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    ok = token_text_ok(path, buf, (size_t)n, err, errlen);
    if (ok)
        memcpy(token, buf, (size_t)n + 1);
    explicit_bzero(buf, sizeof(buf));
    return ok;
}
