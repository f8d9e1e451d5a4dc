/*
 * check.c - "demotion-guard check": would a stop now hang, and would the
 * guard end what holds it up?
 *
 * It only reads (GET /v1/status, GET /v1/walsenders, through client.h)
 * and never acts.  Every walsender with a non-null cause would hold a fast
 * shutdown up; for each, the guard's configuration and paths say what it
 * would do.  Exit codes: 0 nothing would hold a stop up, 1 the daemon is
 * unreachable or answered an error, 2 usage, 3 something would and the
 * guard ends it within its deadline, 4 something would that it will not end.
 */
#include "check.h"

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "client_render.h"
#include "config.h"
#include "transport.h"

#define ACTION_LEN 256
#define NAME_LEN   160

enum check_opt { OPT_URL, OPT_TIMEOUT, OPT_JSON, OPT_HELP, OPT_CACERT, OPT_CERT, OPT_KEY };

/* The options of check: name, whether it takes a value. */
static const struct {
    const char *name;
    bool has_value;
} check_options[] = {{"url", true},    {"timeout", true}, {"json", false}, {"help", false},
                     {"cacert", true}, {"cert", true},    {"key", true}};

/* The option "--name" or "--name=value" in arg; -1 (err filled) when unknown. */
static int option_index(const char *arg, const char **inline_value, char *err, size_t errlen)
{
    size_t n = strncmp(arg, "--", 2) == 0 ? strcspn(arg + 2, "=") : 0;

    *inline_value = NULL;
    if (n == 0) {
        snprintf(err, errlen, "unexpected argument \"%.200s%s\"", arg,
                 strlen(arg) > 200 ? "..." : "");
        return -1;
    }
    if (arg[2 + n] == '=')
        *inline_value = arg + 3 + n;
    for (int o = OPT_URL; o <= OPT_KEY; o++)
        if (strlen(check_options[o].name) == n && strncmp(arg + 2, check_options[o].name, n) == 0)
            return o;
    snprintf(err, errlen, "unknown option \"%.*s%s\" for \"check\"",
             (int)(n + 2 > 200 ? 200 : n + 2), arg, n + 2 > 200 ? "..." : "");
    return -1;
}

/* Store the value v of option o; false with err naming both when it is bad. */
static bool store_option(struct check_args *a, int o, const char *v, char *err, size_t errlen)
{
    int64_t ms;

    if (o == OPT_URL && v[0] != '\0')
        a->url = v;
    else if (o == OPT_TIMEOUT && config_parse_duration(v, &ms) && ms > 0)
        a->timeout_ms = ms;
    else if (o >= OPT_CACERT && v[0] != '\0')
        a->tls[o - OPT_CACERT] = v;
    else {
        snprintf(err, errlen, "invalid value \"%.200s%s\" for option \"--%s\": expected %s", v,
                 strlen(v) > 200 ? "..." : "", check_options[o].name,
                 o == OPT_URL       ? "a URL"
                 : o == OPT_TIMEOUT ? "a duration above zero (250ms, 10s)"
                                    : "a file");
        return false;
    }
    return true;
}

/* Apply argv[*i] (and its value, the next argument); false with err when it is wrong. */
static bool check_option(int argc, char **argv, int *i, struct check_args *a, char *err,
                         size_t errlen)
{
    const char *v;
    int o = option_index(argv[*i], &v, err, errlen);

    if (o < 0)
        return false;
    if (!check_options[o].has_value && v != NULL) {
        snprintf(err, errlen, "option \"--%s\" takes no value", check_options[o].name);
        return false;
    }
    if (!check_options[o].has_value) {
        a->json |= o == OPT_JSON;
        a->help |= o == OPT_HELP;
        return true;
    }
    if (v == NULL && *i + 1 >= argc) {
        snprintf(err, errlen, "option \"--%s\" needs a value", check_options[o].name);
        return false;
    }
    return store_option(a, o, v ? v : argv[++*i], err, errlen);
}

/*
 * Parse "check [options]" (argv[0] is "check"): --url (DEMOTION_GUARD_URL),
 * --timeout, --json, --help.  False with err on a usage error; stops early
 * at --help.
 */
