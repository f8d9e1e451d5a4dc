/*
 * test_client.c - the command-line clients: argument parsing and its
 * errors, request bodies, and client_main end to end against a fake daemon
 * on a unix socket (the rendering is test_client_render.c's, URLs and
 * requests test_transport.c's, the token file test_token.c's)
 */
#include "unit_util.h"

#include <fcntl.h>

#include "client.h"
#include "client_samples.h"
#include "fake_daemon.h"
#include "transport.h"

#define NARGS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char *no_env[] = {NULL};

/* Parse a JSON text that must be valid. */
static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);

    if (j == NULL)
        fail_msg("bad test JSON: %s at %d", jerr.text, jerr.position);
    return j;
}

/* Parse arguments that must be accepted. */
static void parse_ok(int argc, char **argv, char **env, struct client_args *a)
{
    char err[CLIENT_ERR_LEN] = "";

    if (!client_parse_args(argc, argv, env, a, err, sizeof(err)))
        fail_msg("arguments refused: %s", err);
}

/* Expect arguments to be refused with an error naming both needles. */
static void parse_bad(int argc, char **argv, const char *n1, const char *n2)
{
    struct client_args a;
    char err[CLIENT_ERR_LEN] = "";

    if (client_parse_args(argc, argv, no_env, &a, err, sizeof(err)))
        fail_msg("arguments accepted, expected an error naming \"%s\"", n1);
    if (n1 && strstr(err, n1) == NULL)
        fail_msg("error \"%s\" does not name \"%s\"", err, n1);
    if (n2 && strstr(err, n2) == NULL)
        fail_msg("error \"%s\" does not name \"%s\"", err, n2);
}

/* A request body as compact JSON with sorted keys (caller frees). */
static char *body_text(const struct client_args *a)
{
    json_t *b = client_request_body(a);
    char *s = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);

    json_decref(b);
    return s;
}

/* Assert that a haystack contains a needle, printing the haystack when not. */
static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("\"%s\" not found in:\n%s", needle, hay);
}

/* Assert that a haystack does not contain a needle. */
static void assert_lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle) != NULL)
        fail_msg("\"%s\" unexpectedly found in:\n%s", needle, hay);
}

/* The four commands are clients; anything else is not. */
static void test_is_command(void **state)
{
    (void)state;
    assert_true(client_is_command("status"));
    assert_true(client_is_command("arm"));
    assert_true(client_is_command("disarm"));
    assert_true(client_is_command("kill"));
    assert_false(client_is_command("run"));
    assert_false(client_is_command("Status"));
    assert_false(client_is_command(""));
    assert_false(client_is_command(NULL));
}

/* No options, no environment: the documented defaults. */
static void test_parse_defaults(void **state)
{
    char *argv[] = {"status"};
    struct client_args a;

    (void)state;
    parse_ok(NARGS(argv), argv, no_env, &a);
    assert_int_equal(a.cmd, CLIENT_STATUS);
    assert_string_equal(a.url, "http://127.0.0.1:8009");
    assert_null(a.token_file);
    assert_int_equal(a.timeout_ms, 10000);
    assert_false(a.json);
    assert_false(a.help);
}

/* The URL and token file come from the environment; flags win over it. */
static void test_parse_environment(void **state)
{
    char *env[] = {"DEMOTION_GUARD_URLX=no", "DEMOTION_GUARD_URL=unix:/run/dg.sock",
                   "DEMOTION_GUARD_TOKEN_FILE=/etc/dg/token", NULL};
    char *empty[] = {"DEMOTION_GUARD_URL=", NULL};
    char *argv[] = {"arm"};
    char *flags[] = {"arm", "--url", "http://[::1]:9000", "--token-file=/tmp/t"};
    struct client_args a;

    (void)state;
    parse_ok(NARGS(argv), argv, env, &a);
    assert_string_equal(a.url, "unix:/run/dg.sock");
    assert_string_equal(a.token_file, "/etc/dg/token");
    parse_ok(NARGS(flags), flags, env, &a);
    assert_string_equal(a.url, "http://[::1]:9000");
    assert_string_equal(a.token_file, "/tmp/t");
    parse_ok(NARGS(argv), argv, empty, &a);
    assert_string_equal(a.url, TRANSPORT_DEFAULT_URL);
}

