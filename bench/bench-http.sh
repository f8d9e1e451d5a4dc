#!/bin/bash
# bench/bench-http.sh: the guard's HTTP API under load, beside Debian's
# prometheus-postgres-exporter scraping the same server.
#
# Starts a throw-away PostgreSQL 15 primary with 50 logical walsenders
# (HEALTHY=40 confirming everything, STALE=10 behind, so the metrics carry
# lag values), the guard (--listen, 1 s poll) and the exporter as Debian ships
# it (no flags but the listen address; DATA_SOURCE_NAME = the superuser over
# the Unix socket).  Prints one markdown table; every row is the median of
# RUNS runs.  Nothing here is a pass/fail test.
#
#   req/s, p50, p99   wrk -t2 -c8 -d$WRK_DURATION --latency on the guard's
#                     /metrics and /health; wrk -t2 -c2 -d$EXP_WRK_DURATION on
#                     the exporter's /metrics (each of its scrapes runs its
#                     queries against PostgreSQL, so it gets less load)
#   one scrape        curl's time_total for GET /metrics, median of SCRAPES
#                     sequential scrapes per run: the like-for-like comparison
#   body, samples     size of the /metrics body, and its lines that are
#                     neither comments nor empty
#   RSS               VmRSS (and RssAnon, private memory) of each process at
#                     the start of a run and after all of the run's load
#   non-2xx, errors   wrk's "Non-2xx or 3xx responses" and socket errors,
#                     summed over all runs (not a median)
#
# Knobs (environment):
#   RUNS=5              runs to take the median of
#   KEEP=1              keep the work directory (logs, wrk outputs, bodies)
#   BENCH_PORT=55540    PostgreSQL's port
#   BENCH_HTTP_PORT=55541  the guard's port; the exporter listens on the next
#   WRK_DURATION=10s    duration of each wrk run against the guard
#
# Run as root (servers, guard and exporter run as "postgres") or as a user
# that may run PostgreSQL.  Everything listens on 127.0.0.1 only.
set -euo pipefail

PGBIN=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
EXPORTER=${EXPORTER:-/usr/bin/prometheus-postgres-exporter}
top=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
PORT=${BENCH_PORT:-55540}
HTTP_PORT=${BENCH_HTTP_PORT:-55541}
EXP_PORT=$((HTTP_PORT + 1))
WRK_DURATION=${WRK_DURATION:-10s}
EXP_WRK_DURATION=${EXP_WRK_DURATION:-5s}
SCRAPES=${SCRAPES:-20}
HEALTHY=${HEALTHY:-40}
STALE=${STALE:-10}
guard_url=http://127.0.0.1:$HTTP_PORT
exp_url=http://127.0.0.1:$EXP_PORT
work=$(mktemp -d /tmp/dg-bench-http.XXXXXX)
pids=()      # the consumers' background jobs (tests/lib.sh's spawn)
launchers=() # the background jobs of the guard and the exporter
guard_pid=   # the guard itself
exp_pid=     # the exporter itself

. "$top/tests/lib.sh"
. "$top/bench/lib.sh"
sql() { as_pg "$PGBIN/psql" -X -h "$work" -p "$PORT" -U postgres -d postgres -qAt -c "$1"; }
note() { printf '%s\n' "$*" >&2; }

for tool in wrk curl "$EXPORTER" "$PGBIN/postgres"; do
    command -v "$tool" >/dev/null || { note "bench-http: $tool is missing"; exit 1; }
done
if ! "$top/demotion-guard" run --help 2>&1 | grep -q -- '--listen'; then
    note "bench-http: $top/demotion-guard has no --listen (run make first)"
    exit 1
fi

# TERM a process; after 5 s, KILL it.
stop_pid() {
    local p=$1
    kill -TERM "$p" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null || true
}

# The process a background job of tests/lib.sh's as_pg ends up running: as
# root, $! is a subshell whose child is runuser, whose child is the command.
# Killing the subshell would orphan the command, and TERM to runuser makes it
# wait 2 s before a KILL, so the command itself is what gets signalled.
leaf() {
    local p=$1 c
    while c=$(pgrep -P "$p" | head -1) && [ -n "$c" ]; do p=$c; done
    echo "$p"
}

stop_consumers() {
    local p leaves=()
    for p in "${pids[@]}"; do leaves+=("$(leaf "$p")"); done
    for p in "${leaves[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${leaves[@]}" "${pids[@]}"; do stop_pid "$p"; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}

