/*
 * api.c - the HTTP API's routes (API.md), without the HTTP server: the
 * route table, the checks of a request's head (method, Host, token,
 * Content-Type, length), the JSON bodies of the commands, and the answer
 * of each route, rendered by render.c from the latest view
 */
#include "api.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"

#define TOO_LARGE "the body is limited to 8 KiB"

/* What a GET route answers, from a view (there is one). */
typedef void get_fn(const struct view *v, const struct api_request *rq, struct api_response *r);
/* How the JSON object of a POST route's body becomes its command; false with err. */
typedef bool parse_fn(json_t *o, struct command *c, char *err, size_t errlen);

static get_fn get_health, get_ready, get_metrics, get_status, get_walsenders;
static parse_fn parse_arm, parse_disarm, parse_callback, parse_kill;

/* The routes (API.md): a GET route answers from the view, a POST route is a command. */
static const struct route {
    const char *path;
    const char *method;
    enum route_id id;
    get_fn *get;
    parse_fn *parse;
    enum command_type type;
} routes[] = {
    {"/health", "GET", R_HEALTH, get_health, NULL, 0},
    {"/ready", "GET", R_READY, get_ready, NULL, 0},
    {"/metrics", "GET", R_METRICS, get_metrics, NULL, 0},
    {"/v1/status", "GET", R_STATUS, get_status, NULL, 0},
    {"/v1/walsenders", "GET", R_WALSENDERS, get_walsenders, NULL, 0},
    {"/v1/arm", "POST", R_ARM, NULL, parse_arm, CMD_ARM},
    {"/v1/disarm", "POST", R_DISARM, NULL, parse_disarm, CMD_DISARM},
    {"/v1/callback", "POST", R_CALLBACK, NULL, parse_callback, CMD_CALLBACK},
    {"/v1/kill", "POST", R_KILL, NULL, parse_kill, CMD_KILL},
};

#define N_ROUTES ((int)(sizeof(routes) / sizeof(routes[0])))

/* The table entry of a route id; NULL for R_NOT_FOUND, R_BAD_METHOD or junk. */
static const struct route *route_of(int id)
{
    for (int i = 0; i < N_ROUTES; i++)
        if (routes[i].id == (enum route_id)id)
            return &routes[i];
    return NULL;
}

/*
 * Find the route of a request.  Returns its id, R_NOT_FOUND, or
 * R_BAD_METHOD with *allow set to the method the path takes.  HEAD is
 * served as GET.  Paths match exactly: no trailing slash, no dot segments.
 */
int api_route(const char *method, const char *url, const char **allow)
{
    for (int i = 0; i < N_ROUTES; i++) {
        if (strcmp(routes[i].path, url) != 0)
            continue;
        if (strcmp(routes[i].method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0))
            return routes[i].id;
        *allow = strcmp(routes[i].method, "GET") == 0 ? "GET, HEAD" : routes[i].method;
        return R_BAD_METHOD;
    }
    return R_NOT_FOUND;
}

