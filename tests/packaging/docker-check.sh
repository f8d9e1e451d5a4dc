#!/bin/bash
# docker-check.sh - check packaging/docker/Dockerfile without a Docker engine,
# on this Debian bookworm machine:
#  - both stages start from debian:bookworm-slim, and every package an
#    "apt-get install" names exists in bookworm (apt-cache policy);
#  - the build stage's commands after its COPY, run as they are in a clean
#    copy of the tree (make dist), build a binary that runs;
#  - every shared library that binary needs (NEEDED) comes from a package
#    the runtime stage installs or from debian:bookworm-slim's own (taken
#    as the packages of priority "required" and what they depend on); so do
#    the commands of the runtime stage's RUN lines and of its HEALTHCHECK;
#    (a HEALTHCHECK script copied from the tree: the commands it execs);
#  - the runtime stage runs as a numeric non-root UID and GID from build
#    ARGs, has a HEALTHCHECK on /health, and its ENTRYPOINT is the copied binary.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
dockerfile=${DOCKERFILE:-$top/packaging/docker/Dockerfile}
failed=0

# Say what is wrong and remember it.
fail() {
    echo "docker-check: $*" >&2
    failed=$((failed + 1))
}

# The Dockerfile as "STAGE INSTRUCTION ARGUMENTS" lines: comments dropped,
# continuation lines joined, stages numbered from 1.
instructions() {
    grep -v '^[[:space:]]*#' "$dockerfile" |
        awk '{ if (sub(/\\$/, "")) { buf = buf $0 " "; next } print buf $0; buf = "" }' |
        awk 'NF { if (toupper($1) == "FROM") stage++; $1 = toupper($1); print stage, $0 }' |
        tr -s ' '
}

# The packages named by "apt-get install" in stage $1.
apt_packages() {
    instructions | awk -v s="$1" '$1 == s && $2 == "RUN"' | cut -d' ' -f3- |
        sed 's/&&/\n/g; s/;/\n/g' | sed -n 's/.*apt-get install \(.*\)/\1/p' |
        tr ' ' '\n' | grep -v -e '^-' -e '^$' | sort -u
}

# The first word of each command in stage $1's RUN lines.
run_commands() {
    instructions | awk -v s="$1" '$1 == s && $2 == "RUN"' | cut -d' ' -f3- |
        sed 's/&&/\n/g; s/;/\n/g; s/||/\n/g; s/[{}]//g' | awk 'NF { print $1 }' | sort -u
}

# The Debian package that holds file $1 (a path or "*/soname"), or nothing;
# a path is also tried without and with /usr (merged /usr).
owner() {
    local f
    for f in "$1" "${1#/usr}" "/usr$1"; do
        { dpkg-query -S "$f" 2>/dev/null || true; } | head -n 1 | cut -d: -f1 | grep . && return
    done
    return 0
}

[ -f "$dockerfile" ] || { echo "docker-check: no $dockerfile" >&2; exit 1; }
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] ||
    { echo "docker-check: needs a Debian bookworm machine to ask apt about bookworm" >&2; exit 1; }
"$top/tests/packaging/deps.sh"

froms=$(instructions | awk '$2 == "FROM" { print $3 }')
[ "$(echo "$froms" | wc -l)" -eq 2 ] || fail "expected two stages, found: $froms"
for f in $froms; do [ "$f" = debian:bookworm-slim ] || fail "stage from $f, not debian:bookworm-slim"; done
last=$(echo "$froms" | wc -l)

build_pkgs=$(apt_packages 1)
runtime_pkgs=$(apt_packages "$last")
[ -n "$build_pkgs" ] && [ -n "$runtime_pkgs" ] || fail "no apt-get install found in a stage"
for p in $build_pkgs $runtime_pkgs; do
    policy=$(apt-cache policy "$p" 2>/dev/null)
    if [ -z "$policy" ] || echo "$policy" | grep -q 'Candidate: (none)'; then
        fail "package $p does not exist in this machine's apt lists"
    elif ! echo "$policy" | grep -q ' bookworm[-a-z]*/main '; then
        fail "package $p is not in Debian bookworm's main"
    fi
done
echo "docker-check: apt-get install names $(echo $build_pkgs $runtime_pkgs | wc -w) packages," \
    "build:" $build_pkgs "/ runtime:" $runtime_pkgs

# The build stage's RUN lines after its COPY, in a clean copy of the tree.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dg-docker.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$top/packaging/dist.sh" "$tmp" >/dev/null
tar -xzf "$tmp"/demotion-guard-*.tar.gz -C "$tmp"
src=$(echo "$tmp"/demotion-guard-*/)
rm "$src/VERSION" # a build from the git tree: the ARG gives the version
args=$(instructions | awk '$1 == 1 && $2 == "ARG" { print $3 }')
instructions | awk '$1 == 1' | sed -n '/ COPY /,$p' | awk '$2 == "RUN"' | cut -d' ' -f3- >"$tmp/build.sh"
[ -s "$tmp/build.sh" ] || fail "no RUN after COPY in the build stage"
echo "docker-check: running the build stage's commands:"
sed 's/^/  /' "$tmp/build.sh"
if (cd "$src" && env $args sh -e "$tmp/build.sh") >"$tmp/build.log" 2>&1; then
    tail -n 1 "$tmp/build.log" | sed 's/^/  /'
