/*
 * audit.h - the audit log: one JSON object per line, O_APPEND, fsynced
 */
#ifndef DG_AUDIT_H
#define DG_AUDIT_H

#include <jansson.h>
#include <stdbool.h>

#include "walsender.h"

struct audit;

/* Start an audit log (NULL when out of memory); path NULL or "" means events go to the log only. */
struct audit *audit_open(const char *path);
/* Write what is queued once more, keep the rest in FILE.pending for the next start, free a. */
void audit_close(struct audit *a);
/* Point the log at another file (a reload); what is queued goes to the new file. */
void audit_set_path(struct audit *a, const char *path);
/* Record one event (consumes fields, may be NULL): logged at once, queued for audit_flush. */
void audit_emit(struct audit *a, const char *event, json_t *fields);
/* Write what is queued, oldest first, with one fsync; on failure keep it queued and log. */
void audit_flush(struct audit *a);
/* How many events wait to be written to the file. */
int audit_pending(const struct audit *a);
/* One line {"ts":…,"event":…, then fields in order} (a reference to fields taken), malloc'd. */
char *audit_render(const char *ts, const char *event, json_t *fields);
/* The fields every event about a walsender carries (nulls for a lag never confirmed). */
json_t *audit_walsender_fields(const struct walsender *w);
/* Add a string field to an audit event, invalid UTF-8 replaced by '?'. */
void audit_set_string(json_t *o, const char *key, const char *value);

#endif