bool check_parse_args(int argc, char **argv, char **environ_, struct check_args *a, char *err,
                      size_t errlen)
{
    struct transport_endpoint ep;

    memset(a, 0, sizeof(*a));
    a->url = client_env_get(environ_, "DEMOTION_GUARD_URL");
    if (a->url == NULL)
        a->url = TRANSPORT_DEFAULT_URL;
    a->timeout_ms = 10000;
    for (int i = 1; i < argc; i++) {
        if (!check_option(argc, argv, &i, a, err, errlen))
            return false;
        if (a->help)
            return true;
    }
    return transport_endpoint(a->url, "/", &ep, err, errlen);
}

/* Print the usage of check, with its exit codes. */
static void check_usage(FILE *out)
{
    fprintf(out,
            "usage: demotion-guard check [--json]   would a stop now hang? (reads, never acts)\n\n"
            "One line per walsender that would hold a fast shutdown up (a non-null cause),\n"
            "with what the guard would do about it, then a verdict.\n\n"
            "options:\n"
            "  --url URL          the daemon: http[s]://HOST:PORT or unix:/path "
            "(DEMOTION_GUARD_URL, default " TRANSPORT_DEFAULT_URL ")\n"
            "  --timeout DUR      give up after DUR (default 10s)\n"
            "  --cacert, --cert, --key FILE   https:// URLs: CA, client certificate and key\n"
            "                     (DEMOTION_GUARD_CACERT, _CERT, _KEY)\n"
            "  --json             {\"verdict\":…, \"exit\":N, \"holders\":[…]} for scripts\n"
            "  --help             this text\n\n"
            "exit codes: 0 nothing would hold a stop up, 1 the daemon is unreachable or\n"
            "refused, 2 usage, 3 something would and the guard ends it within its deadline,\n"
            "4 something would that the guard will not end (the line says why)\n");
}

/* "slot orders" or, for a slot-less walsender, "pid 4300". */
static void holder_name(const json_t *w, char *buf, size_t len)
{
    char slot[NAME_LEN];
    int64_t pid = 0;

    if (client_render_str(w, "slot")) {
        client_render_sanitize(client_render_str(w, "slot"), slot, sizeof(slot));
        snprintf(buf, len, "slot %s", slot);
    } else {
        client_render_num(w, "pid", &pid);
        snprintf(buf, len, "pid %" PRId64, pid);
    }
}

/* A duration member of the configuration, formatted ("10s"); "-" when null. */
static void config_duration(const json_t *cfg, const char *key, char *buf, size_t len)
{
    int64_t v;

    client_render_duration(client_render_num(cfg, key, &v) ? v : -1, buf, len);
}

/* Why the guard will not end a logical walsender at a fast shutdown; NULL when it will. */
static const char *logical_refusal(const json_t *w, const json_t *st)
{
    const json_t *cfg = json_object_get(st, "config");
    const json_t *signal = json_object_get(json_object_get(st, "paths"), "signal");
    bool stalled =
        client_render_str(w, "risk") && strcmp(client_render_str(w, "risk"), "stalled") == 0;

    if (json_is_true(json_object_get(cfg, "dry_run")))
        return "dry run: reported, never ended";
    if (json_is_true(json_object_get(signal, "available")))
        return NULL;
    if (!json_is_true(
            json_object_get(json_object_get(json_object_get(st, "paths"), "sql"), "available")))
        return "no path to end it: neither SQL (pg_signal_backend) nor a signal; "
               "\"demotion-guard status\" says why";
    if (stalled && json_is_true(json_object_get(cfg, "kill_stalled_at_shutdown")))
        return "SQL-only path at a fast shutdown: the server ends the guard's session, so it "
               "can only report, unless the stop is armed before (before_stop hook), which "
               "ends it while SQL works";
    return "SQL-only path at a fast shutdown: the server ends the guard's session, so it can "
           "only report (a before_stop arm does not help: it is not stalled)";
}

/*
 * What the guard would do about one holder, into action; true (with
 * *within_ms, how long after the stop began) when it ends it.
 */
