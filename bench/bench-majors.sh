#!/bin/bash
# make bench-majors: on every PostgreSQL major, how far past the deadline a
# fast stop held up by one stale client ends, against that major's own stop
# time of the same server without stale clients, measured in the same run.
#
# For each major (PG_VERSIONS, default 10-18; upstream builds fetched and
# cached by tests/matrix/pg-fetch): a primary with 2 healthy clients, the
# guard at --deadline 2s; RUNS (default 5) stops with no stale client (the
# baseline) and RUNS with one.  Prints one row per major:
#   baseline    SIGINT -> postmaster gone, 2 healthy clients, no stale one
#   held        the same with one stale client, ended by the guard
#   overshoot   held - deadline
#   net         overshoot - baseline: what the guard adds to PostgreSQL's own stop
# Nothing here is a pass/fail test.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
PORT=${BENCH_PORT:-55530}
DEADLINE_MS=2000
majors=${PG_VERSIONS:-10 11 12 13 14 15 16 17 18}
pids=()
guard_pid=
work=

. "$top/tests/lib.sh"
. "$top/bench/lib.sh"
. "$top/bench/stop.sh"
sql() { as_pg "$PGBIN/psql" -X -h "$work" -p "$PORT" -U postgres -d postgres -qAt -c "$1"; }
note() { printf '%s\n' "$*" >&2; }

# End the guard, the consumers and the server of the current major.
finish_major() {
    set +e
    [ -n "$guard_pid" ] && { kill -TERM "$guard_pid" 2>/dev/null; wait "$guard_pid" 2>/dev/null; }
    guard_pid=
    stop_consumers
    [ -n "$work" ] && [ -f "$work/pg/postmaster.pid" ] &&
        as_pg "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1
    [ -n "$work" ] && [ -z "${KEEP:-}" ] && rm -rf "$work"
    work=
    set -e
}
trap finish_major EXIT
trap 'exit 130' INT TERM

rows=()
for major in $majors; do
    PGBIN=$("$top/tests/matrix/pg-fetch" "$major")
    version=$(cat "$PGBIN/../.ready")
    work=$(mktemp -d /tmp/dg-bench-major.XXXXXX)
    note "bench-majors: PostgreSQL $version in $work (runs: $RUNS)"
    init_server 10
    start_server
    sql "CREATE TABLE t (i int)"
    as_pg "$PGBIN/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null
    start_guard --deadline ${DEADLINE_MS}ms --stall-after 1h --poll-interval 1s
    base="" held=""
    for ((r = 1; r <= RUNS; r++)); do
        read -r b0 _ < <(one_stop 0)
        base+="$b0 "
        read -r gone _ < <(one_stop 1)
        held+="$gone "
        note "  run $r: baseline ${b0} ms, held ${gone} ms"
    done
    b=$(m "$base")
    h=$(m "$held")
    o=$(over "$held")
    rows+=("$major|$version|$b|$h|$o|$(awk -v o="$o" -v b="$b" 'BEGIN { printf "%.1f", o - b }')")
    finish_major
done

printf '\n%-6s %-8s %14s %14s %14s %12s\n' major version "baseline ms" "held ms" "overshoot ms" "net ms"
printf '%-6s %-8s %14s %14s %14s %12s\n' ------ -------- -------------- -------------- -------------- ------------
for r in "${rows[@]}"; do
    IFS='|' read -r mj v b h o n <<<"$r"
    printf '%-6s %-8s %14s %14s %14s %12s\n' "$mj" "$v" "$b" "$h" "$o" "$n"
done
printf 'medians of %s runs; deadline %s ms; 2 healthy clients; held: 1 stale client too\n' "$RUNS" "$DEADLINE_MS"
