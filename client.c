/*
 * client.c - "demotion-guard status | arm | disarm | kill": clients of a
 * running daemon's HTTP API (API.md), with libcurl and jansson
 *
 * Exit codes: 0 ok; 1 the daemon could not be reached or answered with an
 * error status (one line on stderr); 2 a usage error.  The parsing of the
 * command line, the request bodies, the URL handling and the rendering of
 * the answers are pure functions (see client.h); only client_main and the
 * conn_* functions do I/O.  The token is never printed.
 */
#include "client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "watch.h"

#ifndef DG_VERSION
#define DG_VERSION "unknown"
#endif

#define CELL  256 /* one cell of the walsender table, sanitized */
#define NCOLS 9

static const char *const command_names[] = {"status", "arm", "disarm", "kill"};

/* Bits of struct client_opt.cmds: which commands take an option. */
#define ALL_CMDS   0xfu
#define CMD_BIT(c) (1u << (c))

enum opt_id {
    OPT_URL,
    OPT_TOKEN_FILE,
    OPT_TIMEOUT,
    OPT_HELP,
    OPT_JSON,
    OPT_DEADLINE,
    OPT_REASON,
    OPT_SLOT,
    OPT_PID,
    OPT_STALLED,
    OPT_ALL_LOGICAL,
    OPT_FORCE,
    OPT_WATCH,
    OPT_CACERT,
    OPT_CERT,
    OPT_KEY
};

/* One option of the clients: its name, whether it takes a value, who takes it. */
struct client_opt {
    const char *name;
    bool has_value;
    unsigned cmds;
    enum opt_id id;
};

static const struct client_opt options[] = {
    {"url", true, ALL_CMDS, OPT_URL},
    {"token-file", true, ALL_CMDS, OPT_TOKEN_FILE},
    {"timeout", true, ALL_CMDS, OPT_TIMEOUT},
    {"cacert", true, ALL_CMDS, OPT_CACERT},
    {"cert", true, ALL_CMDS, OPT_CERT},
    {"key", true, ALL_CMDS, OPT_KEY},
    {"help", false, ALL_CMDS, OPT_HELP},
    {"json", false, CMD_BIT(CLIENT_STATUS), OPT_JSON},
    {"deadline", true, CMD_BIT(CLIENT_ARM), OPT_DEADLINE},
    {"reason", true, CMD_BIT(CLIENT_ARM) | CMD_BIT(CLIENT_DISARM) | CMD_BIT(CLIENT_KILL),
     OPT_REASON},
    {"slot", true, CMD_BIT(CLIENT_KILL), OPT_SLOT},
    {"pid", true, CMD_BIT(CLIENT_KILL), OPT_PID},
    {"stalled", false, CMD_BIT(CLIENT_KILL), OPT_STALLED},
    {"all-logical", false, CMD_BIT(CLIENT_KILL), OPT_ALL_LOGICAL},
    {"force", false, CMD_BIT(CLIENT_KILL), OPT_FORCE},
    {"watch", false, CMD_BIT(CLIENT_STATUS), OPT_WATCH}, /* an optional value: see take_watch */
};

#define N_OPTIONS ((int)(sizeof(options) / sizeof(options[0])))

/* The command named cmd; false when it is none of the clients. */
static bool command_of(const char *cmd, enum client_command *out)
{
    for (int i = 0; i <= CLIENT_KILL; i++)
        if (strcmp(cmd, command_names[i]) == 0) {
            *out = (enum client_command)i;
            return true;
        }
    return false;
}

/* Is cmd one of the clients (status, arm, disarm, kill)? */
bool client_is_command(const char *cmd)
{
    enum client_command c;

    return cmd != NULL && command_of(cmd, &c);
}

/* The value of NAME in a NULL-terminated environment; NULL when unset or empty. */
const char *client_env_get(char **environ_, const char *name)
{
    size_t n = strlen(name);

    for (char **e = environ_; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return (*e)[n + 1] ? *e + n + 1 : NULL;
    return NULL;
}

/* Find the option "--name" or "--name=value" of cmd; NULL (err filled) when unknown. */
static const struct client_opt *find_option(enum client_command cmd, const char *arg,
                                            const char **inline_value, char *err, size_t errlen)
{
    const char *eq;
    size_t n;

    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
        snprintf(err, errlen, "unexpected argument \"%.200s%s\"", arg,
                 strlen(arg) > 200 ? "..." : "");
        return NULL;
    }
    eq = strchr(arg, '=');
    n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    *inline_value = eq ? eq + 1 : NULL;
    for (int i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == n && strncmp(arg + 2, options[i].name, n) == 0 &&
            (options[i].cmds & CMD_BIT(cmd)))
            return &options[i];
    snprintf(err, errlen, "unknown option \"%.*s%s\" for \"%s\"", (int)(n + 2 > 200 ? 200 : n + 2),
             arg, n + 2 > 200 ? "..." : "", command_names[cmd]);
    return NULL;
}

/* Parse a kill --pid: a positive decimal int. */
static bool parse_pid(const char *s, int *pid)
{
    char *end;
    long v;

    if (!isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0 || v > INT_MAX)
        return false;
    *pid = (int)v;
    return true;
}

/* Can v be sent as a JSON string?  (json_string refuses invalid UTF-8.) */
static bool utf8_ok(const char *v)
{
    json_t *j = json_string(v);

    json_decref(j);
    return j != NULL;
}

/* Store the value of a valued option; false (err naming it) when the value is bad. */
static bool set_value(struct client_args *a, const struct client_opt *o, const char *v, char *err,
                      size_t errlen)
{
    int64_t ms;
    bool ok = v[0] != '\0';

    if (o->id == OPT_URL)
        a->url = v;
    else if (o->id == OPT_TOKEN_FILE)
        a->token_file = v;
    else if (o->id == OPT_CACERT)
        a->cacert = v;
    else if (o->id == OPT_CERT)
        a->cert = v;
    else if (o->id == OPT_KEY)
        a->key = v;
    else if (o->id == OPT_TIMEOUT && (ok = config_parse_duration(v, &ms) && ms > 0))
        a->timeout_ms = ms;
    else if (o->id == OPT_DEADLINE && (ok = config_parse_duration(v, &ms)))
        a->deadline = v;
    else if ((o->id == OPT_REASON || o->id == OPT_SLOT) && (ok = ok && utf8_ok(v))) {
        if (o->id == OPT_REASON)
            a->reason = v;
        else
            a->slot = v;
    } else if (o->id == OPT_PID)
        ok = parse_pid(v, &a->pid);
    if (!ok)
        snprintf(err, errlen, "invalid value \"%.200s%s\" for option \"--%s\": expected %s", v,
                 strlen(v) > 200 ? "..." : "", o->name,
                 o->id == OPT_TIMEOUT    ? "a duration above zero (250ms, 10s, 2m)"
                 : o->id == OPT_DEADLINE ? "a duration (250ms, 10s, 2m)"
                 : o->id == OPT_PID      ? "a process id"
                 : o->id == OPT_REASON || o->id == OPT_SLOT ? "non-empty UTF-8 text"
                                                            : "a value");
    return ok;
}

