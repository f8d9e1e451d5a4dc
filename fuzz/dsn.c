/*
 * dsn.c - --dsn: pgsql_check_dsn and pgsql_scrub_dsn (what the
 * log and /v1/status show of it).  A password in the DSN never shows,
 * whatever the rest of it looks like.
 */
#include <ctype.h>
#include <libpq-fe.h>

#include "fuzz.h"
#include "pgsql.h"

/*
 * The password libpq reads from dsn, when it is made of letters and digits
 * and no keyword and no other value
 * also holds its text (the scrubbed DSN shows those); NULL otherwise.
 */
static char *password_of(const char *dsn)
{
    PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
    char *pw = NULL;

    if (opts == NULL)
        return NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0])
            pw = strdup(o->val);
    /* letters and digits only: then it can show only inside one keyword or value */
    for (size_t i = 0; pw && pw[i]; i++)
        if (!isalnum((unsigned char)pw[i])) {
            free(pw);
            pw = NULL;
        }
    for (PQconninfoOption *o = opts; pw && o->keyword; o++)
        if (strstr(o->keyword, pw) ||
            (strcmp(o->keyword, "password") != 0 && o->val && strstr(o->val, pw))) {
            free(pw);
            pw = NULL;
        }
    PQconninfoFree(opts);
    return pw;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size), *pw;
    char err[512], out[1024];

    err[0] = '\0';
    if (!pgsql_check_dsn(s, err, sizeof(err)) && err[0] == '\0')
        abort();
    pgsql_scrub_dsn(s, out, sizeof(out));
    if (!FUZZ_TERMINATED(out))
        abort();
    pw = password_of(s);
    if (pw && strstr(out, pw))
        abort();
    free(pw);
    free(s);
    return 0;
}
