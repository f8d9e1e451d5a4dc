#!/bin/sh
# dist.sh [DIR] - write DIR/demotion-guard-<version>.tar.gz (DIR: the top of
# the tree) from this git checkout: the
# files git tracks or would track (not the ignored build products), plus a
# VERSION file and the Debian upstream version, so that the tarball builds
# without git.  Sorted, owned by 0, dated by the last commit: reproducible.
set -eu
out=$(cd "${1:-$(dirname "$0")/..}" && pwd)
cd "$(dirname "$0")/.."
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || {
    echo "make dist: needs a git checkout (a release tarball is already one)" >&2
    exit 1
}
version=$(./packaging/version.sh)
debversion=$(./packaging/version.sh --debian)
name=demotion-guard-$version
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dg-dist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

git ls-files --cached --others --exclude-standard | while IFS= read -r f; do
    [ -f "$f" ] && [ "$f" != VERSION ] && printf '%s\n' "$f"
done >"$tmp/files"
mkdir "$tmp/$name"
tar -cf - -T "$tmp/files" | tar -xf - -C "$tmp/$name"
printf '%s\n' "$version" >"$tmp/$name/VERSION"
printf '%s\n' "$debversion" >"$tmp/$name/packaging/debian/upstream-version"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$(git log -1 --format=%ct)" \
    -C "$tmp" -cf - "$name" | gzip -n -9 >"$out/$name.tar.gz"
echo "make dist: $out/$name.tar.gz ($(wc -l <"$tmp/files") files, version $version)"
