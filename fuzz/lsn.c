/* lsn.c - lsn_parse, and lsn_format of what it read reads back the same. */
#include "fuzz.h"
#include "walsender.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    uint64_t v = 0, v2 = 1;
    char buf[32];

    if (lsn_parse(s, &v)) {
        const char *slash = strchr(s, '/');

        /* X/Y: 1 to 8 hex digits each */
        if (slash == NULL || slash == s || slash - s > 8 || strlen(slash + 1) < 1 ||
            strlen(slash + 1) > 8)
            abort();
        lsn_format(v, buf, sizeof(buf));
        if (!lsn_parse(buf, &v2) || v2 != v)
            abort();
    }
    /* lsn_format's own output, from the bytes as a number, always parses */
    if (size >= 8) {
        uint64_t x;

        memcpy(&x, data, 8);
        lsn_format(x, buf, sizeof(buf));
        if (!lsn_parse(buf, &v2) || v2 != x)
            abort();
    }
    free(s);
    return 0;
}
