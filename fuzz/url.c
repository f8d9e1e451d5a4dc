/*
 * url.c - --url and DEMOTION_GUARD_URL: transport_endpoint.  The first line
 * of the input is the request path, the rest the URL.  An accepted URL
 * gives an http(s):// URL ending in the path, or a unix socket path.
 */
#include "fuzz.h"
#include "transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[2];
    int n = fuzz_fields(data, size, '\n', f, 2);
    struct transport_endpoint ep;
    char err[TRANSPORT_MSG_LEN];

    if (n == 2) {
        err[0] = '\0';
        if (transport_endpoint(f[1], f[0], &ep, err, sizeof(err))) {
            size_t ul = strnlen(ep.url, sizeof(ep.url)), pl = strlen(f[0]);

            if (ul == sizeof(ep.url) || !FUZZ_TERMINATED(ep.socket) ||
                (strncmp(ep.url, "http://", 7) != 0 && strncmp(ep.url, "https://", 8) != 0) ||
                ul < pl || strcmp(ep.url + ul - pl, f[0]) != 0)
                abort();
            if (strncmp(f[1], "unix:", 5) == 0 && ep.socket[0] == '\0')
                abort();
        } else if (err[0] == '\0')
            abort();
    }
    fuzz_free_fields(f, n);
    return 0;
}
