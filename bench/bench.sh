#!/bin/bash
# make bench: how soon after the deadline a fast stop held up by N stuck
# logical clients ends, against PostgreSQL's own stop of the same server
# measured in the same run, and how small the guard is.
#
# One server (max_wal_senders raised for the largest N), the guard at
# --deadline 2s.  For each N of BENCH_STALE (default 1 20 50 200; add 500
# if the machine has the room), RUNS (default 5) pairs of fast stops,
# alternating:
#   baseline    SIGINT -> postmaster gone, 2 healthy clients, N slots, no stuck client
#   held        the same with N stuck ("stale") clients, ended by the guard
# and once each without the guard, stopped after LIMIT_MS (the stop hangs).
# From the guard's audit (shutdown_completed): deadline_to_first_signal_us,
# deadline_to_last_signal_us, deadline_signals.  At the largest N also:
# the stalled path (ended at shutdown start), the poll query's time, the
# guard's RSS, and the guard under nice / SCHED_FIFO (what a systemd unit's
# Nice= and CPUSchedulingPolicy= give it) while N walsenders spin.
#
# The guard runs as the packaged systemd unit lets it (LimitRTPRIO=1:
# SCHED_FIFO for its main thread while a shutdown runs); this container
# cannot raise RLIMIT_RTPRIO, so the permission is given as CAP_SYS_NICE
# (setpriv), which lets the guard do the same.  BENCH_RT=no: without it.
#
# Prints one table (medians of RUNS) and writes a PNG plot of stop time
# against N (gnuplot, Debian's gnuplot-nox: installed by tests/deps.sh when
# run as root) to PLOT (default doc/bench-stop.png).  Nothing here is a
# pass/fail test.
set -euo pipefail

PGBIN=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
top=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
PORT=${BENCH_PORT:-55520}
DEADLINE_MS=2000
LIMIT_MS=${LIMIT_MS:-6000}
COUNTS=${BENCH_STALE:-1 20 50 200}
# BENCH_SCHED=no: skip the scheduling runs
SCHED=${BENCH_SCHED:-yes}
PLOT=${PLOT:-$top/doc/bench-stop.png}
RT_RUNAS="setpriv --reuid postgres --regid postgres --init-groups --inh-caps +sys_nice --ambient-caps +sys_nice --"
if [ "${BENCH_RT:-yes}" = yes ] && [ "$(id -u)" -eq 0 ]; then export GUARD_RUNAS=$RT_RUNAS; fi
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

max=0
for n in $COUNTS; do [ "$n" -gt "$max" ] && max=$n; done
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(loadavg)

# The guard's own figures of the last shutdown_completed: "first last count" (us).
guard_figures() {
    perl -MJSON::PP -ne '
        next unless /"event":"shutdown_completed"/;
        my $e = decode_json($_); $last = $e;
        END { my $e = $last // {}; printf "%s %s %s\n", map { $e->{$_} // "-" }
              qw(deadline_to_first_signal_us deadline_to_last_signal_us deadline_signals) }' \
        "$work/audit.log"
}
guard_pid_now() { pgrep -u postgres -f "$work/demotion-guard run" | head -1; }
sample_rss() { awk '/VmRSS/ {printf "%.2f\n", $2 / 1024}' "/proc/$(guard_pid_now)/status" >>"$work/rss"; }

# Create slots stale_1..n while the server runs, so that a baseline stop
# has the same slots as the held one.
make_slots() {
    local n=$1
    start_server
    sql "SELECT count(pg_create_logical_replication_slot('stale_' || i, 'test_decoding'))
         FROM generate_series(1, $n) i
         WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = 'stale_' || i)" >/dev/null
    as_pg "$PGBIN/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null
}

