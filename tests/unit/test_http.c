/*
 * test_http.c - --listen parsing, the token file and its comparison, the
 * route table, command bodies, and the server itself on a loopback port
 * and a unix socket: views served, commands handed to a "main loop" thread,
 * stale sockets replaced, live ones and other files left alone.
 */
#include "unit_util.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "api.h"
#include "http.h"
#include "listen.h"
#include "log.h"
#include "tls.h"

/* Quiet the log. */
static int quiet_setup(void **state)
{
    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
    return ut_tmpdir_setup(state);
}

/* Expect --listen to be refused with a message containing want. */
static void bad_listen(const char *listen, bool token, const char *want)
{
    char err[512] = "";

    if (listen_check(listen, token, err, sizeof(err)))
        fail_msg("--listen \"%s\" was accepted", listen);
    if (strstr(err, want) == NULL)
        fail_msg("error for \"%s\" lacks \"%s\": %s", listen, want, err);
}

/*
 * A long bad --listen is quoted cut to 200 bytes, so that the option and
 * the reason still fit in the error.  Found by fuzz/listen.
 */
static void test_listen_long(void **state)
{
    char listen[900];

    (void)state;
    snprintf(listen, sizeof(listen), "unix:/%0800d", 0);
    bad_listen(listen, false, "...\" for option \"--listen\": unix: needs an absolute path");
    snprintf(listen, sizeof(listen), "%0800d:80", 0);
    bad_listen(listen, true, "...\" for option \"--listen\": expected IP:PORT");
}

/* Every documented form is accepted; loopback needs no token. */
static void test_listen_good(void **state)
{
    static const char *const good[] = {
        "off",         "127.0.0.1:8009",       "127.1.2.3:1", "[::1]:8009", "unix:/run/dg.sock",
        "127.0.0.1:0", "[::ffff:127.0.0.1]:80"};
    char err[512];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!listen_check(good[i], false, err, sizeof(err)))
            fail_msg("\"%s\" refused: %s", good[i], err);
    assert_true(listen_check("0.0.0.0:8009", true, err, sizeof(err)));
    assert_true(listen_check("[::]:8009", true, err, sizeof(err)));
}

/* Malformed addresses name the option and the value; non-loopback needs a token. */
static void test_listen_bad(void **state)
{
    (void)state;
    bad_listen("localhost:8009", false, "not a numeric IP address");
    bad_listen("127.0.0.1", false, "expected IP:PORT");
    bad_listen("127.0.0.1:", false, "port");
    bad_listen("127.0.0.1:65536", false, "port");
    bad_listen("127.0.0.1:80x", false, "port");
    bad_listen("127.0.0.1:-1", false, "port");
    bad_listen("::1:8009", false, "not a numeric IP address");
    bad_listen("[::1]8009", false, "[ADDRESS]:PORT");
    bad_listen("[127.0.0.1]:80", false, "not a numeric IP address");
    bad_listen("unix:relative.sock", false, "absolute path");
    bad_listen("", false, "--listen");
    bad_listen("0.0.0.0:8009", false, "needs \"--token-file\"");
    bad_listen("[::]:8009", false, "needs \"--token-file\"");
    bad_listen("10.1.2.3:8009", false, "not a loopback address");
}

/* Write a token file with a mode; returns its path in buf. */
static void token_file(const char *dir, const char *text, mode_t mode, char *buf)
{
    ut_write_file(dir, "token", text);
    ut_path(buf, dir, "token");
    assert_int_equal(chmod(buf, mode), 0);
}