/* status --watch [INTERVAL]: 2 s without a value; false (err naming it) when the value is bad. */
static bool set_watch(struct client_args *a, const char *v, char *err, size_t errlen)
{
    int64_t ms = CLIENT_WATCH_DEFAULT_MS;

    if (v != NULL && (!config_parse_duration(v, &ms) || ms <= 0)) {
        snprintf(err, errlen,
                 "invalid value \"%.200s%s\" for option \"--watch\": expected a duration above "
                 "zero (250ms, 2s)",
                 v, strlen(v) > 200 ? "..." : "");
        return false;
    }
    a->watch_ms = ms;
    return true;
}

/* Apply one option (value NULL for flags); false with err filled when it is wrong. */
static bool apply_option(struct client_args *a, const struct client_opt *o, const char *value,
                         char *err, size_t errlen)
{
    if (o->id == OPT_WATCH)
        return set_watch(a, value, err, errlen);
    if (o->has_value)
        return set_value(a, o, value, err, errlen);
    if (value != NULL) {
        snprintf(err, errlen, "option \"--%s\" takes no value", o->name);
        return false;
    }
    if (o->id == OPT_HELP)
        a->help = true;
    else if (o->id == OPT_JSON)
        a->json = true;
    else if (o->id == OPT_STALLED)
        a->stalled = true;
    else if (o->id == OPT_ALL_LOGICAL)
        a->all_logical = true;
    else if (o->id == OPT_FORCE)
        a->force = true;
    return true;
}

/* Checks after all options were read: kill selectors, the URL. */
static bool check_args(const struct client_args *a, char *err, size_t errlen)
{
    struct client_endpoint ep;

    if (a->cmd == CLIENT_KILL && a->n_selectors != 1) {
        snprintf(err, errlen, "kill needs exactly one of --slot, --pid, --stalled, --all-logical%s",
                 a->n_selectors ? " (several given)" : "");
        return false;
    }
    if (a->watch_ms > 0 && a->json) {
        snprintf(err, errlen, "options \"--watch\" and \"--json\" do not go together");
        return false;
    }
    return client_endpoint(a->url, "/", &ep, err, errlen);
}

/* Set the defaults: the URL and token file from the environment, a 10 s timeout. */
static void set_defaults(struct client_args *a, enum client_command cmd, char **environ_)
{
    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    a->url = client_env_get(environ_, "DEMOTION_GUARD_URL");
    if (a->url == NULL)
        a->url = CLIENT_DEFAULT_URL;
    a->token_file = client_env_get(environ_, "DEMOTION_GUARD_TOKEN_FILE");
    a->cacert = client_env_get(environ_, "DEMOTION_GUARD_CACERT");
    a->cert = client_env_get(environ_, "DEMOTION_GUARD_CERT");
    a->key = client_env_get(environ_, "DEMOTION_GUARD_KEY");
    a->timeout_ms = 10000;
}

/*
 * Parse "CMD [options]" (argv[0] is the command).  Flags win over the
 * environment.  Returns false with err naming the option or value on a
 * usage error; stops early, with a->help set, at --help.
 */
bool client_parse_args(int argc, char **argv, char **environ_, struct client_args *a, char *err,
                       size_t errlen)
{
    enum client_command cmd;

    if (argc < 1 || !command_of(argv[0], &cmd)) {
        snprintf(err, errlen, "unknown command \"%.200s%s\"", argc < 1 ? "" : argv[0],
                 argc >= 1 && strlen(argv[0]) > 200 ? "..." : "");
        return false;
    }
    set_defaults(a, cmd, environ_);
    for (int i = 1; i < argc; i++) {
        const char *value;
        const struct client_opt *o = find_option(cmd, argv[i], &value, err, errlen);

        if (o == NULL)
            return false;
        if (o->id == OPT_WATCH && value == NULL && i + 1 < argc && argv[i + 1][0] != '-')
            value = argv[++i]; /* --watch INTERVAL: the interval is optional */
        if (o->has_value && value == NULL) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "option \"--%s\" needs a value", o->name);
                return false;
            }
            value = argv[++i];
        }
        if (!apply_option(a, o, value, err, errlen))
            return false;
        if (a->help)
            return true;
        a->n_selectors += o->id == OPT_SLOT || o->id == OPT_PID || o->id == OPT_STALLED ||
                          o->id == OPT_ALL_LOGICAL;
    }
    return check_args(a, err, errlen);
}

/* Print the usage of one client command. */
void client_usage(enum client_command cmd, FILE *out)
{
    static const char *const lines[] = {
        ("status [--json | --watch [INTERVAL]]   the daemon's state and its walsenders\n"
         "                                (--watch: redrawn every INTERVAL, default 2s, until "
         "Ctrl-C)"),
        "arm [--deadline DUR] [--reason TEXT]   a stop is coming: start the deadline clock",
        "disarm [--reason TEXT]          cancel an arm (not during a shutdown)",
        ("kill --slot S | --pid P | --stalled | --all-logical [--force] [--reason TEXT]\n"
         "                                end logical walsenders now"),
    };

    fprintf(out, "usage: demotion-guard %s\n\n", lines[cmd]);
    fprintf(out, "options:\n"
                 "  --url URL          the daemon: http[s]://HOST:PORT or unix:/path "
                 "(DEMOTION_GUARD_URL, default " CLIENT_DEFAULT_URL ")\n"
                 "  --token-file FILE  bearer token for arm, disarm, kill "
                 "(DEMOTION_GUARD_TOKEN_FILE)\n"
                 "  --timeout DUR      give up after DUR (default 10s)\n"
                 "  --cacert FILE      https:// URLs: the CA (PEM) that signed the daemon's "
                 "certificate (DEMOTION_GUARD_CACERT)\n"
                 "  --cert FILE        a client certificate (PEM) for --tls-client-ca "
                 "(DEMOTION_GUARD_CERT)\n"
                 "  --key FILE         its private key (DEMOTION_GUARD_KEY)\n"
                 "  --help             this text\n\n"
                 "exit codes: 0 ok, 1 the daemon is unreachable or refused, 2 usage\n");
}

/* The API path a command posts to or, for status, the first one it gets. */
const char *client_request_path(enum client_command cmd)
{
    static const char *const paths[] = {"/v1/status", "/v1/arm", "/v1/disarm", "/v1/kill"};

    return paths[cmd];
}