cleanup() {
    set +e
    [ -n "$guard_pid" ] && stop_pid "$guard_pid"
    [ -n "$exp_pid" ] && stop_pid "$exp_pid"
    for p in "${launchers[@]}"; do stop_pid "$p"; wait "$p" 2>/dev/null; done
    stop_consumers
    [ -f "$work/pg/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1
    if [ -n "${KEEP:-}" ]; then note "bench-http: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
m() { echo "$1" | tr ' ' '\n' | { grep -v '^-\?$' || true; } | median; }
sum() { echo "$1" | tr ' ' '\n' | awk '{s += $1} END {print s + 0}'; }

# Start a daemon as PostgreSQL's user, its output to $1; sets daemon_pid to
# the PID of the daemon itself and records the job's in "launchers".
daemon_pid=
start_daemon() {
    local log=$1 launcher
    shift
    as_pg "$@" >"$log" 2>&1 &
    launcher=$!
    launchers+=("$launcher")
    # wait until the end of the chain is the daemon, not still the shell,
    # runuser or env
    wait_for "ps -o comm= -p \$(leaf $launcher) | grep -qvx -e bash -e runuser -e env" 10
    daemon_pid=$(leaf "$launcher")
}

rss() { awk '/^VmRSS/ {printf "%.2f\n", $2 / 1024}' "/proc/$1/status"; }
anon() { awk '/^RssAnon/ {printf "%.2f\n", $2 / 1024}' "/proc/$1/status"; }
alive() { kill -0 "$1" 2>/dev/null || { note "bench-http: $2 (PID $1) has exited; its log:"; tail -20 "$work/$2.log" >&2; exit 1; }; }

# wrk with --latency; prints "req/s p50_ms p99_ms non2xx socket_errors requests".
# wrk prints times as 123.45us, 1.23ms, 1.02s, 1.00m.
run_wrk() {
    local out=$1
    shift
    wrk --latency "$@" >"$out" 2>&1 || { note "bench-http: wrk $* failed:"; cat "$out" >&2; return 1; }
    awk '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /s$/) return v * 1000
            if (v ~ /m$/) return v * 60000
            if (v ~ /h$/) return v * 3600000
            return v + 0
        }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /^Requests\/sec:/ { rps = $2 }
        / requests in / { reqs = $1 }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        /Socket errors:/ { gsub(",", ""); errs = $4 + $6 + $8 + $10 }
        END { printf "%s %.3f %.3f %d %d %d\n", rps, p50, p99, bad, errs, reqs }' "$out"
}

# n sequential GETs; prints curl's time_total median in ms.  A failed or
# non-200 scrape is reported and counted as an error.
scrape_ms() {
    local url=$1 n=$2 t code
    for ((s = 0; s < n; s++)); do
        read -r code t < <(curl -s -o /dev/null --max-time 30 -w '%{http_code} %{time_total}\n' "$url" || echo "000 0")
        if [ "$code" != 200 ]; then note "bench-http: GET $url -> $code"; continue; fi
        awk -v t="$t" 'BEGIN { printf "%.3f\n", t * 1000 }'
    done | median
}

note "bench-http: setting up in $work (runs: $RUNS, $HEALTHY healthy + $STALE stale walsenders)"
init_server 60
as_pg "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w -t 60 start >/dev/null
sql "CREATE TABLE t (i int)"
start_consumers healthy "$HEALTHY"
start_consumers stale "$STALE"
make_lag "$STALE"

start_daemon "$work/guard.log" "$work/demotion-guard" run --dsn "host=$work port=$PORT dbname=postgres user=postgres" \
    --pgdata "$work/pg" --listen "127.0.0.1:$HTTP_PORT" --poll-interval 1s --log-level warn
guard_pid=$daemon_pid
start_daemon "$work/exporter.log" env DATA_SOURCE_NAME="host=$work port=$PORT user=postgres dbname=postgres sslmode=disable" \
    "$EXPORTER" --web.listen-address="127.0.0.1:$EXP_PORT"
exp_pid=$daemon_pid

# Ready when the guard has polled all walsenders and the exporter answers.
walsenders=$((HEALTHY + STALE))
wait_for "[ \"\$(curl -s --max-time 5 $guard_url/metrics | grep -c '^demotion_guard_walsender_lag_bytes{')\" -ge $walsenders ]" 30 || {
    alive "$guard_pid" guard
    note "bench-http: the guard's /metrics never showed $walsenders walsenders:"
    curl -s --max-time 5 -i "$guard_url/metrics" | head -40 >&2 || true
    exit 1
}
wait_for "curl -sf --max-time 30 -o /dev/null $exp_url/metrics" 30 || { alive "$exp_pid" exporter; exit 1; }
curl -s --max-time 30 -o "$work/exp.0.metrics" "$exp_url/metrics"
grep -q '^pg_up 1' "$work/exp.0.metrics" || note "bench-http: warning: the exporter says pg_up is not 1 (see $work/exporter.log)"

declare -A res
for ((r = 1; r <= RUNS; r++)); do
    alive "$guard_pid" guard
    alive "$exp_pid" exporter
    res[g_rss0]+="$(rss "$guard_pid") "
    res[e_rss0]+="$(rss "$exp_pid") "
    for who in guard exp; do
        url=$guard_url
        [ "$who" = exp ] && url=$exp_url
        curl -s --max-time 30 -o "$work/$who.$r.metrics" "$url/metrics"
        res[${who}_bytes]+="$(wc -c <"$work/$who.$r.metrics") "
        res[${who}_samples]+="$(grep -cv -e '^#' -e '^$' "$work/$who.$r.metrics") "
    done

    for path in metrics health; do
        read -r rps p50 p99 bad errs reqs < <(run_wrk "$work/wrk.guard.$path.$r.txt" -t2 -c8 -d"$WRK_DURATION" "$guard_url/$path")
        res[g_${path}_rps]+="$rps "
        res[g_${path}_p50]+="$p50 "
        res[g_${path}_p99]+="$p99 "
        res[g_${path}_bad]+="$bad "
        res[g_${path}_err]+="$errs "
        note "  run $r: guard /$path: $rps req/s, p50 $p50 ms, p99 $p99 ms, $reqs requests, non-2xx $bad, socket errors $errs"
        if [ "$bad" -gt 0 ] || [ "$errs" -gt 0 ]; then sed 's/^/    /' "$work/wrk.guard.$path.$r.txt" >&2; fi
        alive "$guard_pid" guard
    done
    res[g_rss1]+="$(rss "$guard_pid") "
    res[g_anon1]+="$(anon "$guard_pid") "

    res[g_scrape]+="$(scrape_ms "$guard_url/metrics" "$SCRAPES") "
    res[e_scrape]+="$(scrape_ms "$exp_url/metrics" "$SCRAPES") "

    read -r rps p50 p99 bad errs reqs < <(run_wrk "$work/wrk.exp.metrics.$r.txt" -t2 -c2 -d"$EXP_WRK_DURATION" --timeout 30s "$exp_url/metrics")
    res[e_metrics_rps]+="$rps "
    res[e_metrics_p50]+="$p50 "
    res[e_metrics_p99]+="$p99 "
    res[e_metrics_bad]+="$bad "
    res[e_metrics_err]+="$errs "
    note "  run $r: exporter /metrics: $rps req/s, p50 $p50 ms, p99 $p99 ms, $reqs requests, non-2xx $bad, socket errors $errs"
    alive "$exp_pid" exporter
    res[e_rss1]+="$(rss "$exp_pid") "
    res[e_anon1]+="$(anon "$exp_pid") "
    note "  run $r: RSS guard $(rss "$guard_pid") MiB, exporter $(rss "$exp_pid") MiB"
done

# A row: measure, guard value, exporter value, unit, target.  The ratio is
# guard / exporter.
row() {
    local what=$1 g=$2 e=$3 target=$4 ratio
    ratio=$(awk -v g="$g" -v e="$e" 'BEGIN { if (g !~ /^[0-9.]+$/ || e !~ /^[0-9.]+$/ || e == 0) print "–"; else if (g / e >= 10) printf "%.0f\n", g / e; else if (g / e >= 0.1) printf "%.2f\n", g / e; else printf "%.4f\n", g / e }')
    printf '| %s | %s | %s | %s | %s |\n' "$what" "${g/-/–}" "${e/-/–}" "$ratio" "$target"
}
r0() { m "$1" | awk '{ if ($1 == "-") print "-"; else printf "%.0f\n", $1 }'; }
r2() { m "$1" | awk '{ if ($1 == "-") print "-"; else printf "%.2f\n", $1 }'; }
r3() { m "$1" | awk '{ if ($1 == "-") print "-"; else printf "%.3f\n", $1 }'; }

g_rps=$(r0 "${res[g_metrics_rps]}")
g_p99=$(r3 "${res[g_metrics_p99]}")
g_rss=$(r2 "${res[g_rss1]}")
e_rss=$(r2 "${res[e_rss1]}")
# "met" or "missed": awk condition $2 on the values $1 (a space-separated
# list bound to a, b); "no value" when one is missing
verdict() {
    case " $1 " in *" - "*) echo "no value"; return ;; esac
    if awk -v a="${1% *}" -v b="${1#* }" "BEGIN { exit !($2) }"; then echo met; else echo missed; fi
}

