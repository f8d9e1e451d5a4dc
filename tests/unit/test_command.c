/*
 * test_command.c - what command.c makes of an API command: arm, disarm and
 * Patroni's callbacks into the policy (its phase, the audit log, the
 * counters), a kill into the policy's actions carried out one by one, and
 * the answers (status and JSON body) each one gets.  Its calls into guard.c
 * (the clock, the termination and its audit line) are fakes here that
 * record what they were asked; the policy, the audit log and rendering are
 * the real modules.
 */
#include "unit_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "audit.h"
#include "guard.h"

#define T0   5000000 /* the fake monotonic clock's start, in ms */
#define WALL 1700000000000LL

/* What the fakes of guard.c were asked, and what they answer. */
static struct {
    int64_t now;          /* mono_ms() */
    bool use_sql;         /* guard_use_sql() */
    const char *method;   /* guard_terminate(): "sql", "signal" or NULL (failed) */
    int n_terminate;      /* calls of guard_terminate() */
    int terminated_pid;   /* ... its last target */
    int n_audit;          /* calls of guard_audit_termination() */
    char event[32];       /* ... its last event, method and reason */
    char method_seen[16]; /* "" for NULL */
    enum reason reason;
    const struct command *cmd;
} fk;

int64_t mono_ms(void)
{
    return fk.now;
}

int64_t mono_us(void)
{
    return fk.now * 1000;
}

int64_t wall_ms(void)
{
    return WALL + (fk.now - T0);
}

bool guard_use_sql(const struct guard *g)
{
    (void)g;
    return fk.use_sql;
}

const char *guard_terminate(struct guard *g, const struct tracked *t, char *sqlerr,
                            size_t sqlerrlen, char *err, size_t errlen)
{
    (void)g;
    fk.n_terminate++;
    fk.terminated_pid = t->w.pid;
    if (fk.method == NULL) {
        snprintf(sqlerr, sqlerrlen, "57P01");
        snprintf(err, errlen, "process %d is gone", t->w.pid);
    }
    return fk.method;
}

void guard_audit_termination(struct guard *g, const struct tracked *t, const char *event,
                             const char *method, enum reason r, const char *sqlerr,
                             const char *error, const struct command *c)
{
    (void)g;
    (void)t;
    (void)sqlerr;
    (void)error;
    fk.n_audit++;
    snprintf(fk.event, sizeof(fk.event), "%s", event);
    snprintf(fk.method_seen, sizeof(fk.method_seen), "%s", method ? method : "");
    fk.reason = r;
    fk.cmd = c;
}

/* A guard with its policy tracking four walsenders, an audit log in the test's directory. */
struct fx {
    struct guard g;
    char dir[PATH_MAX], audit[PATH_MAX];
    char *exclude;
    struct command c;
};

enum { PID_S1 = 101, PID_S2 = 102, PID_PHYS = 103, PID_UNPROVEN = 104 };

/* Add one walsender, caught up, to ws. */
static void add_ws(struct walsender *ws, int *n, int pid, enum ws_kind kind, const char *slot)
{
    struct walsender *w = &ws[(*n)++];

    memset(w, 0, sizeof(*w));
    w->pid = pid;
    w->start_ticks = (unsigned long long)pid * 100;
    w->kind = kind;
    w->lsn_known = true;
    w->sent_lsn = w->write_lsn = w->flush_lsn = 0x3000000;
    snprintf(w->slot, sizeof(w->slot), "%s", slot);
    snprintf(w->application_name, sizeof(w->application_name), "app%d", pid);
}