/* The token is the content without trailing blanks; bad files are refused. */
static void test_token_file(void **state)
{
    char path[PATH_MAX], err[512], *tok;

    token_file(*state, "s3cr3t-token\n", 0600, path);
    assert_true(http_token_read(path, &tok, err, sizeof(err)));
    assert_string_equal(tok, "s3cr3t-token");
    free(tok);
    token_file(*state, "s3cr3t", 0640, path);
    if (getuid() == 0) { /* root-owned: the group may read (a Secret with an fsGroup) */
        assert_true(http_token_read(path, &tok, err, sizeof(err)));
        free(tok);
        token_file(*state, "s3cr3t", 0660, path); /* ... but never write */
        assert_false(http_token_read(path, &tok, err, sizeof(err)));
        token_file(*state, "s3cr3t", 0640, path);
        assert_int_equal(chown(path, 4321, 4321), 0);
    }
    assert_false(http_token_read(path, &tok, err, sizeof(err)));
    assert_non_null(strstr(err, "mode 0640"));
    assert_non_null(strstr(err, path));
    token_file(*state, "s3cr3t", 0604, path);
    assert_false(http_token_read(path, &tok, err, sizeof(err)));
    token_file(*state, "s3cr3t", 0644, path);
    assert_false(http_token_read(path, &tok, err, sizeof(err)));
    assert_non_null(strstr(err, "may be read by others"));
    token_file(*state, " \n", 0600, path);
    assert_false(http_token_read(path, &tok, err, sizeof(err)));
    assert_non_null(strstr(err, "empty"));
    token_file(*state, "two words", 0400, path);
    assert_false(http_token_read(path, &tok, err, sizeof(err)));
    assert_non_null(strstr(err, "printable ASCII"));
    ut_path(path, *state, "absent");
    assert_false(http_token_read(path, &tok, err, sizeof(err)));
    assert_non_null(strstr(err, "could not open"));
    assert_false(http_token_read(*state, &tok, err, sizeof(err)));
}

/*
 * A FIFO as token file is refused at once, naming the file; opening it used
 * to block the loop until a writer came (alarm: a hang fails the test).
 */
static void test_token_fifo(void **state)
{
    char path[PATH_MAX], err[512], *tok;

    ut_path(path, *state, "token.fifo");
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(10);
    assert_false(http_token_read(path, &tok, err, sizeof(err)));
    alarm(0);
    assert_null(tok);
    assert_non_null(strstr(err, "is not a regular file"));
    assert_non_null(strstr(err, path));
}

/* Expect the TLS options to be refused with a message containing want. */
static void bad_tls(const char *listen, const char *cert, const char *key, const char *ca,
                    const char *want)
{
    struct tls_material t;
    char err[512] = "";

    if (http_tls_read(listen, cert, key, ca, &t, err, sizeof(err)))
        fail_msg("TLS options %s %s %s were accepted", cert, key, ca);
    assert_null(t.cert);
    if (strstr(err, want) == NULL)
        fail_msg("error lacks \"%s\": %s", want, err);
}

/* Which TLS option needs which; a key others may read, a FIFO, a missing file. */
static void test_tls_options(void **state)
{
    char cert[PATH_MAX], key[PATH_MAX], fifo[PATH_MAX], err[512];
    struct tls_material t;
    FILE *f;

    ut_path(cert, *state, "c.pem");
    ut_path(key, *state, "k.pem");
    ut_path(fifo, *state, "k.fifo");
    assert_true(http_tls_read("127.0.0.1:8009", NULL, NULL, NULL, &t, err, sizeof(err)));
    assert_null(t.cert);
    bad_tls("127.0.0.1:8009", "/c", NULL, NULL, "option \"--tls-cert\" needs \"--tls-key\"");
    bad_tls("127.0.0.1:8009", NULL, "/k", NULL, "option \"--tls-key\" needs \"--tls-cert\"");
    bad_tls("127.0.0.1:8009", NULL, NULL, "/ca", "\"--tls-client-ca\" needs \"--tls-cert\"");
    bad_tls("unix:/run/dg.sock", "/c", "/k", NULL, "needs a TCP \"--listen\"");
    bad_tls("127.0.0.1:8009", "/nonexistent/c", "/k", NULL,
            "invalid value \"/nonexistent/c\" for option \"--tls-cert\"");
    f = fopen(cert, "w");
    assert_non_null(f);
    fputs("-----BEGIN CERTIFICATE-----\n", f);
    fclose(f);
    f = fopen(key, "w");
    assert_non_null(f);
    fclose(f);
    chmod(key, 0644);
    bad_tls("127.0.0.1:8009", cert, key, NULL, "may be read by others (mode 0644");
    chmod(key, 0600);
    bad_tls("127.0.0.1:8009", cert, key, NULL, "\"--tls-key\": ");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10);
    bad_tls("127.0.0.1:8009", cert, fifo, NULL, "not a regular file");
    alarm(0);
}

