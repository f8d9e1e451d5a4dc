/*
 * logical_consumer.c - a logical replication client for the tests
 *
 * Build:
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wformat=2 -Wshadow \
 *      -Wmissing-prototypes -Wstrict-prototypes -Wvla -Werror \
 *      -I$(pg_config --includedir) -o tests/tools/logical-consumer \
 *      tests/tools/logical_consumer.c $(pkg-config --libs libpq)
 *
 * Streams a logical replication slot over the streaming replication protocol
 * (replication=database, START_REPLICATION ... LOGICAL, CopyBoth) and imitates
 * the clients that hold a PostgreSQL fast shutdown up forever. The modes differ
 * only in the standby status updates ('r') they send:
 *   stale    confirms the dataStart of the last XLogData message, never the
 *            keepalive position (pgjdbc before 42.7.0): blocks a shutdown as
 *            soon as the server sends WAL that decodes to nothing
 *   healthy  confirms max(dataStart, walEnd, keepalive walEnd), periodically
 *            and when asked (pg_recvlogical): never blocks a shutdown
 *   silent   never sends a status update: ended by wal_sender_timeout
 *   ahead    confirms what healthy does plus one byte (pg-logical-replication
 *            2.5 acknowledges LSN + 1): the server waits for equality, so
 *            it too holds a shutdown up forever
 *
 * Each XLogData payload is written as "X/X <payload>\n" to --output (stdout
 * by default). Exit status: 0 when the server ends the stream or the
 * connection (including the walsender being terminated) and on SIGTERM or
 * SIGINT; 1 when connecting, creating the slot or starting the stream fails,
 * or on a local failure while streaming (output file, bad message); 2 on bad
 * options.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#define PROGRAM                "logical-consumer"
#define POSTGRES_EPOCH_UNIX    946684800LL /* 2000-01-01 00:00:00 UTC */
#define XLOGDATA_HEADER        25          /* 'w' + dataStart + walEnd + sendTime */
#define KEEPALIVE_SIZE         18          /* 'k' + walEnd + sendTime + reply flag */
#define STATUS_SIZE            34          /* 'r' + 3 LSNs + clock + reply flag */
#define LOG_INTERVAL_MS        1000
#define MAX_STATUS_INTERVAL_MS 3600000L

enum mode { MODE_STALE, MODE_HEALTHY, MODE_SILENT, MODE_AHEAD };

enum parse_result { PARSE_OK, PARSE_HELP, PARSE_ERROR };

struct options {
    const char *dsn;
    const char *slot;
    const char *plugin;
    const char *output;     /* NULL: stdout */
    const char *ready_file; /* NULL: none */
    enum mode mode;
    bool mode_set;
    bool create_slot;
    int status_interval_ms;
    int reply_delay_ms; /* answer a reply request this much later (a network's RTT) */
};

/* What the stream has seen and confirmed so far. */
struct stream {
    PGconn *conn;
    const struct options *opts;
    FILE *out;
    uint64_t data_start;    /* dataStart of the last XLogData, 0/0 before */
    uint64_t data_end;      /* walEnd of the last XLogData */
    uint64_t keepalive_end; /* walEnd of the last keepalive */
    int64_t next_status_ms; /* monotonic time the next periodic update is due */
    int64_t last_log_ms;    /* monotonic time of the last activity log line */
    unsigned keepalives;    /* keepalives received since the last log line */
    unsigned replies;       /* status updates sent since the last log line */
    bool reply_asked;       /* a keepalive since the last log line asked */
    uint64_t last_reported; /* LSN sent in the last status update */
};

static volatile sig_atomic_t stop_requested = 0;

