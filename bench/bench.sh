#!/bin/bash
# make bench: how fast and how small the guard is, against a real server.
#
# Prints one table; every row is the median of RUNS runs (default 5) and,
# where a timing has a natural baseline, the baseline measured in the same
# run on the same server.  Nothing here is a pass/fail test.
#
#   overshoot   (SIGINT -> postmaster gone) - deadline, N stale clients
#   baseline    SIGINT -> postmaster gone with healthy clients only
#   detection   SIGINT -> the guard's shutdown_started (no hook)
#   stalled     SIGINT -> postmaster gone, the stalled client ended at once
#   poll query  duration of the guard's query with 50 walsenders (its debug log)
#   RSS, CPU    the guard at a 1 s poll with 50 walsenders
set -euo pipefail

PGBIN=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
top=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
PORT=${BENCH_PORT:-55520}
DEADLINE_MS=2000
work=$(mktemp -d /tmp/dg-bench.XXXXXX)
pids=()
guard_pid=

. "$top/tests/lib.sh"
. "$top/bench/lib.sh"
. "$top/bench/stop.sh"
sql() { as_pg "$PGBIN/psql" -X -h "$work" -p "$PORT" -U postgres -d postgres -qAt -c "$1"; }
note() { printf '%s\n' "$*" >&2; }