/* --cacert, --cert, --key and their DEMOTION_GUARD_* variables; flags win. */
static void test_parse_tls(void **state)
{
    char *env[] = {"DEMOTION_GUARD_CACERT=/etc/dg/ca.pem", "DEMOTION_GUARD_CERT=/etc/dg/c.pem",
                   "DEMOTION_GUARD_KEY=/etc/dg/k.pem", NULL};
    char *none[] = {NULL};
    char *argv[] = {"status"};
    char *flags[] = {"kill", "--all-logical", "--cacert", "/ca", "--cert=/c", "--key", "/k"};
    struct client_args a;

    (void)state;
    parse_ok(NARGS(argv), argv, none, &a);
    assert_null(a.cacert);
    assert_null(a.cert);
    assert_null(a.key);
    parse_ok(NARGS(argv), argv, env, &a);
    assert_string_equal(a.cacert, "/etc/dg/ca.pem");
    assert_string_equal(a.cert, "/etc/dg/c.pem");
    assert_string_equal(a.key, "/etc/dg/k.pem");
    parse_ok(NARGS(flags), flags, env, &a);
    assert_string_equal(a.cacert, "/ca");
    assert_string_equal(a.cert, "/c");
    assert_string_equal(a.key, "/k");
}

/* "--opt value" and "--opt=value" both work, for every valued option. */
static void test_parse_both_spellings(void **state)
{
    char *sep[] = {"kill",     "--slot",  "orders",    "--force",
                   "--reason", "why not", "--timeout", "250ms"};
    char *eq[] = {"kill", "--slot=orders", "--force", "--reason=why=not", "--timeout=2m"};
    char *arm[] = {"arm", "--deadline=5s", "--reason", "before_stop"};
    char *pid[] = {"kill", "--pid", "4300"};
    struct client_args a;

    (void)state;
    parse_ok(NARGS(sep), sep, no_env, &a);
    assert_int_equal(a.cmd, CLIENT_KILL);
    assert_string_equal(a.slot, "orders");
    assert_true(a.force);
    assert_string_equal(a.reason, "why not");
    assert_int_equal(a.timeout_ms, 250);
    assert_int_equal(a.n_selectors, 1);
    parse_ok(NARGS(eq), eq, no_env, &a);
    assert_string_equal(a.slot, "orders");
    assert_string_equal(a.reason, "why=not");
    assert_int_equal(a.timeout_ms, 120000);
    parse_ok(NARGS(arm), arm, no_env, &a);
    assert_string_equal(a.deadline, "5s");
    assert_string_equal(a.reason, "before_stop");
    parse_ok(NARGS(pid), pid, no_env, &a);
    assert_int_equal(a.pid, 4300);
}

/* Unknown options, options of another command, stray arguments are usage errors. */
static void test_parse_unknown(void **state)
{
    char *a1[] = {"status", "--verbose"};
    char *a2[] = {"arm", "--json"};
    char *a3[] = {"status", "extra"};
    char *a4[] = {"status", "-j"};
    char *a5[] = {"disarm", "--deadline", "5s"};
    char *a6[] = {"status", "--json=yes"};
    char *a7[] = {"status", "--"};
    char *a8[] = {"frobnicate"};

    (void)state;
    parse_bad(NARGS(a1), a1, "--verbose", "status");
    parse_bad(NARGS(a2), a2, "--json", "arm");
    parse_bad(NARGS(a3), a3, "extra", NULL);
    parse_bad(NARGS(a4), a4, "-j", NULL);
    parse_bad(NARGS(a5), a5, "--deadline", "disarm");
    parse_bad(NARGS(a6), a6, "--json", "no value");
    parse_bad(NARGS(a7), a7, "--", NULL);
    parse_bad(NARGS(a8), a8, "frobnicate", NULL);
}