/* Show the policy the walsenders (one step, SQL up, no shutdown): it tracks them. */
static void observe(struct fx *f, bool stopping)
{
    struct walsender ws[4];
    struct policy_output out = {0};
    int n = 0;

    add_ws(ws, &n, PID_S1, WS_LOGICAL, "s1");
    add_ws(ws, &n, PID_S2, WS_LOGICAL, "s2");
    add_ws(ws, &n, PID_PHYS, WS_PHYSICAL, "phys");
    add_ws(ws, &n, PID_UNPROVEN, WS_UNPROVEN, "");
    struct observation obs = {.now_ms = fk.now,
                              .sql_up = true,
                              .stopping = stopping,
                              .stopping_why = "postmaster.pid says \"stopping\"",
                              .fresh = true,
                              .ws = ws,
                              .n_ws = n};
    assert_true(policy_step(&f->g.policy, &obs, &out));
    policy_output_free(&out);
    assert_int_equal(f->g.policy.n, 4);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    void *dir = NULL;

    if (f == NULL || ut_tmpdir_setup(&dir) != 0)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s", (char *)dir);
    free(dir);
    snprintf(f->audit, sizeof(f->audit), "%s/audit.json", f->dir);
    memset(&fk, 0, sizeof(fk));
    fk.now = T0;
    fk.method = "signal";
    f->g.cfg.deadline_ms = 10000;
    f->g.cfg.stall_after_ms = 30000;
    f->g.cfg.kill_stalled = true;
    f->g.cfg.poll_interval_ms = 1000;
    f->g.cfg.physical_deadline_ms = -1;
    f->exclude = strdup("s2");
    f->g.cfg.exclude_slot[0] = f->exclude;
    f->g.cfg.n_exclude_slot = 1;
    f->g.sql = walsender_session_new(); /* never connected: the signal path decides */
    f->g.signal_ok = true;
    f->g.audit = audit_open(f->audit);
    f->g.next_poll_ms = T0 + 1000;
    if (f->g.sql == NULL || f->g.audit == NULL)
        return -1;
    policy_init(&f->g.policy, &f->g.cfg, T0);
    observe(f, false);
    snprintf(f->c.requester, sizeof(f->c.requester), "127.0.0.1:5000");
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    json_decref(f->c.body);
    audit_close(f->g.audit);
    walsender_session_free(f->g.sql);
    policy_free(&f->g.policy);
    free(f->exclude);
    ut_rm_tree(f->dir);
    free(f);
    return 0;
}

/* A fresh command of type t (the last one's answer released). */
static struct command *cmd(struct fx *f, enum command_type t)
{
    json_decref(f->c.body);
    memset(&f->c, 0, sizeof(f->c));
    f->c.type = t;
    f->c.deadline_ms = -1;
    snprintf(f->c.requester, sizeof(f->c.requester), "127.0.0.1:5000");
    return &f->c;
}

/* Run c as the loop does: early, then late. */
static void run(struct fx *f, struct command *c)
{
    command_run_early(&f->g, c);
    command_run_late(&f->g, c);
}

/* The string member key of the answer's body. */
static const char *body_str(const struct command *c, const char *key)
{
    json_t *v = json_object_get(c->body, key);

    if (!json_is_string(v))
        fail_msg("answer has no string \"%s\"", key);
    return json_string_value(v);
}

/* Target i of a kill's answer. */
static json_t *target(const struct command *c, size_t i)
{
    json_t *ts = json_object_get(c->body, "targets");

    assert_true(json_is_array(ts));
    assert_true(i < json_array_size(ts));
    return json_array_get(ts, i);
}

/* The string member key of target i, or NULL when absent. */
static const char *target_str(const struct command *c, size_t i, const char *key)
{
    return json_string_value(json_object_get(target(c, i), key));
}

/* Does the audit log hold a line with both needles? */
static bool audited(struct fx *f, const char *a, const char *b)
{
    char *text, *line, *save = NULL;
    bool found = false;

    audit_flush(f->g.audit);
    if (access(f->audit, F_OK) != 0)
        return false;
    text = ut_read_file(f->audit);
    for (line = strtok_r(text, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save))
        found = strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL);
    free(text);
    return found;
}

/*
 * An API arm starts the clock at once: armed, the answer with its trigger,
 * deadline and the phase the turn left, an "armed" audit line naming the
 * requester, the arm counted, and a snapshot asked for in this very turn.
 */
static void test_arm(void **state)
{
    struct fx *f = *state;
    struct command *c = cmd(f, CMD_ARM);

    c->deadline_ms = 4000;
    c->trigger = TRIGGER_API;
    run(f, c);
    assert_int_equal(c->status, 200);
    assert_string_equal(phase_name(f->g.policy.phase), "armed");
    assert_true(f->g.policy.clock_running);
    assert_int_equal(f->g.policy.deadline_at_ms, T0 + 4000);
    assert_string_equal(body_str(c, "trigger"), "api");
    assert_string_equal(body_str(c, "reason"), "api");
    assert_int_equal(json_integer_value(json_object_get(c->body, "deadline_ms")), 4000);
    assert_non_null(strstr(body_str(c, "deadline_at"), "T"));
    assert_string_equal(body_str(c, "phase"), "armed");
    assert_int_equal(f->g.c.arms[TRIGGER_API], 1);
    assert_int_equal(f->g.next_poll_ms, T0);
    assert_true(audited(f, "\"event\":\"armed\"", "\"requester\":\"127.0.0.1:5000\""));
    assert_non_null(strstr(f->g.policy.trigger, "armed by 127.0.0.1:5000 (api)"));
}

