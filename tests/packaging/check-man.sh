#!/bin/sh
# The man page and the sample configuration against the code (called by
# tests/check-docs.sh, so by make check):
#  - every --option that a --help prints (run, the clients, the hooks) is in
#    doc/demotion-guard.8, and every option of "run" has its
#    DEMOTION_GUARD_<NAME> there and a "name =" line in
#    packaging/demotion-guard.conf;
#  - every HTTP route of api.c's table and every audit event of the README
#    is in the man page;
#  - groff and man render it without a warning;
#  - the sample configuration, with every example line uncommented, is
#    accepted by "demotion-guard run" (which exits 2 on a bad value).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$top/demotion-guard
man=$top/doc/demotion-guard.8
conf=$top/packaging/demotion-guard.conf
failed=0

# Say what is wrong and remember it.
fail() {
    echo "check-man: $*" >&2
    failed=$((failed + 1))
}

# Is the literal string $1 in file $2?
has() {
    grep -qF -- "$1" "$2"
}

# Is the literal line $1 in file $2?
has_line() {
    grep -qxF -- "$1" "$2"
}

run_opts=$("$bin" --help | sed -n 's/^  --\([a-z-]*\).*/\1/p')
[ -n "$run_opts" ] || { echo "check-man: no options in --help" >&2; exit 1; }
all_opts=$(
    {
        "$bin" --help
        for c in status check arm disarm kill; do "$bin" "$c" --help; done
        "$bin" hook --help 2>&1 || true
    } | grep -o -- '--[a-z][a-z-]*' | sed 's/^--//' | sort -u
)
for o in $all_opts; do
    has "\\-\\-$(printf '%s' "$o" | sed 's/-/\\-/g')" "$man" || fail "the man page lacks --$o"
done
for o in $run_opts; do
    env=DEMOTION_GUARD_$(printf '%s' "$o" | tr 'a-z-' 'A-Z_')
    has "$env" "$man" || fail "the man page lacks $env"
    [ "$o" = config ] && continue
    grep -Eq "^(# )?$o = " "$conf" || fail "packaging/demotion-guard.conf lacks \"$o = \""
done

routes=$(sed -n 's/^ *{"\(\/[a-z0-9/]*\)", "\([A-Z]*\)", R_.*/\2 \1/p' "$top/api.c")
[ -n "$routes" ] || fail "no routes found in api.c"
printf '%s\n' "$routes" | while IFS= read -r r; do
    has_line ".B $r" "$man" || { echo "check-man: the man page lacks the route $r" >&2; exit 1; }
done || failed=$((failed + 1))

events=$(sed -n '/^## Audit log/,/^## /s/^| `\([a-z_]*\)` |.*/\1/p' "$top/README.md")
[ -n "$events" ] || fail "no audit events found in README.md"
for e in $events patroni_callback; do
    has_line ".B $e" "$man" || fail "the man page lacks the audit event $e"
done

warn=$(groff -man -ww -z "$man" 2>&1) || fail "groff failed on the man page"
[ -z "$warn" ] || fail "groff warns: $warn"
warn=$(MANWIDTH=80 man --warnings -l "$man" 2>&1 >/dev/null) || fail "man -l failed"
[ -z "$warn" ] || fail "man warns: $warn"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dg-check-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf 'secret\n' >"$tmp/token"
chmod 0600 "$tmp/token"
sed -e 's/^# \([a-z-]* = \)/\1/' -e "s|^token-file = .*|token-file = $tmp/token|" \
    -e 's/^\(tls-[a-z-]*\) = .*/\1 = /' "$conf" >"$tmp/all.conf" # no certificate here: TAP 031
# A refused configuration exits 2 at once.  An accepted one runs: once its
# loop has tried the (absent) server it handles SIGTERM and exits 0.  A
# SIGTERM before that would find it still setting up its signals.
env -i PATH="$PATH" "$bin" run --config "$tmp/all.conf" \
    --dsn "host=$tmp/none" --pgdata "$tmp" --listen off --audit-log "" >"$tmp/log" 2>&1 &
pid=$!
i=0
while kill -0 "$pid" 2>/dev/null && ! grep -q 'could not connect to PostgreSQL' "$tmp/log" && [ "$i" -lt 400 ]; do
    sleep 0.05
    i=$((i + 1))
done
kill -TERM "$pid" 2>/dev/null || true
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { fail "the sample configuration, uncommented, is refused (exit $rc):"; cat "$tmp/log" >&2; }

[ "$failed" -eq 0 ] || exit 1
echo "check-man: doc/demotion-guard.8 documents all $(echo "$all_opts" | wc -w) options," \
    "$(echo "$routes" | wc -l) routes and $(echo "$events" | wc -w) audit events; renders" \
    "without warnings; packaging/demotion-guard.conf lists every option and is accepted"
