#!/bin/bash
# check-repeat.sh - the checks of "make check" N times in a row from this
# tree, idle and under CPU load, to find tests that flake.
#
#   N=5          runs per load setting
#   LOAD=both    no: idle runs; yes: runs under load; both: N of each,
#                alternating (idle first)
#   DEMO=yes     run "make demo" once first, so that run 1 follows it as in
#                a fresh clone's "make demo && make check"
#   TESTS=...    TAP files (default tests/tap/*.pl)
#   OUT=DIR      where each run's logs go (default tmp_check/repeat-TIME);
#                a failed TAP file's whole server and guard logs in FILE.log.d
#
# Each run: what "make check" runs, one check at a time: every unit test
# binary, the docs, timeline, Kubernetes and layout checks, each TAP file on
# its own through tests/run-tap (as root it runs them as "postgres"), and
# the demo test.  The load is stress-ng --cpu <cores> (Debian's stress-ng;
# a busy loop per core without it), started before a loaded run and ended
# after it by its PID, also on an interrupt.  Prints what failed in each
# run (the file and its "not ok" lines) and a table at the end, with the
# highest 1-minute load average seen at the end of a check of each run
# (other work on the machine counts too); exits 1 when anything failed.
# An interrupt also ends the test running then (its process group); like an
# interrupted "make check", servers that test started may be left running.
set -uo pipefail
set -m # each test in a process group of its own, so that a trap can end it
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
N=${N:-5}
LOAD=${LOAD:-both}
DEMO=${DEMO:-yes}
TESTS=${TESTS:-$(echo tests/tap/*.pl)}
OUT=${OUT:-$top/tmp_check/repeat-$(date -u +%Y%m%dT%H%M%SZ)}
case $N in '' | *[!0-9]* | 0) echo "check-repeat: N must be a positive number, not \"$N\"" >&2; exit 2 ;; esac
case $LOAD in no) loads=no ;; yes) loads=yes ;; both) loads="no yes" ;;
*) echo "check-repeat: LOAD must be yes, no or both, not \"$LOAD\"" >&2; exit 2 ;; esac
export PROVE_FLAGS=${PROVE_FLAGS:--v} # the logs keep every "ok" and "not ok" line
mkdir -p "$OUT"
results=$OUT/results.tsv # run load file rc seconds
: >"$results"
load_pids=()
child=""

# Start the CPU load: a stress-ng worker per core, or a busy loop per core.
start_load() {
    local cores
    cores=$(nproc)
    if command -v stress-ng >/dev/null; then
        stress-ng --cpu "$cores" --quiet >"$OUT/stress-ng.log" 2>&1 &
        load_pids+=($!)
    else
        for _ in $(seq 1 "$cores"); do
            sh -c 'while :; do :; done' &
            load_pids+=($!)
        done
    fi
    echo "check-repeat: load started: ${load_pids[*]} ($(command -v stress-ng >/dev/null && echo "stress-ng --cpu $cores" || echo "$cores busy loops"))"
}

# End the load: SIGTERM to each PID started (stress-ng ends its workers),
# SIGKILL after 5 s.
stop_load() {
    local p
    [ ${#load_pids[@]} -gt 0 ] || return 0
    kill -TERM "${load_pids[@]}" 2>/dev/null
    for p in "${load_pids[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    echo "check-repeat: load stopped: ${load_pids[*]}"
    load_pids=()
}

# Run one check ($1 names it) in the background and wait for it, output to
# $2; returns its exit status.
run_one() {
    local log=$2 rc
    shift 2
    "$@" >"$log" 2>&1 </dev/null &
    child=$!
    wait "$child"
    rc=$?
    child=""
    return $rc
}

interrupted() {
    echo
    echo "check-repeat: interrupted"
    [ -z "$child" ] || kill -TERM -- "-$child" 2>/dev/null
    stop_load
    table
    exit 130
}
trap interrupted INT TERM
trap stop_load EXIT

# What failed, from a log: TAP's "not ok" lines and diagnostics, cmocka's
# FAILED lines; else the log's last lines.  Indented.
failures_of() {
    local lines
    lines=$(grep -E '^\s*(not ok|# +Failed test|# +at |# +got:|# +expected:|# +timed out|# +stopped holding|Bailout|Dubious|\[  (FAILED|ERROR) +\])' "$1" |
        grep -v '# TODO' | awk '!seen[$0]++' | head -n 40)
    [ -n "$lines" ] || lines=$(tail -n 10 "$1")
    printf '%s\n' "$lines" | sed 's/^/      /'
}

# Print the table of the runs so far.
table() {
    [ -s "$results" ] || return 0
    echo
    echo "check-repeat: summary ($OUT)"
    printf '  %-4s %-5s %7s %7s %9s %9s  %s\n' run load passed failed duration "max load1" "failed checks"
    awk -F'\t' '
        { key = $1; if (!(key in load)) { order[++n] = key; load[key] = $2 }
          if ($4 == 0) pass[key]++; else { fail[key]++; names[key] = names[key] " " $3 }
          secs[key] += $5; if ($6 + 0 > la[key]) la[key] = $6 + 0 }
        END { for (i = 1; i <= n; i++) { k = order[i]
                printf "  %-4s %-5s %7d %7d %7d s %9.1f  %s\n", k, load[k], pass[k], fail[k], secs[k], la[k],
                    (fail[k] ? substr(names[k], 2) : "-") } }' "$results"
    awk -F'\t' '$4 != 0 { f++ } END { printf "  %d check(s) failed in all\n", f }' "$results"
    echo "check-repeat: per check (mean seconds idle / under load)"
    printf '  %-32s %5s %7s %6s %6s\n' check runs failed idle load
    awk -F'\t' '
        { if (!($3 in runs)) order[++n] = $3; runs[$3]++; if ($4 != 0) fail[$3]++
          s[$3, $2] += $5; c[$3, $2]++ }
        END { for (i = 1; i <= n; i++) { k = order[i]
                printf "  %-32s %5d %7d %6s %6s\n", k, runs[k], fail[k],
                    c[k, "no"] ? sprintf("%.0f", s[k, "no"] / c[k, "no"]) : "-",
                    c[k, "yes"] ? sprintf("%.0f", s[k, "yes"] / c[k, "yes"]) : "-" } }' "$results"
}

echo "check-repeat: N=$N LOAD=$LOAD DEMO=$DEMO, $(nproc) cores, logs in $OUT"
make -s all $(ls tests/unit/test_*.c | sed 's/\.c$//') || { echo "check-repeat: the build failed" >&2; exit 1; }
demo_rc=0
if [ "$DEMO" = yes ]; then
    t0=$(date +%s)
    run_one demo "$OUT/demo.log" make -s demo || demo_rc=$?
    echo "check-repeat: make demo: $([ $demo_rc -eq 0 ] && echo ok || echo "FAILED (exit $demo_rc, $OUT/demo.log)") in $(($(date +%s) - t0)) s"
    [ $demo_rc -eq 0 ] || tail -n 20 "$OUT/demo.log" | sed 's/^/      /'
fi

run=0
for i in $(seq 1 "$N"); do
    for load in $loads; do
        run=$((run + 1))
        dir=$OUT/run$run
        mkdir -p "$dir"
        echo "check-repeat: run $run (load $load) started $(date -u +%H:%M:%S)"
        [ "$load" = yes ] && start_load
        t_run=$(date +%s)
        failed=()
        checks=()
        for u in tests/unit/test_*.c; do checks+=("unit:${u%.c}"); done
        checks+=(docs-check timeline-check k8s-check layout)
        for t in $TESTS; do checks+=("tap:$t"); done
        checks+=(demo-test)
        for c in "${checks[@]}"; do
            name=${c#*:}
            log=$dir/$(basename "$name").log
            t0=$(date +%s)
            rc=0
            case $c in
            unit:*) run_one "$name" "$log" "./$name" || rc=$? ;;
            docs-check | timeline-check | k8s-check | layout | demo-test)
                run_one "$name" "$log" make -s "$name" || rc=$? ;;
            tap:*)
                # the servers' and the guard's whole logs, kept when the test failed
                DG_TAP_LOGDIR=$log.d run_one "$name" "$log" ./tests/run-tap "$name" || rc=$?
                [ $rc -ne 0 ] || rm -rf "$log.d"
                ;;
            esac
            secs=$(($(date +%s) - t0))
            read -r load1 _ </proc/loadavg
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$load" "$(basename "$name")" "$rc" "$secs" "$load1" >>"$results"
            if [ $rc -ne 0 ]; then
                failed+=("$name")
                echo "    FAIL $name (exit $rc, ${secs} s, $log)"
                failures_of "$log"
            fi
        done
        [ "$load" = yes ] && stop_load
        echo "check-repeat: run $run (load $load): ${#failed[@]} of ${#checks[@]} checks failed in $(($(date +%s) - t_run)) s${failed[*]:+: ${failed[*]}}"
    done
done
table
[ $demo_rc -eq 0 ] || echo "  and make demo failed"
awk -F'\t' '$4 != 0 { exit 1 }' "$results" && [ $demo_rc -eq 0 ]
