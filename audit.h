/*
 * audit.h - the audit log: one JSON object per line, O_APPEND, fsynced
 */
#ifndef DG_AUDIT_H
#define DG_AUDIT_H

#include <jansson.h>
#include <stdbool.h>

#include "walsender.h"

struct audit;

struct audit *audit_open(const char *path);
void audit_close(struct audit *a);
void audit_set_path(struct audit *a, const char *path);
void audit_emit(struct audit *a, const char *event, json_t *fields);
void audit_flush(struct audit *a);
int audit_pending(const struct audit *a);
char *audit_render(const char *ts, const char *event, json_t *fields);
json_t *audit_walsender_fields(const struct walsender *w);
void audit_set_string(json_t *o, const char *key, const char *value);

#endif
