/*
 * test_api.c - the routes without an HTTP server: the checks of a request's
 * head in their order (404, 405 with Allow, 403 Host, 401, 415, 413), the
 * answers of GET routes from a view, command bodies refused with 400 and
 * the error named, the commands taken from good bodies, and JSON answers
 * that cannot be rendered.
 */
#include "unit_util.h"

#include <jansson.h>

#include "api.h"
#include "log.h"

/* Quiet the log below errors (a fixed-error fallback logs one). */
static int quiet(void **state)
{
    (void)state;
    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
    return 0;
}

/* A POST head to path with a good token, Host and Content-Type. */
static struct api_head post(const char *path)
{
    return (struct api_head){.method = "POST",
                             .url = path,
                             .host = "127.0.0.1:8009",
                             .authorization = "Bearer tok",
                             .content_type = "application/json",
                             .content_length = "2",
                             .loopback = true,
                             .authorized = true};
}

/* A GET head to path. */
static struct api_head get(const char *path)
{
    return (struct api_head){.method = "GET", .url = path, .host = "localhost", .loopback = true};
}

/* The JSON of an answer; fails unless it is one JSON line. */
static json_t *answer_json(const struct api_response *r)
{
    json_error_t je;
    json_t *o;

    assert_non_null(r->text);
    assert_string_equal(r->type, "application/json");
    assert_true(r->len > 0 && r->text[r->len - 1] == '\n');
    assert_ptr_equal(strchr(r->text, '\n'), r->text + r->len - 1);
    o = json_loadb(r->text, r->len, 0, &je);
    if (o == NULL)
        fail_msg("not JSON: %s", r->text);
    return o;
}

/* Expect an error answer of status with code, its detail containing want; frees r's text. */
static void expect_error(struct api_response *r, int status, const char *code, const char *want)
{
    json_t *o = answer_json(r);
    const char *detail = json_string_value(json_object_get(o, "detail"));

    assert_int_equal(r->status, status);
    assert_string_equal(json_string_value(json_object_get(o, "error")), code);
    assert_non_null(detail);
    if (strstr(detail, want) == NULL)
        fail_msg("detail lacks \"%s\": %s", want, detail);
    json_decref(o);
    free(r->text);
}

/* Refuse a head; expects the refusal of status with code and a detail containing want. */
static void refuse_head(const struct api_head *h, int status, const char *code, const char *want)
{
    struct api_response r;
    int route;

    if (api_begin(h, &route, &r))
        fail_msg("%s %s was let through", h->method, h->url);
    expect_error(&r, status, code, want);
}

/* Unknown routes are 404, a wrong method 405 naming the methods in Allow. */
static void test_not_found_and_method(void **state)
{
    struct api_head h = get("/v1/nothing");
    struct api_response r;
    int route;

    (void)state;
    refuse_head(&h, 404, "not_found", "no such route; see API.md");
    h.url = "/health/";
    refuse_head(&h, 404, "not_found", "no such route");
    h = get("/v1/kill");
    assert_false(api_begin(&h, &route, &r));
    assert_int_equal(route, R_BAD_METHOD);
    assert_string_equal(r.allow, "POST");
    expect_error(&r, 405, "method_not_allowed", "method not allowed here");
    h = post("/health");
    assert_false(api_begin(&h, &route, &r));
    assert_string_equal(r.allow, "GET, HEAD");
    expect_error(&r, 405, "method_not_allowed", "method not allowed");
    h = get("/health");
    h.method = "HEAD";
    assert_true(api_begin(&h, &route, &r));
    assert_int_equal(route, R_HEALTH);
}

/* A kill (any POST) needs the token; the message says which way it failed; GETs need none. */
static void test_auth(void **state)
{
    struct api_head h = post("/v1/kill");
    struct api_response r;
    int route;

    (void)state;
    assert_true(api_begin(&h, &route, &r));
    assert_int_equal(route, R_KILL);
    h.authorized = false;
    refuse_head(&h, 401, "unauthorized", "wrong bearer token");
    h.authorization = NULL;
    refuse_head(&h, 401, "unauthorized", "this guard needs Authorization: Bearer");
    h = post("/v1/arm");
    h.authorized = false;
    refuse_head(&h, 401, "unauthorized", "wrong bearer token");
    h = get("/v1/status");
    h.authorized = false;
    assert_true(api_begin(&h, &route, &r));
    assert_int_equal(route, R_STATUS);
}

