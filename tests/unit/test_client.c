/*
 * test_client.c - the command-line clients: argument parsing and its
 * errors, request bodies, URLs and unix sockets, the token file, human
 * formatting, the rendering of status, arm, disarm and kill answers, and
 * client_main end to end against a fake daemon on a unix socket
 */
#include "unit_util.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "client.h"

#define NARGS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char *no_env[] = {NULL};

/* The status sample of API.md, with an armed clock. */
static const char *const sample_status =
    "{\"version\": \"v0.3-12-gabc\", \"listen\": \"127.0.0.1:8009\", \"phase\": \"armed\","
    " \"phase_since\": \"2026-11-25T22:00:00.123Z\", \"trigger\": \"before_stop\","
    " \"deadline_at\": \"2026-11-25T22:00:05.123Z\", \"deadline_remaining_ms\": 3500,"
    " \"arm_expires_at\": \"2026-11-25T22:01:05.123Z\","
    " \"postgresql\": {\"sql\": \"connected\", \"error\": null, \"version_num\": 150018,"
    "  \"role\": \"demotion_guard\", \"superuser\": false, \"in_recovery\": false,"
    "  \"backend_pid\": 4242, \"data_directory\": \"/var/lib/postgresql/15/main\","
    "  \"pidfile\": \"ok\", \"postmaster_pid\": 4100, \"postmaster_status\": \"ready\","
    "  \"shutting_down\": false},"
    " \"paths\": {\"sql\": {\"available\": true, \"why\": null},"
    "  \"signal\": {\"available\": false, \"why\": \"postmaster 4100 is not visible: EPERM\"}},"
    " \"config\": {\"deadline_ms\": 10000, \"stall_after_ms\": 30000, \"poll_interval_ms\": 1000,"
    "  \"kill_stalled_at_shutdown\": true, \"physical_deadline_ms\": null, \"dry_run\": false,"
    "  \"exclude_slot\": [\"debezium_*\"], \"token\": true},"
    " \"walsenders\": {\"logical\": 2, \"physical\": 1, \"stalled\": 1},"
    " \"counters\": {\"terminations\": {\"sql\": {\"deadline\": 0, \"stalled\": 1, \"api\": 0},"
    "  \"signal\": {\"deadline\": 2, \"stalled\": 0, \"api\": 0}}, \"terminate_failures\": 0,"
    "  \"arms\": {\"api\": 0, \"before_stop\": 1, \"pre_promote\": 0, \"shutdown\": 3},"
    "  \"shutdowns\": 3, \"last_shutdown_duration_ms\": 3012, \"poll_duration_ms\": 1.34,"
    "  \"last_poll_age_ms\": 250}}";

/*
 * The walsenders sample of API.md, plus one with a non-ASCII application
 * name and null LSNs, one whose name holds an escape sequence, and a
 * physical one.
 */
static const char *const sample_walsenders =
    "{\"as_of\": \"2026-11-25T22:00:00.123Z\", \"walsenders\": ["
    " {\"pid\": 4300, \"kind\": \"logical\", \"slot\": \"orders\", \"database\": \"app\","
    "  \"user\": \"debezium\", \"application_name\": \"PostgreSQL JDBC Driver\","
    "  \"client_addr\": \"10.0.0.7\", \"state\": \"streaming\", \"sent_lsn\": \"0/3028A98\","
    "  \"write_lsn\": \"0/3028A98\", \"flush_lsn\": \"0/3000060\", \"lag_bytes\": 166456,"
    "  \"stalled_for_ms\": 45000, \"risk\": \"stalled\", \"cause\": \"ahead\", \"excluded\": "
    "false},"
    " {\"pid\": 4301, \"kind\": \"logical\", \"slot\": \"debezium_inv\", \"database\": \"app\","
    "  \"user\": \"app\", \"application_name\": \"r\\u00e9plica-\\u00fc\","
    "  \"client_addr\": null, \"state\": \"streaming\", \"sent_lsn\": null,"
    "  \"write_lsn\": null, \"flush_lsn\": null, \"lag_bytes\": null,"
    "  \"stalled_for_ms\": 0, \"risk\": \"unknown\", \"excluded\": true},"
    " {\"pid\": 4302, \"kind\": \"logical\", \"slot\": \"evil\", \"database\": \"app\","
    "  \"user\": \"app\", \"application_name\": \"a\\u001b[31mb\\n\","
    "  \"client_addr\": \"::1\", \"state\": \"streaming\", \"lag_bytes\": 0,"
    "  \"stalled_for_ms\": 0, \"risk\": \"ok\", \"excluded\": false},"
    " {\"pid\": 4400, \"kind\": \"physical\", \"slot\": \"standby1\", \"database\": null,"
    "  \"user\": \"replicator\", \"application_name\": \"walreceiver\","
    "  \"client_addr\": \"10.0.0.8\", \"state\": \"streaming\", \"lag_bytes\": 3221225472,"
    "  \"stalled_for_ms\": 0, \"risk\": \"lagging\", \"excluded\": false}"
    "]}";

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
    assert_string_equal(a.url, CLIENT_DEFAULT_URL);
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