/* Equal only when identical, whatever the lengths; Bearer scheme needed. */
static void test_token_compare(void **state)
{
    (void)state;
    assert_true(http_token_equal("abc", "abc"));
    assert_false(http_token_equal("abc", "abd"));
    assert_false(http_token_equal("abc", "ab"));
    assert_false(http_token_equal("abc", "abcd"));
    assert_false(http_token_equal("abc", ""));
    assert_false(http_token_equal("", "x"));
    assert_true(http_bearer_ok("abc", "Bearer abc"));
    assert_true(http_bearer_ok("abc", "bearer abc"));
    assert_false(http_bearer_ok("abc", "Basic abc"));
    assert_false(http_bearer_ok("abc", "abc"));
    assert_false(http_bearer_ok("abc", NULL));
    assert_false(http_bearer_ok("abc", "Bearer abc "));
    assert_false(http_bearer_ok("", "Bearer "));
}

/* Routes match exactly; a known path with the wrong method names the right one. */
static void test_routes(void **state)
{
    const char *allow = NULL;

    (void)state;
    assert_int_equal(api_route("GET", "/health", &allow), R_HEALTH);
    assert_int_equal(api_route("HEAD", "/health", &allow), R_HEALTH);
    assert_int_equal(api_route("GET", "/ready", &allow), R_READY);
    assert_int_equal(api_route("GET", "/metrics", &allow), R_METRICS);
    assert_int_equal(api_route("GET", "/v1/status", &allow), R_STATUS);
    assert_int_equal(api_route("GET", "/v1/walsenders", &allow), R_WALSENDERS);
    assert_int_equal(api_route("POST", "/v1/arm", &allow), R_ARM);
    assert_int_equal(api_route("POST", "/v1/disarm", &allow), R_DISARM);
    assert_int_equal(api_route("POST", "/v1/kill", &allow), R_KILL);
    assert_int_equal(api_route("POST", "/v1/callback", &allow), R_CALLBACK);
    assert_int_equal(api_route("POST", "/health", &allow), R_BAD_METHOD);
    assert_string_equal(allow, "GET, HEAD");
    assert_int_equal(api_route("GET", "/v1/kill", &allow), R_BAD_METHOD);
    assert_string_equal(allow, "POST");
    assert_int_equal(api_route("DELETE", "/v1/arm", &allow), R_BAD_METHOD);
    assert_int_equal(api_route("GET", "/health/", &allow), R_NOT_FOUND);
    assert_int_equal(api_route("GET", "//health", &allow), R_NOT_FOUND);
    assert_int_equal(api_route("GET", "/v1/../health", &allow), R_NOT_FOUND);
    assert_int_equal(api_route("GET", "/HEALTH", &allow), R_NOT_FOUND);
    assert_int_equal(api_route("GET", "", &allow), R_NOT_FOUND);
    assert_int_equal(api_route("GET", "/v1/status?x=1", &allow), R_NOT_FOUND);
}

/* Parse a body for a route; returns whether it was accepted, err filled otherwise. */
static bool parse(int route, const char *body, struct command *c, char *err)
{
    return api_parse_command(route, body, strlen(body), c, err, 512);
}

