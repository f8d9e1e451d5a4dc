// k8s-validate.mjs - validate Kubernetes manifests against the API's own
// OpenAPI schemas as the npm package kubernetes-models bundles them
// (compiled validators, offline), and find fields no schema knows.
//
//   node k8s-validate.mjs MODELS_DIR < documents.json
//
// stdin: [{"file": F, "index": N, "doc": {...}}, ...] (YAML documents as
// JSON).  A document whose apiVersion/kind has no model (a custom resource)
// is skipped and named.  The bundled validators do not refuse unknown
// fields (the schemas have no additionalProperties: false), so each
// document is validated through a Proxy that records which fields the
// validator looked at: a field it never read is not in the schema (a
// misspelled "shareProcessNamespaces" is ignored by the API server, and
// the setting silently lost).  Exit 1 when any document is invalid.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const models = process.argv[2];
const docs = JSON.parse(readFileSync(0, "utf8"));
let failed = 0, checked = 0;
const skipped = [];

// Wraps v so that every property the validator reads is recorded.
function watch(v, path, seen) {
    if (v === null || typeof v !== "object") return v;
    const read = new Set();
    seen.push({ path, obj: v, read });
    const kids = new Map();
    return new Proxy(v, {
        get(t, k, r) {
            if (typeof k !== "string" || !Object.prototype.hasOwnProperty.call(t, k))
                return Reflect.get(t, k, r);
            read.add(k);
            if (!kids.has(k)) kids.set(k, watch(t[k], Array.isArray(t) ? `${path}[${k}]` : `${path}.${k}`, seen));
            return kids.get(k);
        },
    });
}

for (const { file, index, doc } of docs) {
    const where = `${file} (document ${index + 1}, ${doc?.kind ?? "?"} ${doc?.metadata?.name ?? ""})`;
    if (!doc || typeof doc.apiVersion !== "string" || typeof doc.kind !== "string") {
        console.error(`k8s-validate: ${where}: no apiVersion or kind`);
        failed++;
        continue;
    }
    const model = join(models, "kubernetes-models", doc.apiVersion, `${doc.kind}.js`);
    if (!existsSync(model)) {
        skipped.push(`${file}: ${doc.kind} ${doc.apiVersion}`);
        continue;
    }
    const m = /from"(\.\.\/[^"]*_schemas\/[^"]+\.js)"/.exec(readFileSync(model, "utf8"));
    if (!m) {
        console.error(`k8s-validate: ${model}: no schema import found`);
        failed++;
        continue;
    }
    const { validate } = await import(pathToFileURL(join(model, "..", m[1])).href);
    const seen = [];
    const ok = validate(watch(doc, "", seen));
    const errors = [];
    if (!ok)
        for (const e of validate.errors)
            errors.push(`${e.instancePath || "/"}: ` +
                (e.message ?? (e.keyword === "type" ? `must be of type ${e.params.type}` : `${e.keyword} ${JSON.stringify(e.params)}`)));
    if (ok)
        for (const { path, obj, read } of seen)
            if (!Array.isArray(obj))
                for (const k of Object.keys(obj))
                    if (!read.has(k)) errors.push(`${path || "."}: unknown field "${k}"`);
    checked++;
    if (errors.length) {
        failed++;
        for (const e of errors) console.error(`k8s-validate: ${where}: ${e}`);
    }
}
for (const s of skipped) console.log(`k8s-validate: skipped (a custom resource, no schema in kubernetes-models): ${s}`);
console.log(`k8s-validate: ${checked} documents checked against the Kubernetes schemas, ${failed} invalid, ${skipped.length} skipped`);
process.exit(failed ? 1 : 0);