/* Missing and bad values are named with their option. */
static void test_parse_bad_values(void **state)
{
    char *a1[] = {"status", "--url"};
    char *a2[] = {"status", "--timeout", "10"};
    char *a3[] = {"status", "--timeout=0s"};
    char *a4[] = {"arm", "--deadline", "soon"};
    char *a5[] = {"kill", "--pid", "12ab"};
    char *a6[] = {"kill", "--pid", "-5"};
    char *a7[] = {"kill", "--pid", "99999999999"};
    char *a8[] = {"kill", "--slot="};
    char *a9[] = {"status", "--token-file"};

    (void)state;
    parse_bad(NARGS(a1), a1, "--url", "needs a value");
    parse_bad(NARGS(a2), a2, "--timeout", "\"10\"");
    parse_bad(NARGS(a3), a3, "--timeout", "0s");
    parse_bad(NARGS(a4), a4, "--deadline", "soon");
    parse_bad(NARGS(a5), a5, "--pid", "12ab");
    parse_bad(NARGS(a6), a6, "--pid", "-5");
    parse_bad(NARGS(a7), a7, "--pid", "99999999999");
    parse_bad(NARGS(a8), a8, "--slot", NULL);
    parse_bad(NARGS(a9), a9, "--token-file", "needs a value");
}

/*
 * A --reason or --slot that is not UTF-8 cannot be a JSON string: it was
 * dropped from the request body without a word (arm, disarm and kill went
 * out without their reason; kill --slot without its selector).  Now it is
 * refused, naming the option.  Found by fuzz/client_args.
 */
static void test_parse_not_utf8(void **state)
{
    char *a1[] = {"arm", "--reason", "maintenance \xff\xfe"};
    char *a2[] = {"kill", "--slot", "orders\xc3"};
    char *a3[] = {"disarm", "--reason=caf\xe9"};
    char *a4[] = {"arm", "--reason", "caf\xc3\xa9"};
    struct client_args a;
    char *body;

    (void)state;
    parse_bad(NARGS(a1), a1, "--reason", "UTF-8");
    parse_bad(NARGS(a2), a2, "--slot", "UTF-8");
    parse_bad(NARGS(a3), a3, "--reason", "UTF-8");
    parse_ok(NARGS(a4), a4, no_env, &a);
    body = body_text(&a);
    assert_string_equal(body, "{\"reason\":\"caf\u00e9\"}");
    free(body);
}

/*
 * A long bad value or --url is quoted cut to 200 bytes: quoted whole it
 * filled the error, and the option and the reason were lost.  Found by
 * fuzz/client_args.
 */
static void test_parse_long_value(void **state)
{
    char v[1500], u[1500];
    char *a1[] = {"status", "--timeout", v};
    char *a2[] = {"status", "--url", u};
    char *a3[] = {"status", "--watch", v};

    (void)state;
    memset(v, '7', sizeof(v) - 1);
    v[sizeof(v) - 1] = '\0';
    snprintf(u, sizeof(u), "http:///%s", v);
    parse_bad(NARGS(a1), a1, "...\" for option \"--timeout\": expected a duration", NULL);
    parse_bad(NARGS(a2), a2, "...\": no host", NULL);
    parse_bad(NARGS(a3), a3, "...\" for option \"--watch\": expected a duration", NULL);
    /* a long positional argument or unknown option: the error still ends with its quote */
    a1[1] = v;
    parse_bad(NARGS(a1), a1, "unexpected argument \"777", "777...\"");
    a1[1] = u;
    memcpy(u, "--", 2);
    parse_bad(NARGS(a1), a1, "unknown option \"--", "...\" for \"status\"");
    a1[0] = v;
    parse_bad(1, a1, "unknown command \"777", "777...\"");
}

