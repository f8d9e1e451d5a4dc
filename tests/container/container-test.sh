#!/bin/bash
# container-test.sh - "make container-test": packaging/docker/Dockerfile as
# shipped, built with Debian's podman (buildah, runc; no registry, see
# podman-env.sh) and run beside a real PostgreSQL 15 primary on this host
# with a stale logical consumer (tests/tools/logical-consumer --mode stale):
#
#  1. host PID namespace (--pid host), PostgreSQL's UID and GID: the guard,
#     running before the stop, ends the stale walsender at the deadline after
#     SIGINT (a fast shutdown); its HEALTHCHECK passes on the non-default
#     listen address it was given (podman healthcheck run);
#  2. the same, the container started after the stop began: it finds the
#     walsender through /proc and ends it a deadline after it saw the stop;
#  3. the GID not PostgreSQL's, started in the stop: it says at start-up that
#     /proc is denied and that the GID must be PostgreSQL's;
#  4. a private PID namespace: SQL only, and it says so and why; the
#     HEALTHCHECK on a unix socket;
#  5. the postmaster PID 1 of a PID namespace of its own, the guard PID 1 of
#     its own (no --pid): it refuses to signal, and says truly why;
#  6. PG_GID of a group Debian has already (26, CloudNativePG's) builds.
#
# Prints the image's size, the build's time and how long the walsender's end
# took after SIGINT.  Containers, servers and consumers are ended on exit,
# also when interrupted; every wait is bounded.  Needs root.
# Environment: DG_CONTAINER_CACHE (podman's storage and the base image),
# DG_CONTAINER_PORT (first of three TCP ports, default 61530), PG_BINDIR.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
# Above the ephemeral range (32768-60999, where a client socket can hold a
# port) and the TAP framework's (10200-32767).
PORT=${DG_CONTAINER_PORT:-61530}
HTTP_PORT=$((PORT + 1))
DEADLINE_S=2
IMAGE=localhost/demotion-guard:container-test
t_start=$(date +%s%3N)

if [ "$(id -u)" -ne 0 ]; then
    echo "container-test: needs root (podman's overlay storage, debootstrap)" >&2
    exit 2
fi
"$top/tests/deps.sh" podman buildah runc debootstrap postgresql-15
[ -x "$top/tests/tools/logical-consumer" ] ||
    { echo "container-test: build tests/tools/logical-consumer first (make)" >&2; exit 2; }
. "$top/tests/container/podman-env.sh"
. "$top/tests/lib.sh"

# One run at a time per cache: they share podman's storage.
exec 8>"$CACHE.lock"
flock -w 600 8 || { echo "container-test: $CACHE is in use by another run" >&2; exit 1; }

work=$(mktemp -d /tmp/dg-container.XXXXXX)
chmod 0755 "$work"
chown postgres: "$work"
pids=()
ctrs=()
failed=0
passed=0
tag=dg-ct-$$

ok() {
    echo "ok - $*"
    passed=$((passed + 1))
}
not_ok() {
    echo "not ok - $*"
    failed=$((failed + 1))
}
now_ms() { date +%s%3N; }
# Evaluates the shell condition $2 every 0.1 s until it holds or $1 seconds
# have passed (whatever one evaluation costs; at most 10 a second).
until_s() {
    local end=$(($(now_ms) + $1 * 1000)) i
    for ((i = 0; i < $1 * 10; i++)); do
        eval "$2" && return 0
        [ "$(now_ms)" -lt "$end" ] || break
        sleep 0.1
    done
    echo "container-test: timed out after $1 s waiting for: $2" >&2
    return 1
}
sql() { as_pg "$PGBIN/psql" -X -h "$work" -p "$PORT" -U postgres -d postgres -qAt -c "$1"; }