/* Arm: empty body and {} use --deadline; a duration string and a reason are taken. */
static void test_parse_arm(void **state)
{
    struct command c;
    char err[512];

    (void)state;
    assert_true(parse(R_ARM, "", &c, err));
    assert_int_equal(c.type, CMD_ARM);
    assert_int_equal(c.deadline_ms, -1);
    assert_int_equal(c.trigger, TRIGGER_API);
    assert_true(parse(R_ARM, "{}", &c, err));
    assert_true(parse(R_ARM, "{\"deadline\":\"5s\",\"reason\":\"before_stop\"}", &c, err));
    assert_int_equal(c.deadline_ms, 5000);
    assert_string_equal(c.reason, "before_stop");
    assert_int_equal(c.trigger, TRIGGER_BEFORE_STOP);
    assert_true(parse(R_ARM, "{\"reason\":\"pre_promote\"}", &c, err));
    assert_int_equal(c.trigger, TRIGGER_PRE_PROMOTE);
    assert_true(parse(R_ARM, "{\"reason\":\"maintenance: pre_promote\"}", &c, err));
    assert_int_equal(c.trigger, TRIGGER_API);
    assert_false(parse(R_ARM, "{\"deadline\":5}", &c, err));
    assert_non_null(strstr(err, "\"deadline\" must be a string"));
    assert_false(parse(R_ARM, "{\"deadline\":\"5\"}", &c, err));
    assert_non_null(strstr(err, "duration"));
    assert_false(parse(R_ARM, "{\"deadline\":\"5s\",\"extra\":1}", &c, err));
    assert_non_null(strstr(err, "unknown field \"extra\""));
    assert_false(parse(R_ARM, "{\"reason\":null}", &c, err));
    assert_false(parse(R_ARM, "[]", &c, err));
    assert_non_null(strstr(err, "JSON object"));
    assert_false(parse(R_ARM, "{\"reason\":\"a\",\"reason\":\"b\"}", &c, err));
    assert_false(parse(R_ARM, "{", &c, err));
    assert_non_null(strstr(err, "malformed JSON"));
    assert_false(parse(R_ARM, "{} {}", &c, err));
    assert_true(parse(R_DISARM, "{\"reason\":\"done\"}", &c, err));
    assert_int_equal(c.type, CMD_DISARM);
    assert_false(parse(R_DISARM, "{\"deadline\":\"1s\"}", &c, err));
}

/* Kill: exactly one selector, each with its type; force and reason optional. */
static void test_parse_kill(void **state)
{
    struct command c;
    char err[512];

    (void)state;
    assert_true(parse(R_KILL, "{\"slot\":\"orders\",\"force\":true}", &c, err));
    assert_int_equal(c.sel, KILL_SLOT);
    assert_string_equal(c.slot, "orders");
    assert_true(c.force);
    assert_true(parse(R_KILL, "{\"pid\":4242,\"reason\":\"stuck\"}", &c, err));
    assert_int_equal(c.sel, KILL_PID);
    assert_int_equal(c.pid, 4242);
    assert_false(c.force);
    assert_true(parse(R_KILL, "{\"stalled\":true}", &c, err));
    assert_int_equal(c.sel, KILL_STALLED);
    assert_true(parse(R_KILL, "{\"all_logical\":true}", &c, err));
    assert_int_equal(c.sel, KILL_ALL_LOGICAL);
    assert_false(parse(R_KILL, "{}", &c, err));
    assert_non_null(strstr(err, "exactly one"));
    assert_false(parse(R_KILL, "{\"slot\":\"a\",\"pid\":1}", &c, err));
    assert_false(parse(R_KILL, "{\"stalled\":false}", &c, err));
    assert_false(parse(R_KILL, "{\"pid\":\"12\"}", &c, err));
    assert_non_null(strstr(err, "positive integer"));
    assert_false(parse(R_KILL, "{\"pid\":0}", &c, err));
    assert_false(parse(R_KILL, "{\"pid\":4294967296}", &c, err));
    assert_false(parse(R_KILL, "{\"pid\":1.5}", &c, err));
    assert_false(parse(R_KILL, "{\"slot\":\"\"}", &c, err));
    assert_false(parse(R_KILL, "{\"slot\":7}", &c, err));
    assert_false(parse(R_KILL, "{\"slot\":\"a\",\"force\":\"yes\"}", &c, err));
    assert_false(parse(R_KILL, "{\"slot\":\"a\",\"drop_slot\":true}", &c, err));
    assert_non_null(strstr(err, "unknown field \"drop_slot\""));
    assert_false(parse(
        R_KILL, "{\"slot\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
        &c, err));
}

