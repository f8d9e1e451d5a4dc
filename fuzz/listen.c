/*
 * listen.c - --listen: listen_check.  Accepted: "off", "unix:/path"
 * under 108 bytes, or a numeric IP:PORT / [IPv6]:PORT; a non-loopback
 * address only with a token.  Refusals name the option.
 */
#include "listen.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    char err[512];
    bool with, without;

    err[0] = '\0';
    without = listen_check(s, false, err, sizeof(err));
    if (!without && (strstr(err, "--listen") == NULL || strlen(err) >= sizeof(err) - 1))
        abort(); /* a refusal names the option, and is not cut */
    err[0] = '\0';
    with = listen_check(s, true, err, sizeof(err));
    if (!with && (strstr(err, "--listen") == NULL || strlen(err) >= sizeof(err) - 1))
        abort();
    if (without && !with)
        abort(); /* a token never makes an address worse */
    if (with && strcmp(s, "off") != 0 && strncmp(s, "unix:/", 6) != 0 && strchr(s, ':') == NULL)
        abort();
    free(s);
    return 0;
}