cleanup() {
    local rc=$?
    set +e
    for c in "${ctrs[@]}"; do
        PM_TIMEOUT=30 pm rm -f -t 0 "$c" >/dev/null 2>&1
    done
    ns_down
    # never pg_ctl on a postmaster.pid of another namespace's PID 1 (case 5)
    if [ -f "$work/pg/postmaster.pid" ] && [ "$(pm_pid)" -gt 1 ]; then
        as_pg "$PGBIN/pg_ctl" -D "$work/pg" -m immediate -t 30 stop >/dev/null 2>&1
    fi
    end_spawned
    PM_TIMEOUT=60 pm rmi -f localhost/demotion-guard:container-test-gid26 >/dev/null 2>&1
    [ -n "${KEEP:-}" ] && echo "container-test: kept $work" || rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
trap 'echo "container-test: interrupted" >&2; exit 130' INT TERM HUP

for p in $PORT $HTTP_PORT $((HTTP_PORT + 1)); do
    if ss -Hltn "sport = :$p" | grep -q .; then
        echo "container-test: port $p is taken (DG_CONTAINER_PORT)" >&2
        exit 1
    fi
done

# --- the image -------------------------------------------------------------
ensure_base
version=$(cd "$top" && git describe --tags --always --dirty 2>/dev/null || echo unknown)
pg_uid=$(id -u postgres)
pg_gid=$(id -g postgres)
b0=$(now_ms)
PM_TIMEOUT=900 pm build --format docker -f "$top/packaging/docker/Dockerfile" \
    --ignorefile "$top/packaging/docker/Dockerfile.dockerignore" \
    --build-arg VERSION="$version" --build-arg PG_UID="$pg_uid" --build-arg PG_GID="$pg_gid" \
    -t "$IMAGE" "$top" >"$work/build.log" 2>&1 || {
    tail -n 30 "$work/build.log" >&2
    echo "container-test: podman build failed" >&2
    exit 1
}
build_ms=$(($(now_ms) - b0))
cached=$(grep -c '^--> Using cache' "$work/build.log" || true)
size=$(pm image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(pm image inspect --format '{{.Size}}' "$BASE_IMAGE")
echo "container-test: built $IMAGE (PG_UID=$pg_uid PG_GID=$pg_gid) in $build_ms ms ($cached steps from cache)"
printf 'container-test: image size %.1f MB (%d bytes), of which the base image %.1f MB\n' \
    "$(awk -v b="$size" 'BEGIN { print b / 1e6 }')" "$size" "$(awk -v b="$base_size" 'BEGIN { print b / 1e6 }')"
health=$(pm image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
case $health in
*demotion-guard-healthcheck*) ok "the image keeps its HEALTHCHECK (--format docker)" ;;
*) not_ok "the image's HEALTHCHECK is not demotion-guard-healthcheck (lost without --format docker?): $health" ;;
esac

# --- PostgreSQL 15 and a stale consumer --------------------------------------
as_pg "$PGBIN/initdb" -D "$work/pg" -U postgres -A trust >/dev/null
cat >>"$work/pg/postgresql.conf" <<C
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
wal_level = logical
C
echo "host replication all 127.0.0.1/32 trust" >>"$work/pg/pg_hba.conf"

pg_start() {
    as_pg "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -t 60 start >/dev/null || {
        tail -n 20 "$work/pg.log" >&2
        echo "container-test: PostgreSQL did not start" >&2
        exit 1
    }
}
# A stale consumer of slot ct_stale and lag for it to hold a stop up with.
start_stale() {
    rm -f "$work/stale.ready"
    spawn "$work/stale.log" "$top/tests/tools/logical-consumer" \
        --dsn "host=127.0.0.1 port=$PORT dbname=postgres user=postgres" \
        --slot ct_stale --mode stale --create-slot --output "$work/stale.out" \
        --ready-file "$work/stale.ready"
    wait_for "[ -s '$work/stale.ready' ]" 20 || { echo "container-test: the stale consumer did not start" >&2; exit 1; }
    sql "INSERT INTO t SELECT g FROM generate_series(1, 5) g; CHECKPOINT"
    wait_for "[ \"\$(sql \"SELECT sent_lsn > flush_lsn FROM pg_stat_replication WHERE application_name = 'logical-consumer-stale'\")\" = t ]" 20 ||
        { echo "container-test: no lag for the stale consumer" >&2; exit 1; }
    walsender=$(sql "SELECT pid FROM pg_stat_replication WHERE application_name = 'logical-consumer-stale'")
}
pm_pid() { head -n 1 "$work/pg/postmaster.pid" 2>/dev/null || echo 0; }
# SIGINT (a fast shutdown) to this host's postmaster; never to PID 0 or 1.
sigint_pm() {
    local p
    p=$(pm_pid)
    [ "$p" -gt 1 ] && kill -INT "$p"
}
ns_pid=
# Ends the server of case 5 (PID 1 of its own namespace): SIGQUIT to it by
# its PID here, the child of unshare.
ns_down() {
    local p
    [ -n "$ns_pid" ] || return 0
    p=$(pgrep -P "$ns_pid" | head -n 1 || true)
    [ -z "$p" ] || kill -QUIT "$p" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$ns_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$ns_pid" 2>/dev/null || true
    wait "$ns_pid" 2>/dev/null || true
    rm -f "$work/pg/postmaster.pid"
    ns_pid=
}
# Waits (up to $2 s) for process $1 to end; prints the ms it took from $3.
ended_after() {
    local i
    for ((i = 0; i < $2 * 100; i++)); do
        [ -d "/proc/$1" ] || { echo $(($(now_ms) - $3)); return 0; }
        sleep 0.01
    done
    return 1
}
# The server is stopped or ended for the next case (the stale walsender
# holds a fast stop up: SIGTERM to it by hand if it is still there).
pg_down() {
    [ -f "$work/pg/postmaster.pid" ] && [ "$(pm_pid)" -gt 1 ] || return 0
    sigint_pm 2>/dev/null || true
    [ -n "${walsender:-}" ] && kill -TERM "$walsender" 2>/dev/null || true
    wait_for "[ ! -f '$work/pg/postmaster.pid' ]" 30
}
# podman run -d, the container remembered for the cleanup.
guard_run() {
    local name=$1
    shift
    ctrs+=("$name")
    # podman says it has no systemd for periodic health checks: to a file
    pm run -d --name "$name" --network host "$@" >/dev/null 2>>"$work/podman.err"
}
guard_env=(-e DEMOTION_GUARD_DSN="host=127.0.0.1 port=$PORT dbname=postgres user=postgres"
    -e DEMOTION_GUARD_PGDATA="$work/pg" -e DEMOTION_GUARD_DEADLINE=${DEADLINE_S}s
    -e DEMOTION_GUARD_STALL_AFTER=1h -v "$work/pg:$work/pg:ro")
