/*
 * http_auth.c - the request line and the Authorization header: api_route
 * (method, path) and http_bearer_ok (expected token, header).  Fields at
 * '\n': method, path, expected token, header.
 */
#include "api.h"
#include "fuzz.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[4];
    int n = fuzz_fields(data, size, '\n', f, 4);
    const char *allow = NULL;
    int r;

    if (n < 4) {
        fuzz_free_fields(f, n);
        return 0;
    }
    r = api_route(f[0], f[1], &allow);
    if (r < R_BAD_METHOD || r > R_CALLBACK || (r == R_BAD_METHOD && allow == NULL))
        abort();
    if (r >= 0 && strncmp(f[1], "/", 1) != 0)
        abort();
    if (http_bearer_ok(f[2], f[3])) {
        /* only the exact token after "Bearer " and blanks, never an empty one */
        const char *h = f[3] + 7;

        while (*h == ' ')
            h++;
        if (f[2][0] == '\0' || strcmp(h, f[2]) != 0)
            abort();
    }
    fuzz_free_fields(f, n);
    return 0;
}