/*
 * An arm without a deadline takes --deadline; its free-text reason is
 * answered and audited as given; a pre_promote arm is a peer's (the
 * deadline waits for a stop seen here) and is counted apart.
 */
static void test_arm_reason_and_peer(void **state)
{
    struct fx *f = *state;
    struct command *c = cmd(f, CMD_ARM);

    c->trigger = TRIGGER_BEFORE_STOP;
    snprintf(c->reason, sizeof(c->reason), "patroni before_stop");
    run(f, c);
    assert_int_equal(c->status, 200);
    assert_int_equal(f->g.policy.deadline_at_ms, T0 + 10000);
    assert_string_equal(body_str(c, "trigger"), "before_stop");
    assert_string_equal(body_str(c, "reason"), "patroni before_stop");
    assert_false(f->g.policy.needs_stop);
    assert_true(audited(f, "\"reason\":\"patroni before_stop\"", "\"trigger\":\"before_stop\""));
    assert_int_equal(f->g.c.arms[TRIGGER_BEFORE_STOP], 1);

    /* a fresh guard state: a pre_promote arm alone needs the stop */
    assert_int_equal(cmd(f, CMD_DISARM)->type, CMD_DISARM);
    run(f, &f->c);
    c = cmd(f, CMD_ARM);
    c->trigger = TRIGGER_PRE_PROMOTE;
    run(f, c);
    assert_int_equal(c->status, 200);
    assert_string_equal(body_str(c, "trigger"), "pre_promote");
    assert_true(f->g.policy.needs_stop);
    assert_int_equal(f->g.c.arms[TRIGGER_PRE_PROMOTE], 1);
    assert_int_equal(f->g.c.arms[TRIGGER_API], 0);
}

/*
 * A disarm ends an arm (was_armed, a "disarmed" audit line with the note),
 * finds none the second time (no audit line), and is refused with 409 and
 * no phase in the answer once the server itself is shutting down.
 */
static void test_disarm(void **state)
{
    struct fx *f = *state;
    struct command *c = cmd(f, CMD_ARM);

    c->trigger = TRIGGER_API;
    run(f, c);
    c = cmd(f, CMD_DISARM);
    snprintf(c->reason, sizeof(c->reason), "maintenance over");
    run(f, c);
    assert_int_equal(c->status, 200);
    assert_true(json_is_true(json_object_get(c->body, "was_armed")));
    assert_string_equal(body_str(c, "phase"), "observing");
    assert_false(f->g.policy.clock_running);
    assert_true(audited(f, "\"event\":\"disarmed\"", "\"note\":\"maintenance over\""));

    c = cmd(f, CMD_DISARM);
    snprintf(c->reason, sizeof(c->reason), "second time");
    run(f, c);
    assert_int_equal(c->status, 200);
    assert_true(json_is_false(json_object_get(c->body, "was_armed")));
    assert_false(audited(f, "\"note\":\"second time\"", NULL));

    observe(f, true); /* the server shuts down */
    assert_true(f->g.policy.stopping_seen);
    c = cmd(f, CMD_DISARM);
    run(f, c);
    assert_int_equal(c->status, 409);
    assert_string_equal(body_str(c, "error"), "conflict");
    assert_non_null(strstr(body_str(c, "detail"), "shutting down"));
    assert_null(json_object_get(c->body, "phase"));
    assert_true(f->g.policy.clock_running);
}

/*
 * Patroni's on_role_change and on_stop end an arm ("reset": true, audited),
 * on_start leaves it; during a shutdown nothing is reset.
 */
