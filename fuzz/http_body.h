/*
 * http_body.h - api_parse_command for the route FUZZ_ROUTE (each of
 * http_arm.c, http_disarm.c, http_kill.c, http_callback.c sets it): what it
 * accepts is complete and in range, and what it refuses has an error text
 * that, as respond_error() cleans it, can be sent as a JSON string.
 */
#include <limits.h>

#include "api.h"
#include "fuzz.h"
#include "log.h"
#include "render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct command c;
    char err[512], clean[1024];
    json_t *e;

    err[0] = '\0';
    /* the body as the server hands it over: not NUL-terminated */
    char *body = malloc(size ? size : 1);

    if (body == NULL)
        abort();
    memcpy(body, data, size);
    if (api_parse_command(FUZZ_ROUTE, body, size, &c, err, sizeof(err))) {
        if (!FUZZ_TERMINATED(c.reason) || !FUZZ_TERMINATED(c.slot) || !FUZZ_TERMINATED(c.action) ||
            !FUZZ_TERMINATED(c.role) || !FUZZ_TERMINATED(c.scope))
            abort();
        switch (FUZZ_ROUTE) {
        case R_ARM:
            if (c.type != CMD_ARM || c.deadline_ms < -1 || c.deadline_ms > 7LL * 24 * 3600 * 1000)
                abort();
            break;
        case R_DISARM:
            if (c.type != CMD_DISARM)
                abort();
            break;
        case R_KILL:
            if (c.type != CMD_KILL || (c.sel == KILL_PID) != (c.pid > 0) ||
                (c.sel == KILL_SLOT) != (c.slot[0] != '\0'))
                abort();
            break;
        case R_CALLBACK:
            if (c.type != CMD_CALLBACK || c.role[0] == '\0' || c.scope[0] == '\0' ||
                strncmp(c.action, "on_", 3) != 0)
                abort();
            break;
        }
        /* every string field taken is the whole string: none was cut at a \u0000 */
        json_t *o = json_loadb(body, size, 0, NULL);
        const struct {
            const char *key, *value;
        } fields[] = {{"reason", c.reason},
                      {"slot", c.slot},
                      {"action", c.action},
                      {"role", c.role},
                      {"scope", c.scope}};

        for (size_t i = 0; o && i < sizeof(fields) / sizeof(fields[0]); i++) {
            json_t *v = json_object_get(o, fields[i].key);

            if (json_is_string(v) && strlen(fields[i].value) != json_string_length(v))
                abort();
        }
        json_decref(o);
        /* what the guard echoes back (the reason) can be a JSON string */
        e = json_string(c.reason);
        if (e == NULL)
            abort();
        json_decref(e);
    } else {
        if (err[0] == '\0')
            abort(); /* a refusal says why */
        snprintf(clean, sizeof(clean), "%s", err);
        log_sanitize_utf8(clean);
        e = render_error("bad_request", clean);
        if (e == NULL)
            abort(); /* the 400 could not be built: the connection would be dropped */
        json_decref(e);
    }
    free(body);
    return 0;
}