/* kill needs exactly one selector. */
static void test_parse_kill_selectors(void **state)
{
    char *none[] = {"kill", "--force"};
    char *two[] = {"kill", "--slot", "a", "--stalled"};
    char *twice[] = {"kill", "--pid", "1", "--pid", "2"};
    char *all[] = {"kill", "--all-logical", "--force"};
    char *stalled[] = {"kill", "--stalled"};
    struct client_args a;

    (void)state;
    parse_bad(NARGS(none), none, "exactly one", "--slot");
    parse_bad(NARGS(two), two, "exactly one", "several");
    parse_bad(NARGS(twice), twice, "exactly one", NULL);
    parse_ok(NARGS(all), all, no_env, &a);
    assert_true(a.all_logical);
    assert_true(a.force);
    parse_ok(NARGS(stalled), stalled, no_env, &a);
    assert_true(a.stalled);
}

/* Bad URLs are usage errors. */
static void test_parse_bad_url(void **state)
{
    char *a1[] = {"status", "--url", "ftp://host/"};
    char *a2[] = {"status", "--url", "unix:"};
    char *a3[] = {"status", "--url", "http://"};
    char *env[] = {"DEMOTION_GUARD_URL=gopher://x", NULL};
    char *argv[] = {"status"};
    struct client_args a;
    char err[CLIENT_ERR_LEN];

    (void)state;
    parse_bad(NARGS(a1), a1, "--url", "ftp://host/");
    parse_bad(NARGS(a2), a2, "unix:", NULL);
    parse_bad(NARGS(a3), a3, "no host", NULL);
    assert_false(client_parse_args(NARGS(argv), argv, env, &a, err, sizeof(err)));
    assert_contains(err, "gopher://x");
}

/* status --watch: 2 s alone, an optional interval (both spellings), bad values, not with --json. */
static void test_parse_watch(void **state)
{
    char *a1[] = {"status", "--watch"}, *a2[] = {"status", "--watch", "250ms", "--url", "h:1"};
    char *a3[] = {"status", "--watch=5s"}, *a4[] = {"status", "--watch", "--url", "h:1"};
    char *bad1[] = {"status", "--watch", "soon"}, *bad2[] = {"status", "--watch", "--json"};
    char *bad3[] = {"arm", "--watch"}, *bad4[] = {"status", "--watch=0s"};
    struct client_args a;

    (void)state;
    parse_ok(NARGS(a1), a1, no_env, &a);
    assert_int_equal(a.watch_ms, 2000);
    parse_ok(NARGS(a2), a2, no_env, &a);
    assert_int_equal(a.watch_ms, 250);
    assert_string_equal(a.url, "h:1");
    parse_ok(NARGS(a3), a3, no_env, &a);
    assert_int_equal(a.watch_ms, 5000);
    parse_ok(NARGS(a4), a4, no_env, &a);
    assert_int_equal(a.watch_ms, 2000);
    assert_string_equal(a.url, "h:1");
    parse_bad(NARGS(bad1), bad1, "\"soon\"", "\"--watch\"");
    parse_bad(NARGS(bad2), bad2, "\"--watch\"", "\"--json\"");
    parse_bad(NARGS(bad3), bad3, "\"--watch\"", "\"arm\"");
    parse_bad(NARGS(bad4), bad4, "\"0s\"", "\"--watch\"");
    parse_ok(1, a1, no_env, &a);
    assert_int_equal(a.watch_ms, 0);
}

/* --help stops the parse: later errors and a missing selector do not count. */
static void test_parse_help(void **state)
{
    char *argv[] = {"kill", "--help", "--bogus"};
    struct client_args a;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    (void)state;
    parse_ok(NARGS(argv), argv, no_env, &a);
    assert_true(a.help);
    client_usage(CLIENT_KILL, f);
    fclose(f);
    assert_contains(buf, "--all-logical");
    assert_contains(buf, "--token-file");
    assert_contains(buf, "DEMOTION_GUARD_URL");
    free(buf);
}

