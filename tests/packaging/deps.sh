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
exec "$(dirname "$0")/../deps.sh" $PKGS