logs() { PM_TIMEOUT=30 pm logs "$1" 2>&1; }

pg_start
sql "CREATE TABLE t (i int)"

# --- 1. host PID namespace, guard first ------------------------------------
start_stale
c=$tag-host
guard_run "$c" --pid host "${guard_env[@]}" -e DEMOTION_GUARD_LISTEN="127.0.0.1:$HTTP_PORT" "$IMAGE"
if until_s 30 "curl -fsS -m 2 'http://127.0.0.1:$HTTP_PORT/v1/status' 2>/dev/null | grep -q '\"walsenders\":{\"logical\":1,'" &&
    until_s 10 "logs $c | grep -q 'signal path available'"; then
    ok "host PID: the guard sees the stale consumer and may signal"
else
    not_ok "host PID: the guard does not see the stale consumer or may not signal"
    logs "$c" | tail -n 20 >&2
fi
if PM_TIMEOUT=30 pm healthcheck run "$c" >"$work/health.out" 2>&1; then
    ok "HEALTHCHECK healthy on DEMOTION_GUARD_LISTEN=127.0.0.1:$HTTP_PORT (podman healthcheck run)"
else
    not_ok "HEALTHCHECK on DEMOTION_GUARD_LISTEN=127.0.0.1:$HTTP_PORT: $(cat "$work/health.out")"