else
    cat "$tmp/build.log" >&2
    fail "the build stage's commands failed"
fi
bin=$src/demotion-guard
copied=$(instructions | awk -v s="$last" '$1 == s && $2 == "COPY" && $3 == "--from=build" && $4 == "/src/demotion-guard" { print $5 }')
[ -n "$copied" ] || fail "the runtime stage does not copy /src/demotion-guard from the build stage"

# Shared libraries and commands of the runtime stage: its packages or the base image's.
required=$(dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" { print $1 }')
base=$(apt-cache depends --recurse --important $required 2>/dev/null | grep -v -e '^ ' -e '^<' | sort -u)
[ "$(echo "$base" | wc -l)" -gt 30 ] || fail "could not work out the base image's packages"
provided() {
    echo "$runtime_pkgs" | grep -qx "$1" || echo "$base" | grep -qx "$1"
}
if [ -x "$bin" ]; then
    needed=$(objdump -p "$bin" | awk '$1 == "NEEDED" { print $2 }')
    grep -qx 'libsystemd.so.0' <<<"$needed" && fail "the image's binary links libsystemd (WITH_SYSTEMD=0 expected)"
    for so in $needed; do
        p=$(owner "*/$so")
        [ -n "$p" ] || { fail "no package holds $so"; continue; }
        provided "$p" || fail "$so comes from $p, which the runtime stage does not install"
    done
    echo "docker-check: the binary needs" $needed
fi
health=$(instructions | awk -v s="$last" '$1 == s && $2 == "HEALTHCHECK"')
grep -q ' CMD ' <<<"$health" || fail "no HEALTHCHECK in the runtime stage"
health_cmd=$(sed 's/.* CMD \([^ ]*\).*/\1/; s/^\["\([^"]*\)".*/\1/' <<<"$health")
# A HEALTHCHECK script copied from the tree: the commands it execs.
health_src=$(instructions | awk -v s="$last" -v d="$health_cmd" \
    '$1 == s && $2 == "COPY" && $3 == "--from=build" && $5 == d { sub("^/src/", "", $4); print $4 }')
if [ -n "$health_src" ]; then
    [ -f "$top/$health_src" ] || fail "the HEALTHCHECK script $health_src is not in the tree"
    sh -n "$top/$health_src" || fail "the HEALTHCHECK script $health_src is not valid sh"
    health_cmd=$(sed -n 's/^[[:space:]]*exec \([^ ]*\).*/\1/p' "$top/$health_src" | sort -u)
    grep -q '/health' "$top/$health_src" || fail "the HEALTHCHECK script $health_src does not ask /health"
    [ -n "$health_cmd" ] || fail "the HEALTHCHECK script $health_src execs no command"
fi
for c in $(run_commands "$last") $health_cmd; do
    path=$(command -v "$c" || true)
    [ -n "$path" ] || { fail "command $c of the runtime stage is not known here"; continue; }
    p=$(owner "$path")
    [ -n "$p" ] || p=$(owner "$(readlink -f "$path")")
    [ -n "$p" ] || { fail "no package holds $path"; continue; }
    provided "$p" || fail "command $c comes from $p, which the runtime stage lacks"
done

user=$(instructions | awk -v s="$last" '$1 == s && $2 == "USER" { print $3 }')
grep -q '^\$PG_UID:\$PG_GID$' <<<"$user" || fail "the runtime stage's USER is not \$PG_UID:\$PG_GID: $user"
uid=$(instructions | awk -v s="$last" '$1 == s && $2 == "ARG"' | sed -n 's/.* ARG PG_UID=\([0-9]*\)$/\1/p')
[ -n "$uid" ] && [ "$uid" -gt 0 ] || fail "no numeric, non-root ARG PG_UID default"
gid=$(instructions | awk -v s="$last" '$1 == s && $2 == "ARG"' | sed -n 's/.* ARG PG_GID=\([0-9]*\)$/\1/p')
[ -n "$gid" ] && [ "$gid" -gt 0 ] || fail "no numeric, non-root ARG PG_GID default"
entry=$(instructions | awk -v s="$last" '$1 == s && $2 == "ENTRYPOINT"')
grep -qF "[\"$copied\"]" <<<"$entry" || fail "ENTRYPOINT is not the copied binary $copied: $entry"

[ "$failed" -eq 0 ] || exit 1
echo "docker-check: passed (build stage run here; runtime stage as UID $uid, HEALTHCHECK with $health_cmd)"
