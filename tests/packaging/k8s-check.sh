#!/bin/bash
# k8s-check.sh - every manifest in packaging/kubernetes/ against the real
# Kubernetes API schemas, offline: the npm package kubernetes-models (5.x)
# bundles them; it is installed once into a cache outside the clone
# (DG_NPM_CACHE, default /var/cache/demotion-guard/npm).  Fields no schema
# knows fail too (k8s-validate.mjs); custom resources, which it has no
# schema for, are skipped and named.  Then the check itself is tested: a
# misspelled shareProcessNamespaces and a mistyped runAsGroup must fail.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
NPM_CACHE=${DG_NPM_CACHE:-/var/cache/demotion-guard/npm}
MODELS_VERSION=5.1.0
PY=/usr/bin/python3

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    "$top/tests/deps.sh" nodejs npm
fi
models=$NPM_CACHE/node_modules
if [ "$(cat "$models/kubernetes-models/package.json" 2>/dev/null | sed -n 's/^  "version": "\(.*\)",$/\1/p')" != "$MODELS_VERSION" ]; then
    echo "k8s-check: installing kubernetes-models@$MODELS_VERSION into $NPM_CACHE"
    mkdir -p "$NPM_CACHE"
    timeout 600 npm install --no-audit --no-fund --no-save --loglevel=error --prefix "$NPM_CACHE" \
        "kubernetes-models@$MODELS_VERSION" >/dev/null
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dg-k8s.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The YAML documents of the files named, as k8s-validate.mjs reads them.
as_json() {
    "$PY" -c '
import sys, yaml, json
out = []
for f in sys.argv[1:]:
    for i, d in enumerate(yaml.safe_load_all(open(f))):
        if d is not None:
            out.append({"file": "packaging/" + f.split("/packaging/", 1)[1] if "/packaging/" in f else f, "index": i, "doc": d})
print(json.dumps(out))' "$@"
}
validate() {
    as_json "$@" | node "$top/tests/packaging/k8s-validate.mjs" "$models"
}

manifests=$(ls "$top"/packaging/kubernetes/*.yaml "$top"/packaging/kubernetes/*.yml 2>/dev/null || true)
[ -n "$manifests" ] || { echo "k8s-check: no manifests in packaging/kubernetes/" >&2; exit 1; }
# shellcheck disable=SC2086 # a list of paths without blanks
validate $manifests

# The check must catch what the API server would silently drop or refuse.
sts=$top/packaging/kubernetes/statefulset.yaml
sed 's/shareProcessNamespace: true/shareProcessNamespaces: true/' "$sts" >"$tmp/misspelled.yaml"
sed 's/runAsGroup: \([0-9]*\)/runAsGroup: "gid \1"/' "$sts" >"$tmp/mistyped.yaml"
for bad in misspelled mistyped; do
    cmp -s "$sts" "$tmp/$bad.yaml" && { echo "k8s-check: the $bad copy of $sts is unchanged" >&2; exit 1; }
    if validate "$tmp/$bad.yaml" >"$tmp/$bad.out" 2>&1; then
        cat "$tmp/$bad.out" >&2
        echo "k8s-check: a $bad StatefulSet passed the schema check" >&2
        exit 1
    fi
    echo "k8s-check: a $bad StatefulSet fails as it must: $(grep -m1 'k8s-validate: .*: ' "$tmp/$bad.out" | sed 's/.*): //')"
done
