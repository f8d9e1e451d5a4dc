/* proc_stat.c - proc_parse_stat: /proc/PID/stat, the command name in parentheses. */
#include "fuzz.h"
#include "proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    struct proc_stat st;

    if (proc_parse_stat(s, &st)) {
        if (st.pid <= 0 || st.start_ticks == 0 || !FUZZ_TERMINATED(st.comm))
            abort();
    }
    free(s);
    return 0;
}
