/*
 * check.h - "demotion-guard check": would a stop now hang?  A read-only
 * client of a running daemon (GET /v1/status and GET /v1/walsenders)
 *
 * The evaluation of the two answers and its rendering are pure (declared
 * here for the unit tests); check_main does the I/O through client.h.
 */
#ifndef DG_CHECK_H
#define DG_CHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The exit codes of check (documented in --help, the man page, README). */
enum check_exit {
    CHECK_CLEAR = 0, /* nothing would hold a stop up */
    CHECK_ERROR = 1, /* the daemon is unreachable or answered an error */
    CHECK_USAGE = 2, /* a usage error */
    CHECK_ENDED = 3, /* something would, and the guard ends it within the deadline */
    CHECK_HELD = 4   /* something would that the guard will not end */
};

/* What the command line asks for.  Strings point into argv or the environment. */
struct check_args {
    const char *url;    /* --url, DEMOTION_GUARD_URL or TRANSPORT_DEFAULT_URL */
    int64_t timeout_ms; /* --timeout, default 10 s */
    bool json;          /* --json */
    bool help;          /* --help */
    const char *tls[3]; /* --cacert, --cert, --key; NULL: DEMOTION_GUARD_CACERT, _CERT, _KEY */
};

/* Run "demotion-guard check ...": argv[0] is "check".  Returns the exit code. */
int check_main(int argc, char **argv);

/* Parse "check [options]"; false with err naming the option or value. */
bool check_parse_args(int argc, char **argv, char **environ_, struct check_args *a, char *err,
                      size_t errlen) __attribute__((warn_unused_result));

/*
 * Judge the two answers: {"verdict": TEXT, "exit": 0|3|4, "holders": [...]},
 * one holder per walsender with a non-null cause, with what the guard would
 * do about it ("action") and whether it ends it ("ended", "within_ms").
 */
json_t *check_evaluate(const json_t *status, const json_t *walsenders);

/* Print an evaluation for a person: one line per holder, then the verdict. */
void check_render(FILE *out, const json_t *result);

#endif
