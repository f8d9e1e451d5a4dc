/*
 * proc_title.c - proc_parse_title for every major the guard knows (0:
 * unknown, 9 to 19): a title that is not "postgres: ..." is never a
 * walsender, START_REPLICATION is seen only from 14 on, and "streaming"
 * only with a walsender's prefix.
 */
#include "fuzz.h"
#include "proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int majors[] = {9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
    char *s = fuzz_str(data, size);
    enum proc_title any = proc_parse_title(s, 0);

    if (any > TITLE_STREAMING || (any != TITLE_OTHER && strncmp(s, "postgres: ", 10) != 0))
        abort();
    for (size_t i = 0; i < sizeof(majors) / sizeof(majors[0]); i++) {
        enum proc_title t = proc_parse_title(s, majors[i]);

        if (t > TITLE_STREAMING || (t != TITLE_OTHER && strncmp(s, "postgres: ", 10) != 0))
            abort();
        if (t == TITLE_STREAMING && strstr(s, " streaming ") == NULL)
            abort();
        /* START_REPLICATION in a title exists from 14 on */
        if (t == TITLE_START_REPLICATION && majors[i] < 14)
            abort();
    }
    free(s);
    return 0;
}