/* Resolve url + path; it must be accepted. */
static void endpoint_ok(const char *url, const char *path, const char *want_url,
                        const char *want_socket)
{
    struct client_endpoint ep;
    char err[CLIENT_ERR_LEN] = "";

    if (!client_endpoint(url, path, &ep, err, sizeof(err)))
        fail_msg("URL \"%s\" refused: %s", url, err);
    assert_string_equal(ep.url, want_url);
    assert_string_equal(ep.socket, want_socket);
}

/* TCP URLs, HOST:PORT, trailing slashes and unix: sockets. */
static void test_endpoint(void **state)
{
    struct client_endpoint ep;
    char err[CLIENT_ERR_LEN];
    char longsock[200];

    (void)state;
    endpoint_ok("http://127.0.0.1:8009", "/v1/status", "http://127.0.0.1:8009/v1/status", "");
    endpoint_ok("http://127.0.0.1:8009//", "/v1/kill", "http://127.0.0.1:8009/v1/kill", "");
    endpoint_ok("https://guard.example:443/base/", "/v1/arm",
                "https://guard.example:443/base/v1/arm", "");
    endpoint_ok("127.0.0.1:8009", "/v1/status", "http://127.0.0.1:8009/v1/status", "");
    endpoint_ok("[::1]:8009", "/v1/status", "http://[::1]:8009/v1/status", "");
    endpoint_ok("unix:/run/demotion-guard/api.sock", "/v1/walsenders",
                "http://localhost/v1/walsenders", "/run/demotion-guard/api.sock");
    endpoint_ok("unix:relative.sock", "/v1/status", "http://localhost/v1/status", "relative.sock");
    assert_false(client_endpoint("ftp://x", "/", &ep, err, sizeof(err)));
    assert_false(client_endpoint("http:///x", "/", &ep, err, sizeof(err)));
    assert_contains(err, "no host");
    assert_false(client_endpoint("unix:", "/", &ep, err, sizeof(err)));
    memset(longsock, 'a', sizeof(longsock));
    memcpy(longsock, "unix:/", 6);
    longsock[sizeof(longsock) - 1] = '\0';
    assert_false(client_endpoint(longsock, "/", &ep, err, sizeof(err)));
    assert_contains(err, "unix:");
}

/* The token is the file without trailing whitespace; bad files are named. */
static void test_read_token(void **state)
{
    const char *dir = *state;
    char path[PATH_MAX], tok[64], err[CLIENT_ERR_LEN];

    ut_write_file(dir, "tok", "s3cret-token \n\n");
    ut_path(path, dir, "tok");
    assert_true(client_read_token(path, tok, sizeof(tok), err, sizeof(err)));
    assert_string_equal(tok, "s3cret-token");

    ut_write_file(dir, "empty", " \n");
    ut_path(path, dir, "empty");
    assert_false(client_read_token(path, tok, sizeof(tok), err, sizeof(err)));
    assert_contains(err, path);
    assert_contains(err, "empty");

    ut_path(path, dir, "missing");
    assert_false(client_read_token(path, tok, sizeof(tok), err, sizeof(err)));
    assert_contains(err, path);

    ut_write_file(dir, "ctl", "ab\r\nInjected: yes\n");
    ut_path(path, dir, "ctl");
    assert_false(client_read_token(path, tok, sizeof(tok), err, sizeof(err)));
    assert_contains(err, "control character");
    assert_lacks(err, "Injected");

    ut_write_file(dir, "long",
                  "0123456789012345678901234567890123456789012345678901234567890123456");
    ut_path(path, dir, "long");
    assert_false(client_read_token(path, tok, sizeof(tok), err, sizeof(err)));
    assert_contains(err, "longer than 63 bytes");
    assert_lacks(err, "0123456789");
}

