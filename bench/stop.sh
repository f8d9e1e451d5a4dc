# bench/stop.sh - timed fast stops with and without the guard, shared by
# bench.sh and bench-majors.sh.  Needs $top, $work, $PORT, $PGBIN,
# $DEADLINE_MS, the arrays/variables pids, guard_pid, and tests/lib.sh's
# as_pg, spawn, wait_for and bench/lib.sh (sourced before this file).

stop_consumers() { end_spawned; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# SIGINT to the postmaster, then wait for it to exit.  Prints
# "<epoch ms at signal> <ms until gone>", both with sub-ms precision.
fast_stop() {
    perl -MTime::HiRes=time,sleep -e '
        my ($pid, $file) = @ARGV; my $t0 = time; kill "INT", $pid or die "kill: $!";
        sleep 0.0005 while -e $file && time - $t0 < 120;
        printf "%.3f %.3f\n", $t0 * 1000, (time - $t0) * 1000;' "$1" "$work/pg/postmaster.pid"
}

start_server() {
    as_pg "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w start >/dev/null
}

pm_pid() { head -1 "$work/pg/postmaster.pid"; }

# The guard's shutdown_started time (epoch ms) after a given epoch ms.
started_after() {
    perl -MTime::Local=timegm -ne '
        next unless /"event":"shutdown_started"/;
        /"ts":"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z"/ or next;
        my $ms = timegm($6, $5, $4, $3, $2 - 1, $1) * 1000 + $7;
        $last = $ms if $ms >= '"$1"' - 5;
        END { print defined $last ? "$last\n" : "-\n" }' "$work/audit.log"
}

gn=0
start_guard() {
    gn=$((gn + 1))
    [ -n "$guard_pid" ] && { kill -TERM "$guard_pid"; wait "$guard_pid" 2>/dev/null || true; }
    if [ "$(id -u)" -eq 0 ]; then
        # GUARD_PREFIX: a command to start it under (nice -n -5, chrt -f 1, ionice -c 1);
        # GUARD_RUNAS: how it becomes postgres (setpriv to keep a capability)
        ${GUARD_PREFIX:-nice -n "${GUARD_NICE:-0}"} ${GUARD_RUNAS:-runuser -u postgres --} "$work/demotion-guard" run --dsn "host=$work port=$PORT dbname=postgres user=postgres" \
            --pgdata "$work/pg" --audit-log "$work/audit.log" --log-level debug --listen off "$@" >"$work/guard.$gn.log" 2>&1 &
    else
        "$work/demotion-guard" run --dsn "host=$work port=$PORT dbname=postgres user=postgres" \
            --pgdata "$work/pg" --audit-log "$work/audit.log" --log-level debug --listen off "$@" >"$work/guard.$gn.log" 2>&1 &
    fi
    guard_pid=$!
}
# How often the current guard connected (0 until its log exists: it starts in the background).
connects() {
    local c
    c=$(grep -c '"waiting" -> "observing"' "$work/guard.$gn.log" 2>/dev/null) || true
    echo "${c:-0}"
}

# One timed fast stop with n stale (plus 2 healthy) clients; BEFORE_STOP: a
# function to run just before the signal.  Prints "<stop ms> <detection ms>".
one_stop() {
    local n=$1 before
    before=$(connects)
    start_server
    wait_for "[ \$(connects) -gt $before ]" 20
    start_consumers healthy "${HEALTHY:-2}"
    [ "$n" -gt 0 ] && start_consumers stale "$n"
    make_lag "$n"
    sleep "${SETTLE:-1.2}"
    [ -z "${BEFORE_STOP:-}" ] || "$BEFORE_STOP"
    read -r t0 gone < <(fast_stop "$(pm_pid)")
    stop_consumers
    local seen
    seen=$(started_after "${t0%.*}")
    # audit timestamps are whole milliseconds: report the upper bound
    echo "$gone $(awk -v s="$seen" -v t="$t0" 'BEGIN { if (s == "-") print "-"; else printf "%.1f\n", s + 1 - t }')"
}


# Medians of a space-separated list ("-" entries dropped), and of the overshoot past the deadline.
m() { echo "$1" | tr ' ' '\n' | { grep -v '^-\?$' || true; } | median; }
over() { echo "$1" | tr ' ' '\n' | { grep -v '^$' || true; } | awk -v d=$DEADLINE_MS '{printf "%.1f\n", $1 - d}' | median; }
