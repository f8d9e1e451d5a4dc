/* duration.c - config_parse_duration: --deadline, --stall-after, --timeout, arm bodies. */
#include <ctype.h>

#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    int64_t ms = -2;

    if (config_parse_duration(s, &ms)) {
        size_t n = strlen(s);
        char again[64];
        int64_t ms2 = -2;

        /* a whole number and a unit, nothing else; 0 to 7 days */
        if (!isdigit((unsigned char)s[0]) || n < 2 || ms < 0 || ms > 7LL * 24 * 3600 * 1000)
            abort();
        /* the same value in ms reads back the same */
        snprintf(again, sizeof(again), "%lldms", (long long)ms);
        if (!config_parse_duration(again, &ms2) || ms2 != ms)
            abort();
    }
    free(s);
    return 0;
}