/* Writes one "logical-consumer: " prefixed line to stderr. Cannot fail. */
__attribute__((format(printf, 1, 2))) static void log_msg(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs(PROGRAM ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Returns the length of a libpq message without its trailing newlines. */
static int msg_len(const char *msg)
{
    size_t len = strlen(msg);

    while (len > 0 && msg[len - 1] == '\n')
        len--;
    return len > INT_MAX ? INT_MAX : (int)len;
}

/* Returns the mode's name as given on the command line. */
static const char *mode_name(enum mode mode)
{
    switch (mode) {
    case MODE_STALE:
        return "stale";
    case MODE_HEALTHY:
        return "healthy";
    case MODE_SILENT:
        return "silent";
    case MODE_AHEAD:
        return "ahead";
    }
    return "unknown";
}

/* Signal handler for SIGTERM and SIGINT: only records the request. */
static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

/*
 * Installs the stop handlers without SA_RESTART, so poll() returns EINTR, and
 * ignores SIGPIPE so a closed output pipe shows up as a write error.
 */
static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/* Returns the monotonic clock in milliseconds. */
static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns the wall clock in microseconds since 2000-01-01 (PostgreSQL epoch). */
static int64_t pg_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ((int64_t)ts.tv_sec - POSTGRES_EPOCH_UNIX) * 1000000 + ts.tv_nsec / 1000;
}

/* Stores v at dst as 8 big-endian bytes. */
static void be64_put(unsigned char *dst, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        dst[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* Reads 8 big-endian bytes at src. */
static uint64_t be64_get(const char *src)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | (unsigned char)src[i];
    return v;
}

/* Prints the usage text to the given stream. */
static void usage(FILE *to)
{
    fprintf(to, "usage: " PROGRAM " --dsn CONNINFO --slot NAME --mode stale|healthy|silent|ahead\n"
                "       [--create-slot] [--plugin test_decoding] [--status-interval MS]\n"
                "       [--output FILE] [--ready-file FILE] [--reply-delay MS]\n");
}

/*
 * Parses a decimal integer in [min, max] for the named option into *out.
 * Logs and returns false when the value is not such a number.
 */
static bool parse_int(const char *name, const char *value, long min, long max, int *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max) {
        log_msg("invalid value \"%s\" for --%s: expected an integer from %ld to %ld", value, name,
                min, max);
        return false;
    }
    *out = (int)v;
    return true;
}

/*
 * Parses a mode name into *out. Logs and returns false when it is unknown.
 */
static bool parse_mode(const char *value, enum mode *out)
{
    static const enum mode modes[] = {MODE_STALE, MODE_HEALTHY, MODE_SILENT, MODE_AHEAD};

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(value, mode_name(modes[i])) == 0) {
            *out = modes[i];
            return true;
        }
    }
    log_msg("invalid value \"%s\" for --mode: expected stale, healthy, silent or ahead", value);
    return false;
}

/*
 * Checks that the named option's value is a plain lower-case identifier
 * (what PostgreSQL accepts as a slot name), so it can go into a replication
 * command unquoted. Logs and returns false otherwise.
 */
static bool check_name(const char *name, const char *value)
{
    size_t len = strlen(value);

    if (len == 0 || len > 63 || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789_") != len) {
        log_msg("invalid value \"%s\" for --%s: expected 1 to 63 of a-z, 0-9 and _", value, name);
        return false;
    }
    return true;
}

/*
 * Handles one option returned by getopt_long, storing it in *opts.
 * Logs and returns false when its value is invalid.
 */
static bool apply_option(int opt, const char *arg, struct options *opts)
{
    switch (opt) {
    case 'd':
        opts->dsn = arg;
        return true;
    case 's':
        opts->slot = arg;
        return check_name("slot", arg);
    case 'm':
        opts->mode_set = true;
        return parse_mode(arg, &opts->mode);
    case 'c':
        opts->create_slot = true;
        return true;
    case 'p':
        opts->plugin = arg;
        return check_name("plugin", arg);
    case 'i':
        return parse_int("status-interval", arg, 1, MAX_STATUS_INTERVAL_MS,
                         &opts->status_interval_ms);
    case 'y':
        return parse_int("reply-delay", arg, 0, MAX_STATUS_INTERVAL_MS, &opts->reply_delay_ms);
    case 'o':
        opts->output = arg;
        return true;
    case 'r':
        opts->ready_file = arg;
        return true;
    default:
        return false; /* getopt_long already named the option */
    }
}

/*
 * Parses the command line into *opts. Returns PARSE_HELP for --help and
 * PARSE_ERROR, after logging which option is wrong, for bad options.
 */