/*
 * A FIFO as token file is refused at once, naming it: the before-stop hook
 * used to block on it forever, and Patroni with it (alarm: a hang fails).
 */
static void test_read_token_fifo(void **state)
{
    char path[PATH_MAX], tok[64], err[CLIENT_ERR_LEN];

    ut_path(path, *state, "tok.fifo");
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(10);
    assert_false(client_read_token(path, tok, sizeof(tok), err, sizeof(err)));
    alarm(0);
    assert_contains(err, path);
    assert_contains(err, "not a regular file");
}

/* Format bytes into a static buffer for assertions. */
static const char *bytes(int64_t n)
{
    static char buf[64];

    client_format_bytes(n, buf, sizeof(buf));
    return buf;
}

/* Format a duration into a static buffer for assertions. */
static const char *dur(int64_t ms)
{
    static char buf[64];

    client_format_duration(ms, buf, sizeof(buf));
    return buf;
}

/* Human bytes and durations. */
static void test_format(void **state)
{
    (void)state;
    assert_string_equal(bytes(-1), "-");
    assert_string_equal(bytes(0), "0 B");
    assert_string_equal(bytes(176), "176 B");
    assert_string_equal(bytes(1023), "1023 B");
    assert_string_equal(bytes(1024), "1.0 KiB");
    assert_string_equal(bytes(166456), "162.6 KiB");
    assert_string_equal(bytes(16 * 1024 * 1024), "16.0 MiB");
    assert_string_equal(bytes(3221225472LL), "3.0 GiB");
    assert_string_equal(bytes(INT64_MAX), "8.0 EiB");
    assert_string_equal(dur(-1), "-");
    assert_string_equal(dur(0), "0ms");
    assert_string_equal(dur(250), "250ms");
    assert_string_equal(dur(3500), "3.5s");
    assert_string_equal(dur(45000), "45s");
    assert_string_equal(dur(125000), "2m05s");
    assert_string_equal(dur(3720000), "1h02m");
    assert_string_equal(dur(5000), "5s");
    assert_string_equal(dur(5099), "5s");
    assert_string_equal(dur(60000), "1m");
    assert_string_equal(dur(3600000), "1h");
    assert_string_equal(dur(86400000), "1d");
    assert_string_equal(dur(183600000), "2d03h");
}

/* Control characters become '?', UTF-8 is kept, cuts fall between characters. */
static void test_sanitize(void **state)
{
    char out[16];

    (void)state;
    assert_int_equal(client_sanitize("plain", out, sizeof(out)), 5);
    assert_string_equal(out, "plain");
    assert_int_equal(client_sanitize("r\xc3\xa9plica", out, sizeof(out)), 7);
    assert_string_equal(out, "r\xc3\xa9plica");
    assert_int_equal(client_sanitize("a\x1b[31m\n\x7f", out, sizeof(out)), 8);
    assert_string_equal(out, "a?[31m??");
    assert_int_equal(client_sanitize("c1\xc2\x9b", out, sizeof(out)), 4);
    assert_string_equal(out, "c1??");
    assert_int_equal(client_sanitize("bad\xc3", out, sizeof(out)), 4);
    assert_string_equal(out, "bad?");
    assert_int_equal(client_sanitize("\xe2\x82\xac\xe2\x82\xac", out, 5), 1);
    assert_string_equal(out, "\xe2\x82\xac");
    assert_int_equal(client_sanitize("xyz", out, 1), 0);
    assert_string_equal(out, "");
}

/* Render something into a malloc'd string with the given renderer. */
static char *render_status(const char *status, const char *walsenders, int64_t now)
{
    json_t *st = parse(status), *ws = parse(walsenders);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    client_render_status(f, "http://127.0.0.1:8009", st, ws, now);
    fclose(f);
    json_decref(st);
    json_decref(ws);
    return buf;
}

/* The line of out that contains needle, copied into line (fails when none). */
static void line_with(const char *out, const char *needle, char *line, size_t len)
{
    const char *p = strstr(out, needle), *start, *end;

    if (p == NULL)
        fail_msg("no line with \"%s\" in:\n%s", needle, out);
    for (start = p; start > out && start[-1] != '\n'; start--)
        ;
    end = strchr(p, '\n');
    snprintf(line, len, "%.*s", end ? (int)(end - start) : (int)strlen(start), start);
}

