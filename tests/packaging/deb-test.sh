#!/bin/bash
# deb-test.sh DEB - install the Debian package with apt-get, check what it
# ships (binary, man page, conffile, unit neither enabled nor started, the
# audit log's directory), verify the unit (systemd-analyze verify and
# security), run the installed daemon with the packaged configuration
# against a throw-away PostgreSQL 15 server on a unix socket (HTTP on
# loopback) under strace, with a stale logical consumer (the test client in
# tests/tools) holding a fast shutdown up until the daemon ends its
# walsender at the deadline, stop the daemon, check the syscalls it made
# are allowed by the unit's SystemCallFilter, then remove and purge the
# package and check nothing is left.  As root; every wait is bounded;
# whatever it started or installed is undone, also on failure.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: deb-test.sh DEB" >&2; exit 2; }
deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ "$(id -u)" -eq 0 ] || { echo "deb-test: needs root (apt-get, a server run as postgres)" >&2; exit 1; }
"$top/tests/packaging/deps.sh"

pgbin=/usr/lib/postgresql/15/bin
unit=/lib/systemd/system/demotion-guard.service
conf=/etc/demotion-guard/demotion-guard.conf
started=$(date +%s%N)
tmp=""
tracer=""
guard=""
consumer=""
installed=false

# Print a step, with the seconds since the start.
step() {
    echo "deb-test: [$(( ($(date +%s%N) - started) / 1000000 )) ms] $*"
}

# Stop with a message; the EXIT trap cleans up.
fail() {
    echo "deb-test: FAIL: $*" >&2
    [ -n "$tmp" ] && [ -f "$tmp/guard.log" ] && sed 's/^/  guard: /' "$tmp/guard.log" | tail -n 30 >&2
    exit 1
}

