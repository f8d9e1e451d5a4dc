#!/bin/bash
# make layout: the shape of the tree, and the rules of its layout.
#
# Prints each source file's lines and the project headers it includes (the
# include graph), then checks, failing when one breaks:
#   - libpq-fe.h, microhttpd.h and curl/curl.h each have one user (the one
#     module that speaks to PostgreSQL, serves HTTP, asks HTTP);
#   - no header includes pgsql.h (the libpq module's) but itself;
#   - the policy (every policy*.c file: policy.c, policy_risk.c) does no
#     I/O: it includes only the C headers of plain data and the policy's own,
#     and calls no function that reads, writes, signals, logs or tells time;
#   - no function runs past 60 lines (a function is "NAME(...)" then "{" at
#     the start of a line, up to the "}" at the start of a line);
#   - no .c file runs past 650 lines.  The goal of a split is 600 lines: a
#     .c file over 600 is reported, and over 650 ("about 600" no longer) it
#     is an error.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
over=""
bad() { echo "layout: $*" >&2; fail=1; }

printf '%-16s %5s  %s\n' file lines "includes (project headers)"
for f in *.c *.h; do
    inc=$(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f" | tr '\n' ' ')
    n=$(wc -l <"$f")
    note=""
    case $f in *.c) [ "$n" -le 600 ] || note="  (over 600 lines)" ;; esac
    printf '%-16s %5d  %s%s\n' "$f" "$n" "${inc:--}" "$note"
    case $f in *.c) [ "$n" -le 650 ] || over="$over $f ($n)" ;; esac
done

[ -z "$over" ] || bad ".c files over 650 lines (the goal is 600: split by concern):$over"

for h in libpq-fe.h microhttpd.h curl/curl.h; do
    users=$(grep -l "^#include <$h>" ./*.c ./*.h | sed 's|^\./||' | tr '\n' ' ')
    count=$(echo "$users" | wc -w)
    echo "layout: <$h>: ${users:-no user}"
    [ "$count" -le 1 ] || bad "<$h> has $count users ($users): keep it to one module"
done

# The libpq module's header is for the .c files that run SQL; a header
# that needs a walsender's fields includes walsender.h, which has no libpq.
users=$(grep -l '^#include "pgsql.h"' ./*.h | sed 's|^\./||' | grep -vx pgsql.h | xargs)
[ -z "$users" ] || bad "headers include pgsql.h ($users): include walsender.h, or pgsql.h in the .c file"

allowed='stdbool.h stdint.h stddef.h stdio.h stdlib.h string.h inttypes.h limits.h policy.h policy_risk.h config.h walsender.h'
for f in policy*.c; do
    for i in $(sed -n 's/^#include [<"]\([^>"]*\)[>"].*/\1/p' "$f"); do
        case " $allowed " in *" $i "*) ;; *) bad "$f includes $i: the policy does no I/O" ;; esac
    done
done
io='\b(open|openat|read|write|close|fopen|fclose|fread|fwrite|fgets|fprintf|printf|puts|fputs|perror|getline|opendir|readdir|stat|lstat|kill|pidfd_[a-z_]+|syscall|socket|connect|send|recv|poll|PQ[a-zA-Z]+|MHD_[a-z_]+|curl_[a-z_]+|log_[a-z_]+|audit_[a-z_]+|time|clock_gettime|gettimeofday|sleep|usleep|nanosleep|getenv|system|popen|exit|abort)[[:space:]]*\('
# Comments and strings removed first, so that words in them do not count.
for f in policy*.c; do
    calls=$(sed -e 's|/\*.*\*/||g' -e 's|"[^"]*"|""|g' "$f" | grep -v '^[[:space:]]*\*' | grep -nE "$io")
    [ -z "$calls" ] || bad "$f does I/O or tells time:"$'\n'"$calls"
done

for f in *.c; do
    awk -v f="$f" '
        /^[a-zA-Z_].*\(/ && !/;[[:space:]]*$/ { name = $0; sub(/\(.*/, "", name); sub(/.*[ *]/, "", name) }
        /^\{/ { start = NR }
        /^\}/ && start { if (NR - start - 1 > 60) printf "layout: %s: %s runs %d lines (> 60)\n", f, name, NR - start - 1; start = 0 }
    ' "$f"
done | { grep . >&2 && exit 1 || exit 0; } || fail=1

[ $fail -eq 0 ] && echo "layout: ok"
exit $fail
