/*
 * token.c - the token file as the daemon reads it (http_token_read) and as
 * the clients and hooks do (client_read_token): the input is the file.  A
 * token either accepts is non-empty, printable, without trailing blanks;
 * what the daemon accepts, the clients read the same.
 */
#include <ctype.h>

#include "client.h"
#include "fuzz.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, 0600);
    char *tok = NULL, ctok[CLIENT_MAX_TOKEN + 1], err[512];
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
        char hdr[CLIENT_MAX_TOKEN + 16];

        snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
        if (!http_bearer_ok(tok, hdr))
            abort();
    }
    err[0] = '\0';
    c = client_read_token(path, ctok, sizeof(ctok), err, sizeof(err));
    if (!c && err[0] == '\0')
        abort();
    if (d && (!c || strcmp(tok, ctok) != 0))
        abort(); /* a token the daemon takes, the client must send the same */
    free(tok);
    return 0;
}