fi
t0=$(now_ms)
sigint_pm
if took_host=$(ended_after "$walsender" 30 "$t0"); then
    ok "host PID: the stale walsender ended $took_host ms after SIGINT (deadline ${DEADLINE_S} s)"
    [ "$took_host" -ge $((DEADLINE_S * 1000)) ] ||
        not_ok "host PID: it ended before the deadline"
else
    not_ok "host PID: the stale walsender was not ended within 30 s of SIGINT"
fi
terminated() { until_s 10 "logs $1 | grep -qF 'event\\\":\\\"terminated'"; }
terminated "$c" || not_ok "host PID: no \"terminated\" event in the guard's log"
pg_down
PM_TIMEOUT=30 pm rm -f -t 5 "$c" >/dev/null

# --- 2. host PID namespace, the container starts after the stop began ----------
pg_start
start_stale
t0=$(now_ms)
sigint_pm
until_s 10 "[ \"\$(sed -n 8p '$work/pg/postmaster.pid' 2>/dev/null | tr -d ' ')\" = stopping ]" ||
    not_ok "late: postmaster.pid did not say stopping"
c=$tag-late
t1=$(now_ms)
guard_run "$c" --pid host "${guard_env[@]}" -e DEMOTION_GUARD_LISTEN=off "$IMAGE"
if took_late=$(ended_after "$walsender" 30 "$t0"); then
    ok "late start: the stale walsender ended $took_late ms after SIGINT," \
        "$((took_late - (t1 - t0))) ms after podman run"
    terminated "$c" || not_ok "late start: no \"terminated\" event in the guard's log"
else
    not_ok "late start: the stale walsender was not ended within 30 s"
    logs "$c" | tail -n 20 >&2
fi
pg_down
PM_TIMEOUT=30 pm rm -f -t 5 "$c" >/dev/null

# --- 3. the GID is not PostgreSQL's, the container started after the stop
# began (the issue's case): the kernel denies /proc/PID/cwd and fd, so the
# postmaster cannot be proven nor its walsenders told apart, and it says so
# at start-up, naming both UID:GID pairs (the walsender is ended by hand).
pg_start
start_stale
sigint_pm
until_s 10 "[ \"\$(sed -n 8p '$work/pg/postmaster.pid' 2>/dev/null | tr -d ' ')\" = stopping ]" ||
    not_ok "GID: postmaster.pid did not say stopping"
other_gid=$((pg_gid == 999 ? 998 : 999))
c=$tag-gid
guard_run "$c" --pid host --user "$pg_uid:$other_gid" "${guard_env[@]}" -e DEMOTION_GUARD_LISTEN=off \
    --group-add "$pg_gid" "$IMAGE"
if until_s 20 "logs $c | grep -q 'Permission denied'" &&
    logs "$c" | grep 'Permission denied' | grep -q 'GID'; then
    ok "GID $other_gid, not PostgreSQL's $pg_gid: it says /proc is denied and that the GID must be PostgreSQL's"
else
    not_ok "GID $other_gid: no start-up message that /proc is denied for the GID"
    logs "$c" | tail -n 10 >&2
fi
PM_TIMEOUT=30 pm rm -f -t 5 "$c" >/dev/null
pg_down
pg_start
start_stale

# --- 4. a private PID namespace: SQL only, says so; HEALTHCHECK on a socket --
c=$tag-private
guard_run "$c" --pid private "${guard_env[@]}" --tmpfs /run/dg:mode=1777 \
    -e DEMOTION_GUARD_LISTEN=unix:/run/dg/guard.sock "$IMAGE"
