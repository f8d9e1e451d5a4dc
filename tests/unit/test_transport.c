/*
 * test_transport.c - HTTP requests with libcurl, without a network: URLs
 * and unix sockets, the one-line error of a status, and requests to a fake
 * daemon on a unix socket (headers, the token on POSTs only, answers that
 * are errors, not JSON, unreachable or interrupted), TLS files
 */
#include "unit_util.h"

#include <sys/time.h>

#include "fake_daemon.h"
#include "transport.h"
#include "version.h"

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

/* Resolve url + path; it must be accepted. */
static void endpoint_ok(const char *url, const char *path, const char *want_url,
                        const char *want_socket)
{
    struct transport_endpoint ep;
    char err[TRANSPORT_MSG_LEN] = "";

    if (!transport_endpoint(url, path, &ep, err, sizeof(err)))
        fail_msg("URL \"%s\" refused: %s", url, err);
    assert_string_equal(ep.url, want_url);
    assert_string_equal(ep.socket, want_socket);
}

/* TCP URLs, HOST:PORT, trailing slashes and unix: sockets. */
static void test_endpoint(void **state)
{
    struct transport_endpoint ep;
    char err[TRANSPORT_MSG_LEN];
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
    assert_false(transport_endpoint("ftp://x", "/", &ep, err, sizeof(err)));
    assert_false(transport_endpoint("http:///x", "/", &ep, err, sizeof(err)));
    assert_contains(err, "no host");
    assert_false(transport_endpoint("unix:", "/", &ep, err, sizeof(err)));
    memset(longsock, 'a', sizeof(longsock));
    memcpy(longsock, "unix:/", 6);
    longsock[sizeof(longsock) - 1] = '\0';
    assert_false(transport_endpoint(longsock, "/", &ep, err, sizeof(err)));
    assert_contains(err, "unix:");
}

/* Error statuses in one line: the API's error body, other bodies, no body. */
static void test_http_error(void **state)
{
    const char *conflict = "{\"error\":\"conflict\",\"detail\":\"slot \\\"s\\\" is physical\"}";
    const char *html = "<html>\r\nBad Gateway</html>";
    char msg[512];

    (void)state;
    transport_http_error("POST", "/v1/kill", "http://127.0.0.1:8009", 409, conflict,
                         strlen(conflict), msg, sizeof(msg));
    assert_string_equal(msg, "POST /v1/kill at http://127.0.0.1:8009: 409 conflict: slot \"s\" "
                             "is physical");
    transport_http_error("GET", "/v1/status", "unix:/s", 502, html, strlen(html), msg, sizeof(msg));
    assert_string_equal(msg, "GET /v1/status at unix:/s: 502 error: <html>??Bad Gateway</html>");
    transport_http_error("POST", "/v1/arm", "u", 401, NULL, 0, msg, sizeof(msg));
    assert_string_equal(msg, "POST /v1/arm at u: 401 error");
}

/*
 * One connection, two requests: a GET without the token, a POST with it
 * (and its JSON body); the answers' status and JSON come back.
 */
static void test_request_get_post(void **state)
{
    struct fake f = {.n = 2};
    char url[PATH_MAX + 8], msg[TRANSPORT_MSG_LEN] = "";
    struct transport *t;
    json_t *ans = NULL;
    long status = 0;

    fake_start(&f, *state);
    f.reply[0] = reply(0, 200, "{\"phase\":\"observing\"}");
    f.reply[1] = reply(1, 200, "{\"phase\":\"armed\"}");
    snprintf(url, sizeof(url), "unix:%s", f.sock);
    assert_true(transport_global_init());
    t = transport_open(url, "s3cret", 5000, msg, sizeof(msg));
    assert_non_null(t);
    assert_true(transport_request(t, "/v1/status", NULL, &status, &ans, msg, sizeof(msg)));
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(ans, "phase")), "observing");
    json_decref(ans);
    assert_true(transport_json(t, "/v1/arm", "{\"deadline\":\"5s\"}", &ans, msg, sizeof(msg)));
    assert_string_equal(json_string_value(json_object_get(ans, "phase")), "armed");
    json_decref(ans);
    transport_close(t);
    transport_global_cleanup();
    fake_stop(&f);
    assert_contains(f.request[0], "GET /v1/status HTTP/1.1\r\n");
    assert_contains(f.request[0], "Accept: application/json\r\n");
    char agent[128];
    snprintf(agent, sizeof(agent), "User-Agent: demotion-guard/%s\r\n", version_string());
    assert_contains(f.request[0], agent);
    assert_lacks(f.request[0], "Authorization");
    assert_lacks(f.request[0], "Expect:");
    assert_contains(f.request[1], "POST /v1/arm HTTP/1.1\r\n");
    assert_contains(f.request[1], "Content-Type: application/json\r\n");
    assert_contains(f.request[1], "Authorization: Bearer s3cret\r\n");
    assert_contains(f.request[1], "\r\n\r\n{\"deadline\":\"5s\"}");
}

/*
 * An error status is an answer (its JSON kept, msg its one line) for
 * transport_call, a failure for transport_json; a 2xx that is not JSON
 * fails transport_json and transport_get_json.
 */
