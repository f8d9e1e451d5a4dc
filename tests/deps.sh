#!/bin/sh
# Install the Debian packages that the build, the tests and the demo need,
# or those named as arguments (tests/packaging/deps.sh).  As root: apt-get
# installs what is missing.  Otherwise: say what to run.
set -eu
PKGS="build-essential pkg-config libpq-dev libjansson-dev libmicrohttpd-dev
libgnutls28-dev libcurl4-openssl-dev libcmocka-dev postgresql-15 postgresql-client-15
libipc-run-perl prometheus curl openssl python3-yaml man-db patroni etcd-server etcd-client tmux"
[ $# -gt 0 ] && PKGS="$*"
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
apt-get install -y -q $missing >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y -q $missing
}
