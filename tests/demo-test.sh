#!/bin/bash
# demo-test.sh - "make demo-test": make demo (demo/demo.sh) ends everything
# it started: once run to its end, once interrupted in act 2 while the
# guard, the consumers and both servers run, by SIGINT to the demo's own
# process only (as kill or a supervisor sends it; Ctrl-C in a terminal
# reaches the whole process group, whose runusers would pass it on), so
# that its trap must end everything itself.  After each, no process may be left whose
# command line or working directory names the demo's directory.  Every
# wait is bounded.  DEMO_TEST_PORT: the first of the two runs' ports.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# Above the ephemeral range (32768-60999, where a client socket can hold a
# port) and the TAP framework's (10200-32767).
PORT=${DEMO_TEST_PORT:-61494}
out=$(mktemp /tmp/dg-demo-test.XXXXXX)
demo_pid=
failed=0
passed=0

cleanup() {
    set +e
    [ -n "$demo_pid" ] && kill -TERM -- "-$demo_pid" 2>/dev/null
    rm -f "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Processes whose command line or working directory names directory $1
# ("PID command line"), this test's own excepted.
left_in() {
    local p args
    {
        grep -lsaF -- "$1" /proc/[0-9]*/cmdline || true
        ls -l /proc/[0-9]*/cwd 2>/dev/null | grep -F -- "$1" |
            sed -n 's|.* \(/proc/[0-9]*\)/cwd -> .*|\1/cmdline|p' || true
    } | sed -n 's|^/proc/\([0-9]*\)/cmdline$|\1|p' | sort -u | while read -r p; do
        [ "$p" = $$ ] && continue
        args=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null || true)
        [ -n "$args" ] && echo "$p $args" # gone by now (the grep itself): not left
    done
    return 0
}

# Runs the demo on port $1 in a process group of its own, output to $out.
# A background job of a script starts with SIGINT ignored, which its bash
# could not trap then: perl sets it back to the default first, as a
# terminal's foreground job has it.
start_demo() {
    : >"$out"
    DEMO_PORT=$1 setsid perl -e '$SIG{INT} = $SIG{QUIT} = "DEFAULT"; exec @ARGV or die "exec: $!"' \
        "$top/demo/demo.sh" >"$out" 2>&1 </dev/null &
    demo_pid=$!
}
# Waits up to $1 s for the demo to exit; its status in $rc.
wait_demo() {
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        kill -0 "$demo_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$demo_pid" 2>/dev/null; then
        echo "demo-test: the demo did not end within $1 s" >&2
        return 1
    fi
    rc=0
    wait "$demo_pid" || rc=$?
    demo_pid=
}
check_left() {
    local dir what
    dir=$(grep -o '/tmp/dg-demo\.[A-Za-z0-9]*' "$out" | head -n 1)
    [ -n "$dir" ] || { echo "not ok - $1: the demo's output names no directory"; failed=$((failed + 1)); return; }
    # the cleanup has returned once the demo exited; allow 2 s for exits to settle
    for _ in $(seq 20); do [ -z "$(left_in "$dir")" ] && break; sleep 0.1; done
    what=$(left_in "$dir")
    if [ -z "$what" ] && [ ! -e "$dir" ]; then
        echo "ok - $1: nothing of $dir is left running, and it is gone"
        passed=$((passed + 1))
    else
        echo "not ok - $1: left behind in $dir:"
        echo "${what:-(no process, but the directory is still there)}" | sed 's/^/    /'
        failed=$((failed + 1))
        [ -z "$what" ] || kill -TERM $(echo "$what" | cut -d' ' -f1) 2>/dev/null || true
    fi
}

start_demo "$PORT"
if wait_demo 300 && [ "$rc" -eq 0 ]; then
    echo "ok - the demo ran to its end"
    passed=$((passed + 1))
else
    echo "not ok - the demo failed (status ${rc:-?}); its output:"
    sed 's/^/    /' "$out"
    failed=$((failed + 1))
fi
check_left "a whole run"

start_demo $((PORT + 2))
for _ in $(seq 1200); do
    grep -q 'what the guard sees before the stop' "$out" && break
    kill -0 "$demo_pid" 2>/dev/null || break
    sleep 0.1
done
if grep -q 'what the guard sees before the stop' "$out"; then
    kill -INT "$demo_pid"
    # What must hold is the exit status and, below, that nothing is left; its
    # "interrupted; cleaning up" line was once missing with both right (CI,
    # 2026-12-02), so it is reported, not required.
    if wait_demo 60 && [ "$rc" -eq 130 ]; then
        grep -q 'interrupted; cleaning up' "$out" ||
            echo "# the demo exited 130 without its \"interrupted; cleaning up\" line"
        echo "ok - interrupted in act 2 (SIGINT to its PID), the demo exited 130"
        passed=$((passed + 1))
    else
        echo "not ok - the interrupted demo: status ${rc:-?}; its output:"
        sed 's/^/    /' "$out"
        failed=$((failed + 1))
    fi
    check_left "an interrupted run"
else
    echo "not ok - the demo did not reach act 2 within 120 s; its output:"
    sed 's/^/    /' "$out"
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
