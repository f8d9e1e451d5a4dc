#!/bin/sh
# root.sh - build, or reuse, the Debian trixie root the Patroni 4 tests run in
#
#   tests/patroni4/root.sh [DIR]     (default $DG_TRIXIE_ROOT or
#                                     /var/cache/demotion-guard/trixie)
#
# A "debootstrap --variant=minbase trixie" root with Patroni 4.0.7,
# PostgreSQL 17, etcd 3.5 and the guard's build dependencies, kept outside
# the clone so that a rerun reuses it.  It is rebuilt only when it is
# missing or when its package list (PACKAGES below) changed: the list is
# stored in DIR/.dg-packages once the root is complete.  The packages start
# no services: usr/sbin/policy-rc.d exits 101, and postgresql-common creates
# no main cluster.  Needs root, debootstrap and the Debian mirror
# ($DG_DEBIAN_MIRROR, default http://deb.debian.org/debian).
set -eu

ROOT=${1:-${DG_TRIXIE_ROOT:-/var/cache/demotion-guard/trixie}}
MIRROR=${DG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES="patroni python3-etcd postgresql-17 postgresql-client-17 etcd-server etcd-client
 libpostgresql-jdbc-java
 gcc make pkg-config libc6-dev libpq-dev libmicrohttpd-dev libjansson-dev
 libcurl4-openssl-dev libcmocka-dev libipc-run-perl procps util-linux"
# shellcheck disable=SC2086
PACKAGES=$(echo $PACKAGES)
WANT=$(echo "$PACKAGES" | tr ' ' '\n' | sort | tr '\n' ' ')

if [ "$(id -u)" != 0 ]; then
	echo "root.sh: needs root (debootstrap, chroot, mount); run: sudo $0" >&2
	exit 2
fi
if [ -f "$ROOT/.dg-packages" ] && [ "$(cat "$ROOT/.dg-packages")" = "$WANT" ]; then
	echo "trixie root: reusing $ROOT"
	exit 0
fi
command -v debootstrap >/dev/null || {
	echo "root.sh: debootstrap not found (apt-get install debootstrap)" >&2
	exit 2
}

# Nothing may be mounted in a root that is thrown away.
check_unmounted() {
	for m in dev/shm proc; do
		if mountpoint -q "$ROOT/$m" 2>/dev/null; then
			echo "root.sh: $ROOT/$m is mounted (a test running?); not rebuilding" >&2
			exit 1
		fi
	done
}
check_unmounted
echo "trixie root: building $ROOT (package list missing or changed)"
t0=$(date +%s)
rm -rf "$ROOT.new"
mkdir -p "$(dirname "$ROOT")"
debootstrap --variant=minbase trixie "$ROOT.new" "$MIRROR" >"$ROOT.new.log" 2>&1 || {
	tail -20 "$ROOT.new.log" >&2
	echo "root.sh: debootstrap failed (log: $ROOT.new.log)" >&2
	exit 1
}
t1=$(date +%s)
printf '#!/bin/sh\nexit 101\n' >"$ROOT.new/usr/sbin/policy-rc.d"
chmod 755 "$ROOT.new/usr/sbin/policy-rc.d"
mkdir -p "$ROOT.new/etc/postgresql-common"
echo 'create_main_cluster = false' >"$ROOT.new/etc/postgresql-common/createcluster.conf"
mount -t proc proc "$ROOT.new/proc"
trap 'umount "$ROOT.new/proc" 2>/dev/null || true' EXIT
# shellcheck disable=SC2086
chroot "$ROOT.new" env DEBIAN_FRONTEND=noninteractive sh -c \
	"apt-get -q update && apt-get -q -y --no-install-recommends install $PACKAGES" \
	>>"$ROOT.new.log" 2>&1 || {
	tail -20 "$ROOT.new.log" >&2
	echo "root.sh: installing the packages failed (log: $ROOT.new.log)" >&2
	exit 1
}
chroot "$ROOT.new" apt-get clean
umount "$ROOT.new/proc"
trap - EXIT
t2=$(date +%s)
echo "$WANT" >"$ROOT.new/.dg-packages"
check_unmounted
rm -rf "$ROOT"
mv "$ROOT.new" "$ROOT"
mv "$ROOT.new.log" "$ROOT.log"
echo "trixie root: built in $((t2 - t0)) s (debootstrap $((t1 - t0)) s, packages $((t2 - t1)) s)"
