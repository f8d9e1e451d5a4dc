#!/bin/bash
# make coverage: line coverage per file of the unit tests and the TAP tests
# (tests/tap, PostgreSQL 15 and Patroni 3) together.
#
# Copies the tree (git's files, committed or not) to a scratch directory,
# builds it there with gcc --coverage at -O0, runs every unit test and the
# TAP files (TESTS, default tests/tap/*.pl) against that build, merges the
# counts with lcov and prints one table: lines, lines run, per cent, and
# the goal (the policy, policy*.c, 95 %, every other module 80 %).  Exits 1
# when a test failed (the table is still printed); a goal missed is
# reported, not an error.  KEEP=1 keeps the scratch directory (its
# coverage.info, for genhtml).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
./tests/deps.sh lcov
TESTS=${TESTS:-$(echo tests/tap/*.pl)}
work=$(mktemp -d /tmp/dg-coverage.XXXXXX)
cleanup() { [ -n "${KEEP:-}" ] && echo "coverage: kept $work" || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
git ls-files -co --exclude-standard -z | tar -C "$top" --null -T - -cf - | tar -C "$work" -xf -
cd "$work"
chmod -R a+rwX "$work" # the daemon writes its counts as "postgres" under TAP
rc=0
make -s clean
make -s all unit CFLAGS="-O0 -g --coverage" LDFLAGS="--coverage" >unit.log 2>&1 || { rc=$?; cat unit.log; }
[ $rc -ne 0 ] || ./tests/run-tap $TESTS || rc=$?
# shellcheck disable=SC2086 # lcov's --rc options
lcov --quiet --capture --directory . --output-file all.info --rc lcov_branch_coverage=0 >/dev/null 2>lcov.err ||
    { cat lcov.err >&2; exit 1; }
lcov --quiet --extract all.info "$work/*.c" --output-file coverage.info >/dev/null
lcov --quiet --remove coverage.info "$work/tests/*" --output-file coverage.info >/dev/null
# Each source file: SF (path), LF (lines), LH (lines run).
awk -v work="$work/" '
    /^SF:/ { f = substr($0, 4); sub(work, "", f) }
    /^LF:/ { lf[f] = substr($0, 4) }
    /^LH:/ { lh[f] = substr($0, 4) }
    END {
        printf "%-14s %6s %6s %7s %6s\n", "file", "lines", "run", "cover", "goal"
        n = 0
        for (f in lf) names[++n] = f
        for (i = 2; i <= n; i++) for (j = i; j > 1 && names[j-1] > names[j]; j--) { t = names[j]; names[j] = names[j-1]; names[j-1] = t }
        for (i = 1; i <= n; i++) {
            f = names[i]; goal = f ~ /^policy.*\.c$/ ? 95 : 80
            pct = lf[f] ? 100 * lh[f] / lf[f] : 100
            tl += lf[f]; th += lh[f]
            printf "%-14s %6d %6d %6.1f%% %5d%% %s\n", f, lf[f], lh[f], pct, goal, (pct >= goal ? "" : "missed")
            if (pct < goal) missed++
        }
        printf "%-14s %6d %6d %6.1f%%\n", "total", tl, th, tl ? 100 * th / tl : 100
        printf "coverage: %d file(s) below their goal\n", missed
    }' coverage.info
[ $rc -eq 0 ] || echo "coverage: a test failed (exit $rc): the figures above miss what it did not run" >&2
exit $rc