/* arm and disarm bodies carry only the fields given. */
static void test_body_arm_disarm(void **state)
{
    char *bare[] = {"arm"};
    char *full[] = {"arm", "--deadline", "5s", "--reason", "before_stop"};
    char *dis[] = {"disarm", "--reason", "t\"x"};
    char *st[] = {"status"};
    struct client_args a;
    char *s;

    (void)state;
    parse_ok(NARGS(bare), bare, no_env, &a);
    s = body_text(&a);
    assert_string_equal(s, "{}");
    free(s);
    parse_ok(NARGS(full), full, no_env, &a);
    s = body_text(&a);
    assert_string_equal(s, "{\"deadline\":\"5s\",\"reason\":\"before_stop\"}");
    free(s);
    assert_string_equal(client_request_path(a.cmd), "/v1/arm");
    parse_ok(NARGS(dis), dis, no_env, &a);
    s = body_text(&a);
    assert_string_equal(s, "{\"reason\":\"t\\\"x\"}");
    free(s);
    assert_string_equal(client_request_path(a.cmd), "/v1/disarm");
    parse_ok(NARGS(st), st, no_env, &a);
    assert_null(client_request_body(&a));
}

/* kill bodies: one selector, force only when given, pid as a number. */
static void test_body_kill(void **state)
{
    char *slot[] = {"kill", "--slot", "orders", "--force", "--reason", "stuck"};
    char *pid[] = {"kill", "--pid", "4300"};
    char *stalled[] = {"kill", "--stalled"};
    char *all[] = {"kill", "--all-logical"};
    struct client_args a;
    char *s;

    (void)state;
    parse_ok(NARGS(slot), slot, no_env, &a);
    s = body_text(&a);
    assert_string_equal(s, "{\"force\":true,\"reason\":\"stuck\",\"slot\":\"orders\"}");
    free(s);
    assert_string_equal(client_request_path(a.cmd), "/v1/kill");
    parse_ok(NARGS(pid), pid, no_env, &a);
    s = body_text(&a);
    assert_string_equal(s, "{\"pid\":4300}");
    free(s);
    parse_ok(NARGS(stalled), stalled, no_env, &a);
    s = body_text(&a);
    assert_string_equal(s, "{\"stalled\":true}");
    free(s);
    parse_ok(NARGS(all), all, no_env, &a);
    s = body_text(&a);
    assert_string_equal(s, "{\"all_logical\":true}");
    free(s);
}

/* ---- client_main against a fake daemon on a unix socket ---- */

/* Run client_main with stdout and stderr captured into DIR/out and DIR/err. */
static int run_client(const char *dir, int argc, char **argv, char **out, char **err)
{
    char po[PATH_MAX], pe[PATH_MAX];
    int so = dup(1), se = dup(2), fo, fe, rc;

    ut_path(po, dir, "out");
    ut_path(pe, dir, "err");
    fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(so >= 0 && se >= 0 && fo >= 0 && fe >= 0);
    fflush(stdout);
    fflush(stderr);
    dup2(fo, 1);
    dup2(fe, 2);
    rc = client_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    close(fo);
    close(fe);
    *out = ut_read_file(po);
    *err = ut_read_file(pe);
    return rc;
}

/* status over a unix socket: both GETs, the table on stdout, exit 0. */
static void test_main_status_unix(void **state)
{
    const char *dir = *state;
    struct fake f = {.n = 2};
    char url[PATH_MAX + 8], *out, *err;
    char *argv[] = {"status", "--url", url, "--timeout", "5s"};

    fake_start(&f, dir);
    f.reply[0] = reply(0, 200, sample_status);
    f.reply[1] = reply(1, 200, sample_walsenders);
    snprintf(url, sizeof(url), "unix:%s", f.sock);
    assert_int_equal(run_client(dir, NARGS(argv), argv, &out, &err), 0);
    fake_stop(&f);
    assert_contains(f.request[0], "GET /v1/status HTTP/1.1\r\n");
    assert_contains(f.request[0], "Host: localhost\r\n");
    assert_contains(f.request[1], "GET /v1/walsenders HTTP/1.1\r\n");
    assert_lacks(f.request[0], "Authorization");
    assert_contains(out, "at unix:");
    assert_contains(out, "162.6 KiB");
    assert_string_equal(err, "");
    free(out);
    free(err);
}