# A held stop with no guard: SIGINT, and after LIMIT_MS an immediate stop.
# Prints the ms it took (the limit when it hung).
held_without_guard() {
    local n=$1 t0 gone
    start_server
    start_consumers healthy 2
    start_consumers stale "$n"
    make_lag "$n"
    sleep 1.2
    read -r t0 gone < <(perl -MTime::HiRes=time,sleep -e '
        my ($pid, $file, $limit) = @ARGV; my $t0 = time; kill "INT", $pid or die "kill: $!";
        sleep 0.0005 while -e $file && time - $t0 < $limit / 1000;
        printf "%.3f %.3f\n", $t0 * 1000, (time - $t0) * 1000;' "$(pm_pid)" "$work/pg/postmaster.pid" "$LIMIT_MS")
    [ -f "$work/pg/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1
    stop_consumers
    echo "$gone"
}

note "bench: setting up in $work (runs: $RUNS, stuck clients: $COUNTS, load $(loadavg))"
init_server $((max + 10))
start_server
sql "CREATE TABLE t (i int)"
as_pg "$PGBIN/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null

declare -A res
for n in $COUNTS; do
    make_slots "$n"
    start_guard --deadline ${DEADLINE_MS}ms --stall-after 1h --poll-interval 1s
    : >"$work/rss"
    for ((r = 1; r <= RUNS; r++)); do
        read -r b _ < <(one_stop 0)
        if [ "$n" -eq "$max" ]; then
            read -r gone det < <(BEFORE_STOP=sample_rss one_stop "$n")
        else
            read -r gone det < <(one_stop "$n")
        fi
        read -r first last count < <(guard_figures)
        note "  stuck=$n run $r: baseline ${b} ms, held ${gone} ms, detection ${det} ms," \
            "guard ${first}..${last} us for ${count} signal(s), load $(loadavg)"
        res[base_$n]+="$b "
        res[held_$n]+="$gone "
        res[det_$n]+="$det "
        res[first_$n]+="$first "
        res[last_$n]+="$last "
        res[count_$n]+="$count "
    done
    if [ "$n" -eq "$max" ]; then
        gp=$(guard_pid_now)
        res[rss]=$(tr '\n' ' ' <"$work/rss")
        res[hwm]=$(awk '/VmHWM/ {printf "%.2f", $2 / 1024}' "/proc/$gp/status")
        res[anon]=$(awk '/RssAnon/ {printf "%.2f", $2 / 1024}' "/proc/$gp/status")
        w=$((n + 2))
        res[poll]=$(grep -o "poll query: $w walsender(s) in [0-9]* us" "$work/guard.$gn.log" |
            awk '{print $6 / 1000}' | tail -n 25 | tr '\n' ' ')
    fi
    kill -TERM "$guard_pid"
    wait "$guard_pid" 2>/dev/null || true
    guard_pid=
    res[noguard_$n]=$(held_without_guard "$n")
    note "  stuck=$n without the guard: ${res[noguard_$n]} ms (limit ${LIMIT_MS} ms)"
done

# The stalled path at the largest N: every stuck client is stalled (1 s)
# before the stop, so the guard ends them all the moment it sees it.
start_guard --deadline 60s --stall-after 1s --poll-interval 200ms
for ((r = 1; r <= RUNS; r++)); do
    read -r gone _ < <(SETTLE=2.5 one_stop "$max")
    note "  stalled=$max run $r: stop ${gone} ms, load $(loadavg)"
    res[stalled]+="$gone "
done

# Scheduling, at the largest N: what Nice= and CPUSchedulingPolicy= of the
# systemd unit do (emulated by nice and chrt on the guard), against the
# guard at the default priority measured in the same series.
# label|prefix|how it becomes postgres (empty: runuser, no capability)
variants=("nice 0, no real-time allowed||" "Nice=-5|nice -n -5|" "Nice=-10|nice -n -10|"
    "IOSchedulingClass=realtime|ionice -c 1 -n 4|"
    "CPUSchedulingPolicy=fifo (all threads)|chrt -f 1|"
    "LimitRTPRIO=1 (FIFO in shutdowns)||$RT_RUNAS")
if [ "$SCHED" = yes ] && [ "$(id -u)" -eq 0 ]; then
    for ((r = 1; r <= RUNS; r++)); do
        for v in "${variants[@]}"; do
            IFS='|' read -r label prefix runas <<<"$v"
            GUARD_PREFIX=$prefix GUARD_RUNAS=${runas:-runuser -u postgres --} start_guard --deadline ${DEADLINE_MS}ms --stall-after 1h --poll-interval 1s
            read -r gone _ < <(one_stop "$max")
            read -r first last count < <(guard_figures)
            note "  stuck=$max $label run $r: held ${gone} ms, guard ${first}..${last} us, load $(loadavg)"
            res["sched_held_$label"]+="$gone "
            res["sched_first_$label"]+="$first "
            res["sched_last_$label"]+="$last "
        done
    done
    sched_done=yes
fi
load_end=$(loadavg)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
us2ms() { awk -v a="$1" 'BEGIN { if (a == "-") print "-"; else printf "%.3f", a / 1000 }'; }
printf '\nstuck clients answer keepalives %s ms late (a network round trip); deadline %s ms; medians of %s runs\n' \
    "${REPLY_DELAY:-1}" "$DEADLINE_MS" "$RUNS"
printf 'load average (1, 5, 15 min): %s at the start, %s at the end\n\n' "$load_start" "$load_end"
printf '%7s %10s %10s %10s %10s %13s %12s %12s %10s %10s\n' stuck "baseline" "held" "overshoot" "over-base" \
    "over/baseline" "1st signal" "last signal" "signals" "no guard"
printf '%7s %10s %10s %10s %10s %13s %12s %12s %10s %10s\n' "" "ms" "ms" "ms" "ms" "" "ms" "ms" "" "ms"
: >"$work/plot.dat"
for n in $COUNTS; do
    b=$(m "${res[base_$n]}")
    h=$(m "${res[held_$n]}")
    o=$(over "${res[held_$n]}")
    printf '%7s %10s %10s %10s %10s %13s %12s %12s %10s %10s\n' "$n" "$b" "$h" "$o" \
        "$(awk -v o="$o" -v b="$b" 'BEGIN { printf "%.1f", o - b }')" "$(ratio "$o" "$b")" \
        "$(us2ms "$(m "${res[first_$n]}")")" "$(us2ms "$(m "${res[last_$n]}")")" \
        "$(m "${res[count_$n]}")" "${res[noguard_$n]}"
    echo "$n $b $h ${res[noguard_$n]}" >>"$work/plot.dat"
done
printf '\nat %s stuck clients:\n' "$max"
st=$(m "${res[stalled]}")
bm=$(m "${res[base_$max]}")
printf '  %-58s %9s ms (%sx baseline, %s ms more)\n' "stalled, ended at shutdown start: SIGINT -> postmaster gone" \
    "$st" "$(ratio "$st" "$bm")" "$(awk -v a="$st" -v b="$bm" 'BEGIN { printf "%.1f", a - b }')"
printf '  %-58s %9s ms\n' "detection: SIGINT -> shutdown_started (upper bound)" "$(m "${res[det_$max]}")"
printf '  %-58s %9s ms\n' "poll query, $((max + 2)) walsenders" "$(m "${res[poll]}")"
printf '  %-58s %8s MiB\n' "guard RSS before the stop" "$(m "${res[rss]}")"
printf '  %-58s %8s MiB\n' "guard peak RSS (VmHWM), pins included" "${res[hwm]}"
printf '  %-58s %8s MiB\n' "  private (RssAnon)" "${res[anon]}"
if [ -n "${sched_done:-}" ]; then
    printf '\nscheduling at %s stuck clients (the same series, variants interleaved):\n' "$max"
    printf '  %-40s %10s %10s %12s %12s\n' variant "held ms" "overshoot" "1st signal" "last signal"
    for v in "${variants[@]}"; do
        label=${v%%|*}
        printf '  %-40s %10s %10s %12s %12s\n' "$label" "$(m "${res["sched_held_$label"]}")" \
            "$(over "${res["sched_held_$label"]}")" "$(us2ms "$(m "${res["sched_first_$label"]}")")" \
            "$(us2ms "$(m "${res["sched_last_$label"]}")")"
    done
fi

# The plot: stop time against stuck clients, from this run.
if [ "$(id -u)" -eq 0 ]; then "$top/tests/deps.sh" gnuplot-nox >&2 || true; fi
if command -v gnuplot >/dev/null; then
    mkdir -p "$(dirname "$PLOT")"
    gnuplot <<G
set terminal pngcairo size 1000,440 font "sans,10"
set output "$PLOT"
set multiplot layout 1,2 title "PostgreSQL 15 fast stop held up by stuck logical clients: deadline ${DEADLINE_MS} ms, medians of $RUNS runs, load ${load_start%% *}-${load_end%% *}"
set xlabel "stuck logical clients"
set logscale x
set xrange [0.7:$((max * 2))]
set xtics ($(echo "$COUNTS" | sed 's/ /, /g'))
set grid
set key at graph 0.97, graph 0.69 right top box opaque font ",9"
set logscale y
set yrange [5:$((LIMIT_MS * 4))]
set ylabel "SIGINT -> postmaster gone (ms)"
set title "stop time"
plot "$work/plot.dat" using 1:4 with linespoints lw 2 pt 7 title "no guard: hangs (cut at ${LIMIT_MS} ms)", \
     "$work/plot.dat" using 1:3 with linespoints lw 2 pt 5 title "with the guard", \
     "$work/plot.dat" using 1:2 with linespoints lw 2 pt 9 title "PostgreSQL alone, no stuck client"
unset logscale y
set yrange [0:*]
set ylabel "ms"
set title "after the deadline"
set key default
set key top left box opaque font ",9"
plot "$work/plot.dat" using 1:(\$3 - $DEADLINE_MS) with linespoints lw 2 pt 5 lc 2 title "with the guard: stop - deadline", \
     "$work/plot.dat" using 1:2 with linespoints lw 2 pt 9 lc 3 title "PostgreSQL's own stop (baseline)", \
     "$work/plot.dat" using 1:(\$2 + 10) with lines dt 2 lc rgb "gray" title "baseline + 10 ms"
unset multiplot
G
    note "plot: $PLOT"
else
    note "no gnuplot (apt-get install gnuplot-nox): no plot"
fi
