/*
 * token.c - the token file as the daemon reads it (http_token_read) and as
 * the clients and hooks do (token_read for a client): the input is the
 * file.  A token either accepts is non-empty, printable, without trailing
 * blanks; the file is owner-only, so both take the same files, and what
 * the daemon accepts the clients send unchanged.
 */
#include <ctype.h>

#include "fuzz.h"
#include "http.h"
#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, 0600);
    char *tok = NULL, ctok[TOKEN_MAX_BYTES + 1], err[512];
    bool d, c;

    err[0] = '\0';
    d = http_token_read(path, &tok, err, sizeof(err));
    if (!d && (tok != NULL || err[0] == '\0'))
        abort();
    if (d) {
        size_t n = strlen(tok);

        if (n == 0 || isspace((unsigned char)tok[n - 1]))
            abort();
        for (size_t i = 0; i < n; i++)
            if (tok[i] <= ' ' || tok[i] > '~')
                abort();
        /* the daemon's own bearer check takes it */
        char hdr[TOKEN_MAX_BYTES + 16];

        snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
        if (!http_bearer_ok(tok, hdr))
            abort();
    }
    err[0] = '\0';
    c = token_read(path, TOKEN_FOR_CLIENT, ctok, sizeof(ctok), err, sizeof(err));
    if (!c && (err[0] == '\0' || ctok[0] != '\0'))
        abort();
    if (c != d || (d && strcmp(tok, ctok) != 0))
        abort(); /* one rule: the same files, the same token */
    free(tok);
    return 0;
}