/* status --json: one object with both bodies. */
static void test_main_status_json(void **state)
{
    const char *dir = *state;
    struct fake f = {.n = 2};
    char url[PATH_MAX + 8], *out, *err;
    char *argv[] = {"status", "--json", "--url", url};
    json_t *j;

    fake_start(&f, dir);
    f.reply[0] = reply(0, 200, sample_status);
    f.reply[1] = reply(1, 200, sample_walsenders);
    snprintf(url, sizeof(url), "unix:%s", f.sock);
    assert_int_equal(run_client(dir, NARGS(argv), argv, &out, &err), 0);
    fake_stop(&f);
    j = parse(out);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "status"), "phase")),
                        "armed");
    assert_int_equal(json_array_size(json_object_get(j, "walsenders")), 4);
    json_decref(j);
    free(out);
    free(err);
}

/* kill with a token: the body and the bearer token are sent; 409 is one line, exit 1. */
static void test_main_kill_conflict(void **state)
{
    const char *dir = *state;
    struct fake f = {.n = 1};
    char url[PATH_MAX + 8], tok[PATH_MAX], *out, *err;
    char *argv[] = {"kill", "--url", url, "--token-file", tok, "--slot", "standby1"};

    ut_write_file(dir, "token", "t0k3n\n");
    ut_path(tok, dir, "token");
    fake_start(&f, dir);
    f.reply[0] =
        reply(0, 409, "{\"error\":\"conflict\",\"detail\":\"slot \\\"standby1\\\" is physical\"}");
    snprintf(url, sizeof(url), "unix:%s", f.sock);
    assert_int_equal(run_client(dir, NARGS(argv), argv, &out, &err), 1);
    fake_stop(&f);
    assert_contains(f.request[0], "POST /v1/kill HTTP/1.1\r\n");
    assert_contains(f.request[0], "Authorization: Bearer t0k3n\r\n");
    assert_contains(f.request[0], "Content-Type: application/json\r\n");
    assert_contains(f.request[0], "\r\n\r\n{\"slot\":\"standby1\"}");
    assert_string_equal(out, "");
    assert_contains(err, ": 409 conflict: slot \"standby1\" is physical\n");
    assert_contains(err, "demotion-guard: POST /v1/kill at unix:");
    assert_int_equal(ut_count_lines(err), 1);
    assert_lacks(err, "t0k3n");
    free(out);
    free(err);
}

/* A failed kill (500) prints its targets and the error line, exit 1. */
static void test_main_kill_failed(void **state)
{
    const char *dir = *state;
    struct fake f = {.n = 1};
    char url[PATH_MAX + 8], *out, *err;
    char *argv[] = {"kill", "--url", url, "--stalled"};

    fake_start(&f, dir);
    f.reply[0] = reply(0, 500,
                       "{\"error\":\"terminate_failed\",\"detail\":\"1 target not ended\","
                       "\"targets\":[{\"pid\":7,\"slot\":\"s\",\"kind\":\"logical\","
                       "\"result\":\"failed\",\"method\":\"sql\",\"error\":\"refused\"}]}");
    snprintf(url, sizeof(url), "unix:%s", f.sock);
    assert_int_equal(run_client(dir, NARGS(argv), argv, &out, &err), 1);
    fake_stop(&f);
    assert_contains(f.request[0], "{\"stalled\":true}");
    assert_string_equal(out, "pid 7 slot s (logical): failed by sql: refused\n");
    assert_contains(err, "500 terminate_failed: 1 target not ended\n");
    free(out);
    free(err);
}