/* Column (in characters, UTF-8 aware) where needle starts in line. */
static int column_of(const char *line, const char *needle)
{
    const char *p = strstr(line, needle);
    int col = 0;

    assert_non_null(p);
    for (const char *q = line; q < p; q++)
        col += ((unsigned char)*q & 0xc0) != 0x80;
    return col;
}

/* The header of the API.md sample: URL, phase with deadline, PostgreSQL, paths. */
static void test_render_status_header(void **state)
{
    int64_t now = (int64_t)1795644001123LL; /* 2026-11-25T22:00:01.123Z */
    char *out = render_status(sample_status, sample_walsenders, now);

    (void)state;
    assert_contains(out, "demotion-guard v0.3-12-gabc at http://127.0.0.1:8009");
    assert_contains(out, "phase       armed since 22:00:00Z (1s ago), trigger before_stop, "
                         "deadline in 3.5s (at 22:00:05Z), arm expires at 22:01:05Z\n");
    assert_contains(out, "postgresql  connected: PostgreSQL 15.18, role demotion_guard, "
                         "primary, backend pid 4242\n");
    assert_contains(out, "postmaster  pid 4100 ready; postmaster.pid ok in "
                         "/var/lib/postgresql/15/main\n");
    assert_contains(out, "paths       sql available, signal unavailable (postmaster 4100 is not "
                         "visible: EPERM)\n");
    assert_contains(out, "deadline 10s, stall after 30s, kill stalled at shutdown yes, "
                         "physical deadline off, excluded debezium_*, token set\n");
    assert_contains(out, "dry-run     no\n");
    assert_contains(out, "walsenders  2 logical, 1 physical, 1 stalled\n");
    assert_contains(out, "counters    terminations 3 (sql 1, signal 2), failures 0, arms 4, "
                         "shutdowns 3 (last took 3s), last poll 250ms ago (took 1.34ms)\n");
    free(out);
}

/* The table: every walsender, human lag, null lag as "-", aligned with UTF-8, no escapes. */
static void test_render_status_table(void **state)
{
    char *out = render_status(sample_status, sample_walsenders, 0);
    char head[512], row1[512], row2[512], row3[512], row4[512];

    (void)state;
    line_with(out, "APPLICATION", head, sizeof(head));
    line_with(out, "orders", row1, sizeof(row1));
    line_with(out, "debezium_inv", row2, sizeof(row2));
    line_with(out, "evil", row3, sizeof(row3));
    line_with(out, "standby1", row4, sizeof(row4));
    assert_contains(head, "PID");
    assert_contains(head, "RISK");
    assert_contains(row1, "4300  logical   orders  ");
    assert_contains(row1, "PostgreSQL JDBC Driver");
    assert_contains(row1, "10.0.0.7");
    assert_contains(row1, "162.6 KiB");
    assert_contains(row1, "45s");
    assert_contains(row1, "stalled");
    assert_contains(row2, "r\xc3\xa9plica-\xc3\xbc");
    assert_contains(row2, "unknown (excluded)");
    assert_contains(row3, "a?[31mb?");
    assert_lacks(out, "\x1b");
    assert_contains(row4, "3.0 GiB");
    assert_contains(row4, "lagging");
    /* columns line up, counting characters, not bytes */
    assert_int_equal(column_of(head, "CLIENT"), column_of(row1, "10.0.0.7"));
    assert_int_equal(column_of(head, "CLIENT"), column_of(row2, "-  "));
    assert_int_equal(column_of(head, "RISK"), column_of(row1, "stalled"));
    assert_int_equal(column_of(head, "RISK"), column_of(row2, "unknown"));
    assert_int_equal(column_of(head, "RISK"), column_of(row4, "lagging"));
    assert_int_equal(column_of(head, "CAUSE"), column_of(row1, "ahead"));
    assert_int_equal(column_of(row1, "162.6 KiB") + 9, column_of(row4, "3.0 GiB") + 7);
    free(out);
}

