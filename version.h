/*
 * version.h - "demotion-guard --version": the guard's and its libraries' versions
 */
#ifndef DG_VERSION_H
#define DG_VERSION_H

#include <stddef.h>
#include <stdio.h>

/* The guard's own version (DG_VERSION from the build, "unknown" without it). */
const char *version_string(void);
/* PQlibVersion()'s number as PostgreSQL prints it ("15.18", "9.6.24"; "unknown" for <= 0). */
void version_format_libpq(int num, char *buf, size_t len);
/* Print the --version line: the guard's version and the libraries it runs with. */
void version_print(FILE *out);

#endif
