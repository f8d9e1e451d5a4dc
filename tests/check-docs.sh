#!/bin/sh
# Every option the binary knows (its --help, generated from the options
# table in config.c) must be documented in README.md.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
missing=0
for opt in $("$top/demotion-guard" --help | grep -o '^  --[a-z-]*' | sed 's/^ *//'); do
    if ! grep -q -- "\`$opt" "$top/README.md"; then
        echo "README.md does not document $opt" >&2
        missing=$((missing + 1))
    fi
done
n=$("$top/demotion-guard" --help | grep -c '^  --')
[ "$n" -gt 0 ] || { echo "check-docs: no options found in --help" >&2; exit 1; }
[ "$missing" -eq 0 ] || exit 1
echo "check-docs: README.md documents all $n options"
# The man page and the sample configuration: every option, route and event.
"$top/tests/packaging/check-man.sh"