/* No walsenders, PostgreSQL down, dry-run, an observing phase. */
static void test_render_status_degraded(void **state)
{
    const char *st =
        "{\"version\": \"v1\", \"phase\": \"waiting\", \"phase_since\": "
        "\"2026-11-25T22:00:00.000Z\","
        " \"trigger\": null, \"deadline_remaining_ms\": null,"
        " \"postgresql\": {\"sql\": \"disconnected\", \"error\": \"could not connect: refused\","
        "  \"version_num\": null, \"pidfile\": \"missing\", \"postmaster_pid\": null,"
        "  \"postmaster_status\": null},"
        " \"paths\": {\"sql\": {\"available\": false, \"why\": \"no session\"},"
        "  \"signal\": {\"available\": true, \"why\": null}},"
        " \"config\": {\"deadline_ms\": 2000, \"physical_deadline_ms\": 60000, \"dry_run\": true,"
        "  \"exclude_slot\": [], \"token\": false}, \"counters\": {}}";
    char *out = render_status(st, "{\"walsenders\": []}", 0);

    (void)state;
    assert_contains(out, "phase       waiting since 22:00:00Z\n");
    assert_contains(out, "postgresql  disconnected: could not connect: refused\n");
    assert_contains(out, "postmaster  unknown; postmaster.pid missing\n");
    assert_contains(out, "sql unavailable (no session), signal available");
    assert_contains(out, "deadline 2s, stall after -, kill stalled at shutdown no, "
                         "physical deadline 1m, token none\n");
    assert_contains(out, "dry-run     YES");
    assert_contains(out, "\nno walsenders\n");
    assert_contains(out, "terminations 0 (sql 0, signal 0), failures 0, arms 0, shutdowns 0, "
                         "no poll yet\n");
    free(out);
    out = render_status("{}", "{}", 0);
    assert_contains(out, "no walsenders");
    free(out);
}

/* Render an answer with one of the small renderers into a malloc'd string. */
static char *render_with(void (*fn)(FILE *, const json_t *), const char *text)
{
    json_t *j = parse(text);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    fn(f, j);
    fclose(f);
    json_decref(j);
    return buf;
}

/* The arm and disarm answers, one line each. */
static void test_render_arm_disarm(void **state)
{
    char *out;

    (void)state;
    out = render_with(client_render_arm, "{\"phase\":\"armed\",\"trigger\":\"api\",\"reason\":"
                                         "\"maintenance\",\"deadline_ms\":5000,"
                                         "\"deadline_at\":\"2026-11-25T22:10:03.000Z\"}");
    assert_string_equal(out,
                        "armed: deadline 5s (at 22:10:03Z), trigger api, reason \"maintenance\"\n");
    free(out);
    out = render_with(client_render_arm, "{\"phase\":\"armed\",\"trigger\":\"before_stop\","
                                         "\"reason\":\"before_stop\",\"deadline_ms\":10000,"
                                         "\"deadline_at\":\"2026-11-25T22:10:03.000Z\"}");
    assert_string_equal(out, "armed: deadline 10s (at 22:10:03Z), trigger before_stop\n");
    free(out);
    out = render_with(client_render_arm, "{\"phase\":\"armed\",\"trigger\":\"api\","
                                         "\"reason\":\"api\",\"deadline_ms\":4993}");
    assert_string_equal(out, "armed: deadline 4.9s, trigger api\n");
    free(out);
    out = render_with(client_render_disarm, "{\"phase\":\"observing\",\"was_armed\":true}");
    assert_string_equal(out, "disarmed (phase observing)\n");
    free(out);
    out = render_with(client_render_disarm, "{\"phase\":\"observing\",\"was_armed\":false}");
    assert_string_equal(out, "was not armed (phase observing)\n");
    free(out);
}

/* The kill answer: one line per target with result, method and error. */
static void test_render_kill(void **state)
{
    char *out;

    (void)state;
    out =
        render_with(client_render_kill,
                    "{\"targets\": [{\"pid\": 4300, \"slot\": \"orders\", \"kind\": \"logical\","
                    " \"application_name\": \"PostgreSQL JDBC Driver\", \"result\": \"terminated\","
                    " \"method\": \"sql\", \"error\": null},"
                    " {\"pid\": 4301, \"slot\": \"debezium_inv\", \"kind\": \"logical\","
                    " \"application_name\": \"\", \"result\": \"excluded\", \"method\": null,"
                    " \"error\": null},"
                    " {\"pid\": 4302, \"slot\": null, \"kind\": \"logical\","
                    " \"application_name\": \"x\\u001b\", \"result\": \"failed\","
                    " \"method\": \"signal\", \"error\": \"not a child of 4100\\n\"}]}");
    assert_string_equal(out, "pid 4300 slot orders (logical, \"PostgreSQL JDBC Driver\"): "
                             "terminated by sql\n"
                             "pid 4301 slot debezium_inv (logical): excluded\n"
                             "pid 4302 slot - (logical, \"x?\"): failed by signal: "
                             "not a child of 4100?\n");
    free(out);
    out = render_with(client_render_kill, "{\"targets\": []}");
    assert_string_equal(out, "no walsender selected\n");
    free(out);
}

