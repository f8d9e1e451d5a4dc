#!/bin/bash
# fuzz/run.sh TARGET... - run each libFuzzer target (built by "make
# fuzz-build" into fuzz/build) for FUZZ_SECONDS (default 60): first every
# file of fuzz/TARGET/crashers/ and fuzz/TARGET/corpus/ once (a crasher
# kept in the tree must stay mended), then fuzzing from the seed corpus.
# New inputs go to fuzz/build/corpus/TARGET (not the tree), a crash to
# fuzz/build/crash/TARGET-*.  Prints one line a target and a total; exits 1
# on any crash, leak or sanitizer report.  FUZZ_JOBS=N runs N targets at a
# time; FUZZ_REPORT=FILE appends the table rows (FUZZING.md) to FILE;
# FUZZ_BUILD=DIR takes the binaries from DIR and writes there (default
# fuzz/build), so that a long run can go on while fuzz/build is rebuilt.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
build=${FUZZ_BUILD:-fuzz/build}
out=$build/log
mkdir -p "$out" "$build"/crash

run_one() {
    local t=$1 bin=$build/$1 log=$out/$1.log work=$build/corpus/$1 files=()
    mkdir -p "$work"
    for f in fuzz/"$t"/crashers/* fuzz/"$t"/corpus/*; do
        [ -f "$f" ] && [ "${f##*/}" != README ] && files+=("$f")
    done
    if [ ${#files[@]} -gt 0 ] && ! "$bin" -runs=1 "${files[@]}" >"$log.replay" 2>&1; then
        echo "fuzz: $t: a kept input fails again (see $log.replay)"
        return 1
    fi
    local s=$SECONDS
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$build"/crash/"$t"- \
        "$work" fuzz/"$t"/corpus >"$log" 2>&1
    local rc=$? took=$((SECONDS - s))
    local execs corpus crashes=0
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    corpus=$(find "$work" fuzz/"$t"/corpus -type f | wc -l)
    [ $rc -ne 0 ] && crashes=$(find "$build"/crash -name "$t-*" | wc -l) && [ "$crashes" -eq 0 ] && crashes=1
    printf '| %-14s | %6s | %12s | %7s | %7s |\n' "$t" "$took" "${execs:-?}" "$corpus" "$crashes"
    [ -n "${FUZZ_REPORT:-}" ] &&
        printf '| %s | %s | %s | %s | %s |\n' "$t" "$took" "${execs:-?}" "$corpus" "$crashes" >>"$FUZZ_REPORT"
    if [ $rc -ne 0 ]; then
        echo "fuzz: $t FAILED (exit $rc); the report:"
        grep -A30 -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|deadly signal' "$log" | head -40
        return 1
    fi
}

printf '| %-14s | %6s | %12s | %7s | %7s |\n' target seconds executions corpus crashes
fail=0
t0=$SECONDS
if [ "$jobs" -le 1 ]; then
    for t in "$@"; do run_one "$t" || fail=1; done
else
    pids=()
    for t in "$@"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || fail=1; done
        run_one "$t" &
    done
    while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || fail=1; done
fi
echo "fuzz: $# targets, $((SECONDS - t0)) s wall, $( [ $fail -eq 0 ] && echo "no crashes" || echo FAILED)"
exit $fail