/* Callback: Patroni's three arguments, the action one of its five. */
static void test_parse_callback(void **state)
{
    struct command c;
    char err[512];

    (void)state;
    assert_true(parse(R_CALLBACK,
                      "{\"action\":\"on_role_change\",\"role\":\"replica\","
                      "\"scope\":\"demo\"}",
                      &c, err));
    assert_int_equal(c.type, CMD_CALLBACK);
    assert_string_equal(c.action, "on_role_change");
    assert_string_equal(c.role, "replica");
    assert_string_equal(c.scope, "demo");
    assert_false(
        parse(R_CALLBACK, "{\"action\":\"on_fire\",\"role\":\"r\",\"scope\":\"s\"}", &c, err));
    assert_non_null(strstr(err, "on_role_change"));
    assert_false(parse(R_CALLBACK, "{\"action\":\"on_stop\",\"role\":\"r\"}", &c, err));
    assert_false(parse(R_CALLBACK, "{\"action\":\"on_stop\",\"role\":1,\"scope\":\"s\"}", &c, err));
    assert_false(parse(R_CALLBACK, "{}", &c, err));
}

/* A minimal view for the server tests. */
static struct view *small_view(void)
{
    struct view *v = calloc(1, sizeof(*v));
    struct timespec ts;

    assert_non_null(v);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    v->mono_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    v->version = "test";
    v->pidfile = "ok";
    v->poll_duration_us = -1;
    v->c.last_shutdown_ms = -1;
    v->phase = PHASE_OBSERVING;
    v->sql_up = true;
    return v;
}

/* Send a raw request to fd and read the whole answer (the server closes or Connection: close). */
static char *exchange(int fd, const char *req)
{
    char *buf = calloc(1, 65536);
    size_t n = 0;
    ssize_t r;

    assert_non_null(buf);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (n < 65535 && (r = read(fd, buf + n, 65535 - n)) > 0)
        n += (size_t)r;
    close(fd);
    return buf;
}

