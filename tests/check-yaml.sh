#!/bin/sh
# Every YAML file under packaging/ parses (Debian's python3-yaml, which
# Patroni depends on), and the deployment examples keep the settings the
# README relies on: the sidecar shares the process namespace, runs as
# PostgreSQL's UID and GID, mounts the socket directory of its DSN where
# PostgreSQL's container has it, probes /health and /ready, reads its token from a
# Secret with mode 0400; the Patroni snippets declare permanent slots.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
"$PY" -c 'import yaml' 2>/dev/null || {
    echo "check-yaml: $PY cannot import yaml (apt-get install python3-yaml)" >&2
    exit 1
}
find "$top/packaging" -name '*.yml' -o -name '*.yaml' | sort | "$PY" -c '
import sys, yaml

def find(doc, path):
    for key in path.split("."):
        if isinstance(doc, list):
            doc = doc[int(key)]
        else:
            doc = doc[key]
    return doc

n = 0
failed = False
for f in sys.stdin.read().split():
    try:
        docs = [d for d in yaml.safe_load_all(open(f)) if d is not None]
    except yaml.YAMLError as e:
        print("check-yaml: %s: %s" % (f, e), file=sys.stderr)
        failed = True
        continue
    n += 1
    for d in docs:
        try:
            if d.get("kind") == "StatefulSet":
                spec = find(d, "spec.template.spec")
                assert spec["shareProcessNamespace"] is True, "shareProcessNamespace"
                pg, guard = spec["containers"][0], spec["containers"][1]
                assert guard["securityContext"]["runAsUser"] == pg["securityContext"]["runAsUser"], "same UID"
                assert guard["securityContext"]["runAsGroup"] == pg["securityContext"]["runAsGroup"], "same GID (runAsGroup)"
                # a unix socket directory in the guard DSN is a volume both containers mount there
                env = {e["name"]: e.get("value", "") for e in guard["env"]}
                host = [w[5:] for w in env["DEMOTION_GUARD_DSN"].split() if w.startswith("host=/")]
                mounts = lambda c: {(m["name"], m["mountPath"]) for m in c.get("volumeMounts", [])}
                for h in host:
                    shared = [m for m in mounts(guard) & mounts(pg) if m[1] == h]
                    assert shared, "the socket directory %s mounted in both containers" % h
                assert guard["livenessProbe"]["httpGet"]["path"] == "/health", "liveness /health"
                assert guard["readinessProbe"]["httpGet"]["path"] == "/ready", "readiness /ready"
                vol = [v for v in spec["volumes"] if "secret" in v][0]
                assert vol["secret"]["defaultMode"] == 0o400, "token mode 0400"
            if "bootstrap" in d:
                slots = find(d, "bootstrap.dcs.slots")
                assert all(s["type"] == "logical" for s in slots.values()), "logical slots"
                assert "demotion-guard hook" in str(d["postgresql"]), "hooks"
            if d.get("kind") == "postgresql":
                assert find(d, "spec.sidecars.0.name") == "demotion-guard", "sidecar"
                vol = find(d, "spec.additionalVolumes.0")
                assert vol["volumeSource"]["secret"]["defaultMode"] == 0o400, "token mode 0400"
                assert "demotion-guard" in vol["targetContainers"], "token mounted in the sidecar"
        except (KeyError, IndexError, AssertionError) as e:
            print("check-yaml: %s: expected setting missing: %s" % (f, e), file=sys.stderr)
            failed = True
if n == 0:
    print("check-yaml: no YAML files found", file=sys.stderr)
    failed = True
if failed:
    sys.exit(1)
print("check-yaml: %d YAML files parse and keep their settings" % n)
'
