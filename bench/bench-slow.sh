#!/bin/bash
# bench/bench-slow.sh: /health and the before-stop hook while slow clients
# attack the API (issue 11, defect 3), over HTTP and over mTLS.
#
# The guard runs without PostgreSQL (its HTTP API serves all the same); the
# attacker (Debian's python3) keeps SLOW connections from 127.0.0.1-4 open,
# each sending one header line every 2 s and reopened when the guard closes
# it.  For DURATION seconds a probe loop asks GET /health from 127.0.0.1
# (the attackers' own address) one request after the other, each bounded to
# 2 s, and runs "hook before-stop" every 2 s.  One markdown table; nothing
# here is a pass/fail test.
#
#   probes, answered   /health requests sent, and answered 200
#   p50, p99, max      time_total of the answered ones (ms)
#   hooks armed        hook before-stop runs that armed the guard, of those run
#
# Usage: bench/bench-slow.sh [OTHER_BINARY]  (e.g. a build of main, for the
# "before" rows).  Knobs: SLOW=96, DURATION=20, BENCH_HTTP_PORT=55551.
# Everything listens on 127.0.0.1 only.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
SLOW=${SLOW:-96}
DURATION=${DURATION:-20}
PORT=${BENCH_HTTP_PORT:-55551}
work=$(mktemp -d /tmp/dg-bench-slow.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Certificates for the mTLS rows: a CA, a server certificate for 127.0.0.1, a client.
mkcerts() {
    local o=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    openssl req -x509 "${o[@]}" -keyout "$work/ca.key" -out "$work/ca.crt" -days 1 -subj /CN=ca 2>/dev/null
    for n in server client; do
        openssl req "${o[@]}" -keyout "$work/$n.key" -out "$work/$n.csr" -subj "/CN=$n" 2>/dev/null
        echo "subjectAltName=IP:127.0.0.1" >"$work/$n.ext"
        openssl x509 -req -in "$work/$n.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -set_serial 1 \
            -days 1 -extfile "$work/$n.ext" -out "$work/$n.crt" 2>/dev/null
    done
    chmod 600 "$work"/*.key
}

cat >"$work/attack.py" <<'EOF'
import socket, sys, time
port, n, dur = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
addrs = ["127.0.0.%d" % i for i in range(1, 5)]
def conn(a):
    try:
        s = socket.socket(); s.settimeout(2); s.bind((a, 0)); s.connect(("127.0.0.1", port))
        s.send(b"GET /health HTTP/1.1\r\nHost: localhost\r\n"); return s
    except OSError:
        return None
c = [[addrs[i % 4], conn(addrs[i % 4])] for i in range(n)]
end = time.time() + dur
while time.time() < end:
    time.sleep(2)
    for x in c:
        try:
            x[1].send(b"X-Slow: 1\r\n")
        except (OSError, AttributeError):
            x[1] = conn(x[0])
EOF

# One row: binary $1, label $2, TLS yes|no $3, attack yes|no $4.
row() {
    local bin=$1 label=$2 tls=$3 attack=$4 url="http://127.0.0.1:$PORT" args=() curlargs=()
    if [ "$tls" = yes ]; then
        url="https://127.0.0.1:$PORT"
        args=(--tls-cert "$work/server.crt" --tls-key "$work/server.key" --tls-client-ca "$work/ca.crt")
        curlargs=(--cacert "$work/ca.crt" --cert "$work/client.crt" --key "$work/client.key")
    fi
    "$bin" run --dsn "host=$work/none" --listen "127.0.0.1:$PORT" "${args[@]}" >"$work/guard.log" 2>&1 &
    local g=$!
    pids+=("$g")
    for _ in $(seq 50); do curl -s -o /dev/null "${curlargs[@]}" "$url/health" && break; sleep 0.1; done
    local a=""
    if [ "$attack" = yes ]; then
        /usr/bin/python3 "$work/attack.py" "$PORT" "$SLOW" "$((DURATION + 4))" &
        a=$!
        pids+=("$a")
        sleep 3
    fi
    : >"$work/times"
    local probes=0 hooks=0 armed=0 end=$((SECONDS + DURATION)) next_hook=$SECONDS
    while [ $SECONDS -lt "$end" ]; do
        probes=$((probes + 1))
        curl -s -m 2 --interface 127.0.0.1 -o /dev/null -w '%{http_code} %{time_total}\n' \
            "${curlargs[@]}" "$url/health" >>"$work/times" || true
        if [ $SECONDS -ge "$next_hook" ]; then
            hooks=$((hooks + 1))
            "$bin" hook before-stop --url "$url" "${curlargs[@]}" 2>&1 | grep -q 'armed' && armed=$((armed + 1))
            next_hook=$((SECONDS + 2))
        fi
    done
    [ -z "$a" ] || kill "$a" 2>/dev/null || true
    kill "$g" 2>/dev/null || true
    wait "$g" 2>/dev/null || true
    [ -z "$a" ] || wait "$a" 2>/dev/null || true
    awk '$1 == 200 { print $2 * 1000 }' "$work/times" | sort -n |
        awk -v label="$label" -v tls="$tls" -v attack="$attack" -v probes="$probes" \
            -v hooks="$hooks" -v armed="$armed" -v slow="$SLOW" '
        { t[++n] = $1 }
        END {
            p50 = n ? t[int((n - 1) * 0.5) + 1] : 0; p99 = n ? t[int((n - 1) * 0.99) + 1] : 0
            printf "| %s | %s | %s | %d | %d | %.2f | %.2f | %.2f | %d / %d |\n", label, tls,
                attack == "yes" ? slow " slow" : "none", probes, n, p50, p99, n ? t[n] : 0, armed, hooks
        }'
}

mkcerts
echo "| guard | mTLS | attack | probes | answered | p50 ms | p99 ms | max ms | hooks armed |"
echo "|---|---|---|---|---|---|---|---|---|"
for attack in no yes; do
    row "$top/demotion-guard" "this tree" no "$attack"
    row "$top/demotion-guard" "this tree" yes "$attack"
    [ $# -eq 0 ] || row "$1" "$(basename "$(dirname "$1")")" no "$attack"
done