static void test_callback(void **state)
{
    struct fx *f = *state;
    struct command *c = cmd(f, CMD_ARM);

    run(f, c);
    c = cmd(f, CMD_CALLBACK);
    snprintf(c->action, sizeof(c->action), "on_start");
    snprintf(c->role, sizeof(c->role), "primary");
    snprintf(c->scope, sizeof(c->scope), "demo");
    run(f, c);
    assert_int_equal(c->status, 200);
    assert_true(json_is_false(json_object_get(c->body, "reset")));
    assert_true(f->g.policy.clock_running);
    assert_true(audited(f, "\"action\":\"on_start\"", "\"reset\":false"));

    c = cmd(f, CMD_CALLBACK);
    snprintf(c->action, sizeof(c->action), "on_role_change");
    snprintf(c->role, sizeof(c->role), "replica");
    snprintf(c->scope, sizeof(c->scope), "demo");
    run(f, c);
    assert_true(json_is_true(json_object_get(c->body, "reset")));
    assert_string_equal(body_str(c, "phase"), "observing");
    assert_false(f->g.policy.clock_running);
    assert_true(audited(f, "\"action\":\"on_role_change\"", "\"reset\":true"));

    run(f, cmd(f, CMD_ARM));
    observe(f, true);
    c = cmd(f, CMD_CALLBACK);
    snprintf(c->action, sizeof(c->action), "on_stop");
    run(f, c);
    assert_true(json_is_false(json_object_get(c->body, "reset")));
    assert_true(f->g.policy.clock_running);
}

/*
 * A kill asks for a fresh list in its turn (early) and acts after the
 * policy step (late): a named slot is ended through guard_terminate, the
 * answer lists it with the method, the termination is audited with reason
 * api and the requester's command, and the policy records it.
 */
static void test_kill_slot(void **state)
{
    struct fx *f = *state;
    struct command *c = cmd(f, CMD_KILL);

    c->sel = KILL_SLOT;
    snprintf(c->slot, sizeof(c->slot), "s1");
    command_run_early(&f->g, c);
    assert_int_equal(f->g.next_poll_ms, T0);
    assert_int_equal(fk.n_terminate, 0);
    command_run_late(&f->g, c);
    assert_int_equal(c->status, 200);
    assert_int_equal(fk.n_terminate, 1);
    assert_int_equal(fk.terminated_pid, PID_S1);
    assert_int_equal(json_array_size(json_object_get(c->body, "targets")), 1);
    assert_int_equal(json_integer_value(json_object_get(target(c, 0), "pid")), PID_S1);
    assert_string_equal(target_str(c, 0, "slot"), "s1");
    assert_string_equal(target_str(c, 0, "kind"), "logical");
    assert_string_equal(target_str(c, 0, "application_name"), "app101");
    assert_string_equal(target_str(c, 0, "result"), "terminated");
    assert_string_equal(target_str(c, 0, "method"), "signal");
    assert_true(json_is_null(json_object_get(target(c, 0), "error")));
    assert_null(json_object_get(c->body, "phase"));
    assert_int_equal(fk.n_audit, 1);
    assert_string_equal(fk.event, "terminated");
    assert_string_equal(fk.method_seen, "signal");
    assert_int_equal(fk.reason, REASON_API);
    assert_ptr_equal(fk.cmd, c);
    assert_true(f->g.policy.t[0].terminated);
}

/*
 * A termination that fails answers 500 terminate_failed, the target with
 * result "failed" and the error, audited as terminate_failed.
 */
static void test_kill_failed(void **state)
{
    struct fx *f = *state;
    struct command *c = cmd(f, CMD_KILL);

    fk.method = NULL;
    c->sel = KILL_PID;
    c->pid = PID_S1;
    run(f, c);
    assert_int_equal(c->status, 500);
    assert_string_equal(body_str(c, "error"), "terminate_failed");
    assert_string_equal(target_str(c, 0, "result"), "failed");
    assert_true(json_is_null(json_object_get(target(c, 0), "method")));
    assert_string_equal(target_str(c, 0, "error"), "process 101 is gone");
    assert_string_equal(fk.event, "terminate_failed");
    assert_string_equal(fk.method_seen, "");
    assert_false(f->g.policy.t[0].terminated);
}

/*
 * A selection ends every logical walsender it selects; an excluded slot is
 * listed as "excluded" and not touched, unless forced; physical and
 * unproven ones are never listed.
 */
