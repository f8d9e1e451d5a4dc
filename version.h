/*
 * version.h - "demotion-guard --version": the guard's and its libraries' versions
 */
#ifndef DG_VERSION_H
#define DG_VERSION_H

#include <stddef.h>
#include <stdio.h>

void version_format_libpq(int num, char *buf, size_t len);
void version_print(FILE *out);

#endif