/* arm prints one line; an answer over 1 MiB and a non-JSON answer are errors. */
static void test_main_arm_and_bad_answers(void **state)
{
    const char *dir = *state;
    struct fake f = {.n = 1};
    char url[PATH_MAX + 8], *out, *err, *huge;
    char *argv[] = {"arm", "--url", url, "--deadline", "5s"};
    size_t n = TRANSPORT_MAX_BODY + 10, hl;

    fake_start(&f, dir);
    f.reply[0] = reply(0, 200,
                       "{\"phase\":\"armed\",\"trigger\":\"api\",\"deadline_left_ms\":5000,"
                       "\"deadline_at\":\"2026-11-25T22:10:03.000Z\"}");
    snprintf(url, sizeof(url), "unix:%s", f.sock);
    assert_int_equal(run_client(dir, NARGS(argv), argv, &out, &err), 0);
    fake_stop(&f);
    assert_contains(f.request[0], "{\"deadline\":\"5s\"}");
    assert_string_equal(out, "armed: deadline 5s (at 22:10:03Z), trigger api\n");
    free(out);
    free(err);

    for (int announced = 0; announced < 2; announced++) {
        huge = malloc(n + 200);
        assert_non_null(huge);
        snprintf(huge, 200, "HTTP/1.1 200 OK\r\n%s%zu\r\nConnection: close\r\n\r\n",
                 announced ? "Content-Length: " : "X-Size: ", n);
        hl = strlen(huge);
        memset(huge + hl, ' ', n);
        huge[hl + n] = '\0';
        unlink(f.sock);
        f = (struct fake){.n = 1};
        fake_start(&f, dir);
        f.reply[0] = huge;
        assert_int_equal(run_client(dir, NARGS(argv), argv, &out, &err), 1);
        fake_stop(&f);
        assert_contains(err, "longer than 1048576 bytes");
        free(out);
        free(err);
        free(huge);
    }

    unlink(f.sock);
    f = (struct fake){.n = 1};
    fake_start(&f, dir);
    f.reply[0] = reply(0, 200, "not json");
    assert_int_equal(run_client(dir, NARGS(argv), argv, &out, &err), 1);
    fake_stop(&f);
    assert_contains(err, "not JSON");
    free(out);
    free(err);
}

/* Nothing listening: exit 1 and one line naming the URL; usage errors exit 2. */
static void test_main_unreachable_and_usage(void **state)
{
    const char *dir = *state;
    char url[PATH_MAX + 8], tok[PATH_MAX], *out, *err;
    char *status[] = {"status", "--url", url};
    char *badtok[] = {"disarm", "--url", url, "--token-file", tok};
    char *usage[] = {"kill", "--url", url};
    char *help[] = {"disarm", "--help"};

    snprintf(url, sizeof(url), "unix:%s/nobody.sock", dir);
    assert_int_equal(run_client(dir, NARGS(status), status, &out, &err), 1);
    assert_contains(err, "demotion-guard: cannot reach the daemon at unix:");
    assert_contains(err, "nobody.sock: No such file or directory\n");
    assert_int_equal(ut_count_lines(err), 1);
    free(out);
    free(err);

    ut_path(tok, dir, "no-such-token");
    assert_int_equal(run_client(dir, NARGS(badtok), badtok, &out, &err), 1);
    assert_contains(err, "no-such-token");
    free(out);
    free(err);

    assert_int_equal(run_client(dir, NARGS(usage), usage, &out, &err), 2);
    assert_contains(err, "exactly one");
    assert_contains(err, "demotion-guard kill --help");
    free(out);
    free(err);

    assert_int_equal(run_client(dir, NARGS(help), help, &out, &err), 0);
    assert_contains(out, "usage: demotion-guard disarm");
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_command),
        cmocka_unit_test(test_parse_defaults),
        cmocka_unit_test(test_parse_long_value),
        cmocka_unit_test(test_parse_not_utf8),
        cmocka_unit_test(test_parse_watch),
        cmocka_unit_test(test_parse_environment),
        cmocka_unit_test(test_parse_tls),
        cmocka_unit_test(test_parse_both_spellings),
        cmocka_unit_test(test_parse_unknown),
        cmocka_unit_test(test_parse_bad_values),
        cmocka_unit_test(test_parse_kill_selectors),
        cmocka_unit_test(test_parse_bad_url),
        cmocka_unit_test(test_parse_help),
        cmocka_unit_test(test_body_arm_disarm),
        cmocka_unit_test(test_body_kill),
        cmocka_unit_test_setup_teardown(test_main_status_unix, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_main_status_json, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_main_kill_conflict, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_main_kill_failed, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_main_arm_and_bad_answers, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_main_unreachable_and_usage, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