/* Error statuses in one line: the API's error body, other bodies, no body. */
static void test_http_error(void **state)
{
    const char *conflict = "{\"error\":\"conflict\",\"detail\":\"slot \\\"s\\\" is physical\"}";
    const char *html = "<html>\r\nBad Gateway</html>";
    char msg[512];

    (void)state;
    client_http_error("POST", "/v1/kill", "http://127.0.0.1:8009", 409, conflict, strlen(conflict),
                      msg, sizeof(msg));
    assert_string_equal(msg, "POST /v1/kill at http://127.0.0.1:8009: 409 conflict: slot \"s\" "
                             "is physical");
    client_http_error("GET", "/v1/status", "unix:/s", 502, html, strlen(html), msg, sizeof(msg));
    assert_string_equal(msg, "GET /v1/status at unix:/s: 502 error: <html>??Bad Gateway</html>");
    client_http_error("POST", "/v1/arm", "u", 401, NULL, 0, msg, sizeof(msg));
    assert_string_equal(msg, "POST /v1/arm at u: 401 error");
}

/* ---- client_main against a fake daemon on a unix socket ---- */

#define FAKE_MAX 4

/* A fake daemon: answers up to n connections with canned replies, one each. */
struct fake {
    int lfd;
    char sock[PATH_MAX];
    const char *reply[FAKE_MAX];
    int n;
    char request[FAKE_MAX][8192];
    pthread_t thread;
};

/* Read one HTTP request (headers and Content-Length bytes) into buf. */
static void fake_read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    const char *eoh, *cl;
    size_t want = SIZE_MAX;
    struct pollfd p = {.fd = fd, .events = POLLIN};

    while (len < cap - 1 && len < want && poll(&p, 1, 5000) == 1) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);

        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        if ((eoh = strstr(buf, "\r\n\r\n")) != NULL) {
            cl = strcasestr(buf, "Content-Length:");
            want = (size_t)(eoh + 4 - buf) + (cl && cl < eoh ? strtoul(cl + 15, NULL, 10) : 0);
        }
    }
    buf[len] = '\0';
}

/* Write a whole reply; stop quietly when the client has gone (no SIGPIPE). */
static void fake_write(int fd, const char *text)
{
    size_t len = strlen(text), off = 0;

    while (off < len) {
        ssize_t w = send(fd, text + off, len - off, MSG_NOSIGNAL);

        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

/* The fake daemon's thread: accept, read, reply, close; n times (5 s each at most). */
static void *fake_run(void *arg)
{
    struct fake *f = arg;
    struct pollfd p = {.fd = f->lfd, .events = POLLIN};

    for (int i = 0; i < f->n && poll(&p, 1, 5000) == 1; i++) {
        int fd = accept(f->lfd, NULL, NULL);

        if (fd < 0)
            break;
        fake_read_request(fd, f->request[i], sizeof(f->request[i]));
        fake_write(fd, f->reply[i]);
        close(fd);
    }
    return NULL;
}

/* Start a fake daemon listening on DIR/api.sock. */
static void fake_start(struct fake *f, const char *dir)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    ut_path(f->sock, dir, "api.sock");
    assert_true(strlen(f->sock) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
    f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f->lfd, 4), 0);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_run, f), 0);
}

/* Wait for the fake daemon's thread and close its socket. */
static void fake_stop(struct fake *f)
{
    pthread_join(f->thread, NULL);
    close(f->lfd);
}

/* An HTTP/1.1 reply with a JSON body, as a static string (one per slot). */
static const char *reply(int slot, int status, const char *body)
{
    static char buf[FAKE_MAX][8192];

    snprintf(buf[slot], sizeof(buf[slot]),
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             status, strlen(body), body);
    return buf[slot];
}

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
    size_t n = CLIENT_MAX_BODY + 10, hl;

    fake_start(&f, dir);
    f.reply[0] = reply(0, 200,
                       "{\"phase\":\"armed\",\"trigger\":\"api\",\"deadline_ms\":5000,"
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
        cmocka_unit_test(test_endpoint),
        cmocka_unit_test_setup_teardown(test_read_token, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_read_token_fifo, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_render_status_header),
        cmocka_unit_test(test_render_status_table),
        cmocka_unit_test(test_render_status_degraded),
        cmocka_unit_test(test_render_arm_disarm),
        cmocka_unit_test(test_render_kill),
        cmocka_unit_test(test_http_error),
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
