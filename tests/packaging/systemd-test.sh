#!/bin/bash
# systemd-test.sh DEB - the packaged unit under a real systemd: debootstrap a
# minimal Debian bookworm (from the Debian mirror, about a minute), install
# PostgreSQL 15 and the package in it, enable the unit, and boot it with
# systemd-nspawn.  A probe service inside checks that the unit starts as
# Type=notify (READY=1, its status text), runs as postgres with all its
# hardening, answers /ready, ends a stale consumer's walsender by signal when
# PostgreSQL is stopped, writes its audit log, reloads on "systemctl
# reload", stops cleanly; then it powers the container off.  As root; the
# boot is bounded; the tree is removed afterwards.  Not part of CI (the
# download); run it when the unit or the hardening changes.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: systemd-test.sh DEB" >&2; exit 2; }
deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ "$(id -u)" -eq 0 ] || { echo "systemd-test: needs root (debootstrap, systemd-nspawn)" >&2; exit 1; }
mirror=${MIRROR:-http://deb.debian.org/debian}
for p in debootstrap systemd-container; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >/dev/null
done
make -s -C "$top" tests/tools/logical-consumer
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dg-systemd.XXXXXX")
root=$tmp/root
trap 'findmnt -R "$root" >/dev/null 2>&1 || rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
failed=0

# Say what is wrong and remember it.
fail() {
    echo "systemd-test: FAIL: $*" >&2
    failed=$((failed + 1))
}

echo "systemd-test: debootstrap bookworm into $root"
timeout 600 debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,procps,postgresql-15,curl,libjansson4,libmicrohttpd12,libcurl4 \
    bookworm "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
    { tail -n 20 "$tmp/debootstrap.log" >&2; echo "systemd-test: debootstrap failed" >&2; exit 1; }
cp "$deb" "$root/tmp/"
cp "$top/tests/tools/logical-consumer" "$root/usr/local/bin/"
chroot "$root" sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/$(basename "$deb")" \
    >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; echo "systemd-test: install failed" >&2; exit 1; }

echo "wal_level = logical" >>"$root/etc/postgresql/15/main/postgresql.conf"
sed -i 's/^# deadline = 10s$/deadline = 2s/' "$root/etc/demotion-guard/demotion-guard.conf"
wants=$root/etc/systemd/system/multi-user.target.wants
ln -s /lib/systemd/system/demotion-guard.service "$wants/demotion-guard.service"
cat >"$root/usr/local/bin/dg-probe" <<'EOF'
#!/bin/bash
# Inside the container, once: exercise the unit, write /probe.txt, power off.
exec >/probe.txt 2>&1
pg() { runuser -u postgres -- psql -X -q -tA -d postgres -c "$1"; }
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:8009/ready >/dev/null && break; sleep 0.2; done
echo "ready=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8009/ready)"
systemctl show demotion-guard -p Type -p User -p ActiveState -p SubState -p NRestarts -p StatusText
pg "CREATE TABLE t (x text)"
runuser -u postgres -- /usr/local/bin/logical-consumer --dsn dbname=postgres --slot probe \
    --mode stale --create-slot --output /tmp/stale.out --ready-file /tmp/stale.ready >/tmp/stale.log 2>&1 &
for _ in $(seq 1 100); do [ -s /tmp/stale.ready ] && break; sleep 0.2; done
pg "INSERT INTO t VALUES ('probe-row')"
for _ in $(seq 1 100); do grep -q probe-row /tmp/stale.out && break; sleep 0.2; done
pg "CHECKPOINT"
for _ in $(seq 1 100); do
    [ "$(pg 'SELECT bool_or(sent_lsn > flush_lsn) FROM pg_stat_replication')" = t ] && break
    sleep 0.2
done
t0=$(date +%s%N)
systemctl stop postgresql@15-main
echo "stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))"
for _ in $(seq 1 50); do
    grep -q '"event":"shutdown_completed"' /var/log/demotion-guard/audit.jsonl 2>/dev/null && break
    sleep 0.1
done
echo "audit_terminated_signal=$(grep -c '"event":"terminated".*"method":"signal"' /var/log/demotion-guard/audit.jsonl)"
echo "audit_owner=$(stat -c '%U %a' /var/log/demotion-guard/audit.jsonl)"
systemctl reload demotion-guard && echo "reload=ok" || echo "reload=failed"
for _ in $(seq 1 50); do
    journalctl -u demotion-guard -o cat | grep -q 'configuration reloaded' && break
    sleep 0.1
done
echo "reloaded_logged=$(journalctl -u demotion-guard -o cat | grep -c 'configuration reloaded')"
systemctl stop demotion-guard
systemctl show demotion-guard -p Result -p ExecMainStatus
echo "--- journal"
journalctl -u demotion-guard --no-pager -o short-precise
echo PROBE-DONE
systemctl poweroff
EOF
chmod +x "$root/usr/local/bin/dg-probe"
cat >"$root/etc/systemd/system/dg-probe.service" <<'EOF'
[Unit]
Description=probe demotion-guard
After=demotion-guard.service postgresql.service
[Service]
Type=oneshot
ExecStart=/usr/local/bin/dg-probe
[Install]
WantedBy=multi-user.target
EOF
ln -s /etc/systemd/system/dg-probe.service "$wants/dg-probe.service"

echo "systemd-test: booting it with systemd-nspawn"
timeout 180 systemd-nspawn -q -D "$root" --boot --keep-unit --register=no </dev/null \
    >"$tmp/boot.log" 2>&1 || true
probe=$root/probe.txt
[ -f "$probe" ] && grep -q PROBE-DONE "$probe" ||
    { tail -n 30 "$tmp/boot.log" >&2; cat "$probe" >&2 2>/dev/null || true; echo "systemd-test: the probe did not finish" >&2; exit 1; }
sed -n '1,/^--- journal/p' "$probe" | sed 's/^/  /'
expect() {
    grep -qx -- "$1" "$probe" || fail "expected \"$1\""
}
expect "ready=200"
expect "Type=notify"
expect "User=postgres"
expect "ActiveState=active"
expect "SubState=running"
expect "NRestarts=0"
expect "StatusText=guarding"
expect "audit_terminated_signal=1"
expect "audit_owner=postgres 640"
expect "reload=ok"
expect "reloaded_logged=1"
expect "Result=success"
expect "ExecMainStatus=0"
[ "$failed" -eq 0 ] || { sed -n '/^--- journal/,$p' "$probe" >&2; exit 1; }
echo "systemd-test: passed"
