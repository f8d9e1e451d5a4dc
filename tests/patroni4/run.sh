#!/bin/sh
# run.sh - "make check-patroni4": the guard against Patroni 4 on Debian trixie
#
#   tests/patroni4/run.sh [tests/patroni4/NNN_x.pl ...]
#
# Builds (or reuses, see root.sh) a Debian trixie root with Patroni 4.0.7,
# PostgreSQL 17 and etcd 3.5, copies this tree into it, builds the guard
# there with trixie's gcc 14, libpq 17 and libmicrohttpd 1.0 (CI=true:
# -Werror), runs its unit tests, then the tests in tests/patroni4/ with
# PostgreSQL 17's TAP framework (tests/run-tap, as the root's "postgres"
# user) against real two-node Patroni clusters on 127.0.0.1/127.0.0.2.
# The root shares the host's network (loopback); proc and a tmpfs on
# dev/shm are mounted in it for the run and unmounted on exit, whatever
# happens.  Needs root.  Environment: DG_TRIXIE_ROOT (the cached root,
# default /var/cache/demotion-guard/trixie), KEEP_TAP=1 (keep the test
# scratch directory inside the root).
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
ROOT=${DG_TRIXIE_ROOT:-/var/cache/demotion-guard/trixie}
PGBIN=/usr/lib/postgresql/17/bin
WORK=/dg-check # inside the root
if [ "$(id -u)" != 0 ]; then
	echo "check-patroni4: needs root (debootstrap, chroot, mount): run \"sudo make check-patroni4\"" >&2
	exit 2
fi
for t in chroot mount umount flock; do
	command -v $t >/dev/null || { echo "check-patroni4: $t not found" >&2; exit 2; }
done
if [ $# -eq 0 ]; then
	set -- $(cd "$top" && ls tests/patroni4/*.pl)
fi

# One run at a time per root: the root's mounts and scratch are shared.
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock -n 9 || { echo "check-patroni4: $ROOT is in use by another run" >&2; exit 1; }

t0=$(date +%s)
"$top/tests/patroni4/root.sh" "$ROOT"
t1=$(date +%s)

# Processes still running with the root as their "/" are this run's
# (the lock): ended by PID before the unmount.
leftovers() {
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && echo "${p#/proc/}"
	done
	return 0
}
# Waits up to $1 tenths of a second until no leftover process is left; false if some are.
gone_within() {
	i=0
	while [ -n "$(leftovers)" ]; do
		[ $i -lt "$1" ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}
cleanup() {
	rc=$?
	pids=$(leftovers)
	if [ -n "$pids" ]; then
		echo "check-patroni4: ending leftover processes: $pids" >&2
		kill -TERM $pids 2>/dev/null || true
		gone_within 50 || { kill -KILL $(leftovers) 2>/dev/null || true; gone_within 50 || true; }
	fi
	for m in dev/shm proc; do
		if mountpoint -q "$ROOT/$m"; then
			umount "$ROOT/$m" || umount -l "$ROOT/$m" || echo "check-patroni4: could not unmount $ROOT/$m" >&2
		fi
	done
	[ -n "${KEEP_TAP:-}" ] || rm -rf "${ROOT:?}$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
mountpoint -q "$ROOT/dev/shm" || mount -t tmpfs -o mode=1777 tmpfs "$ROOT/dev/shm"

# The tree as it is (tracked and untracked files, no build output).
rm -rf "${ROOT:?}$WORK"
mkdir -p "$ROOT$WORK/src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z -co --exclude-standard | xargs -0 tar -cf - --no-recursion) |
		tar -C "$ROOT$WORK/src" -xf -
	(cd "$top" && git describe --tags --always --dirty) >"$ROOT$WORK/src/VERSION"
else
	tar -C "$top" --exclude='*.o' --exclude=./demotion-guard -cf - . | tar -C "$ROOT$WORK/src" -xf -
fi

inroot() {
	chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TZ=UTC "$@"
}
echo "check-patroni4: building in the trixie root ($(inroot gcc --version | head -1))"
inroot sh -c "cd $WORK/src && make -s clean && make -j2 CI=true all unit >$WORK/build.log 2>&1" || {
	tail -40 "$ROOT$WORK/build.log" >&2
	echo "check-patroni4: build or unit tests failed in the trixie root" >&2
	exit 1
}
grep -E 'warning:' "$ROOT$WORK/build.log" >&2 || true
units=$(grep -c 'PASSED' "$ROOT$WORK/build.log" || true)
t2=$(date +%s)
echo "check-patroni4: built: $(inroot $WORK/src/demotion-guard --version); $units unit test programs passed"
echo "check-patroni4: $(inroot patroni --version), $(inroot etcd --version | head -1), $(inroot $PGBIN/postgres --version)"

status=0
inroot sh -c "cd $WORK/src && CI=true PG_BINDIR=$PGBIN PG_TAP_PGXS=$(dirname $PGBIN)/lib/pgxs PROVE_FLAGS='-v' KEEP_TAP='${KEEP_TAP:-}' ./tests/run-tap $*" \
	| tee "$ROOT$WORK/tap.log" || status=1
# tee hides prove's status: the summary line decides.
grep -q '^Result: PASS' "$ROOT$WORK/tap.log" || status=1
t3=$(date +%s)
echo
echo "check-patroni4 summary:"
echo "  root   $((t1 - t0)) s ($ROOT)"
echo "  build  $((t2 - t1)) s (make CI=true all unit, gcc 14, libpq 17)"
echo "  tests  $((t3 - t2)) s: $*"
grep -E '^# (measured|switchover|stop|hook|dcs)' "$ROOT$WORK/tap.log" | sed 's/^/  /' || true
grep -E '^(Result|Files=|Failed)' "$ROOT$WORK/tap.log" | sed 's/^/  /' || true
exit $status
