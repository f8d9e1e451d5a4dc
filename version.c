/*
 * version.c - "demotion-guard --version"
 *
 * The guard's version comes from the build (DG_VERSION: git describe, or the
 * VERSION file of a release tarball); each library's from the library that
 * is loaded at run time, asked through the one module allowed to use it.
 */
#include "version.h"

#include <jansson.h>

#include "http.h"
#include "notify.h"
#include "pgsql.h"
#include "transport.h"

/* the one fallback: every other module asks version_string() */
#ifndef DG_VERSION
#define DG_VERSION "unknown"
#endif

const char *version_string(void)
{
    return DG_VERSION;
}

/*
 * PQlibVersion() as PostgreSQL prints it: 150018 is "15.18", 90624 (before
 * version 10) is "9.6.24"; 0 or less is "unknown".
 */
void version_format_libpq(int num, char *buf, size_t len)
{
    if (num <= 0)
        snprintf(buf, len, "unknown");
    else if (num >= 100000)
        snprintf(buf, len, "%d.%d", num / 10000, num % 10000);
    else
        snprintf(buf, len, "%d.%d.%d", num / 10000, num / 100 % 100, num % 100);
}

/* One line: the version, then the libraries it runs with (and systemd support). */
void version_print(FILE *out)
{
    char libpq[32];

    version_format_libpq(pgsql_libpq_version(), libpq, sizeof(libpq));
    fprintf(out, "demotion-guard %s (libpq %s, libmicrohttpd %s, jansson %s, libcurl %s%s)\n",
            DG_VERSION, libpq, http_mhd_version(), jansson_version_str(), transport_curl_version(),
            notify_supported() ? ", systemd notify" : "");
}