static bool holder_action(const json_t *w, const json_t *st, char *action, size_t len,
                          int64_t *within_ms)
{
    const json_t *cfg = json_object_get(st, "config");
    const char *kind = client_render_str(w, "kind"), *risk = client_render_str(w, "risk"), *why;
    char d[32];

    *within_ms = 0;
    if (json_is_true(json_object_get(w, "excluded")))
        return snprintf(action, len, "excluded slot"), false;
    if (kind == NULL || strcmp(kind, "unproven") == 0)
        return snprintf(action, len, "unproven process: reported, never signalled"), false;
    if (strcmp(kind, "physical") == 0 && !client_render_num(cfg, "physical_deadline_ms", within_ms))
        return snprintf(action, len, "physical (no --physical-deadline)"), false;
    if ((why = logical_refusal(w, st)) != NULL)
        return snprintf(action, len, "%s", why), false;
    if (strcmp(kind, "physical") == 0) {
        config_duration(cfg, "physical_deadline_ms", d, sizeof(d));
        return snprintf(action, len, "physical: ended at --physical-deadline (%s)", d), true;
    }
    if (risk && strcmp(risk, "stalled") == 0 &&
        json_is_true(json_object_get(cfg, "kill_stalled_at_shutdown")))
        return snprintf(action, len, "ended at shutdown start (stalled)"), true;
    client_render_num(cfg, "deadline_ms", within_ms);
    config_duration(cfg, "deadline_ms", d, sizeof(d));
    return snprintf(action, len, "ended at the deadline (%s)", d), true;
}

/* Copy member key of w into h (JSON null when absent). */
static void copy_member(json_t *h, const json_t *w, const char *key)
{
    json_t *v = json_object_get(w, key);

    json_object_set_new(h, key, v ? json_deep_copy(v) : json_null());
}

/* One holder of the evaluation: the walsender's facts and the guard's action. */
static json_t *holder_new(const json_t *w, const json_t *st, int64_t *within_ms, bool *ended)
{
    static const char *const keys[] = {"pid",       "kind",           "slot", "application_name",
                                       "lag_bytes", "stalled_for_ms", "risk", "cause",
                                       "excluded"};
    char action[ACTION_LEN];
    json_t *h = json_object();

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        copy_member(h, w, keys[i]);
    *ended = holder_action(w, st, action, sizeof(action), within_ms);
    json_object_set_new(h, "action", json_string(action));
    json_object_set_new(h, "ended", json_boolean(*ended));
    json_object_set_new(h, "within_ms", *ended ? json_integer(*within_ms) : json_null());
    return h;
}

/* "1 walsender" / "2 walsenders". */
static void count_text(size_t n, char *buf, size_t len)
{
    snprintf(buf, len, "%zu walsender%s", n, n == 1 ? "" : "s");
}

/* The verdict when every holder is ended: the worst-case stop time. */
static void verdict_ended(size_t n, int64_t worst_ms, char *buf, size_t len)
{
    char count[32], d[32];

    count_text(n, count, sizeof(count));
    client_render_duration(worst_ms, d, sizeof(d));
    if (worst_ms == 0)
        snprintf(buf, len, "a stop now would be held up by %s; the guard ends %s at shutdown start",
                 count, n == 1 ? "it" : "them");
    else
        snprintf(buf, len, "a stop now would be held up by %s; the guard ends %s within %s", count,
                 n == 1 ? "it" : "them", d);
}

/* Append ", slot x (why)" for every holder the guard will not end (why: the action up to ':'). */
static void append_refused(const json_t *holders, char *buf, size_t len)
{
    const char *action;
    size_t i, used;
    json_t *h;
    char name[NAME_LEN];

    json_array_foreach(holders, i, h)
    {
        if (json_is_true(json_object_get(h, "ended")))
            continue;
        holder_name(h, name, sizeof(name));
        action = client_render_str(h, "action") ? client_render_str(h, "action") : "?";
        used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s (%.*s)", buf[used - 1] == ':' ? " " : ", ", name,
                 (int)strcspn(action, ":"), action);
    }
}

/* The verdict when some holders will not be ended: which and why. */
static void verdict_held(const json_t *holders, size_t refused, char *buf, size_t len)
{
    char count[32], rcount[32];

    count_text(json_array_size(holders), count, sizeof(count));
    count_text(refused, rcount, sizeof(rcount));
    snprintf(buf, len, "a stop now would be held up by %s; %s the guard will not end:", count,
             rcount);
    append_refused(holders, buf, len);
}

/*
 * Judge GET /v1/status and GET /v1/walsenders: every walsender with a
 * non-null cause holds a stop up; exit 4 when one of them the guard will
 * not end, 3 when it ends them all, 0 when there is none.
 */