/* The JSON body of a POST (only the fields given); NULL for status. */
json_t *client_request_body(const struct client_args *a)
{
    json_t *b;

    if (a->cmd == CLIENT_STATUS)
        return NULL;
    b = json_object();
    if (a->cmd == CLIENT_ARM && a->deadline)
        json_object_set_new(b, "deadline", json_string(a->deadline));
    if (a->cmd == CLIENT_KILL) {
        if (a->slot)
            json_object_set_new(b, "slot", json_string(a->slot));
        if (a->pid > 0)
            json_object_set_new(b, "pid", json_integer(a->pid));
        if (a->stalled)
            json_object_set_new(b, "stalled", json_true());
        if (a->all_logical)
            json_object_set_new(b, "all_logical", json_true());
        if (a->force)
            json_object_set_new(b, "force", json_true());
    }
    if (a->reason)
        json_object_set_new(b, "reason", json_string(a->reason));
    return b;
}

/* "unix:/path": fill ep for a request over that socket; false when the path is bad. */
static bool unix_endpoint(const char *sock, const char *path, struct client_endpoint *ep, char *err,
                          size_t errlen)
{
    if (sock[0] == '\0' || strlen(sock) >= sizeof(ep->socket)) {
        snprintf(err, errlen,
                 "invalid --url \"unix:%.200s%s\": expected unix:/path, under %zu bytes", sock,
                 strlen(sock) > 200 ? "..." : "", sizeof(ep->socket));
        return false;
    }
    snprintf(ep->socket, sizeof(ep->socket), "%s", sock);
    snprintf(ep->url, sizeof(ep->url), "http://localhost%s", path);
    return true;
}

/*
 * Where a request for path (starting with '/') goes: "unix:/sock" is
 * http://localhost over that socket; "http://" and "https://" URLs are
 * taken as they are, "HOST:PORT" as http://HOST:PORT; trailing '/' of the
 * URL are dropped.  False with err on another scheme, no host, or a URL
 * too long.
 */
bool client_endpoint(const char *url, const char *path, struct client_endpoint *ep, char *err,
                     size_t errlen)
{
    const char *scheme = "";
    size_t n = strlen(url), skip = 0;
    int w;

    memset(ep, 0, sizeof(*ep));
    if (strncmp(url, "unix:", 5) == 0)
        return unix_endpoint(url + 5, path, ep, err, errlen);
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
        skip = strchr(url, ':') - url + 3;
    else if (strstr(url, "://") == NULL)
        scheme = "http://";
    else {
        snprintf(err, errlen, "invalid --url \"%.200s%s\": expected http://HOST:PORT or unix:/path",
                 url, strlen(url) > 200 ? "..." : "");
        return false;
    }
    while (n > skip && url[n - 1] == '/')
        n--;
    if (n == skip || url[skip] == '/') {
        snprintf(err, errlen, "invalid --url \"%.200s%s\": no host", url,
                 strlen(url) > 200 ? "..." : "");
        return false;
    }
    w = snprintf(ep->url, sizeof(ep->url), "%s%.*s%s", scheme, (int)n, url, path);
    if (w < 0 || (size_t)w >= sizeof(ep->url)) {
        snprintf(err, errlen, "invalid --url: longer than %zu bytes", sizeof(ep->url) - 1);
        return false;
    }
    return true;
}

/* Check a token read from path: not empty, no control characters. */
static bool token_check(const char *path, const char *token, char *err, size_t errlen)
{
    if (token[0] == '\0') {
        snprintf(err, errlen, "token file \"%s\" is empty", path);
        return false;
    }
    for (const char *p = token; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            snprintf(err, errlen, "token file \"%s\" holds a control character", path);
            return false;
        }
    return true;
}

/*
 * Open the token file for reading: a regular file only, opened with
 * O_NONBLOCK so that a FIFO is refused at once (a hook must never hang).
 * NULL with err naming the file.
 */
static FILE *open_token_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    FILE *f = NULL;

    if (fd >= 0 && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "token file \"%s\" is not a regular file", path);
        close(fd);
        return NULL;
    }
    if (fd >= 0)
        f = fdopen(fd, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read token file \"%s\": %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return f;
}

/*
 * Read the bearer token: the file's content without trailing whitespace.
 * False with err naming the file when it cannot be read, is not a regular
 * file, is empty, is longer than len - 1 bytes or holds a control
 * character.  The token itself never appears in err.
 */
bool client_read_token(const char *path, char *token, size_t len, char *err, size_t errlen)
{
    FILE *f = open_token_file(path, err, errlen);
    size_t n;
    bool too_long;

    if (f == NULL)
        return false;
    n = fread(token, 1, len - 1, f);
    too_long = n == len - 1 && fgetc(f) != EOF;
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read token file \"%s\": %s", path, strerror(errno));
        fclose(f);
        return false;
    }
    fclose(f);
    token[n] = '\0';
    while (n > 0 && isspace((unsigned char)token[n - 1]))
        token[--n] = '\0';
    if (too_long) {
        snprintf(err, errlen, "token file \"%s\" is longer than %zu bytes", path, len - 1);
        return false;
    }
    return token_check(path, token, err, errlen);
}