/* On loopback the Host must name loopback (DNS rebinding); elsewhere, or without Host, any. */
static void test_host(void **state)
{
    static const char *const good[] = {"localhost",    "LOCALHOST:8009", "127.0.0.1",
                                       "127.1.2.3:80", "[::1]:8009",     "[::1]"};
    static const char *const bad[] = {"evil.example", "evil.example:8009", "127.0.0.1.evil.example",
                                      "[::2]:80", "10.0.0.1"};
    struct api_head h = get("/health");
    struct api_response r;
    int route;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        h.host = good[i];
        if (!api_begin(&h, &route, &r))
            fail_msg("Host \"%s\" refused", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        h.host = bad[i];
        refuse_head(&h, 403, "forbidden", "the Host header must name localhost");
    }
    h.host = NULL; /* HTTP/1.0 */
    assert_true(api_begin(&h, &route, &r));
    h.host = "evil.example";
    h.loopback = false;
    assert_true(api_begin(&h, &route, &r));
    h = post("/v1/kill"); /* the Host is checked before the token */
    h.host = "evil.example";
    h.authorized = false;
    refuse_head(&h, 403, "forbidden", "loopback");
}

/* A POST says its body is JSON; one announced over 8 KiB is refused before it is read. */
static void test_content(void **state)
{
    static const char *const json[] = {"application/json", "Application/JSON",
                                       "application/json; charset=utf-8", "application/json ;x"};
    static const char *const other[] = {"text/plain", "application/jsonx", "application/jso"};
    struct api_head h = post("/v1/disarm");
    struct api_response r;
    int route;

    (void)state;
    for (size_t i = 0; i < sizeof(json) / sizeof(json[0]); i++) {
        h.content_type = json[i];
        if (!api_begin(&h, &route, &r))
            fail_msg("Content-Type \"%s\" refused", json[i]);
    }
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        h.content_type = other[i];
        refuse_head(&h, 415, "unsupported_media_type", "send Content-Type: application/json");
    }
    h.content_type = NULL;
    refuse_head(&h, 415, "unsupported_media_type", "POST bodies are JSON");
    h = post("/v1/disarm");
    h.content_length = "8192";
    assert_true(api_begin(&h, &route, &r));
    h.content_length = "8193";
    refuse_head(&h, 413, "too_large", "the body is limited to 8 KiB");
    h = get("/metrics");
    h.content_length = "100000";
    refuse_head(&h, 413, "too_large", "8 KiB");
}

/* Answer a whole request of route with body; returns whether it became a command. */
static bool whole(int route, const char *body, struct command *c, struct api_response *r)
{
    struct api_request rq = {.route = route, .body = body, .len = strlen(body)};

    return api_answer(&rq, c, r);
}

/* Expect body on route to be refused 400, the error naming want. */
static void bad_body(int route, const char *body, const char *want)
{
    struct api_response r;
    struct command c;

    if (whole(route, body, &c, &r))
        fail_msg("body %s was accepted", body);
    expect_error(&r, 400, "bad_request", want);
}

#define A63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* Bad bodies are 400 and say what is wrong with them. */
static void test_bad_bodies(void **state)
{
    (void)state;
    bad_body(R_KILL, "{", "malformed JSON at line 1");
    bad_body(R_KILL, "[]", "the body must be a JSON object");
    bad_body(R_KILL, "{}", "give exactly one of \"slot\", \"pid\"");
    bad_body(R_KILL, "{\"slot\":\"a\",\"pid\":1}", "give exactly one of");
    bad_body(R_KILL, "{\"pid\":0}", "\"pid\" must be a positive integer");
    bad_body(R_KILL, "{\"pid\":\"12\"}", "\"pid\" must be a positive integer");
    bad_body(R_KILL, "{\"slot\":\"\"}", "\"slot\" must not be empty");
    bad_body(R_KILL, "{\"slot\":7}", "\"slot\" must be a string of at most 63 bytes");
    bad_body(R_KILL, "{\"stalled\":false}", "\"stalled\" must be true");
    bad_body(R_KILL, "{\"stalled\":true,\"force\":1}", "\"force\" must be a boolean");
    bad_body(R_KILL, "{\"slot\":\"a\",\"slot\":\"b\"}", "duplicate");
    bad_body(R_KILL, "{\"slot\":\"a\",\"nope\":1}", "unknown field \"nope\"");
    bad_body(R_ARM, "{\"deadline\":\"soon\"}",
             "\"deadline\" must be a duration such as 250ms, 10s or 2m, not \"soon\"");
    bad_body(R_ARM, "{\"deadline\":10}", "\"deadline\" must be a string");
    bad_body(R_DISARM, "{\"force\":true}", "unknown field \"force\"");
    bad_body(R_CALLBACK, "{\"action\":\"on_stop\"}", "\"role\" and \"scope\" are required");
    bad_body(R_CALLBACK, "{\"action\":\"on_fire\",\"role\":\"primary\",\"scope\":\"s\"}",
             "\"action\" (on_start, on_stop");
    /* a key is quoted cut to 64 bytes: a character cut in two becomes "?", the answer JSON */
    bad_body(R_DISARM, "{\"" A63 "\xc3\xa9\":1}", "unknown field \"" A63 "?\"");
}

