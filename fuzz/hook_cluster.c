/*
 * hook_cluster.c - hook_peers on Patroni's /cluster answer.  The first
 * line of the input is --self (empty: none), the second --patroni-url, the
 * rest the JSON.  The member running the hook is never among the peers,
 * every peer URL filled in is http://HOST:PORT with the given port, and
 * the count returned is that of the other members (more than MAX_PEERS
 * when /cluster has more: only MAX_PEERS are filled in).
 */
#include "fuzz.h"
#include "hook.h"

#define MAX_PEERS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[3];
    int n = fuzz_fields(data, size, '\n', f, 3);
    char urls[MAX_PEERS][256], err[512];
    json_t *cluster;
    int k, filled;

    if (n < 3) {
        fuzz_free_fields(f, n);
        return 0;
    }
    cluster = json_loads(f[2], 0, NULL);
    err[0] = '\0';
    k = hook_peers(cluster, f[0][0] ? f[0] : NULL, f[1], "8009", urls, MAX_PEERS, err, sizeof(err));
    if (k < -1 || (k == -1 && err[0] == '\0'))
        abort();
    filled = k < MAX_PEERS ? k : MAX_PEERS;
    for (int i = 0; i < filled; i++) {
        size_t len = strnlen(urls[i], sizeof(urls[i]));

        if (len == sizeof(urls[i]) || strncmp(urls[i], "http://", 7) != 0)
            abort();
    }
    /* --self names this member: no peer has its name (checked on the JSON) */
    if (k > 0 && f[0][0]) {
        json_t *members = json_object_get(cluster, "members"), *m;
        size_t i;
        int others = 0;

        json_array_foreach(members, i, m)
        {
            const char *name = json_string_value(json_object_get(m, "name"));

            others += json_string_value(json_object_get(m, "host")) != NULL &&
                      !(name && strcmp(name, f[0]) == 0);
        }
        if (k > others)
            abort();
    }
    json_decref(cluster);
    fuzz_free_fields(f, n);
    return 0;
}