/* Human bytes: "176 B", "162.6 KiB", "3.0 GiB"; "-" when negative (unknown). */
void client_format_bytes(int64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = -1;

    if (bytes < 0) {
        snprintf(buf, len, "-");
        return;
    }
    if (bytes < 1024) {
        snprintf(buf, len, "%" PRId64 " B", bytes);
        return;
    }
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* Two units of a duration, "2m05s", or one when the second is zero, "2m". */
static void two_units(int64_t big, const char *u1, int64_t small, const char *u2, char *buf,
                      size_t len)
{
    if (small == 0)
        snprintf(buf, len, "%" PRId64 "%s", big, u1);
    else
        snprintf(buf, len, "%" PRId64 "%s%02" PRId64 "%s", big, u1, small, u2);
}

/* Human duration: "250ms", "3.5s", "5s", "45s", "2m05s", "1h", "2d03h"; "-" when negative. */
void client_format_duration(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms / 1000;

    if (ms < 0)
        snprintf(buf, len, "-");
    else if (ms < 1000)
        snprintf(buf, len, "%" PRId64 "ms", ms);
    else if (ms < 10000 && ms % 1000 >= 100)
        snprintf(buf, len, "%" PRId64 ".%" PRId64 "s", s, ms % 1000 / 100);
    else if (s < 60)
        snprintf(buf, len, "%" PRId64 "s", s);
    else if (s < 3600)
        two_units(s / 60, "m", s % 60, "s", buf, len);
    else if (s < 86400)
        two_units(s / 3600, "h", s % 3600 / 60, "m", buf, len);
    else
        two_units(s / 86400, "d", s % 86400 / 3600, "h", buf, len);
}

/* Length of the UTF-8 sequence that starts with byte c (1 for a stray byte). */
static int utf8_len(unsigned char c)
{
    return c >= 0xf0 && c < 0xf8 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/*
 * Copy a UTF-8 string for a terminal: control characters (C0, DEL, C1)
 * and bytes of broken sequences become '?'; cut on a character boundary
 * to fit outlen.  Returns the width in characters (one column each).
 */
int client_sanitize(const char *in, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;
    int width = 0;

    while (*p) {
        int n = utf8_len(*p), k = 1;

        while (k < n && (p[k] & 0xc0) == 0x80)
            k++;
        if (k < n || *p >= 0xf8 || (*p >= 0x80 && *p < 0xc0) || *p < 0x20 || *p == 0x7f ||
            (*p == 0xc2 && p[1] < 0xa0))
            n = 1, k = 0; /* replace one byte (a C1 control: both bytes in turn) */
        if (o + (size_t)(k ? n : 1) >= outlen)
            break;
        if (k)
            memcpy(out + o, p, (size_t)n);
        else
            out[o] = '?';
        o += k ? (size_t)n : 1;
        p += n;
        width++;
    }
    if (outlen > 0)
        out[o] = '\0';
    return width;
}

/* A string member, or NULL when absent or not a string. */
static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* A number member into *v; false when absent, null or not a number. */
static bool jnum(const json_t *o, const char *key, int64_t *v)
{
    json_t *j = json_object_get(o, key);

    if (json_is_integer(j))
        *v = (int64_t)json_integer_value(j);
    else if (json_is_real(j))
        *v = (int64_t)json_real_value(j);
    else
        return false;
    return true;
}

/* jstr for the other clients (check.c). */
const char *client_jstr(const json_t *o, const char *key)
{
    return jstr(o, key);
}

/* jnum for the other clients (check.c). */
bool client_jnum(const json_t *o, const char *key, int64_t *v)
{
    return jnum(o, key, v);
}

/* A number member formatted as a duration, or "-" when unknown. */
static void jdur(const json_t *o, const char *key, char *buf, size_t len)
{
    int64_t v;

    client_format_duration(jnum(o, key, &v) ? v : -1, buf, len);
}

/* Milliseconds since the epoch of "2026-11-25T22:00:00.123Z"; -1 when unparsable. */
static int64_t parse_time(const char *s)
{
    struct tm tm = {0};
    int ms = 0, n = 0;

    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    if (s[n] == '.' && sscanf(s + n, ".%3d", &ms) != 1)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* The time of day of an RFC 3339 time, "22:10:03Z"; the whole text when not one. */
static void time_of_day(const char *s, char *buf, size_t len)
{
    const char *t = s ? strchr(s, 'T') : NULL;

    if (t == NULL || strlen(t) < 9)
        snprintf(buf, len, "%s", s ? s : "-");
    else
        snprintf(buf, len, "%.8sZ", t + 1);
}

/* " since 22:00:00Z (10m05s ago)" for a phase_since (no age when now is 0). */
static void since_text(const char *since, int64_t now_ms, char *buf, size_t len)
{
    char tod[64], age[32];
    int64_t t = parse_time(since);

    time_of_day(since, tod, sizeof(tod));
    if (since == NULL)
        buf[0] = '\0';
    else if (now_ms <= 0 || t < 0 || now_ms < t)
        snprintf(buf, len, " since %s", tod);
    else {
        client_format_duration(now_ms - t, age, sizeof(age));
        snprintf(buf, len, " since %s (%s ago)", tod, age);
    }
}

/* The header line of the phase: since when, trigger, deadline remaining. */
static void render_phase(FILE *out, const json_t *st, int64_t now_ms)
{
    char since[128], rem[32], at[64];
    const char *phase = jstr(st, "phase"), *trigger = jstr(st, "trigger");
    int64_t v;

    since_text(jstr(st, "phase_since"), now_ms, since, sizeof(since));
    fprintf(out, "phase       %s%s", phase ? phase : "?", since);
    if (trigger)
        fprintf(out, ", trigger %s", trigger);
    if (jnum(st, "deadline_remaining_ms", &v)) {
        client_format_duration(v, rem, sizeof(rem));
        time_of_day(jstr(st, "deadline_at"), at, sizeof(at));
        if (v > 0)
            fprintf(out, ", deadline in %s (at %s)", rem, at);
        else
            fprintf(out, ", deadline passed (at %s)", at);
    }
    if (jstr(st, "arm_expires_at")) {
        time_of_day(jstr(st, "arm_expires_at"), at, sizeof(at));
        fprintf(out, ", arm expires at %s", at);
    }
    fputc('\n', out);
}

/* "PostgreSQL 15.18" from a server_version_num (10 and later; older: 9.6.x). */
static void pg_version(int64_t num, char *buf, size_t len)
{
    if (num >= 100000)
        snprintf(buf, len, "PostgreSQL %" PRId64 ".%" PRId64, num / 10000, num % 100);
    else
        snprintf(buf, len, "PostgreSQL %" PRId64 ".%" PRId64 ".%" PRId64, num / 10000,
                 num / 100 % 100, num % 100);
}

/* The PostgreSQL line: connected or the error, version, role, primary or standby. */
static void render_postgresql(FILE *out, const json_t *pg)
{
    char text[512], ver[64];
    const char *sql = jstr(pg, "sql"), *role = jstr(pg, "role");
    int64_t v;

    fprintf(out, "postgresql  %s", sql ? sql : "?");
    if (jstr(pg, "error")) {
        client_sanitize(jstr(pg, "error"), text, sizeof(text));
        fprintf(out, ": %s", text);
    }
    if (jnum(pg, "version_num", &v)) {
        pg_version(v, ver, sizeof(ver));
        fprintf(out, "%s %s", jstr(pg, "error") ? ";" : ":", ver);
    }
    if (role) {
        client_sanitize(role, text, sizeof(text));
        fprintf(out, ", role %s%s", text,
                json_is_true(json_object_get(pg, "superuser")) ? " (superuser)" : "");
    }
    if (json_is_boolean(json_object_get(pg, "in_recovery")))
        fprintf(out, ", %s",
                json_is_true(json_object_get(pg, "in_recovery")) ? "standby" : "primary");
    if (jnum(pg, "backend_pid", &v))
        fprintf(out, ", backend pid %" PRId64, v);
    fputc('\n', out);
}

/* The postmaster line: pid and status (line 8), postmaster.pid, data directory. */
static void render_postmaster(FILE *out, const json_t *pg)
{
    char dir[1024];
    const char *status = jstr(pg, "postmaster_status"), *pidfile = jstr(pg, "pidfile");
    int64_t pid;

    fputs("postmaster  ", out);
    if (jnum(pg, "postmaster_pid", &pid))
        fprintf(out, "pid %" PRId64 " %s", pid, status ? status : "(no status)");
    else
        fputs("unknown", out);
    if (json_is_true(json_object_get(pg, "shutting_down")))
        fputs(", shutting down", out);
    fprintf(out, "; postmaster.pid %s", pidfile ? pidfile : "?");
    if (jstr(pg, "data_directory")) {
        client_sanitize(jstr(pg, "data_directory"), dir, sizeof(dir));
        fprintf(out, " in %s", dir);
    }
    fputc('\n', out);
}

/* One enforcement path: "sql available" or "signal unavailable (why)". */
static void render_path(FILE *out, const json_t *paths, const char *name)
{
    char why[512];
    const json_t *p = json_object_get(paths, name);
    const char *w = jstr(p, "why");

    if (json_is_true(json_object_get(p, "available")))
        fprintf(out, "%s available", name);
    else if (w) {
        client_sanitize(w, why, sizeof(why));
        fprintf(out, "%s unavailable (%s)", name, why);
    } else
        fprintf(out, "%s unavailable", name);
}

/* The configuration line: deadline, stall-after, exclusions, token, dry-run. */
static void render_config(FILE *out, const json_t *cfg)
{
    char d1[32], d2[32], d3[32], glob[256];
    const json_t *ex = json_object_get(cfg, "exclude_slot");
    size_t i;
    json_t *g;

    jdur(cfg, "deadline_ms", d1, sizeof(d1));
    jdur(cfg, "stall_after_ms", d2, sizeof(d2));
    jdur(cfg, "physical_deadline_ms", d3, sizeof(d3));
    fprintf(out,
            "config      deadline %s, stall after %s, kill stalled at shutdown %s, "
            "physical deadline %s",
            d1, d2, json_is_true(json_object_get(cfg, "kill_stalled_at_shutdown")) ? "yes" : "no",
            strcmp(d3, "-") == 0 ? "off" : d3);
    json_array_foreach(ex, i, g)
    {
        client_sanitize(json_string_value(g) ? json_string_value(g) : "?", glob, sizeof(glob));
        fprintf(out, "%s%s", i == 0 ? ", excluded " : " ", glob);
    }
    fprintf(out, ", token %s\n", json_is_true(json_object_get(cfg, "token")) ? "set" : "none");
    fprintf(out, "dry-run     %s\n",
            json_is_true(json_object_get(cfg, "dry_run")) ? "YES: nothing is terminated" : "no");
}

/* The header of the status: URL, version, phase, PostgreSQL, paths, config. */
static void render_header(FILE *out, const char *url, const json_t *st, int64_t now_ms)
{
    const json_t *paths = json_object_get(st, "paths");
    const char *version = jstr(st, "version"), *listen = jstr(st, "listen");

    fprintf(out, "demotion-guard %s at %s", version ? version : "?", url);
    if (listen)
        fprintf(out, " (listening on %s)", listen);
    fputc('\n', out);
    render_phase(out, st, now_ms);
    render_postgresql(out, json_object_get(st, "postgresql"));
    render_postmaster(out, json_object_get(st, "postgresql"));
    fputs("paths       ", out);
    render_path(out, paths, "sql");
    fputs(", ", out);
    render_path(out, paths, "signal");
    fputc('\n', out);
    render_config(out, json_object_get(st, "config"));
}

/* One cell of the walsender table: sanitized text and its width. */
struct cell {
    char text[CELL];
    int width;
};

/* A table of the walsenders: the cells and the width of each column. */
struct table {
    struct cell (*cell)[NCOLS]; /* rows; row 0 is the header */
    int width[NCOLS];
    int rows;
};

static const char *const column_names[NCOLS] = {"PID", "KIND",    "SLOT", "APPLICATION", "CLIENT",
                                                "LAG", "STALLED", "RISK", "CAUSE"};
static const bool right_aligned[NCOLS] = {true, false, false, false, false,
                                          true, true,  false, false};

/* Put a text in a cell (sanitized; "-" when NULL) and widen its column. */
static void table_put(struct table *t, int row, int col, const char *text)
{
    struct cell *c = &t->cell[row][col];

    c->width = client_sanitize(text ? text : "-", c->text, sizeof(c->text));
    if (c->width > t->width[col])
        t->width[col] = c->width;
}

/* Fill one row of the table from one walsender of GET /v1/walsenders. */
static void table_row(struct table *t, int row, const json_t *w)
{
    char buf[CELL];
    int64_t v;

    if (jnum(w, "pid", &v))
        snprintf(buf, sizeof(buf), "%" PRId64, v);
    table_put(t, row, 0, jnum(w, "pid", &v) ? buf : NULL);
    table_put(t, row, 1, jstr(w, "kind"));
    table_put(t, row, 2, jstr(w, "slot"));
    table_put(t, row, 3, jstr(w, "application_name"));
    table_put(t, row, 4, jstr(w, "client_addr"));
    client_format_bytes(jnum(w, "lag_bytes", &v) ? v : -1, buf, sizeof(buf));
    table_put(t, row, 5, buf);
    client_format_duration(jnum(w, "stalled_for_ms", &v) && v > 0 ? v : -1, buf, sizeof(buf));
    table_put(t, row, 6, buf);
    snprintf(buf, sizeof(buf), "%s%s", jstr(w, "risk") ? jstr(w, "risk") : "-",
             json_is_true(json_object_get(w, "excluded")) ? " (excluded)" : "");
    table_put(t, row, 7, buf);
    table_put(t, row, 8, jstr(w, "cause"));
}

/* Print one row, columns padded to their widths, two spaces apart. */
static void table_print_row(FILE *out, const struct table *t, int row)
{
    for (int c = 0; c < NCOLS; c++) {
        const char *s = t->cell[row][c].text;
        int pad = t->width[c] - t->cell[row][c].width;

        if (right_aligned[c])
            fprintf(out, "%*s%s", pad, "", s);
        else if (c < NCOLS - 1)
            fprintf(out, "%s%*s", s, pad, "");
        else
            fputs(s, out);
        fputs(c < NCOLS - 1 ? "  " : "\n", out);
    }
}

/* The walsender table, or "no walsenders" when the list is empty. */
static void render_walsenders(FILE *out, const json_t *list)
{
    struct table t = {0};
    size_t n = json_array_size(list), i;
    json_t *w;

    if (n == 0) {
        fputs("no walsenders\n", out);
        return;
    }
    t.rows = (int)n + 1;
    t.cell = calloc((size_t)t.rows, sizeof(*t.cell));
    if (t.cell == NULL) {
        fputs("(out of memory for the walsender table)\n", out);
        return;
    }
    for (int c = 0; c < NCOLS; c++)
        table_put(&t, 0, c, column_names[c]);
    json_array_foreach(list, i, w) table_row(&t, (int)i + 1, w);
    for (int r = 0; r < t.rows; r++)
        table_print_row(out, &t, r);
    free(t.cell);
}

/* The sum of the numbers in an object of numbers (or of objects of numbers). */
static int64_t sum_counts(const json_t *o)
{
    const char *k;
    json_t *v;
    int64_t sum = 0;

    json_object_foreach((json_t *)o, k, v)
    {
        (void)k;
        sum += json_is_object(v) ? sum_counts(v) : json_is_integer(v) ? json_integer_value(v) : 0;
    }
    return sum;
}

/* The tail of the counters line: the last shutdown's duration, the last poll. */
static void render_poll(FILE *out, const json_t *c)
{
    char buf[32];
    int64_t v;

    if (jnum(c, "last_shutdown_duration_ms", &v)) {
        client_format_duration(v, buf, sizeof(buf));
        fprintf(out, " (last took %s)", buf);
    }
    if (!jnum(c, "last_poll_age_ms", &v)) {
        fputs(", no poll yet\n", out);
        return;
    }
    client_format_duration(v, buf, sizeof(buf));
    fprintf(out, ", last poll %s ago", buf);
    if (json_is_number(json_object_get(c, "poll_duration_ms")))
        fprintf(out, " (took %.2fms)", json_number_value(json_object_get(c, "poll_duration_ms")));
    fputc('\n', out);
}

/* The walsender counts and the counters: terminations by method, failures, arms, shutdowns. */
static void render_counters(FILE *out, const json_t *st)
{
    const json_t *c = json_object_get(st, "counters"), *ws = json_object_get(st, "walsenders");
    const json_t *term = json_object_get(c, "terminations");
    int64_t v;

    fprintf(out, "walsenders  %" PRId64 " logical, %" PRId64 " physical, %" PRId64 " stalled\n",
            jnum(ws, "logical", &v) ? v : 0, jnum(ws, "physical", &v) ? v : 0,
            jnum(ws, "stalled", &v) ? v : 0);
    fprintf(out,
            "counters    terminations %" PRId64 " (sql %" PRId64 ", signal %" PRId64
            "), failures %" PRId64 ", arms %" PRId64 ", shutdowns %" PRId64,
            sum_counts(term), sum_counts(json_object_get(term, "sql")),
            sum_counts(json_object_get(term, "signal")), jnum(c, "terminate_failures", &v) ? v : 0,
            sum_counts(json_object_get(c, "arms")), jnum(c, "shutdowns", &v) ? v : 0);
    render_poll(out, c);
}

/*
 * Print GET /v1/status and GET /v1/walsenders for a person: the header,
 * the walsender table, the counters.  now_wall_ms (0: unknown) gives the
 * age of the phase.  Missing or null fields print as "-" or "?".
 */
void client_render_status(FILE *out, const char *url, const json_t *status,
                          const json_t *walsenders, int64_t now_wall_ms)
{
    render_header(out, url, status, now_wall_ms);
    fputc('\n', out);
    render_walsenders(out, json_object_get(walsenders, "walsenders"));
    fputc('\n', out);
    render_counters(out, status);
}

/* Print the answer of POST /v1/arm: "armed: deadline 5s (at 22:10:03Z), trigger api". */
void client_render_arm(FILE *out, const json_t *body)
{
    const char *phase = jstr(body, "phase"), *trigger = jstr(body, "trigger");
    const char *reason = jstr(body, "reason");
    char d[32], at[64], text[300];

    jdur(body, "deadline_ms", d, sizeof(d));
    fprintf(out, "%s: deadline %s", phase ? phase : "?", d);
    if (jstr(body, "deadline_at")) {
        time_of_day(jstr(body, "deadline_at"), at, sizeof(at));
        fprintf(out, " (at %s)", at);
    }
    fprintf(out, ", trigger %s", trigger ? trigger : "?");
    if (reason && reason[0] && (trigger == NULL || strcmp(reason, trigger) != 0)) {
        client_sanitize(reason, text, sizeof(text));
        fprintf(out, ", reason \"%s\"", text);
    }
    fputc('\n', out);
}

/* Print the answer of POST /v1/disarm: "disarmed (phase observing)" or "was not armed". */
void client_render_disarm(FILE *out, const json_t *body)
{
    const char *phase = jstr(body, "phase");

    fprintf(out, "%s (phase %s)\n",
            json_is_true(json_object_get(body, "was_armed")) ? "disarmed" : "was not armed",
            phase ? phase : "?");
}

/* Print one kill target: "pid 4300 slot orders (logical): terminated by sql". */
static void render_target(FILE *out, const json_t *t)
{
    char slot[CELL], app[CELL], errtext[512];
    const char *result = jstr(t, "result"), *method = jstr(t, "method");
    int64_t pid;

    client_sanitize(jstr(t, "slot") ? jstr(t, "slot") : "-", slot, sizeof(slot));
    client_sanitize(jstr(t, "application_name") ? jstr(t, "application_name") : "", app,
                    sizeof(app));
    fprintf(out, "pid %" PRId64 " slot %s (%s%s%s%s): %s", jnum(t, "pid", &pid) ? pid : 0, slot,
            jstr(t, "kind") ? jstr(t, "kind") : "?", app[0] ? ", \"" : "", app, app[0] ? "\"" : "",
            result ? result : "?");
    if (method)
        fprintf(out, " by %s", method);
    if (jstr(t, "error")) {
        client_sanitize(jstr(t, "error"), errtext, sizeof(errtext));
        fprintf(out, ": %s", errtext);
    }
    fputc('\n', out);
}

/* Print the answer of POST /v1/kill: one line per target, or that none was selected. */
void client_render_kill(FILE *out, const json_t *body)
{
    const json_t *targets = json_object_get(body, "targets");
    size_t i;
    json_t *t;

    if (json_array_size(targets) == 0) {
        fputs("no walsender selected\n", out);
        return;
    }
    json_array_foreach(targets, i, t) render_target(out, t);
}

/*
 * The one-line message of an HTTP error status: "POST /v1/kill at URL: 409
 * conflict: DETAIL", from the API's {"error","detail"} body, or the start
 * of whatever else the body holds.
 */
void client_http_error(const char *method, const char *path, const char *url, long status,
                       const char *body, size_t len, char *msg, size_t msglen)
{
    char code[64] = "error", detail[300] = "", raw[200];
    json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;

    if (jstr(j, "error"))
        client_sanitize(jstr(j, "error"), code, sizeof(code));
    if (jstr(j, "detail"))
        client_sanitize(jstr(j, "detail"), detail, sizeof(detail));
    else if (j == NULL && body && len > 0) {
        snprintf(raw, sizeof(raw), "%.*s", (int)(len < sizeof(raw) ? len : sizeof(raw) - 1), body);
        client_sanitize(raw, detail, sizeof(detail));
    }
    json_decref(j);
    snprintf(msg, msglen, "%s %s at %s: %ld %s%s%s", method, path, url, status, code,
             detail[0] ? ": " : "", detail);
}

/* ---- I/O: libcurl ---- */

/* One connection to the daemon: a curl handle reused for every request. */
struct conn {
    CURL *curl;
    const struct client_args *a;
    char token[CLIENT_MAX_TOKEN + 1]; /* "" when none */
    char errbuf[CURL_ERROR_SIZE];
};

/* An answer: status and body (NUL-terminated), or why there is none. */
struct response {
    long status;
    char *body;
    size_t len, cap;
    bool too_large;
};

/* curl write callback: append to the response; refuse beyond CLIENT_MAX_BODY. */
static size_t on_data(char *data, size_t size, size_t nmemb, void *userp)
{
    struct response *r = userp;
    size_t n = size * nmemb;

    if (r->len + n > CLIENT_MAX_BODY) {
        r->too_large = true;
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        char *b;

        while (cap < r->len + n + 1)
            cap *= 2;
        if ((b = realloc(r->body, cap)) == NULL)
            return 0;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

/* Set by client_set_interrupt: a request in flight ends when *interrupt becomes non-zero. */
static volatile sig_atomic_t *interrupt_flag;

/* Make every later request end early (CURLE_ABORTED_BY_CALLBACK) once *flag is set. */
void client_set_interrupt(volatile sig_atomic_t *flag)
{
    interrupt_flag = flag;
}

/* curl progress callback: non-zero (abort) once the interrupt flag is set. */
static int on_progress(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)p, (void)dt, (void)dn, (void)ut, (void)un;
    return interrupt_flag != NULL && *interrupt_flag;
}

/* The request headers: JSON, no "Expect", and the bearer token for a POST. */
static struct curl_slist *request_headers(const struct conn *c, bool post)
{
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    char auth[CLIENT_MAX_TOKEN + 32];

    if (h && post)
        h = curl_slist_append(h, "Content-Type: application/json");
    if (h)
        h = curl_slist_append(h, "Expect:");
    if (h && post && c->token[0]) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
        h = curl_slist_append(h, auth);
        explicit_bzero(auth, sizeof(auth));
    }
    return h;
}

/* TLS files for every request; NULL: the environment's (client_set_tls). */
static const char *tls_files[3];
static const char *const tls_env[3] = {"DEMOTION_GUARD_CACERT", "DEMOTION_GUARD_CERT",
                                       "DEMOTION_GUARD_KEY"};

/* Use these TLS files from now on (see client.h). */
void client_set_tls(const char *cacert, const char *cert, const char *key)
{
    tls_files[0] = cacert;
    tls_files[1] = cert;
    tls_files[2] = key;
}

/* TLS file i (0 CA, 1 certificate, 2 key): as set, else from the environment; NULL: none. */
static const char *tls_file(int i)
{
    const char *v = tls_files[i] ? tls_files[i] : getenv(tls_env[i]);

    return v && v[0] ? v : NULL;
}

/* Is a CA file or a client certificate set? */
bool client_tls_configured(void)
{
    return tls_file(0) != NULL || tls_file(1) != NULL;
}

/* Set the TLS files of a request: CA, client certificate and key, all PEM. */
static void tls_options(CURL *k)
{
    if (tls_file(0))
        curl_easy_setopt(k, CURLOPT_CAINFO, tls_file(0));
    if (tls_file(1)) {
        curl_easy_setopt(k, CURLOPT_SSLCERT, tls_file(1));
        curl_easy_setopt(k, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (tls_file(2)) {
        curl_easy_setopt(k, CURLOPT_SSLKEY, tls_file(2));
        curl_easy_setopt(k, CURLOPT_SSLKEYTYPE, "PEM");
    }
}

/* Set the options of one request: URL, socket, timeouts, no redirects, no proxy. */
static void request_options(struct conn *c, const struct client_endpoint *ep, const char *body,
                            struct curl_slist *h, struct response *r)
{
    CURL *k = c->curl;

    curl_easy_reset(k);
    curl_easy_setopt(k, CURLOPT_URL, ep->url);
    if (ep->socket[0])
        curl_easy_setopt(k, CURLOPT_UNIX_SOCKET_PATH, ep->socket);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(k, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT_MS, (long)c->a->timeout_ms);
    curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, (long)c->a->timeout_ms);
    curl_easy_setopt(k, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(k, CURLOPT_PROXY, "");
    curl_easy_setopt(k, CURLOPT_MAXFILESIZE, (long)CLIENT_MAX_BODY);
    curl_easy_setopt(k, CURLOPT_USERAGENT, "demotion-guard/" DG_VERSION);
    curl_easy_setopt(k, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, r);
    tls_options(k);
    if (interrupt_flag) {
        curl_easy_setopt(k, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(k, CURLOPT_NOPROGRESS, 0L);
    }
    if (body) {
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
}

/* Did this request fail before it reached the daemon? */
static bool unreachable(CURL *k, CURLcode rc)
{
    curl_off_t connect_us = 0;

    if (rc == CURLE_OPERATION_TIMEDOUT)
        return curl_easy_getinfo(k, CURLINFO_CONNECT_TIME_T, &connect_us) != CURLE_OK ||
               connect_us == 0;
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_SSL_CONNECT_ERROR ||
           rc == CURLE_PEER_FAILED_VERIFICATION;
}

/* Why a request got no answer, into msg (one line). */
static void transport_error(const struct conn *c, const char *method, const char *path, CURLcode rc,
                            const struct response *r, char *msg, size_t msglen)
{
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    long os_errno = 0;

    /* over a unix socket curl's text names "localhost port 80": say why connect() failed */
    if (strncmp(c->a->url, "unix:", 5) == 0 && rc == CURLE_COULDNT_CONNECT &&
        curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno != 0)
        why = strerror((int)os_errno);

    if (r->too_large || rc == CURLE_FILESIZE_EXCEEDED)
        snprintf(msg, msglen, "%s %s at %s: the answer is longer than %d bytes", method, path,
                 c->a->url, CLIENT_MAX_BODY);
    else if (unreachable(c->curl, rc))
        snprintf(msg, msglen, "cannot reach the daemon at %s: %s", c->a->url, why);
    else
        snprintf(msg, msglen, "%s %s at %s: %s", method, path, c->a->url, why);
}

/*
 * Send one request (a POST when body is not NULL) and collect the answer
 * in r (the caller frees r->body).  False, with msg, when there is no
 * HTTP answer.
 */
static bool conn_request(struct conn *c, const char *path, const char *body, struct response *r,
                         char *msg, size_t msglen)
{
    struct client_endpoint ep;
    struct curl_slist *h;
    CURLcode rc;

    memset(r, 0, sizeof(*r));
    if (!client_endpoint(c->a->url, path, &ep, msg, msglen))
        return false; /* cannot happen: checked when parsing */
    if ((h = request_headers(c, body != NULL)) == NULL) {
        snprintf(msg, msglen, "out of memory");
        return false;
    }
    c->errbuf[0] = '\0';
    request_options(c, &ep, body, h, r);
    rc = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    if (rc != CURLE_OK)
        transport_error(c, body ? "POST" : "GET", path, rc, r, msg, msglen);
    return rc == CURLE_OK;
}

/*
 * Request path and parse the JSON answer into *out (NULL when it is not
 * JSON).  True on a 2xx with a JSON body; false with msg otherwise.
 */
static bool conn_json(struct conn *c, const char *path, const char *body, json_t **out, char *msg,
                      size_t msglen)
{
    const char *method = body ? "POST" : "GET";
    struct response r;
    json_error_t jerr;
    bool ok;

    *out = NULL;
    if (!conn_request(c, path, body, &r, msg, msglen)) {
        free(r.body);
        return false;
    }
    *out = r.body ? json_loadb(r.body, r.len, 0, &jerr) : NULL;
    ok = r.status >= 200 && r.status <= 299 && *out != NULL;
    if (r.status < 200 || r.status > 299)
        client_http_error(method, path, c->a->url, r.status, r.body, r.len, msg, msglen);
    else if (*out == NULL)
        snprintf(msg, msglen, "%s %s at %s: %ld but the answer is not JSON: %s", method, path,
                 c->a->url, r.status, r.body ? jerr.text : "no body");
    free(r.body);
    return ok;
}

/* Set libcurl up for client_call (the hooks); false when it cannot be. */
bool client_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* Release what client_global_init set up. */
void client_global_cleanup(void)
{
    curl_global_cleanup();
}

/*
 * One request for the hooks: GET (body NULL) or POST url+path within
 * timeout_ms, with token when not NULL.  True with the status and the JSON
 * answer (NULL when not JSON; the caller frees it); false with msg when no
 * HTTP answer came.  libcurl must be initialised by the caller.
 */
bool client_call(const char *url, const char *token, int64_t timeout_ms, const char *path,
                 const char *body, long *status, json_t **out, char *msg, size_t msglen)
{
    struct client_args a = {.url = url, .timeout_ms = timeout_ms};
    struct conn c = {.a = &a};
    struct response r;
    bool ok;

    *out = NULL;
    *status = 0;
    if ((c.curl = curl_easy_init()) == NULL) {
        snprintf(msg, msglen, "cannot initialise libcurl");
        return false;
    }
    if (token)
        snprintf(c.token, sizeof(c.token), "%s", token);
    ok = conn_request(&c, path, body, &r, msg, msglen);
    if (ok) {
        *status = r.status;
        *out = r.body ? json_loadb(r.body, r.len, 0, NULL) : NULL;
        if (r.status < 200 || r.status > 299)
            client_http_error(body ? "POST" : "GET", path, url, r.status, r.body, r.len, msg,
                              msglen);
    }
    free(r.body);
    curl_easy_cleanup(c.curl);
    explicit_bzero(c.token, sizeof(c.token));
    return ok;
}

/*
 * GET url+path within timeout_ms into *out (the caller frees it); false
 * with msg when there is no answer, an error status or no JSON.  libcurl
 * must be initialised by the caller.
 */
bool client_get_json(const char *url, int64_t timeout_ms, const char *path, json_t **out, char *msg,
                     size_t msglen)
{
    long status = 0;

    if (!client_call(url, NULL, timeout_ms, path, NULL, &status, out, msg, msglen))
        return false;
    if (status >= 200 && status <= 299 && *out != NULL)
        return true;
    if (status >= 200 && status <= 299)
        snprintf(msg, msglen, "GET %s at %s: %ld but the answer is not JSON", path, url, status);
    json_decref(*out);
    *out = NULL;
    return false;
}

/* The wall clock in milliseconds since the epoch. */
static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Print a failure's one line on stderr; returns exit code 1. */
static int fail(const char *msg)
{
    fflush(stdout);
    fprintf(stderr, "demotion-guard: %s\n", msg);
    return 1;
}

/* Print both bodies as one JSON object {"status":…, "walsenders":[…]}. */
static void print_json(const json_t *st, const json_t *ws)
{
    json_t *list = json_object_get(ws, "walsenders");
    json_t *both = json_pack("{sOsO}", "status", st, "walsenders", list ? list : json_null());

    json_dumpf(both, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(both);
}

/* status: get both bodies, print them for a person or as one JSON object. */
static int run_status(struct conn *c)
{
    json_t *st = NULL, *ws = NULL;
    char msg[1024];
    int rc = 0;

    if (!conn_json(c, "/v1/status", NULL, &st, msg, sizeof(msg)) ||
        !conn_json(c, "/v1/walsenders", NULL, &ws, msg, sizeof(msg)))
        rc = fail(msg);
    else if (c->a->json)
        print_json(st, ws);
    else
        client_render_status(stdout, c->a->url, st, ws, wall_ms());
    json_decref(st);
    json_decref(ws);
    return rc;
}

/* arm, disarm, kill: post the body, print the answer (a failed kill's targets too). */
static int run_post(struct conn *c)
{
    json_t *req = client_request_body(c->a), *ans = NULL;
    char *body = json_dumps(req, JSON_COMPACT);
    char msg[1024];
    bool ok;

    json_decref(req);
    if (body == NULL)
        return fail("out of memory");
    ok = conn_json(c, client_request_path(c->a->cmd), body, &ans, msg, sizeof(msg));
    free(body);
    if (ok && c->a->cmd == CLIENT_ARM)
        client_render_arm(stdout, ans);
    else if (ok && c->a->cmd == CLIENT_DISARM)
        client_render_disarm(stdout, ans);
    else if (c->a->cmd == CLIENT_KILL && json_object_get(ans, "targets"))
        client_render_kill(stdout, ans);
    json_decref(ans);
    return ok ? 0 : fail(msg);
}

/* Run one command against the daemon; the token is read for POSTs only. */
static int run(const struct client_args *a)
{
    struct conn c = {.a = a};
    char err[CLIENT_ERR_LEN];
    int rc;

    if (a->cmd != CLIENT_STATUS && a->token_file &&
        !client_read_token(a->token_file, c.token, sizeof(c.token), err, sizeof(err)))
        return fail(err);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (c.curl = curl_easy_init()) == NULL) {
        explicit_bzero(c.token, sizeof(c.token));
        return fail("cannot initialise libcurl");
    }
    rc = a->cmd == CLIENT_STATUS ? run_status(&c) : run_post(&c);
    curl_easy_cleanup(c.curl);
    curl_global_cleanup();
    explicit_bzero(c.token, sizeof(c.token));
    return rc;
}

/* Run "demotion-guard CMD ...": argv[0] is CMD.  Returns the exit code (0, 1, 2). */
int client_main(int argc, char **argv)
{
    struct client_args a;
    char err[CLIENT_ERR_LEN];

    if (!client_parse_args(argc, argv, environ, &a, err, sizeof(err))) {
        fprintf(stderr, "demotion-guard: %s (try \"demotion-guard %s --help\")\n", err,
                argc > 0 && client_is_command(argv[0]) ? argv[0] : "");
        return 2;
    }
    if (a.help) {
        client_usage(a.cmd, stdout);
        return 0;
    }
    client_set_tls(a.cacert, a.cert, a.key);
    if (a.watch_ms > 0)
        return watch_run(&a);
    return run(&a);
}

/* The version of the libcurl loaded at run time, for --version. */
const char *client_curl_version(void)
{
    return curl_version_info(CURLVERSION_NOW)->version;
}