static void test_kill_all_logical(void **state)
{
    struct fx *f = *state;
    struct command *c = cmd(f, CMD_KILL);

    c->sel = KILL_ALL_LOGICAL;
    run(f, c);
    assert_int_equal(c->status, 200);
    assert_int_equal(json_array_size(json_object_get(c->body, "targets")), 2);
    assert_string_equal(target_str(c, 0, "slot"), "s1");
    assert_string_equal(target_str(c, 0, "result"), "terminated");
    assert_string_equal(target_str(c, 1, "slot"), "s2");
    assert_string_equal(target_str(c, 1, "result"), "excluded");
    assert_true(json_is_null(json_object_get(target(c, 1), "method")));
    assert_int_equal(fk.n_terminate, 1);
    assert_int_equal(fk.terminated_pid, PID_S1);

    c = cmd(f, CMD_KILL);
    c->sel = KILL_ALL_LOGICAL;
    c->force = true;
    run(f, c);
    assert_int_equal(c->status, 200);
    assert_string_equal(target_str(c, 1, "result"), "terminated");
    assert_int_equal(fk.n_terminate, 3);
    assert_int_equal(fk.terminated_pid, PID_S2);
}

/*
 * Under --dry-run a kill ends nothing: each target is "would_terminate"
 * with the method that would have been used (SQL when the session may
 * signal backends), and audited as such.
 */
static void test_kill_dry_run(void **state)
{
    struct fx *f = *state;
    struct command *c = cmd(f, CMD_KILL);

    f->g.cfg.dry_run = true;
    fk.use_sql = true;
    c->sel = KILL_SLOT;
    snprintf(c->slot, sizeof(c->slot), "s1");
    run(f, c);
    assert_int_equal(c->status, 200);
    assert_string_equal(target_str(c, 0, "result"), "would_terminate");
    assert_string_equal(target_str(c, 0, "method"), "sql");
    assert_int_equal(fk.n_terminate, 0);
    assert_string_equal(fk.event, "would_terminate");
    assert_string_equal(fk.method_seen, "sql");
    assert_int_equal(fk.reason, REASON_API);
    fk.use_sql = false;
    c = cmd(f, CMD_KILL);
    c->sel = KILL_PID;
    c->pid = PID_S1;
    run(f, c);
    assert_string_equal(target_str(c, 0, "method"), "signal");
    assert_false(f->g.policy.t[0].terminated);
}

/* Assert that a kill of (sel, slot, pid, force) is refused 409 with detail holding needle. */
static void kill_refused(struct fx *f, enum kill_selector sel, const char *slot, int pid,
                         bool force, const char *needle)
{
    struct command *c = cmd(f, CMD_KILL);

    c->sel = sel;
    snprintf(c->slot, sizeof(c->slot), "%s", slot);
    c->pid = pid;
    c->force = force;
    run(f, c);
    assert_int_equal(c->status, 409);
    assert_string_equal(body_str(c, "error"), "conflict");
    if (strstr(body_str(c, "detail"), needle) == NULL)
        fail_msg("detail \"%s\" does not contain \"%s\"", body_str(c, "detail"), needle);
}

/*
 * A named target that is gone, physical, unproven or excluded without
 * force is refused, and nothing is terminated or audited.
 */
static void test_kill_refusals(void **state)
{
    struct fx *f = *state;

    kill_refused(f, KILL_SLOT, "nope", 0, false, "no walsender on slot \"nope\"");
    kill_refused(f, KILL_PID, "", 4242, false, "no walsender with pid 4242");
    kill_refused(f, KILL_PID, "", PID_PHYS, true, "physical");
    kill_refused(f, KILL_PID, "", PID_UNPROVEN, true, "not proven");
    kill_refused(f, KILL_SLOT, "s2", 0, false, "excluded");
    assert_int_equal(fk.n_terminate, 0);
    assert_int_equal(fk.n_audit, 0);
}

/*
 * Without a session and without the signal path a kill is answered 503,
 * saying why each path is closed, and nothing is asked of the policy.
 */
static void test_kill_unavailable(void **state)
{
    struct fx *f = *state;
    struct command *c = cmd(f, CMD_KILL);

    f->g.signal_ok = false;
    snprintf(f->g.sql_error, sizeof(f->g.sql_error), "connection refused");
    snprintf(f->g.signal_why, sizeof(f->g.signal_why), "postmaster 7 is not visible");
    c->sel = KILL_SLOT;
    snprintf(c->slot, sizeof(c->slot), "s1");
    run(f, c);
    assert_int_equal(c->status, 503);
    assert_string_equal(body_str(c, "error"), "unavailable");
    assert_non_null(strstr(body_str(c, "detail"), "connection refused"));
    assert_non_null(strstr(body_str(c, "detail"), "postmaster 7 is not visible"));
    assert_int_equal(fk.n_terminate, 0);
    f->g.sql_error[0] = '\0';
    c = cmd(f, CMD_KILL);
    c->sel = KILL_ALL_LOGICAL;
    run(f, c);
    assert_int_equal(c->status, 503);
    assert_non_null(strstr(body_str(c, "detail"), "no session"));
}

