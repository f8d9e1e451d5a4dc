#!/bin/sh
# version.sh [--debian] - this tree's version, for the build and the packages
#
#   (no option)  the VERSION file of a release tarball, else
#                "git describe --tags --always --dirty", else "unknown"
#   --debian     a Debian upstream version: packaging/debian/upstream-version
#                in a release tarball, else derived from git:
#                  v1.2.0             -> 1.2.0
#                  v1.2.0-5-gabc1234  -> 1.2.0+git5.abc1234
#                  abc1234 (no tag)   -> 0.0~git20261125.abc1234 (commit date, UTC)
#                and "-dirty" becomes "+dirty"
set -eu
cd "$(dirname "$0")/.."

# git describe, or nothing outside a git checkout.
describe() {
    git rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
        git describe --tags --always --dirty 2>/dev/null || true
}

# The Debian form of what git describe says.
debian_from_git() {
    d=$(describe)
    [ -n "$d" ] || { echo "0.0~unknown"; return; }
    dirty=""
    case $d in *-dirty) dirty="+dirty"; d=${d%-dirty} ;; esac
    case $d in
    v[0-9]* | [0-9]*.*)
        v=$(printf '%s\n' "$d" | sed -e 's/^v//' -e 's/-\([0-9][0-9]*\)-g\([0-9a-f]*\)$/+git\1.\2/' |
            tr '-' '~')
        ;;
    *)
        day=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d)
        v="0.0~git$day.$d"
        ;;
    esac
    printf '%s%s\n' "$v" "$dirty"
}

if [ "${1:-}" = --debian ]; then
    if [ -f packaging/debian/upstream-version ]; then
        v=$(cat packaging/debian/upstream-version)
    else
        v=$(debian_from_git)
    fi
    printf '%s\n' "$v" | grep -Eq '^[0-9][A-Za-z0-9.+~]*$' || {
        echo "version.sh: \"$v\" is not a Debian upstream version" >&2
        exit 1
    }
    printf '%s\n' "$v"
elif [ -f VERSION ]; then
    cat VERSION
else
    v=$(describe)
    printf '%s\n' "${v:-unknown}"
fi