if until_s 20 "logs $c | grep -q 'signal path unavailable'" &&
    logs "$c" | grep 'signal path unavailable' | grep -q 'PID namespace' &&
    logs "$c" | grep 'signal path unavailable' | grep -q 'through SQL only'; then
    ok "private PID: it says the signal path is unavailable, why, and that it works through SQL only"
else
    not_ok "private PID: no start-up message about the signal path"
    logs "$c" | tail -n 10 >&2
fi
if until_s 20 "logs $c | grep -q 'observing'" &&
    PM_TIMEOUT=30 pm healthcheck run "$c" >"$work/health.out" 2>&1; then
    ok "HEALTHCHECK healthy on DEMOTION_GUARD_LISTEN=unix:/run/dg/guard.sock"
else
    not_ok "HEALTHCHECK on unix:/run/dg/guard.sock: $(cat "$work/health.out" 2>/dev/null)"
fi
PM_TIMEOUT=30 pm rm -f -t 5 "$c" >/dev/null
pg_down

# --- 5. the postmaster is PID 1 of another namespace, the guard PID 1 of its own --
# (the Dockerfile header's example without --pid): it refuses, and says why.
setsid unshare --pid --fork --mount-proc --kill-child=SIGQUIT setpriv --reuid=postgres --regid=postgres --init-groups \
    "$PGBIN/postgres" -D "$work/pg" >"$work/pg-ns.log" 2>&1 &
ns_pid=$!
if until_s 30 "[ \"\$(pm_pid)\" = 1 ] && [ \"\$(sed -n 8p '$work/pg/postmaster.pid' | tr -d ' ')\" = ready ]"; then
    c=$tag-pid1
    guard_run "$c" --pid private "${guard_env[@]}" -e DEMOTION_GUARD_LISTEN=off "$IMAGE"
    if until_s 20 "logs $c | grep -q 'signal path unavailable'" &&
        logs "$c" | grep 'signal path unavailable' | grep -q 'this guard itself' &&
        logs "$c" | grep 'signal path unavailable' | grep -q 'another PID namespace, where it is PID 1'; then
        ok "postmaster PID 1 of another namespace: it says PID 1 here is the guard itself, PostgreSQL's is another namespace's"
    else
        not_ok "postmaster PID 1 of another namespace: not said why"
        logs "$c" | grep 'signal path' >&2
    fi
    PM_TIMEOUT=30 pm rm -f -t 5 "$c" >/dev/null
else
    not_ok "the server in a PID namespace of its own did not start"
    cat "$work/pg-ns.log" >&2
fi
ns_down

# --- 6. PG_GID of a group Debian has (26) --------------------------------------
if PM_TIMEOUT=900 pm build --format docker -f "$top/packaging/docker/Dockerfile" \
    --ignorefile "$top/packaging/docker/Dockerfile.dockerignore" \
    --build-arg VERSION="$version" --build-arg PG_UID=26 --build-arg PG_GID=26 \
    -t localhost/demotion-guard:container-test-gid26 "$top" >"$work/build26.log" 2>&1 &&
    [ "$(pm run --rm --entrypoint /usr/bin/id localhost/demotion-guard:container-test-gid26 -u):$(
        pm run --rm --entrypoint /usr/bin/id localhost/demotion-guard:container-test-gid26 -g)" = 26:26 ]; then
    ok "PG_UID=26 PG_GID=26 (Debian's group \"tape\" already) builds and runs as 26:26"
else
    not_ok "PG_UID=26 PG_GID=26 does not build or run as 26:26"
    tail -n 5 "$work/build26.log" >&2
fi

echo "container-test: walsender ended after SIGINT: ${took_host:-?} ms (guard first)," \
    "${took_late:-?} ms (container started after the stop began); deadline ${DEADLINE_S} s"
echo "container-test: took $(($(now_ms) - t_start)) ms"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
