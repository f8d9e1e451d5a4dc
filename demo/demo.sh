#!/bin/bash
# make demo: the hang, then the guard ending it, on throw-away servers.
#
# A PostgreSQL 15 primary with a physical standby, a logical consumer that
# confirms like pgjdbc < 42.7 ("stale"), and pg_recvlogical as a healthy
# control.  First a fast stop without the guard (it hangs; we give it 5 s),
# then the same stop with the guard (it ends at the deadline).  Everything
# runs as the "postgres" user when started as root, and is removed on exit,
# also when interrupted.
set -euo pipefail

PGBIN=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
top=$(cd "$(dirname "$0")/.." && pwd)
PORT=${DEMO_PORT:-55490}
DEADLINE=${DEMO_DEADLINE:-3s}
work=$(mktemp -d /tmp/dg-demo.XXXXXX)
pids=()

. "$top/tests/lib.sh"
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
sql() { as_pg "$PGBIN/psql" -X -h "$work" -p "$PORT" -U postgres -d postgres -qAt -c "$1"; }
now_ms() { date +%s%3N; }

# Ends what the demo started, also when interrupted: the guard and the
# consumers (each in a process group of its own, with its runuser), then the
# servers; nothing of it is left running when the directory goes.
cleanup() {
    set +e
    end_spawned
    for d in standby primary; do
        [ -f "$work/$d/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$work/$d" -m immediate -t 30 stop >/dev/null 2>&1
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "interrupted; cleaning up"; exit 130' INT TERM HUP

[ -x "$PGBIN/postgres" ] || { echo "demo: PostgreSQL 15 not found in $PGBIN (make deps)" >&2; exit 1; }
cp "$top/demotion-guard" "$top/tests/tools/logical-consumer" "$work/"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$work"

start_stale() {
    rm -f "$work/stale.ready"
    spawn "$work/stale.log" "$work/logical-consumer" --dsn "host=127.0.0.1 port=$PORT dbname=postgres user=postgres" \
        --slot demo_stale --mode stale --create-slot --output "$work/stale.out" --ready-file "$work/stale.ready"
    wait_for "[ -s '$work/stale.ready' ]" 20 || { echo "stale consumer did not start" >&2; exit 1; }
}

make_lag() {
    sql "INSERT INTO orders(item) SELECT 'item ' || g FROM generate_series(1, $1) g"
    sql "CHECKPOINT"
    wait_for "[ \"\$(sql \"SELECT sent_lsn > flush_lsn FROM pg_stat_replication WHERE application_name = 'logical-consumer-stale'\")\" = t ]" 20
}

bold "setting up a primary (port $PORT), a physical standby and two logical consumers in $work"
as_pg "$PGBIN/initdb" -D "$work/primary" -U postgres -A trust >/dev/null
cat >>"$work/primary/postgresql.conf" <<C
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
wal_level = logical
cluster_name = 'demo'
C
echo "host replication all 127.0.0.1/32 trust" >>"$work/primary/pg_hba.conf"
as_pg "$PGBIN/pg_ctl" -D "$work/primary" -l "$work/primary.log" -w start >/dev/null
as_pg "$PGBIN/pg_basebackup" -D "$work/standby" -h "$work" -p "$PORT" -U postgres -R -C -S standby >/dev/null
printf "port = %d\nlisten_addresses = ''\n" $((PORT + 1)) >>"$work/standby/postgresql.conf"
as_pg "$PGBIN/pg_ctl" -D "$work/standby" -l "$work/standby.log" -w start >/dev/null
sql "CREATE TABLE orders (id serial PRIMARY KEY, item text)"
as_pg "$PGBIN/pg_recvlogical" -h "$work" -p "$PORT" -U postgres -d postgres -S demo_recv --create-slot
spawn "$work/recv.log" "$PGBIN/pg_recvlogical" -h "$work" -p "$PORT" -U postgres -d postgres -S demo_recv \
    --start -s 1 -f "$work/recv.out"
start_stale
make_lag 5
say "pg_stat_replication:"
as_pg "$PGBIN/psql" -X -h "$work" -p "$PORT" -U postgres -d postgres -c \
    "SELECT pid, application_name, sent_lsn, write_lsn, flush_lsn FROM pg_stat_replication ORDER BY 1" | sed 's/^/   /'
say "the stale consumer confirmed less than was sent (like pgjdbc before 42.7.0)."

bold "act 1: a fast stop WITHOUT the guard"
t0=$(now_ms)
if as_pg "$PGBIN/pg_ctl" -D "$work/primary" -m fast -t 5 stop >/dev/null 2>&1; then
    echo "unexpected: the stop finished without help" >&2
    exit 1
fi
say "after $(( ($(now_ms) - t0) / 1000 )) s pg_ctl gave up: \"server does not shut down\""
say "postmaster.pid line 8: \"$(sed -n 8p "$work/primary/postmaster.pid" | tr -d ' ')\""
say "what still runs:"
ps -o pid=,args= --ppid "$(head -1 "$work/primary/postmaster.pid")" | sed 's/^/     /'
say "this is where Patroni's demotion hangs: no timeout anywhere stops the wait."
stuck=$(cat "$work/stale.ready")
say "ending it by hand for now: kill -TERM $stuck (the stale walsender)"
kill -TERM "$stuck"
wait_for "[ ! -f '$work/primary/postmaster.pid' ]" 10
say "the server stopped $(( $(now_ms) - t0 )) ms after the stop began."

bold "act 2: the same stop WITH the guard (--deadline $DEADLINE)"
as_pg "$PGBIN/pg_ctl" -D "$work/primary" -l "$work/primary.log" -w start >/dev/null
confirmed_before=$(sql "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'demo_stale'")
spawn "$work/guard.log" "$work/demotion-guard" run --dsn "host=$work port=$PORT dbname=postgres user=postgres" \
    --pgdata "$work/primary" --deadline "$DEADLINE" --stall-after 1h --audit-log "$work/audit.log" \
    --listen "unix:$work/guard.sock"
wait_for "grep -q '\"observing\"' '$work/guard.log'" 20
start_stale
make_lag 5
# The guard polls every second: wait until it shows the stale consumer.
wait_for "as_pg '$work/demotion-guard' status --url 'unix:$work/guard.sock' 2>/dev/null | grep -q ' demo_stale '" 20 ||
    { echo "the guard does not show the stale consumer" >&2; exit 1; }
confirmed_before=$(sql "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'demo_stale'")
say "what the guard sees before the stop (demotion-guard status, over its unix socket):"
as_pg "$work/demotion-guard" status --url "unix:$work/guard.sock" | sed 's/^/     /'
t0=$(now_ms)
as_pg "$PGBIN/pg_ctl" -D "$work/primary" -m fast -t 30 stop >/dev/null
t1=$(now_ms)
# pg_ctl returns when postmaster.pid is gone; the guard audits a moment later.
wait_for "grep -q '\"event\":\"shutdown_completed\"' '$work/audit.log' 2>/dev/null" 10 ||
    { echo "the guard did not audit the end of the shutdown" >&2; exit 1; }
took=$(grep -o '"event":"shutdown_completed","duration_ms":[0-9]*' "$work/audit.log" | grep -o '[0-9]*$')
say "pg_ctl returned after $((t1 - t0)) ms (it checks every 100 ms); the guard measured ${took} ms"
say "from \"stopping\" to the postmaster's exit, with a deadline of $DEADLINE."
say "the guard's log:"
grep -E 'state|terminat' "$work/guard.log" | grep -v audit: | sed 's/^/     /'
say "the audit log ($work/audit.log):"
sed 's/^/     /' "$work/audit.log"

bold "nothing was lost"
as_pg "$PGBIN/pg_ctl" -D "$work/primary" -l "$work/primary.log" -w start >/dev/null
after=$(sql "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'demo_stale'")
say "slot demo_stale confirmed_flush_lsn: before the stop $confirmed_before, after the restart $after"
[ "$confirmed_before" = "$after" ] || { echo "slot moved!" >&2; exit 1; }
say "the stale consumer resumes from there: the slot was never touched."
wait_for "[ \$(grep -c 'INSERT' '$work/recv.out' 2>/dev/null || echo 0) -ge 10 ]" 20 &&
    say "pg_recvlogical (healthy control, never terminated) received all $(grep -c INSERT "$work/recv.out") inserted rows."
standby_sql() { as_pg "$PGBIN/psql" -X -h "$work" -p $((PORT + 1)) -U postgres -d postgres -qAt -c "$1"; }
wait_for "[ \"\$(standby_sql 'SELECT status FROM pg_stat_wal_receiver')\" = streaming ]" 20 || true
say "the standby is $(standby_sql 'SELECT status FROM pg_stat_wal_receiver') again and has all $(standby_sql 'SELECT count(*) FROM orders') rows (its walsender was never touched)."

bold "what it means"
say "shutdown_started: the guard saw postmaster.pid turn \"stopping\" on its own (no hook)."
say "terminated: at the deadline it sent SIGTERM to the one walsender still holding the"
say "  shutdown up, after proving it is this postmaster's walsender (parent, start time, title)."
say "the physical standby and pg_recvlogical confirmed everything and left by themselves."
say "shutdown_completed: the stop took the deadline plus a few milliseconds, not forever."
bold "the stop, from the audit log (demo/timeline)" && "$top/demo/timeline" "$work/audit.log" | sed "s/^/   /"