static void test_error_answers(void **state)
{
    const char *conflict = "{\"error\":\"conflict\",\"detail\":\"none\",\"targets\":[]}";
    struct fake f = {.n = 4};
    char url[PATH_MAX + 8], msg[TRANSPORT_MSG_LEN] = "";
    struct transport *t;
    json_t *ans = NULL;
    long status = 0;

    fake_start(&f, *state);
    f.reply[0] = reply(0, 409, conflict);
    f.reply[1] = reply(1, 409, conflict);
    f.reply[2] = reply(2, 200, "not json");
    f.reply[3] = reply(3, 200, "not json");
    snprintf(url, sizeof(url), "unix:%s", f.sock);
    assert_true(transport_global_init());
    assert_true(transport_call(url, NULL, 5000, "/v1/kill", "{}", &status, &ans, msg, sizeof(msg)));
    assert_int_equal(status, 409);
    assert_non_null(json_object_get(ans, "targets"));
    assert_contains(msg, "POST /v1/kill at unix:");
    assert_contains(msg, ": 409 conflict: none");
    json_decref(ans);
    t = transport_open(url, NULL, 5000, msg, sizeof(msg));
    assert_non_null(t);
    assert_false(transport_json(t, "/v1/kill", "{}", &ans, msg, sizeof(msg)));
    assert_non_null(json_object_get(ans, "targets")); /* a failed kill's targets */
    assert_contains(msg, ": 409 conflict: none");
    json_decref(ans);
    assert_false(transport_json(t, "/v1/status", NULL, &ans, msg, sizeof(msg)));
    assert_null(ans);
    assert_contains(msg, "GET /v1/status at unix:");
    assert_contains(msg, ": 200 but the answer is not JSON: ");
    transport_close(t);
    assert_false(transport_get_json(url, 5000, "/v1/walsenders", &ans, msg, sizeof(msg)));
    assert_null(ans);
    assert_contains(msg, "/v1/walsenders");
    assert_contains(msg, ": 200 but the answer is not JSON");
    transport_global_cleanup();
    fake_stop(&f);
}

/* Nothing listening: no answer, one line naming the URL and why connect() failed. */
static void test_unreachable(void **state)
{
    char url[PATH_MAX + 8], msg[TRANSPORT_MSG_LEN] = "";
    json_t *ans = (json_t *)1;
    long status = -1;

    snprintf(url, sizeof(url), "unix:%s/nobody.sock", (const char *)*state);
    assert_true(transport_global_init());
    assert_false(transport_call(url, "s3cret-xyzzy", 5000, "/v1/arm", "{}", &status, &ans, msg,
                                sizeof(msg)));
    assert_null(ans);
    assert_int_equal(status, 0);
    assert_contains(msg, "cannot reach the daemon at unix:");
    assert_contains(msg, "nobody.sock: No such file or directory");
    assert_lacks(msg, "xyzzy"); /* the token is never in a message */
    assert_false(transport_call("ftp://x", NULL, 5000, "/", NULL, &status, &ans, msg, sizeof(msg)));
    assert_contains(msg, "invalid --url");
    transport_global_cleanup();
}

/* Milliseconds on the monotonic clock. */
static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A request to a daemon that never answers ends at once when the
 * interrupt flag is set, long before its timeout; and ends at the timeout
 * when it is not.
 */
static void test_interrupt_and_timeout(void **state)
{
    static volatile sig_atomic_t flag;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char url[PATH_MAX + 8], sock[PATH_MAX], msg[TRANSPORT_MSG_LEN] = "";
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    json_t *ans = NULL;
    long status = 0;
    int64_t t0;

    ut_path(sock, *state, "mute.sock");
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 4), 0); /* never accepted: connect succeeds, no answer */
    snprintf(url, sizeof(url), "unix:%s", sock);
    assert_true(transport_global_init());
    flag = 1;
    transport_set_interrupt(&flag);
    t0 = mono_ms();
    assert_false(
        transport_call(url, NULL, 5000, "/v1/status", NULL, &status, &ans, msg, sizeof(msg)));
    assert_true(mono_ms() - t0 < 2500);
    assert_contains(msg, "GET /v1/status at unix:");
    transport_set_interrupt(NULL);
    alarm(20); /* a timeout not applied would hang: fail instead */
    t0 = mono_ms();
    assert_false(
        transport_call(url, NULL, 300, "/v1/status", NULL, &status, &ans, msg, sizeof(msg)));
    alarm(0);
    assert_true(mono_ms() - t0 >= 250);
    assert_contains(msg, "at unix:");
    transport_global_cleanup();
    close(lfd);
}

/* TLS files: set ones count, and the environment's when none is set. */
static void test_tls_configured(void **state)
{
    (void)state;
    unsetenv("DEMOTION_GUARD_CACERT");
    unsetenv("DEMOTION_GUARD_CERT");
    unsetenv("DEMOTION_GUARD_KEY");
    transport_set_tls(NULL, NULL, NULL);
    assert_false(transport_tls_configured());
    transport_set_tls(NULL, NULL, "key.pem"); /* a key alone is no TLS */
    assert_false(transport_tls_configured());
    transport_set_tls("ca.pem", NULL, NULL);
    assert_true(transport_tls_configured());
    transport_set_tls(NULL, "cert.pem", "key.pem");
    assert_true(transport_tls_configured());
    transport_set_tls("", "", NULL); /* empty is none */
    assert_false(transport_tls_configured());
    transport_set_tls(NULL, NULL, NULL);
    setenv("DEMOTION_GUARD_CERT", "/etc/c.pem", 1);
    assert_true(transport_tls_configured());
    unsetenv("DEMOTION_GUARD_CERT");
    assert_false(transport_tls_configured());
}

/* The libcurl version is a version. */
static void test_curl_version(void **state)
{
    (void)state;
    assert_non_null(transport_curl_version());
    assert_true(transport_curl_version()[0] >= '7' && transport_curl_version()[0] <= '9');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint),
        cmocka_unit_test(test_http_error),
        cmocka_unit_test_setup_teardown(test_request_get_post, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_error_answers, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_unreachable, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_and_timeout, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test(test_tls_configured),
        cmocka_unit_test(test_curl_version),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
