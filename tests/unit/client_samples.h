/*
 * client_samples.h - the sample answers of API.md (GET /v1/status and GET
 * /v1/walsenders) for the unit tests of the clients and their rendering
 */
#ifndef DG_CLIENT_SAMPLES_H
#define DG_CLIENT_SAMPLES_H

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

#endif