cleanup() {
    set +e
    [ -n "$guard_pid" ] && kill -TERM "$guard_pid" 2>/dev/null
    stop_consumers
    [ -f "$work/pg/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note "bench: setting up in $work (runs: $RUNS)"
init_server 150
start_server
sql "CREATE TABLE t (i int)"
as_pg "$PGBIN/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null
start_guard --deadline ${DEADLINE_MS}ms --stall-after 1h --poll-interval 1s

declare -A res
for n in ${BENCH_STALE:-0 1 10 50}; do
    for ((r = 1; r <= RUNS; r++)); do
        read -r gone det < <(one_stop "$n")
        note "  stale=$n run $r: stop ${gone} ms, detection ${det} ms"
        res[stop_$n]+="$gone "
        res[det_$n]+="$det "
    done
done
# The baseline with as many slots as the 50-client case: 52 healthy clients.
# A shutdown checkpoint writes and fsyncs every slot's state, so it costs more.
for ((r = 1; r <= RUNS; r++)); do
    read -r gone det < <(HEALTHY=52 one_stop 0)
    note "  healthy=52 run $r: stop ${gone} ms"
    res[stop_h52]+="$gone "
done
# The same 50 on loopback answering every keepalive at once: 100 processes
# ping-ponging on 2 cores, the guard and the timer included.
for ((r = 1; r <= RUNS; r++)); do
    read -r gone det < <(REPLY_DELAY=0 one_stop 50)
    note "  stale=50 reply-delay 0 run $r: stop ${gone} ms, detection ${det} ms"
    res[stop_storm]+="$gone "
done

# A stuck logical walsender busy-loops in PostgreSQL's WalSndDone path: 50 of
# them keep 2 cores at 100 %.  The same 50 with the guard at nice -5, to see
# whether a higher priority (what a systemd unit can give it) matters.
if [ "$(id -u)" -eq 0 ]; then
    GUARD_NICE=-5 start_guard --deadline ${DEADLINE_MS}ms --stall-after 1h --poll-interval 1s
    for ((r = 1; r <= RUNS; r++)); do
        read -r gone det < <(one_stop 50)
        note "  stale=50 guard nice -5 run $r: stop ${gone} ms, detection ${det} ms"
        res[stop_nice]+="$gone "
    done
fi

# Stalled: ended at shutdown start (stall-after 1s, long deadline).
start_guard --deadline 60s --stall-after 1s --poll-interval 200ms
for ((r = 1; r <= RUNS; r++)); do
    read -r gone det < <(SETTLE=2.5 one_stop 1)
    note "  stalled run $r: stop ${gone} ms"
    res[stalled]+="$gone "
done

# Steady state with 50 walsenders: poll duration, RSS, CPU.
start_guard --deadline 10s --stall-after 1h --poll-interval 1s
start_server
wait_for "[ \$(connects) -gt 0 ]" 20
start_consumers healthy 25
start_consumers stale 25
sleep 3
gpid=$(pgrep -u postgres -f "$work/demotion-guard run" | head -1)
for ((r = 1; r <= RUNS; r++)); do
    # schedstat's first field: nanoseconds on a CPU (tick-based stat is too coarse)
    a=$(awk '{print $1}' /proc/$gpid/schedstat)
    sleep 10
    b=$(awk '{print $1}' /proc/$gpid/schedstat)
    res[cpu]+="$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", (b - a) / 1e9 / 10 * 100 }') "
    res[rss]+="$(awk '/VmRSS/ {printf "%.2f", $2 / 1024}' /proc/$gpid/status) "
    res[anon]+="$(awk '/RssAnon/ {printf "%.2f", $2 / 1024}' /proc/$gpid/status) "
    res[pss]+="$(awk '/^Pss:/ {printf "%.2f", $2 / 1024}' /proc/$gpid/smaps_rollup) "
done
res[poll]=$(grep -o 'poll query: 50 walsender(s) in [0-9]* us' "$work/guard.$gn.log" | awk '{print $6 / 1000}' | tail -n 25 | tr '\n' ' ')
stop_consumers

base=$(m "${res[stop_0]:-}")
printf '\nstale clients answer keepalives %s ms late (a network round trip) unless noted\n' "${REPLY_DELAY:-1}"
printf '%-58s %12s %10s\n' "measure (median of $RUNS runs; deadline ${DEADLINE_MS} ms)" "value" "target"
printf '%-58s %12s %10s\n' "----------------------------------------------------------" "------------" "----------"
printf '%-58s %9s ms %10s\n' "baseline: SIGINT -> postmaster gone, 2 healthy, no stale" "$base" "-"
printf '%-58s %9s ms %10s\n' "baseline: SIGINT -> postmaster gone, 52 healthy (52 slots)" "$(m "${res[stop_h52]:-}")" "-"
for n in 1 10 50; do
    printf '%-58s %9s ms %10s\n' "overshoot past deadline, $n stale (+2 healthy)" "$(over "${res[stop_$n]:-}")" "<= 50 ms"
done
for n in 0 1 10 50; do
    printf '%-58s %9s ms %10s\n' "detection: SIGINT -> shutdown_started (upper bound), $n stale" "$(m "${res[det_$n]:-}")" "<= 20 ms"
done
printf '%-58s %9s ms %10s\n' "overshoot, 50 stale answering at once (loopback storm)" "$(over "${res[stop_storm]:-}")" "-"
[ -n "${res[stop_nice]:-}" ] &&
    printf '%-58s %9s ms %10s\n' "overshoot, 50 stale, guard at nice -5" "$(over "${res[stop_nice]:-}")" "-"
st=$(m "${res[stalled]:-}")
printf '%-58s %9s ms %10s\n' "stalled client ended at start: SIGINT -> postmaster gone" "$st" "<= 200 ms"
printf '%-58s %11sx %10s\n' "  ratio to baseline" "$(awk -v a="$st" -v b="$base" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.2f", a / b }')" "-"
printf '%-58s %9s ms %10s\n' "poll query, 50 walsenders" "$(m "${res[poll]:-}")" "-"
printf '%-58s %8s MiB %10s\n' "guard RSS, 50 walsenders, 1 s poll" "$(m "${res[rss]:-}")" "<= 6 MiB"
printf '%-58s %8s MiB %10s\n' "  of which private (RssAnon)" "$(m "${res[anon]:-}")" "-"
printf '%-58s %8s MiB %10s\n' "  proportional (Pss: shared libraries split with PostgreSQL)" "$(m "${res[pss]:-}")" "-"
printf '%-58s %10s %% %10s\n' "guard CPU (% of one core), 50 walsenders, 1 s poll" "$(m "${res[cpu]:-}")" "<= 0.2 %"
