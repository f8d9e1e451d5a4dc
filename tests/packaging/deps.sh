#!/bin/sh
# Install the Debian packages that make deb, make deb-test and make
# docker-check need, beyond tests/deps.sh: the package build (debhelper,
# libsystemd-dev for Type=notify), lintian, systemd-analyze (systemd),
# man-db, and strace (the test compares the syscalls the daemon makes with
# the unit's SystemCallFilter).  As root: apt-get installs what is missing.
set -eu
PKGS="build-essential dpkg-dev debhelper fakeroot lintian pkg-config libpq-dev libjansson-dev
libmicrohttpd-dev libcurl4-openssl-dev libcmocka-dev libsystemd-dev systemd man-db strace curl
postgresql-15"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages:$missing" >&2
    echo "install them with: sudo apt-get install$missing" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends $missing
}