# Undo everything: the daemon, the consumer, the server, the package, the files.
cleanup() {
    [ -z "$consumer" ] || kill -TERM "$consumer" 2>/dev/null || true
    if [ -n "$tracer" ] && kill -0 "$tracer" 2>/dev/null; then
        # strace -o ignores SIGTERM and ends with its tracee: stop the daemon.
        [ -n "$guard" ] || guard=$(tracee)
        [ -z "$guard" ] || kill -TERM "$guard" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$tracer" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$tracer" 2>/dev/null || true
        [ -z "$guard" ] || kill -TERM "$guard" 2>/dev/null || true
        wait "$tracer" 2>/dev/null || true
    fi
    if [ -n "$tmp" ] && [ -f "$tmp/data/postmaster.pid" ]; then
        runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/data" -m immediate -w -t 20 stop \
            >/dev/null 2>&1 || true
    fi
    if $installed; then
        DEBIAN_FRONTEND=noninteractive timeout 120 apt-get purge -y -q demotion-guard \
            >/dev/null 2>&1 || true
    fi
    [ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The process strace runs (the daemon), or nothing yet.
tracee() {
    cut -d' ' -f1 "/proc/$tracer/task/$tracer/children" 2>/dev/null || true
}

# A TCP port nobody listens on, from a range tests elsewhere do not use.
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((30000 + RANDOM % 20000))
        ss -Htan "( sport = :$p or dport = :$p )" | grep -q . || { echo "$p"; return; }
    done
    fail "no free port found"
}

# Wait up to $1 tenths of a second for the command after it to succeed.
wait_for() {
    local n=$1
    shift
    for _ in $(seq 1 "$n"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# SQL on the throw-away server, as postgres; prints the result unaligned.
sql() {
    runuser -u postgres -- timeout 20 "$pgbin/psql" -X -q -tA -h "$tmp" -p "$pgport" -d postgres \
        -c "$1"
}

make -s -C "$top" tests/tools/logical-consumer
status=$(dpkg-query -W -f='${db:Status-Abbrev}' demotion-guard 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = "un " ] ||
    fail "demotion-guard is already on this machine (status \"$status\"); purge it first"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dg-debtest.XXXXXX")
chmod 0755 "$tmp"
chown postgres: "$tmp" # initdb and the server socket

step "installing $(basename "$deb")"
installed=true
DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q "$deb" >"$tmp/apt.log" 2>&1 ||
    { cat "$tmp/apt.log" >&2; fail "apt-get install failed"; }
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' demotion-guard)" = "ii " ] || fail "not installed"

step "what it ships"
version=$(/usr/bin/demotion-guard --version)
echo "  $version"
[[ $version =~ ^demotion-guard\ [^\ ]+\ \(libpq\ 1[0-9]\.[0-9]+,\ libmicrohttpd\ [0-9.]+,\ jansson\ [0-9.]+,\ libcurl\ [0-9.]+(,\ systemd\ notify)?\)$ ]] ||
    fail "unexpected --version: $version"
[ "$(man -w demotion-guard)" = /usr/share/man/man8/demotion-guard.8.gz ] || fail "man -w: $(man -w demotion-guard)"
warn=$(MANWIDTH=80 man --warnings demotion-guard 2>&1 >/dev/null)
[ -z "$warn" ] || fail "man warns: $warn"
dpkg-query -W -f='${Conffiles}\n' demotion-guard | grep -q "^ $conf " || fail "$conf is not a conffile"
dpkg-query -W -f='${Conffiles}\n' demotion-guard | grep -q "^ /etc/logrotate.d/demotion-guard " ||
    fail "the logrotate file is not a conffile"
[ -f "$unit" ] || fail "no $unit"
grep -qx 'User=postgres' "$unit" || fail "the unit does not run as postgres"
want=simple
[[ $version == *"systemd notify"* ]] && want=notify
grep -qx "Type=$want" "$unit" || fail "the unit's Type is not $want, as the binary was built"
[ ! -e /etc/systemd/system/multi-user.target.wants/demotion-guard.service ] || fail "the unit is enabled"
[ "$(systemctl is-enabled demotion-guard.service 2>&1 || true)" = disabled ] || fail "the unit is not disabled"
[ "$(stat -c '%U %a' /var/log/demotion-guard)" = "postgres 750" ] ||
    fail "/var/log/demotion-guard is $(stat -c '%U %a' /var/log/demotion-guard), not postgres 750"

step "systemd-analyze verify and security"
out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
score=$(systemd-analyze security --offline=true "$unit" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
echo "  systemd-analyze security: $score"
[ -n "$score" ] || fail "no score from systemd-analyze security"
awk -v s="${score%% *}" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure $score is above 2.0"

step "a throw-away PostgreSQL 15 server"
pgport=$(free_port)
hport=$(free_port)
runuser -u postgres -- "$pgbin/initdb" -D "$tmp/data" -A trust -U postgres --no-sync \
    >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; fail "initdb failed"; }
cat >>"$tmp/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$tmp'
port = $pgport
fsync = off
wal_level = logical
EOF
runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/data" -l "$tmp/pg.log" -w -t 30 start >/dev/null ||
    { cat "$tmp/pg.log" >&2; fail "the server did not start"; }

step "the installed daemon, with $conf, under strace"
env -i PATH=/usr/bin:/bin HOME=/var/lib/postgresql LANG=C.UTF-8 \
    strace -f -qq -o "$tmp/strace.txt" -u postgres \
    /usr/bin/demotion-guard run --config "$conf" --dsn "host=$tmp port=$pgport dbname=postgres" \
    --pgdata "$tmp/data" --listen "127.0.0.1:$hport" --poll-interval 200ms --deadline 1s \
    >"$tmp/guard.log" 2>&1 &
tracer=$!
for _ in $(seq 1 100); do
    guard=$(tracee)
    [ -z "$guard" ] || break
    sleep 0.1
done
[ -n "$guard" ] || fail "the daemon did not start"
[ "$(stat -c %U "/proc/$guard")" = postgres ] || fail "the daemon does not run as postgres"
url=http://127.0.0.1:$hport
wait_for 150 curl -fsS -m 2 "$url/health" || fail "GET /health did not answer 200 within 15 s"
wait_for 150 curl -fsS -m 2 "$url/ready" || fail "GET /ready did not answer 200 within 15 s"
wait_for 100 sh -c "/usr/bin/demotion-guard status --url $url --timeout 2s | grep -q observing" ||
    fail "demotion-guard status does not say observing: $(/usr/bin/demotion-guard status --url "$url" 2>&1)"
/usr/bin/demotion-guard status --url "$url" | sed -n '1,3s/^/  /p'

step "a stale logical consumer"
cp "$top/tests/tools/logical-consumer" "$tmp/"
"$tmp/logical-consumer" --dsn "host=$tmp port=$pgport dbname=postgres user=postgres" \
    --slot deb_test --mode stale --create-slot --output "$tmp/stale.out" \
    --ready-file "$tmp/stale.ready" >"$tmp/stale.log" 2>&1 &
consumer=$!
wait_for 200 test -s "$tmp/stale.ready" || fail "the consumer did not start: $(cat "$tmp/stale.log")"
# A row it receives, then WAL that decodes to nothing: it confirms less than was sent.
sql "CREATE TABLE t (x text); INSERT INTO t VALUES ('deb-test-row')" >/dev/null
wait_for 200 grep -q deb-test-row "$tmp/stale.out" || fail "the consumer did not receive the row"
sql "CHECKPOINT" >/dev/null
behind() {
    [ "$(sql 'SELECT bool_or(sent_lsn > flush_lsn) FROM pg_stat_replication')" = t ]
}
wait_for 200 behind || fail "the consumer never fell behind"

step "a fast shutdown, held up by the consumer, ended by the daemon at the deadline (1 s)"
t0=$(date +%s%N)
runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/data" -m fast -w -t 30 stop >/dev/null ||
    fail "the server did not stop within 30 s"
echo "  the fast stop took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
audit=/var/log/demotion-guard/audit.jsonl
wait_for 150 grep -q '"event":"shutdown_completed"' "$audit" ||
    fail "no shutdown_completed in $audit: $(cat "$audit" 2>&1)"
grep '"event":"terminated"' "$audit" | grep '"slot":"deb_test"' | grep -q '"reason":"deadline"' ||
    fail "the consumer's walsender was not audited as terminated at the deadline"
for _ in $(seq 1 100); do kill -0 "$consumer" 2>/dev/null || break; sleep 0.1; done
kill -0 "$consumer" 2>/dev/null && fail "the consumer is still running"
rc=0
wait "$consumer" || rc=$?
consumer=""
[ "$rc" -eq 0 ] || fail "the consumer exited with status $rc (0: its walsender was ended)"
[ "$(stat -c '%U %a' "$audit")" = "postgres 640" ] || fail "$audit is $(stat -c '%U %a' "$audit")"
sed 's/^/  audit: /' "$audit"

step "SIGTERM"
kill -TERM "$guard"
for _ in $(seq 1 100); do kill -0 "$tracer" 2>/dev/null || break; sleep 0.1; done
kill -0 "$tracer" 2>/dev/null && fail "the daemon did not exit within 10 s of SIGTERM"
rc=0
wait "$tracer" || rc=$?
tracer=""
[ "$rc" -eq 0 ] || fail "the daemon exited with status $rc after SIGTERM"
grep -q 'info: stopped$' "$tmp/guard.log" || fail "the daemon did not log \"stopped\""

step "the syscalls it made against the unit's SystemCallFilter"
# The members of a systemd syscall group, its nested groups expanded.
expand() {
    systemd-analyze syscall-filter "$1" | sed -n '/^@/,$p' | tail -n +2 | sed 's/^ *//' |
        grep -v -e '^#' -e '^$' | while read -r s; do
        case $s in @*) expand "$s" ;; *) echo "$s" ;; esac
    done
}
# A group's members, or a syscall's own name.
members() { for g in "$@"; do case $g in @*) expand "$g" ;; *) echo "$g" ;; esac; done; }
# The unit's lines in order, as systemd reads them: an allow list, then
# "~" lines take from it and later plain lines give back.
: >"$tmp/allowed"
while read -r list; do
    case $list in
    "~"*) members ${list#\~} | sort -u >"$tmp/denied"
        comm -23 "$tmp/allowed" "$tmp/denied" >"$tmp/allowed.new" ;;
    *) { cat "$tmp/allowed"; members $list; } | sort -u >"$tmp/allowed.new" ;;
    esac
    mv "$tmp/allowed.new" "$tmp/allowed"
