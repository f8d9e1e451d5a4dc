#!/bin/sh
# The image's HEALTHCHECK: GET /health on the address the guard listens on,
# DEMOTION_GUARD_LISTEN as the guard reads it (IP:PORT, [IPv6]:PORT,
# unix:/path; default 127.0.0.1:8009).  A wildcard address is asked on
# loopback.  "off" has no API to ask: unhealthy, and says so.
listen=${DEMOTION_GUARD_LISTEN:-127.0.0.1:8009}
case $listen in
off)
    echo "healthcheck: DEMOTION_GUARD_LISTEN=off: no HTTP API to ask" >&2
    exit 1
    ;;
unix:*)
    exec curl -fsS -m 4 -o /dev/null --unix-socket "${listen#unix:}" http://guard/health
    ;;
0.0.0.0:*) url=127.0.0.1:${listen#0.0.0.0:} ;;
\[::\]:*) url=[::1]:${listen#\[::\]:} ;;
*) url=$listen ;;
esac
exec curl -fsS -g -m 4 -o /dev/null "http://$url/health"