/* Only a POST route takes a command. */
static void test_not_a_command(void **state)
{
    struct command c;
    char err[64];

    (void)state;
    assert_false(api_parse_command(R_HEALTH, "{}", 2, &c, err, sizeof(err)));
    assert_string_equal(err, "this route takes no command");
    assert_false(api_parse_command(R_NOT_FOUND, "", 0, &c, err, sizeof(err)));
    assert_string_equal(err, "this route takes no command");
}

/* Good bodies become commands for the main loop, with nothing answered yet. */
static void test_commands(void **state)
{
    struct api_response r = {0};
    struct command c;

    (void)state;
    assert_true(whole(R_KILL, "{\"slot\":\"s1\",\"force\":true,\"reason\":\"x\"}", &c, &r));
    assert_int_equal(c.type, CMD_KILL);
    assert_int_equal(c.sel, KILL_SLOT);
    assert_string_equal(c.slot, "s1");
    assert_true(c.force);
    assert_string_equal(c.reason, "x");
    assert_string_equal(c.requester, "");
    assert_null(r.text);
    assert_true(whole(R_KILL, "{\"pid\":4242}", &c, &r));
    assert_int_equal(c.sel, KILL_PID);
    assert_int_equal(c.pid, 4242);
    assert_true(whole(R_KILL, "{\"all_logical\":true}", &c, &r));
    assert_int_equal(c.sel, KILL_ALL_LOGICAL);
    assert_true(whole(R_ARM, "", &c, &r));
    assert_int_equal(c.type, CMD_ARM);
    assert_int_equal(c.deadline_ms, -1);
    assert_true(whole(R_ARM, "{\"deadline\":\"2m\",\"reason\":\"before_stop hook\"}", &c, &r));
    assert_int_equal(c.deadline_ms, 120000);
    assert_int_equal(c.trigger, trigger_of("before_stop hook"));
    assert_true(whole(R_DISARM, "{}", &c, &r));
    assert_int_equal(c.type, CMD_DISARM);
    assert_true(whole(R_CALLBACK,
                      "{\"action\":\"on_role_change\",\"role\":\"replica\",\"scope\":\"pg\"}", &c,
                      &r));
    assert_int_equal(c.type, CMD_CALLBACK);
    assert_string_equal(c.role, "replica");
}

/* A body that overran 8 KiB while arriving is 413, on any route. */
static void test_too_large(void **state)
{
    struct api_request rq = {.route = R_KILL, .body = "{}", .len = 2, .too_large = true};
    struct api_response r;
    struct command c;

    (void)state;
    assert_false(api_answer(&rq, &c, &r));
    expect_error(&r, 413, "too_large", "the body is limited to 8 KiB");
    rq.route = R_HEALTH;
    assert_false(api_answer(&rq, &c, &r));
    expect_error(&r, 413, "too_large", "8 KiB");
}

/* GET routes: 503 before the first view, then rendered from it. */
static void test_get(void **state)
{
    struct view *v = calloc(1, sizeof(*v));
    struct api_request rq = {.route = R_HEALTH, .mono_ms = 1000, .wall_ms = 1700000000000};
    struct api_response r;
    struct command c;
    json_t *o;

    (void)state;
    assert_non_null(v);
    assert_false(api_answer(&rq, &c, &r));
    expect_error(&r, 503, "unavailable", "the guard is starting");
    v->mono_ms = 1000;
    v->version = "test";
    v->pidfile = "ok";
    v->poll_duration_us = -1;
    v->c.last_shutdown_ms = -1;
    v->phase = PHASE_OBSERVING;
    v->sql_up = true;
    rq.view = v;
    assert_false(api_answer(&rq, &c, &r));
    assert_int_equal(r.status, 200);
    assert_null(r.allow);
    o = answer_json(&r);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
    json_decref(o);
    free(r.text);
    rq.route = R_METRICS;
    assert_false(api_answer(&rq, &c, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "text/plain; version=0.0.4; charset=utf-8");
    assert_int_equal(strlen(r.text), r.len);
    assert_non_null(strstr(r.text, "# TYPE "));
    free(r.text);
    rq.route = R_WALSENDERS;
    assert_false(api_answer(&rq, &c, &r));
    assert_int_equal(r.status, 200);
    o = answer_json(&r);
    assert_true(json_is_array(json_object_get(o, "walsenders")));
    json_decref(o);
    free(r.text);
    free(v);
}

/* An answer that cannot be built is a fixed JSON error, 500 unless it already was one. */
static void test_unrenderable(void **state)
{
    struct api_response r;

    (void)state;
    api_json(&r, 200, NULL);
    expect_error(&r, 500, "internal", "the response could not be rendered");
    api_json(&r, 409, NULL);
    expect_error(&r, 409, "internal", "could not be rendered");
    api_json(&r, 202, json_pack("{s:b}", "accepted", 1));
    assert_int_equal(r.status, 202);
    assert_string_equal(r.text, "{\"accepted\":true}\n");
    assert_int_equal(r.len, 18);
    free(r.text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_content),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_not_a_command),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_unrenderable),
    };

    return cmocka_run_group_tests(tests, quiet, NULL);
}