/* Take an optional string field of at most max-1 bytes into out. */
static bool take_string(json_t *o, const char *key, char *out, size_t max, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return true;
    if (!json_is_string(v) || json_string_length(v) >= max) {
        snprintf(err, errlen, "\"%s\" must be a string of at most %zu bytes", key, max - 1);
        return false;
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return true;
}

/* Take an optional boolean field; a selector flag must be true when present. */
static bool take_bool(json_t *o, const char *key, bool *out, bool must_be_true, char *err,
                      size_t errlen)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return true;
    if (!json_is_boolean(v) || (must_be_true && !json_is_true(v))) {
        snprintf(err, errlen, "\"%s\" must be %s", key, must_be_true ? "true" : "a boolean");
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* Refuse fields other than the allowed ones. */
static bool only_fields(json_t *o, const char *const *allowed, char *err, size_t errlen)
{
    const char *key;
    json_t *v;

    json_object_foreach(o, key, v)
    {
        bool ok = false;

        for (int i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok) {
            snprintf(err, errlen, "unknown field \"%.64s\"", key);
            return false;
        }
    }
    return true;
}

/* The fields of POST /v1/kill: exactly one selector. */
static bool parse_kill(json_t *o, struct command *c, char *err, size_t errlen)
{
    static const char *const allowed[] = {"slot",  "pid",    "stalled", "all_logical",
                                          "force", "reason", NULL};
    json_t *pid = json_object_get(o, "pid");
    bool stalled = false, all = false;
    int n;

    if (!only_fields(o, allowed, err, errlen) ||
        !take_string(o, "slot", c->slot, sizeof(c->slot), err, errlen) ||
        !take_bool(o, "stalled", &stalled, true, err, errlen) ||
        !take_bool(o, "all_logical", &all, true, err, errlen) ||
        !take_bool(o, "force", &c->force, false, err, errlen) ||
        !take_string(o, "reason", c->reason, sizeof(c->reason), err, errlen))
        return false;
    if (pid && (!json_is_integer(pid) || json_integer_value(pid) <= 0 ||
                json_integer_value(pid) > INT_MAX)) {
        snprintf(err, errlen, "\"pid\" must be a positive integer");
        return false;
    }
    n = (json_object_get(o, "slot") != NULL) + (pid != NULL) + stalled + all;
    if (n != 1) {
        snprintf(err, errlen,
                 "give exactly one of \"slot\", \"pid\", \"stalled\": true, "
                 "\"all_logical\": true");
        return false;
    }
    if (json_object_get(o, "slot") && c->slot[0] == '\0') {
        snprintf(err, errlen, "\"slot\" must not be empty");
        return false;
    }
    c->pid = pid ? (int)json_integer_value(pid) : 0;
    c->sel = json_object_get(o, "slot") ? KILL_SLOT
             : pid                      ? KILL_PID
             : stalled                  ? KILL_STALLED
                                        : KILL_ALL_LOGICAL;
    return true;
}

/* The fields of POST /v1/arm. */
static bool parse_arm(json_t *o, struct command *c, char *err, size_t errlen)
{
    static const char *const allowed[] = {"deadline", "reason", NULL};
    char dl[32] = "";

    c->deadline_ms = -1;
    if (!only_fields(o, allowed, err, errlen) ||
        !take_string(o, "deadline", dl, sizeof(dl), err, errlen) ||
        !take_string(o, "reason", c->reason, sizeof(c->reason), err, errlen))
        return false;
    c->trigger = trigger_of(c->reason);
    if (json_object_get(o, "deadline") && !config_parse_duration(dl, &c->deadline_ms)) {
        snprintf(err, errlen,
                 "\"deadline\" must be a duration such as 250ms, 10s or 2m, not "
                 "\"%s\"",
                 dl);
        return false;
    }
    return true;
}

/* The fields of POST /v1/disarm. */
static bool parse_disarm(json_t *o, struct command *c, char *err, size_t errlen)
{
    static const char *const allowed[] = {"reason", NULL};

    return only_fields(o, allowed, err, errlen) &&
           take_string(o, "reason", c->reason, sizeof(c->reason), err, errlen);
}

/* The fields of POST /v1/callback: Patroni's ACTION ROLE SCOPE, all required. */
static bool parse_callback(json_t *o, struct command *c, char *err, size_t errlen)
{
    static const char *const allowed[] = {"action", "role", "scope", NULL};
    static const char *const actions[] = {"on_start",  "on_stop",        "on_restart",
                                          "on_reload", "on_role_change", NULL};
    bool known = false;

    if (!only_fields(o, allowed, err, errlen) ||
        !take_string(o, "action", c->action, sizeof(c->action), err, errlen) ||
        !take_string(o, "role", c->role, sizeof(c->role), err, errlen) ||
        !take_string(o, "scope", c->scope, sizeof(c->scope), err, errlen))
        return false;
    for (int i = 0; actions[i] && !known; i++)
        known = strcmp(c->action, actions[i]) == 0;
    if (!known || c->role[0] == '\0' || c->scope[0] == '\0') {
        snprintf(err, errlen,
                 "\"action\" (on_start, on_stop, on_restart, on_reload, "
                 "on_role_change), \"role\" and \"scope\" are required");
        return false;
    }
    return true;
}

/*
 * Parse the body of a command route into c.  An empty body is {}.  False
 * with err for malformed JSON, a non-object, a wrong type or an unknown field.
 */
bool api_parse_command(int route, const char *body, size_t len, struct command *c, char *err,
                       size_t errlen)
{
    const struct route *rt = route_of(route);
    json_error_t je;
    json_t *o;
    bool ok;

    memset(c, 0, sizeof(*c));
    c->deadline_ms = -1;
    if (rt == NULL || rt->parse == NULL) {
        snprintf(err, errlen, "this route takes no command");
        return false;
    }
    c->type = rt->type;
    o = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : json_object();
    if (o == NULL) {
        snprintf(err, errlen, "malformed JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return false;
    }
    if (!json_is_object(o)) {
        snprintf(err, errlen, "the body must be a JSON object");
        json_decref(o);
        return false;
    }
    ok = rt->parse(o, c, err, errlen);
    json_decref(o);
    return ok;
}

/* Fill r with a JSON answer (see api.h). */
void api_json(struct api_response *r, int status, json_t *body)
{
    static const char fallback[] =
        "{\"error\":\"internal\",\"detail\":\"the response could not be rendered\"}\n";
    char *text =
        body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
    char *line = NULL;
    int len = text ? asprintf(&line, "%s\n", text) : -1;

    json_decref(body);
    free(text);
    if (len < 0) {
        log_error("HTTP %d response could not be rendered; answering with a fixed error", status);
        line = strdup(fallback);
        len = line ? (int)strlen(line) : 0;
        status = status >= 400 ? status : 500;
    }
    *r = (struct api_response){status, line, (size_t)len, "application/json", NULL};
}

/*
 * Fill r with an error answer.  The detail may quote the request (a key cut
 * to 64 bytes, jansson's error text): invalid UTF-8 in it is replaced, so
 * that it can be a JSON string.
 */
void api_error(struct api_response *r, int status, const char *code, const char *detail,
               const char *allow)
{
    char clean[1024];

    snprintf(clean, sizeof(clean), "%s", detail);
    log_sanitize_utf8(clean);
    api_json(r, status, render_error(code, clean));
    r->allow = allow;
}

/*
 * On a loopback address, refuse a Host that is not loopback: a web page
 * whose name an attacker re-points at 127.0.0.1 (DNS rebinding) sends its
 * own name.  No Host (HTTP/1.0) is no browser.
 */
static bool host_ok(const struct api_head *h)
{
    char name[256];
    size_t n;

    if (!h->loopback || h->host == NULL)
        return true;
    n = h->host[0] == '[' ? strcspn(h->host, "]") + 1 : strcspn(h->host, ":");
    snprintf(name, sizeof(name), "%.*s", (int)n, h->host);
    return strcasecmp(name, "localhost") == 0 || strcmp(name, "[::1]") == 0 ||
           (strncmp(name, "127.", 4) == 0 && strspn(name, "0123456789.") == strlen(name));
}

/*
 * A POST must say its body is JSON: a web page can send a "simple"
 * cross-site POST (text/plain) without asking, but not this.
 */
static bool json_content(const char *ct)
{
    return ct && strncasecmp(ct, "application/json", 16) == 0 &&
           (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ');
}

/*
 * Check a request's head, in this order: route (404), method (405), Host
 * (403), then for a command the token (401) and Content-Type (415), and an
 * announced body too large (413).
 */
bool api_begin(const struct api_head *h, int *route, struct api_response *r)
{
    const char *allow = NULL;

    *route = api_route(h->method, h->url, &allow);
    if (*route == R_NOT_FOUND)
        api_error(r, 404, "not_found", "no such route; see API.md", NULL);
    else if (*route == R_BAD_METHOD)
        api_error(r, 405, "method_not_allowed", "method not allowed here", allow);
    else if (!host_ok(h))
        api_error(r, 403, "forbidden",
                  "this guard listens on loopback: the Host header must name localhost or a "
                  "loopback address",
                  NULL);
    else if (*route >= R_ARM && !h->authorized)
        api_error(r, 401, "unauthorized",
                  h->authorization ? "wrong bearer token"
                                   : "this guard needs Authorization: Bearer",
                  NULL);
    else if (*route >= R_ARM && !json_content(h->content_type))
        api_error(r, 415, "unsupported_media_type",
                  "POST bodies are JSON: send Content-Type: application/json", NULL);
    else if (h->content_length && strtoull(h->content_length, NULL, 10) > API_MAX_BODY)
        api_error(r, 413, "too_large", TOO_LARGE, NULL);
    else
        return true;
    return false;
}

/* GET /health: 200 or 503 as render_health says. */
static void get_health(const struct view *v, const struct api_request *rq, struct api_response *r)
{
    int status = 200;
    json_t *body = render_health(v, rq->mono_ms, &status);

    api_json(r, status, body);
}

/* GET /ready: 200 or 503 as render_ready says. */
static void get_ready(const struct view *v, const struct api_request *rq, struct api_response *r)
{
    int status = 200;
    json_t *body = render_ready(v, &status);

    (void)rq;
    api_json(r, status, body);
}

/* GET /metrics: Prometheus text. */
static void get_metrics(const struct view *v, const struct api_request *rq, struct api_response *r)
{
    size_t len = 0;
    char *text = render_metrics(v, rq->wall_ms, &len);

    if (text == NULL)
        api_error(r, 500, "internal", "out of memory", NULL);
    else
        *r =
            (struct api_response){200, text, len, "text/plain; version=0.0.4; charset=utf-8", NULL};
}

/* GET /v1/status. */
static void get_status(const struct view *v, const struct api_request *rq, struct api_response *r)
{
    (void)rq;
    api_json(r, 200, render_status(v));
}

/* GET /v1/walsenders. */
static void get_walsenders(const struct view *v, const struct api_request *rq,
                           struct api_response *r)
{
    (void)rq;
    api_json(r, 200, render_walsenders(v));
}

/* Answer a whole request or take its command (see api.h). */
bool api_answer(const struct api_request *rq, struct command *c, struct api_response *r)
{
    const struct route *rt = route_of(rq->route);
    char err[300];

    if (rq->too_large)
        api_error(r, 413, "too_large", TOO_LARGE, NULL);
    else if (rt && rt->get && rq->view == NULL)
        api_error(r, 503, "unavailable", "the guard is starting", NULL);
    else if (rt && rt->get)
        rt->get(rq->view, rq, r);
    else if (!api_parse_command(rq->route, rq->body, rq->len, c, err, sizeof(err)))
        api_error(r, 400, "bad_request", err, NULL);
    else
        return true;
    return false;
}