/* Without an HTTP server nothing is published (and nothing breaks). */
static void test_publish_without_http(void **state)
{
    struct fx *f = *state;

    assert_null(f->g.http);
    command_publish(&f->g);
}

/* Send a raw HTTP/1.0 request to the server at "127.0.0.1:PORT"; the whole answer. */
static char *exchange(const char *bound, const char *req)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char *buf = calloc(1, 65536);
    size_t n = 0;
    ssize_t r;

    assert_non_null(buf);
    sa.sin_port = htons((uint16_t)atoi(strchr(bound, ':') + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (n < 65535 && (r = read(fd, buf + n, 65535 - n)) > 0)
        n += (size_t)r;
    close(fd);
    return buf;
}

/* A client's POST /v1/arm, in its own thread: the main loop answers it. */
static void *post_arm(void *arg)
{
    const char *bound = arg;

    return exchange(bound, "POST /v1/arm HTTP/1.0\r\nContent-Type: application/json\r\n"
                           "Content-Length: 31\r\n\r\n{\"reason\":\"maintenance window\"}");
}

/*
 * One turn as the loop runs it, through a real HTTP server: a published
 * view serves the status and the walsenders (the excluded slot marked), a
 * POST is taken, run, published and answered, the answer after the view
 * that shows its effect.
 */
static void test_turn_over_http(void **state)
{
    struct fx *f = *state;
    struct command *cmds[4];
    char err[512], *resp, bound[64];
    pthread_t th;
    void *answer = NULL;
    int n = 0;

    f->g.http = http_start("127.0.0.1:0", NULL, err, sizeof(err));
    if (f->g.http == NULL)
        fail_msg("%s", err);
    snprintf(bound, sizeof(bound), "%s", http_bound(f->g.http));
    command_publish(&f->g);
    resp = exchange(bound, "GET /v1/status HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(resp, " 200 "));
    assert_non_null(strstr(resp, "\"phase\":\"observing\""));
    free(resp);
    resp = exchange(bound, "GET /v1/walsenders HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(resp, "\"slot\":\"s1\""));
    assert_non_null(strstr(resp, "\"excluded\":true"));
    free(resp);

    assert_int_equal(pthread_create(&th, NULL, post_arm, bound), 0);
    for (int i = 0; i < 500 && n == 0; i++) {
        command_take(&f->g, cmds, 4, &n);
        if (n == 0)
            usleep(10000);
    }
    if (n != 1) {
        pthread_join(th, &answer);
        fail_msg("no command taken; the client got: %s", (char *)answer);
    }
    assert_int_equal(cmds[0]->type, CMD_ARM);
    command_run_early(&f->g, cmds[0]);
    command_run_late(&f->g, cmds[0]);
    command_publish(&f->g);
    command_answer(&f->g, cmds[0]);
    assert_int_equal(pthread_join(th, &answer), 0);
    assert_non_null(answer);
    assert_non_null(strstr(answer, " 200 "));
    assert_non_null(strstr(answer, "\"reason\":\"maintenance window\""));
    assert_non_null(strstr(answer, "\"phase\":\"armed\""));
    free(answer);
    resp = exchange(bound, "GET /v1/status HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(resp, "\"phase\":\"armed\""));
    free(resp);
    http_stop(f->g.http);
    f->g.http = NULL;
}

#define FX_TEST(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_arm),
        FX_TEST(test_arm_reason_and_peer),
        FX_TEST(test_disarm),
        FX_TEST(test_callback),
        FX_TEST(test_kill_slot),
        FX_TEST(test_kill_failed),
        FX_TEST(test_kill_all_logical),
        FX_TEST(test_kill_dry_run),
        FX_TEST(test_kill_refusals),
        FX_TEST(test_kill_unavailable),
        FX_TEST(test_publish_without_http),
        FX_TEST(test_turn_over_http),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
