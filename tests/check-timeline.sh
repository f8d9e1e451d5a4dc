#!/bin/sh
# demo/timeline on a fixed audit log sample: a guard that watched the stop
# begin, then one started during a shutdown (began, audited twice, with an
# orphan and a torn line), against the expected text; no shutdown exits 1,
# bad usage 2.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$top/demo/timeline" "$top/tests/timeline/audit.sample" >"$tmp/out" 2>"$tmp/err"
diff -u "$top/tests/timeline/expected.txt" "$tmp/out"
grep -q '1 line(s) not whole JSON, skipped' "$tmp/err" || { echo "check-timeline: the torn line is not reported" >&2; exit 1; }
grep -v shutdown_started "$top/tests/timeline/audit.sample" >"$tmp/none"
rc=0; "$top/demo/timeline" "$tmp/none" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { echo "check-timeline: no shutdown: exit $rc, not 1" >&2; exit 1; }
rc=0; "$top/demo/timeline" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || { echo "check-timeline: no argument: exit $rc, not 2" >&2; exit 1; }
echo "check-timeline: demo/timeline draws the sample's two shutdowns as expected"
