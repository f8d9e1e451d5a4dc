# tests/lib.sh - shell helpers shared by demo/demo.sh and bench/bench.sh.
# Servers refuse to run as root, so as root everything runs as "postgres".

# Run a command as PostgreSQL's user (as root) or as ourselves.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Start a command in the background as PostgreSQL's user, output to $1, in
# a process group of its own (setsid); the group's leader, whose PID is
# appended to the array "pids", is the command or (as root) the runuser
# whose child it is.  A backgrounded function (as_pg) would be a subshell
# whose end leaves runuser and the command running: end_spawned ends the
# whole group instead.
spawn() {
    local log=$1
    shift
    if [ "$(id -u)" -eq 0 ]; then
        setsid runuser -u postgres -- "$@" >"$log" 2>&1 &
    else
        setsid "$@" >"$log" 2>&1 &
    fi
    pids+=($!)
}

# Does process group $1 have a process that is not a zombie?
group_alive() {
    ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
}

# End the process groups of spawn's "pids": SIGTERM, up to 5 s for each to
# be gone, then SIGKILL; reaps them and empties "pids".
end_spawned() {
    local p i
    for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for ((i = 0; i < 100; i++)); do
            group_alive "$p" || break
            sleep 0.05
        done
        kill -KILL -- "-$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    pids=()
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
