#!/bin/sh
# make-deb.sh TARBALL - build the Debian package from a release tarball in an
# empty directory with "dpkg-buildpackage -us -uc -b" (which runs make unit
# too), check it with lintian (an error fails the build, warnings are
# shown), and copy demotion-guard_<version>_<arch>.deb here.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: make-deb.sh TARBALL" >&2; exit 2; }
tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
"$top/tests/packaging/deps.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/dg-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
tar -xzf "$tarball" -C "$work"
src=$(echo "$work"/demotion-guard-*)
[ -d "$src" ] || { echo "make deb: $tarball holds no demotion-guard-* directory" >&2; exit 1; }
upver=$(cd "$src" && ./packaging/version.sh --debian)
debver=$upver-1
arch=$(dpkg --print-architecture)
mv "$src" "$work/demotion-guard-$upver"
src=$work/demotion-guard-$upver
cp -r "$src/packaging/debian" "$src/debian"
cat >"$src/debian/changelog" <<CHANGELOG
demotion-guard ($debver) unstable; urgency=medium

  * Release tarball of $(cat "$src/VERSION").

 -- demotion-guard developers <dev@demotion-guard.invalid>  $(date -R -u -r "$src/VERSION")
CHANGELOG

echo "make deb: building demotion-guard $debver in $work"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b -Jauto) >"$work/build.log" 2>&1; then
    tail -n 60 "$work/build.log" >&2
    echo "make deb: dpkg-buildpackage failed (the lines above are the end of its log)" >&2
    exit 1
fi
deb=demotion-guard_${debver}_$arch.deb
changes=$work/demotion-guard_${debver}_$arch.changes
[ -f "$work/$deb" ] || { echo "make deb: $deb was not built" >&2; exit 1; }

rc=0
lintian --fail-on error --display-info "$changes" >"$work/lintian.log" 2>&1 || rc=$?
echo "make deb: lintian: $(grep -c '^E:' "$work/lintian.log" || true) errors," \
    "$(grep -c '^W:' "$work/lintian.log" || true) warnings," \
    "$(grep -c '^I:' "$work/lintian.log" || true) informational"
grep -E '^(E|W|I):' "$work/lintian.log" | sed 's/^/  /' || true
[ "$rc" -eq 0 ] || { cat "$work/lintian.log" >&2; echo "make deb: lintian failed" >&2; exit 1; }

cp "$work/$deb" "$top/$deb"
echo "make deb: $deb"
