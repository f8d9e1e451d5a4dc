/*
 * token.h - the bearer token file: one reader and one rule, for the daemon
 * (--token-file) and for the clients and hooks that send the token
 */
#ifndef DG_TOKEN_H
#define DG_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#define TOKEN_MAX_BYTES 4096 /* a longer token file is refused */

/* Who reads the file: the daemon also refuses one that others may read. */
enum token_reader { TOKEN_FOR_CLIENT, TOKEN_FOR_DAEMON };

/* Is st a regular file nobody but its owner may read (the group too when root owns it),
   and nobody else write?  PostgreSQL's rule for its key files. */
bool token_mode_private(const struct stat *st);

/* Read the token of the file at path into token (len bytes): the content without trailing
   whitespace, printable ASCII without blanks, not empty, at most len - 1 bytes.  Opens
   without blocking and takes a regular file only (a FIFO is refused at once); for the
   daemon the file must also pass token_mode_private.  False with err naming the file;
   the token never appears in err. */
bool token_read(const char *path, enum token_reader who, char *token, size_t len, char *err,
                size_t errlen) __attribute__((warn_unused_result));

#endif