json_t *check_evaluate(const json_t *status, const json_t *walsenders)
{
    const json_t *list = json_object_get(walsenders, "walsenders");
    json_t *holders = json_array(), *w;
    int64_t worst = 0, within;
    size_t i, refused = 0;
    char verdict[2048];
    bool ended;

    json_array_foreach(list, i, w)
    {
        if (!client_render_str(w, "cause"))
            continue;
        json_array_append_new(holders, holder_new(w, status, &within, &ended));
        refused += !ended;
        if (ended && within > worst)
            worst = within;
    }
    if (json_array_size(holders) == 0)
        snprintf(verdict, sizeof(verdict),
                 "nothing would hold a stop up (%zu walsender%s, none with a cause)",
                 json_array_size(list), json_array_size(list) == 1 ? "" : "s");
    else if (refused == 0)
        verdict_ended(json_array_size(holders), worst, verdict, sizeof(verdict));
    else
        verdict_held(holders, refused, verdict, sizeof(verdict));
    return json_pack("{sssisoso}", "verdict", verdict, "exit",
                     json_array_size(holders) == 0 ? CHECK_CLEAR
                     : refused == 0                ? CHECK_ENDED
                                                   : CHECK_HELD,
                     "holders", holders, "worst_case_ms",
                     refused ? json_null() : json_integer(worst));
}

/* One holder for a person: "slot orders (logical, pid 4300): behind, lag 162.6 KiB for 45s, ...".
 */
static void render_holder(FILE *out, const json_t *h)
{
    char name[NAME_LEN], lag[32], dur[32];
    const char *cause = client_render_str(h, "cause"), *risk = client_render_str(h, "risk");
    int64_t pid = 0, v;

    holder_name(h, name, sizeof(name));
    client_render_num(h, "pid", &pid);
    client_render_bytes(client_render_num(h, "lag_bytes", &v) ? (v < 0 ? -v : v) : -1, lag,
                        sizeof(lag));
    fprintf(out, "%s (%s, pid %" PRId64 "): %s, lag %s%s", name,
            client_render_str(h, "kind") ? client_render_str(h, "kind") : "?", pid,
            cause ? cause : "?", client_render_num(h, "lag_bytes", &v) && v < 0 ? "-" : "", lag);
    if (client_render_num(h, "stalled_for_ms", &v) && v > 0) {
        client_render_duration(v, dur, sizeof(dur));
        fprintf(out, " for %s", dur);
    }
    fprintf(out, ", risk %s: %s\n", risk ? risk : "?",
            client_render_str(h, "action") ? client_render_str(h, "action") : "?");
}

/* Print an evaluation: one line per holder, then the verdict. */
void check_render(FILE *out, const json_t *result)
{
    const json_t *holders = json_object_get(result, "holders");
    size_t i;
    json_t *h;

    json_array_foreach(holders, i, h) render_holder(out, h);
    fprintf(out, "%s\n",
            client_render_str(result, "verdict") ? client_render_str(result, "verdict") : "?");
}

/* Get both answers, judge them, print; returns the exit code. */
static int check_run(const struct check_args *a)
{
    json_t *st = NULL, *ws = NULL, *res;
    char msg[1024];
    int rc;

    if (!transport_get_json(a->url, a->timeout_ms, "/v1/status", &st, msg, sizeof(msg)) ||
        !transport_get_json(a->url, a->timeout_ms, "/v1/walsenders", &ws, msg, sizeof(msg))) {
        json_decref(st);
        fprintf(stderr, "demotion-guard: %s\n", msg);
        return CHECK_ERROR;
    }
    res = check_evaluate(st, ws);
    rc = (int)json_integer_value(json_object_get(res, "exit"));
    if (a->json) {
        json_dumpf(res, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else
        check_render(stdout, res);
    json_decref(res);
    json_decref(st);
    json_decref(ws);
    return rc;
}

/* Run "demotion-guard check ...": argv[0] is "check".  Returns the exit code. */
int check_main(int argc, char **argv)
{
    struct check_args a;
    char err[CLIENT_ERR_LEN];
    int rc;

    if (!check_parse_args(argc, argv, environ, &a, err, sizeof(err))) {
        fprintf(stderr, "demotion-guard: %s (try \"demotion-guard check --help\")\n", err);
        return CHECK_USAGE;
    }
    if (a.help) {
        check_usage(stdout);
        return CHECK_CLEAR;
    }
    if (!transport_global_init()) {
        fprintf(stderr, "demotion-guard: cannot initialise libcurl\n");
        return CHECK_ERROR;
    }
    transport_set_tls(a.tls[0], a.tls[1], a.tls[2]);
    rc = check_run(&a);
    transport_global_cleanup();
    return rc;
}