done < <(sed -n 's/^SystemCallFilter=//p' "$unit")
sed -n 's/^[0-9]\+ \+\([a-z0-9_]\+\)(.*/\1/p' "$tmp/strace.txt" | sort -u >"$tmp/used"
[ "$(wc -l <"$tmp/used")" -gt 20 ] || fail "strace saw too few syscalls"
bad=$(comm -23 "$tmp/used" "$tmp/allowed" | tr '\n' ' ')
[ -z "$bad" ] || fail "syscalls outside the unit's SystemCallFilter: $bad"
grep -qx -e pidfd_send_signal -e kill "$tmp/used" || fail "strace did not see the SIGTERM it sent"
echo "  $(wc -l <"$tmp/used") distinct syscalls, all allowed"

step "apt-get remove: the configuration stays"
DEBIAN_FRONTEND=noninteractive timeout 120 apt-get remove -y -q demotion-guard >"$tmp/apt.log" 2>&1 ||
    { cat "$tmp/apt.log" >&2; fail "apt-get remove failed"; }
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' demotion-guard)" = "rc " ] || fail "not in config-files state"
[ ! -e /usr/bin/demotion-guard ] || fail "remove left /usr/bin/demotion-guard"
[ -f "$conf" ] || fail "remove took $conf away"

step "apt-get purge: nothing left"
DEBIAN_FRONTEND=noninteractive timeout 120 apt-get purge -y -q demotion-guard >"$tmp/apt.log" 2>&1 ||
    { cat "$tmp/apt.log" >&2; fail "apt-get purge failed"; }
installed=false
status=$(dpkg-query -W -f='${db:Status-Abbrev}' demotion-guard 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = "un " ] || fail "still known to dpkg after purge: \"$status\""
for f in /usr/bin/demotion-guard /etc/demotion-guard /etc/logrotate.d/demotion-guard "$unit" \
    /usr/share/man/man8/demotion-guard.8.gz /usr/share/doc/demotion-guard /var/log/demotion-guard \
    /etc/systemd/system/multi-user.target.wants/demotion-guard.service \
    /var/lib/systemd/deb-systemd-helper-enabled/demotion-guard.service.dsh-also; do
    [ ! -e "$f" ] || fail "purge left $f"
done
step "passed"
