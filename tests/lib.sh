# tests/lib.sh - shell helpers shared by demo/demo.sh and bench/bench.sh.
# Servers refuse to run as root, so as root everything runs as "postgres".

# Run a command as PostgreSQL's user (as root) or as ourselves.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Start a command in the background as PostgreSQL's user, output to $1;
# its PID is appended to the array "pids".
spawn() {
    local log=$1
    shift
    as_pg "$@" >"$log" 2>&1 &
    pids+=($!)
}

# Evaluate the shell condition $1 every 50 ms for up to $2 seconds.
# Returns 1, saying so on stderr, if it never held.
wait_for() {
    local cond=$1 limit=$(($2 * 20))
    for ((i = 0; i < limit; i++)); do
        eval "$cond" && return 0
        sleep 0.05
    done
    echo "timed out after $2 s waiting for: $cond" >&2
    return 1
}