/* Connect to the server's TCP address "127.0.0.1:PORT". */
static int connect_tcp(const char *bound)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_port = htons((uint16_t)atoi(strchr(bound, ':') + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* The "main loop": answers one command with 200 and its type. */
static void *answer_one(void *arg)
{
    struct http_server *s = arg;
    struct command *c = NULL;

    for (int i = 0; i < 500 && c == NULL; i++) {
        c = http_next_command(s);
        if (c == NULL)
            usleep(10000);
    }
    if (c)
        http_answer(s, c, 200, json_pack("{s:i,s:s}", "type", c->type, "who", c->requester));
    return NULL;
}

/* A GET is served from the view; a POST goes to the loop and back; errors have their status. */
static void test_server_tcp(void **state)
{
    char err[512], *resp;
    struct http_server *s;
    pthread_t th;

    (void)state;
    s = http_start("127.0.0.1:0", "tok", err, sizeof(err));
    if (s == NULL)
        fail_msg("%s", err);
    resp = exchange(connect_tcp(http_bound(s)), "GET /health HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(resp, " 503 ")); /* no view yet */
    free(resp);
    http_publish(s, small_view());
    resp = exchange(connect_tcp(http_bound(s)), "GET /health HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(resp, " 200 "));
    assert_non_null(strstr(resp, "\"status\":\"ok\""));
    free(resp);
    resp = exchange(connect_tcp(http_bound(s)), "POST /v1/arm HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(resp, " 401 "));
    assert_non_null(strstr(resp, "WWW-Authenticate: Bearer"));
    free(resp);
    pthread_create(&th, NULL, answer_one, s);
    resp = exchange(connect_tcp(http_bound(s)), "POST /v1/arm HTTP/1.0\r\nAuthorization: Bearer "
                                                "tok\r\nContent-Type: application/json\r\n"
                                                "Content-Length: 2\r\n\r\n{}");
    pthread_join(th, NULL);
    assert_non_null(strstr(resp, " 200 "));
    assert_non_null(strstr(resp, "\"who\":\"127.0.0.1:"));
    free(resp);
    resp = exchange(connect_tcp(http_bound(s)), "POST /v1/arm HTTP/1.0\r\nAuthorization: Bearer "
                                                "tok\r\nContent-Type: text/plain\r\n"
                                                "Content-Length: 2\r\n\r\n{}");
    assert_non_null(strstr(resp, " 415 ")); /* a cross-site "simple" POST */
    free(resp);
    resp = exchange(connect_tcp(http_bound(s)), "GET /v1/status HTTP/1.1\r\nHost: evil.example"
                                                "\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(resp, " 403 ")); /* DNS rebinding */
    free(resp);
    resp = exchange(connect_tcp(http_bound(s)), "GET /health HTTP/1.1\r\nHost: 127.0.0.1:9"
                                                "\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(resp, " 200 "));
    free(resp);
    resp = exchange(connect_tcp(http_bound(s)), "GET /health HTTP/1.1\r\nHost: localhost"
                                                "\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(resp, " 200 "));
    free(resp);
    resp = exchange(connect_tcp(http_bound(s)), "PUT /v1/arm HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(resp, " 405 "));
    assert_non_null(strstr(resp, "Allow: POST"));
    free(resp);
    resp = exchange(connect_tcp(http_bound(s)), "POST /v1/kill HTTP/1.0\r\nAuthorization: Bearer "
                                                "tok\r\nContent-Type: application/json\r\n"
                                                "Content-Length: 9000\r\n\r\n");
    assert_non_null(strstr(resp, " 413 "));
    free(resp);
    http_stop(s);
}

/* The "main loop" whose answer could not be built (json_pack gave NULL): 404, no body. */
static void *answer_null(void *arg)
{
    struct http_server *s = arg;
    struct command *c = NULL;

    for (int i = 0; i < 500 && c == NULL; i++) {
        c = http_next_command(s);
        if (c == NULL)
            usleep(10000);
    }
    if (c)
        http_answer(s, c, 404, NULL);
    return NULL;
}

/* POST body to /v1/kill of s with the bearer "tok"; returns the whole answer. */
static char *post_kill(struct http_server *s, const char *body)
{
    char req[8192];

    assert_true(snprintf(req, sizeof(req),
                         "POST /v1/kill HTTP/1.0\r\nAuthorization: Bearer tok\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(body), body) < (int)sizeof(req));
    return exchange(connect_tcp(http_bound(s)), req);
}

/*
 * Bad bodies whose error text could hold a cut UTF-8 character (a key cut
 * at 64 bytes; invalid UTF-8 that jansson's error text might quote) still
 * get a 400 with a JSON body, not a dropped connection; and an answer of
 * the loop whose body could not be built still gets its status.
 */
static void test_server_bad_utf8_detail(void **state)
{
    static const char *const bodies[] = {
        /* 63 ASCII bytes then "é": "%.64s" keeps half of it */
        "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\":true}",
        /* invalid UTF-8 in the body itself, and a character cut at its end */
        "{\"slot\":\"ab\xff\"}",
        "{\"slot\":\"\xc3\xa9\xc3\"}",
    };
    char err[512], *resp;
    struct http_server *s;
    int failed = 0;
    pthread_t th;

    (void)state;
    s = http_start("127.0.0.1:0", "tok", err, sizeof(err));
    if (s == NULL)
        fail_msg("%s", err);
    http_publish(s, small_view());
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        resp = post_kill(s, bodies[i]);
        if (strstr(resp, " 400 ") == NULL || strstr(resp, "\"error\":") == NULL) {
            print_error("body %zu: no 400 with a JSON error, got \"%.200s\"\n", i, resp);
            failed++;
        }
        free(resp);
    }
    pthread_create(&th, NULL, answer_null, s);
    resp = post_kill(s, "{\"pid\":4242}");
    pthread_join(th, NULL);
    if (strstr(resp, " 404 ") == NULL || strstr(resp, "\"error\":\"internal\"") == NULL) {
        print_error("an answer without a body: no 404 with a JSON error, got \"%.200s\"\n", resp);
        failed++;
    }
    free(resp);
    http_stop(s);
    assert_int_equal(failed, 0);
}

/* Connect to a unix socket; -1 when nobody listens. */
static int connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A stale socket is replaced (mode 0660); a live one or a regular file is not. */
static void test_server_unix(void **state)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char path[PATH_MAX], listen[PATH_MAX + 8], err[512], *resp;
    struct http_server *s, *s2;
    struct stat st;
    int fd;

    ut_path(path, *state, "dg.sock");
    snprintf(listen, sizeof(listen), "unix:%s", path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd); /* a stale socket file: nobody listens */
    s = http_start(listen, NULL, err, sizeof(err));
    if (s == NULL)
        fail_msg("%s", err);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
    http_publish(s, small_view());
    resp = exchange(connect_unix(path), "GET /ready HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(resp, " 200 "));
    free(resp);
    s2 = http_start(listen, NULL, err, sizeof(err));
    assert_null(s2);
    assert_non_null(strstr(err, "is in use"));
    http_stop(s);
    assert_int_equal(connect_unix(path), -1);
    assert_int_not_equal(stat(path, &st), 0); /* removed at stop */
    ut_write_file(*state, "dg.sock", "not a socket");
    assert_null(http_start(listen, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "not a socket"));
}

/* A listener whose backlog is full is "in use": refused at once, never waited for. */
static void test_server_unix_full_backlog(void **state)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char path[PATH_MAX], addr[PATH_MAX + 8], err[512];
    int lfd, c[4];

    ut_path(path, *state, "busy.sock");
    snprintf(addr, sizeof(addr), "unix:%s", path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    for (int i = 0; i < 4; i++) { /* fill the backlog; later ones would block */
        c[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(c[i], (struct sockaddr *)&sa, sizeof(sa));
    }
    assert_null(http_start(addr, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "is in use"));
    assert_int_equal(access(path, F_OK), 0); /* left alone */
    for (int i = 0; i < 4; i++)
        close(c[i]);
    close(lfd);
}

/* A port in use is an error naming the address, not a crash. */
static void test_server_port_in_use(void **state)
{
    char err[512], addr[64];
    struct http_server *s, *s2;

    (void)state;
    s = http_start("127.0.0.1:0", NULL, err, sizeof(err));
    assert_non_null(s);
    snprintf(addr, sizeof(addr), "%s", http_bound(s));
    s2 = http_start(addr, NULL, err, sizeof(err));
    assert_null(s2);
    assert_non_null(strstr(err, addr));
    assert_non_null(strstr(err, "in use"));
    http_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_good),
        cmocka_unit_test(test_listen_long),
        cmocka_unit_test(test_listen_bad),
        cmocka_unit_test_setup_teardown(test_token_file, quiet_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_token_fifo, quiet_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_server_bad_utf8_detail, quiet_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test(test_token_compare),
        cmocka_unit_test_setup_teardown(test_tls_options, quiet_setup, ut_tmpdir_teardown),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_parse_arm),
        cmocka_unit_test(test_parse_kill),
        cmocka_unit_test(test_parse_callback),
        cmocka_unit_test_setup_teardown(test_server_tcp, quiet_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_server_unix, quiet_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_server_unix_full_backlog, quiet_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_server_port_in_use, quiet_setup, ut_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