static enum parse_result parse_options(int argc, char **argv, struct options *opts)
{
    static const struct option longopts[] = {{"dsn", required_argument, NULL, 'd'},
                                             {"slot", required_argument, NULL, 's'},
                                             {"mode", required_argument, NULL, 'm'},
                                             {"create-slot", no_argument, NULL, 'c'},
                                             {"plugin", required_argument, NULL, 'p'},
                                             {"status-interval", required_argument, NULL, 'i'},
                                             {"output", required_argument, NULL, 'o'},
                                             {"ready-file", required_argument, NULL, 'r'},
                                             {"reply-delay", required_argument, NULL, 'y'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int opt;

    memset(opts, 0, sizeof(*opts));
    opts->plugin = "test_decoding";
    opts->status_interval_ms = 1000;
    opterr = 0; /* report bad options here, with our prefix */
    while ((opt = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        if (opt == 'h')
            return PARSE_HELP;
        if (opt == '?' || opt == ':') {
            log_msg("%s option \"%s\"", opt == ':' ? "missing value for" : "unrecognized",
                    argv[optind > 1 ? optind - 1 : 1]);
            return PARSE_ERROR;
        }
        if (!apply_option(opt, optarg, opts))
            return PARSE_ERROR;
    }
    if (optind < argc) {
        log_msg("unexpected argument \"%s\"", argv[optind]);
        return PARSE_ERROR;
    }
    if (opts->dsn == NULL || opts->slot == NULL || !opts->mode_set) {
        log_msg("missing option %s", opts->dsn == NULL    ? "--dsn"
                                     : opts->slot == NULL ? "--slot"
                                                          : "--mode");
        return PARSE_ERROR;
    }
    return PARSE_OK;
}

/*
 * Waits up to timeout_ms for the connection's socket to become readable.
 * Returns false, after logging, when poll fails for a reason other than a
 * signal or the connection has no socket.
 */
static bool wait_socket(PGconn *conn, int timeout_ms)
{
    struct pollfd pfd;

    pfd.fd = PQsocket(conn);
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (pfd.fd < 0) {
        log_msg("connection has no socket: %.*s", msg_len(PQerrorMessage(conn)),
                PQerrorMessage(conn));
        return false;
    }
    if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR) {
        log_msg("could not poll the connection: %m");
        return false;
    }
    return true;
}

/*
 * Waits for the next result of a command sent with PQsendQuery without
 * blocking signals out. Returns NULL when there is none left or a stop was
 * requested; a broken connection yields libpq's error result first.
 */
static PGresult *await_result(PGconn *conn)
{
    while (!stop_requested) {
        if (!PQconsumeInput(conn))
            return PQgetResult(conn); /* does not block on a dead connection */
        if (!PQisBusy(conn))
            return PQgetResult(conn);
        if (!wait_socket(conn, 1000))
            return NULL;
    }
    return NULL;
}

/* Reads and discards the results left after the one a caller consumed. */
static void drain_results(PGconn *conn)
{
    PGresult *res;

    while ((res = await_result(conn)) != NULL)
        PQclear(res);
}

/*
 * Opens a replication=database connection for the dsn. application_name
 * defaults to logical-consumer-<mode>; connect_timeout to 10 s. Returns NULL,
 * after logging libpq's message, when the connection fails.
 */
static PGconn *connect_replication(const struct options *opts)
{
    char appname[64];
    const char *keys[] = {"connect_timeout", "dbname", "replication", "fallback_application_name",
                          NULL};
    const char *values[] = {"10", opts->dsn, "database", appname, NULL};
    PGconn *conn;

    snprintf(appname, sizeof(appname), PROGRAM "-%s", mode_name(opts->mode));
    conn = PQconnectdbParams(keys, values, 1);
    if (conn == NULL) {
        log_msg("could not connect: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        log_msg("could not connect: %.*s", msg_len(PQerrorMessage(conn)), PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    log_msg("connected: server %d, backend pid %d, application_name \"%s\"", PQserverVersion(conn),
            PQbackendPID(conn), PQparameterStatus(conn, "application_name"));
    return conn;
}

/*
 * Creates the permanent logical slot over the replication connection; an
 * existing slot (SQLSTATE 42710) is fine. Logs and returns false on failure.
 */
static bool create_slot(PGconn *conn, const struct options *opts)
{
    char cmd[256];
    PGresult *res;
    const char *state;
    bool ok;

    snprintf(cmd, sizeof(cmd), "CREATE_REPLICATION_SLOT %s LOGICAL %s", opts->slot, opts->plugin);
    if (!PQsendQuery(conn, cmd)) {
        log_msg("could not send \"%s\": %.*s", cmd, msg_len(PQerrorMessage(conn)),
                PQerrorMessage(conn));
        return false;
    }
    res = await_result(conn);
    state = res == NULL ? NULL : PQresultErrorField(res, PG_DIAG_SQLSTATE);
    ok = res != NULL &&
         (PQresultStatus(res) == PGRES_TUPLES_OK || (state != NULL && strcmp(state, "42710") == 0));
    if (ok)
        log_msg("slot \"%s\" %s", opts->slot,
                PQresultStatus(res) == PGRES_TUPLES_OK ? "created" : "exists already");
    else if (res != NULL)
        log_msg("could not create slot \"%s\": %.*s", opts->slot,
                msg_len(PQresultErrorMessage(res)), PQresultErrorMessage(res));
    PQclear(res);
    drain_results(conn);
    return ok;
}

/*
 * Writes "<pid>\n" to path through path.tmp and a rename, so a reader never
 * sees a partial file. Logs and returns false on failure.
 */
static bool write_ready_file(const char *path, int pid)
{
    char tmp[PATH_MAX];
    FILE *f;
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);

    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        log_msg("ready file name \"%s\" is too long", path);
        return false;
    }
    f = fopen(tmp, "w");
    if (f == NULL) {
        log_msg("could not open \"%s\": %m", tmp);
        return false;
    }
    fprintf(f, "%d\n", pid);
    if (ferror(f) | (fclose(f) != 0)) {
        log_msg("could not write \"%s\": %m", tmp);
        return false;
    }
    if (rename(tmp, path) != 0) {
        log_msg("could not rename \"%s\" to \"%s\": %m", tmp, path);
        return false;
    }
    return true;
}

/*
 * Sends START_REPLICATION for the slot from 0/0 and waits for CopyBoth, then
 * writes the ready file. Logs and returns false on failure.
 */
static bool start_streaming(PGconn *conn, const struct options *opts)
{
    char cmd[128];
    PGresult *res;
    bool ok;

    snprintf(cmd, sizeof(cmd), "START_REPLICATION SLOT %s LOGICAL 0/0", opts->slot);
    if (!PQsendQuery(conn, cmd)) {
        log_msg("could not send \"%s\": %.*s", cmd, msg_len(PQerrorMessage(conn)),
                PQerrorMessage(conn));
        return false;
    }
    res = await_result(conn);
    ok = res != NULL && PQresultStatus(res) == PGRES_COPY_BOTH;
    if (res != NULL && !ok)
        log_msg("could not start streaming from slot \"%s\": %.*s", opts->slot,
                msg_len(PQresultErrorMessage(res)), PQresultErrorMessage(res));
    PQclear(res);
    if (!ok)
        return false;
    log_msg("streaming started: slot \"%s\", mode %s, walsender pid %d, status interval %d ms",
            opts->slot, mode_name(opts->mode), PQbackendPID(conn), opts->status_interval_ms);
    return opts->ready_file == NULL || write_ready_file(opts->ready_file, PQbackendPID(conn));
}

/* Returns the LSN the mode confirms as write, flush and apply. */
static uint64_t reported_lsn(const struct stream *st)
{
    uint64_t lsn = st->data_start;

    if (st->opts->mode == MODE_HEALTHY || st->opts->mode == MODE_AHEAD) {
        if (st->data_end > lsn)
            lsn = st->data_end;
        if (st->keepalive_end > lsn)
            lsn = st->keepalive_end;
    }
    return st->opts->mode == MODE_AHEAD && lsn ? lsn + 1 : lsn;
}

/*
 * Logs what happened since the last activity line, at most once a second and
 * only when keepalives arrived or replies went out. Resets the counters.
 */
static void log_activity(struct stream *st)
{
    int64_t now = mono_ms();

    if (now - st->last_log_ms < LOG_INTERVAL_MS || (st->keepalives == 0 && st->replies == 0))
        return;
    log_msg("%u keepalives received (last wal end %X/%X%s), %u replies sent "
            "(write/flush/apply %X/%X)",
            st->keepalives, (unsigned)(st->keepalive_end >> 32), (unsigned)st->keepalive_end,
            st->reply_asked ? ", reply requested" : "", st->replies,
            (unsigned)(st->last_reported >> 32), (unsigned)st->last_reported);
    st->keepalives = 0;
    st->replies = 0;
    st->reply_asked = false;
    st->last_log_ms = now;
}

/*
 * Sends a standby status update with the mode's LSN as write, flush and
 * apply, and schedules the next periodic one. Silent mode sends nothing.
 * Logs and returns false when the connection fails.
 */
static bool send_status(struct stream *st)
{
    unsigned char msg[STATUS_SIZE];
    uint64_t lsn = reported_lsn(st);

    st->next_status_ms = mono_ms() + st->opts->status_interval_ms;
    if (st->opts->mode == MODE_SILENT)
        return true;
    msg[0] = 'r';
    be64_put(msg + 1, lsn);                    /* write */
    be64_put(msg + 9, lsn);                    /* flush */
    be64_put(msg + 17, lsn);                   /* apply */
    be64_put(msg + 25, (uint64_t)pg_now_us()); /* client clock */
    msg[33] = 0;                               /* no reply requested */
    if (PQputCopyData(st->conn, (const char *)msg, sizeof(msg)) <= 0 || PQflush(st->conn) != 0) {
        log_msg("could not send status update: %.*s", msg_len(PQerrorMessage(st->conn)),
                PQerrorMessage(st->conn));
        return false;
    }
    st->last_reported = lsn;
    st->replies++;
    log_activity(st);
    return true;
}

/*
 * Writes an XLogData payload as "X/X <payload>\n" and remembers its LSNs.
 * Logs and returns false when the message is short or the output fails.
 */
static bool handle_xlogdata(struct stream *st, const char *buf, int len)
{
    if (len < XLOGDATA_HEADER) {
        log_msg("XLogData message too short: %d bytes", len);
        return false;
    }
    st->data_start = be64_get(buf + 1);
    st->data_end = be64_get(buf + 9);
    fprintf(st->out, "%X/%X ", (unsigned)(st->data_start >> 32), (unsigned)st->data_start);
    fwrite(buf + XLOGDATA_HEADER, 1, (size_t)(len - XLOGDATA_HEADER), st->out);
    fputc('\n', st->out);
    if (fflush(st->out) != 0 || ferror(st->out)) {
        log_msg("could not write the output: %m");
        return false;
    }
    return true;
}

/*
 * Records a primary keepalive and answers when the server asks for a reply
 * (except in silent mode): at once, or --reply-delay ms later, as a client
 * across a network would. Logs and returns false on a short
 * message or a failed reply.
 */
static bool handle_keepalive(struct stream *st, const char *buf, int len)
{
    bool reply;

    if (len < KEEPALIVE_SIZE) {
        log_msg("keepalive message too short: %d bytes", len);
        return false;
    }
    st->keepalive_end = be64_get(buf + 1);
    reply = buf[17] != 0;
    st->keepalives++;
    st->reply_asked |= reply;
    if (reply && st->opts->reply_delay_ms == 0)
        return send_status(st);
    if (reply && mono_ms() + st->opts->reply_delay_ms < st->next_status_ms)
        st->next_status_ms = mono_ms() + st->opts->reply_delay_ms;
    log_activity(st);
    return true;
}

/* Dispatches one CopyData message from the server. Logs unknown ones. */
static bool handle_message(struct stream *st, const char *buf, int len)
{
    switch (buf[0]) {
    case 'w':
        return handle_xlogdata(st, buf, len);
    case 'k':
        return handle_keepalive(st, buf, len);
    default:
        log_msg("unexpected message type \"%c\" (%d bytes)", buf[0], len);
        return false;
    }
}

/*
 * Reads the results after the server ended the copy and logs why it ended,
 * answering the server's CopyDone with ours; stops at the first other result
 * (a terminated walsender sends FATAL 57P01, a stopping one "COPY 0", and
 * both close the connection without ReadyForQuery). Returns exit status 0: the
 * server ended the stream.
 */
static int finish_stream(PGconn *conn)
{
    PGresult *res;

    while ((res = await_result(conn)) != NULL) {
        ExecStatusType status = PQresultStatus(res);
        bool ended = true;

        if (status == PGRES_COPY_IN) {
            log_msg("server ended the copy");
            ended = PQputCopyEnd(conn, NULL) > 0 && PQflush(conn) == 0;
            if (!ended)
                log_msg("could not end the copy: %.*s", msg_len(PQerrorMessage(conn)),
                        PQerrorMessage(conn));
        } else if (status == PGRES_COMMAND_OK)
            log_msg("server closed the stream: \"%s\"", PQcmdStatus(res));
        else
            log_msg("stream ended with error: %.*s", msg_len(PQresultErrorMessage(res)),
                    PQresultErrorMessage(res));
        PQclear(res);
        if (status != PGRES_COPY_IN || !ended)
            break; /* the stream is over; a walsender exits without ReadyForQuery */
    }
    return 0;
}

/* Returns how long to poll: until the next status update, at most the interval. */
static int poll_timeout(const struct stream *st)
{
    int64_t left = st->next_status_ms - mono_ms();

    if (left < 0)
        return 0;
    if (left > st->opts->status_interval_ms)
        return st->opts->status_interval_ms;
    return (int)left;
}

/*
 * Waits for input without blocking past the next status update and reads
 * what arrived. Returns false, after logging, when the connection broke.
 */
static bool wait_input(struct stream *st)
{
    if (!wait_socket(st->conn, poll_timeout(st)))
        return false;
    if (!PQconsumeInput(st->conn)) {
        log_msg("connection lost: %.*s", msg_len(PQerrorMessage(st->conn)),
                PQerrorMessage(st->conn));
        return false;
    }
    return true;
}

/*
 * The streaming loop: sends due status updates, handles messages, waits on
 * the socket. Returns the exit status: 0 when a signal, the server or a
 * broken connection ends it, 1 on a local or protocol failure.
 */
static int stream_run(struct stream *st)
{
    for (;;) {
        char *buf = NULL;
        int len;

        if (stop_requested) {
            log_msg("stop requested, exiting");
            return 0;
        }
        if (mono_ms() >= st->next_status_ms && !send_status(st))
            return 0; /* already logged: the connection broke */
        len = PQgetCopyData(st->conn, &buf, 1);
        if (len > 0) {
            bool ok = handle_message(st, buf, len);

            PQfreemem(buf);
            if (!ok)
                return 1; /* already logged */
        } else if (len == 0) {
            if (!wait_input(st))
                return 0; /* already logged: the connection broke */
        } else if (len == -1) {
            return finish_stream(st->conn);
        } else {
            log_msg("connection lost: %.*s", msg_len(PQerrorMessage(st->conn)),
                    PQerrorMessage(st->conn));
            return 0;
        }
    }
}

/*
 * Connects, creates the slot if asked, starts streaming and runs the loop.
 * Returns the exit status.
 */
static int run(const struct options *opts, FILE *out)
{
    struct stream st;
    PGconn *conn = connect_replication(opts);
    int rc;

    if (conn == NULL)
        return stop_requested ? 0 : 1;
    if ((opts->create_slot && !create_slot(conn, opts)) || !start_streaming(conn, opts)) {
        PQfinish(conn);
        return stop_requested ? 0 : 1; /* already logged */
    }
    memset(&st, 0, sizeof(st));
    st.conn = conn;
    st.opts = opts;
    st.out = out;
    st.next_status_ms = mono_ms(); /* first status update right away */
    st.last_log_ms = mono_ms() - LOG_INTERVAL_MS;
    rc = stream_run(&st);
    PQfinish(conn);
    return rc;
}

/* Parses the options, opens the output and runs the consumer. */
int main(int argc, char **argv)
{
    struct options opts;
    enum parse_result parsed = parse_options(argc, argv, &opts);
    FILE *out = stdout;
    int rc;

    if (parsed != PARSE_OK) {
        usage(parsed == PARSE_HELP ? stdout : stderr);
        return parsed == PARSE_HELP ? 0 : 2;
    }
    install_signals();
    if (opts.output != NULL && (out = fopen(opts.output, "a")) == NULL) {
        log_msg("could not open \"%s\": %m", opts.output);
        return 1;
    }
    rc = run(&opts, out);
    if (out != stdout && fclose(out) != 0) {
        log_msg("could not close \"%s\": %m", opts.output);
        return 1;
    }
    return rc;
}
