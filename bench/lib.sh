# bench/lib.sh - what bench.sh and bench-http.sh share: their server and
# its consumers.  Needs $top, $work, $PORT, $PGBIN, and the functions as_pg,
# sql, spawn and wait_for (tests/lib.sh and the script).

# Copy the binaries into $work and create a primary for n walsenders in
# $work/pg, listening on 127.0.0.1:$PORT and a socket in $work.
init_server() {
    local n=$1
    cp "$top/demotion-guard" "$top/tests/tools/logical-consumer" "$work/"
    [ "$(id -u)" -eq 0 ] && chown -R postgres: "$work"
    as_pg "$PGBIN/initdb" -D "$work/pg" -U postgres -A trust >/dev/null
    cat >>"$work/pg/postgresql.conf" <<C
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
wal_level = logical
max_wal_senders = $n
max_replication_slots = $n
max_connections = $((n + 50))
C
}

# Start n consumers of a mode on slots <mode>_1..n and wait until all stream.
start_consumers() {
    local mode=$1 n=$2
    for ((i = 1; i <= n; i++)); do
        rm -f "$work/$mode$i.ready"
        spawn /dev/null "$work/logical-consumer" --dsn "host=127.0.0.1 port=$PORT dbname=postgres user=postgres" \
            --slot "${mode}_$i" --mode "$mode" --create-slot --output /dev/null --ready-file "$work/$mode$i.ready" \
            --reply-delay "${REPLY_DELAY:-1}"
    done
    wait_for "[ \$(ls $work/$mode*.ready 2>/dev/null | wc -l) -ge $n ]" 60
}

# Make every stale client lag: data, then WAL that decodes to nothing.
make_lag() {
    local n=$1
    sql "INSERT INTO t SELECT generate_series(1, 10)"
    sql "CHECKPOINT"
    [ "$n" -eq 0 ] && return 0
    wait_for "[ \"\$(sql \"SELECT count(*) FROM pg_stat_replication WHERE sent_lsn > flush_lsn AND application_name LIKE '%stale'\")\" -ge $n ]" 30
}