pgver=$(sql "SHOW server_version" | awk '{print $1}')
expver=$("$EXPORTER" --version 2>&1 | awk 'NR == 1 {print $3}')
printf '\nPostgreSQL %s, %d logical walsenders (%d healthy, %d stale), guard %s, prometheus-postgres-exporter %s, %d cores\n\n' \
    "$pgver" "$walsenders" "$HEALTHY" "$STALE" "$("$top/demotion-guard" --version 2>&1 | awk 'NR == 1 {print $2}')" "$expver" "$(nproc)"
printf '| measure (median of %d runs) | guard | exporter | ratio (guard / exporter) | target |\n' "$RUNS"
printf '|---|---:|---:|---:|---|\n'
row "\`/metrics\` req/s under wrk (guard -c8 -d$WRK_DURATION, exporter -c2 -d$EXP_WRK_DURATION)" "$g_rps" "$(r0 "${res[e_metrics_rps]}")" \
    "guard ≥ 10 000 ($(verdict "$g_rps" 'a >= 10000'))"
row "\`/metrics\` p50 latency under wrk (ms)" "$(r3 "${res[g_metrics_p50]}")" "$(r3 "${res[e_metrics_p50]}")" "–"
row "\`/metrics\` p99 latency under wrk (ms)" "$g_p99" "$(r3 "${res[e_metrics_p99]}")" "guard ≤ 2 ms ($(verdict "$g_p99" 'a <= 2'))"
row "\`/health\` req/s under wrk (-c8 -d$WRK_DURATION)" "$(r0 "${res[g_health_rps]}")" - "–"
row "\`/health\` p50 / p99 latency under wrk (ms)" "$(r3 "${res[g_health_p50]}") / $(r3 "${res[g_health_p99]}")" - "–"
row "\`/metrics\` one scrape, curl time_total (ms, median of $SCRAPES sequential)" "$(r3 "${res[g_scrape]}")" "$(r3 "${res[e_scrape]}")" "–"
row "\`/metrics\` body (bytes)" "$(r0 "${res[guard_bytes]}")" "$(r0 "${res[exp_bytes]}")" "–"
row "\`/metrics\` samples (lines that are not comments)" "$(r0 "${res[guard_samples]}")" "$(r0 "${res[exp_samples]}")" "–"
row "RSS at the start of a run (MiB)" "$(r2 "${res[g_rss0]}")" "$(r2 "${res[e_rss0]}")" "–"
row "RSS after the run's load (MiB)" "$g_rss" "$e_rss" "guard ≤ 1/3 of exporter ($(verdict "$g_rss $e_rss" 'a * 3 <= b'))"
row "  of which private (RssAnon, MiB)" "$(r2 "${res[g_anon1]}")" "$(r2 "${res[e_anon1]}")" "–"
row "non-2xx responses under wrk, all runs (/metrics; /health)" "$(sum "${res[g_metrics_bad]}"); $(sum "${res[g_health_bad]}")" "$(sum "${res[e_metrics_bad]}")" "–"
row "socket errors under wrk, all runs (/metrics; /health)" "$(sum "${res[g_metrics_err]}"); $(sum "${res[g_health_err]}")" "$(sum "${res[e_metrics_err]}")" "–"
cat <<N

Notes: wrk runs on the same $(nproc)-core machine as the guard, PostgreSQL
and the exporter, and takes CPU from them (its 2 threads alone can keep both
cores busy), so the req/s are a lower bound of what the guard could serve.
The guard answers /metrics from its last poll (1 s) without asking
PostgreSQL; every exporter scrape runs its queries against PostgreSQL, which
is why it gets only 2 connections under wrk: the req/s and latencies under
wrk are not like for like, the sequential curl scrapes are.  The exporter
runs as Debian ships it (default collectors, pg_settings included), as the
superuser over the Unix socket.  RSS counts shared-library pages (libpq's
dependencies for the guard); RssAnon is each process's private memory.
N
