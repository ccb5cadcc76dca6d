//! The manifest corpus (`proto/tests/manifests`) through kubectl, which validates against
//! the server (`fieldValidation=Strict`, as the OpenAPI documents invite): every good
//! manifest applies and reads back as written (fields the server fills in aside); every
//! bad one is refused as Invalid (422) naming the field, except those kubectl refuses
//! before sending, or sends as Kubernetes would accept them (listed below, with why).

use std::fs;

use serde_json::Value;

use super::*;

fn corpus(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("proto/tests/manifests")
        .join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "json"))
        .collect();
    files.sort();
    files
}

/// The objects kubectl prints: one after another, or in a `List`.
fn objects(printed: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_str(printed).into_iter::<Value>() {
        let v = v.unwrap();
        match v["kind"].as_str() {
            Some("List") => out.extend(v["items"].as_array().cloned().unwrap_or_default()),
            _ => out.push(v),
        }
    }
    out
}

/// Where `read` differs from `written` in what `written` says (a quantity written as a
/// number reads back as its text; a null says nothing).
fn differences(written: &Value, read: &Value, at: &str, out: &mut Vec<String>) {
    match (written, read) {
        (Value::Object(w), Value::Object(r)) => {
            for (k, wv) in w {
                match r.get(k) {
                    Some(rv) => differences(wv, rv, &format!("{at}.{k}"), out),
                    None => out.push(format!("{at}.{k} is gone")),
                }
            }
        }
        (Value::Array(w), Value::Array(r)) if w.len() == r.len() => {
            for (i, (wv, rv)) in w.iter().zip(r).enumerate() {
                differences(wv, rv, &format!("{at}[{i}]"), out);
            }
        }
        (Value::Number(n), Value::String(s)) if n.to_string() == *s => {}
        // kubectl prints what a manifest leaves out as null (`creationTimestamp: null`).
        (Value::Null, _) => {}
        (w, r) if w == r => {}
        (w, r) => out.push(format!("{at}: wrote {w}, read {r}")),
    }
}

/// Bad cases kubectl refuses itself, before any request: the YAML does not parse, or
/// has no kind or apiVersion, or decodes into kubectl's own types wrongly, or names a
/// kind the server does not have (from discovery).
const REFUSED_BY_KUBECTL: &[&str] = &[
    "label-value-number.yaml",
    "missing-apiversion.yaml",
    "missing-kind.yaml",
    "syntax-bad-indentation.yaml",
    "syntax-unclosed-flow-sequence.yaml",
    "unknown-kind.yaml",
    "wrong-apiversion.yaml",
];

/// Bad cases that reach the server in a form Kubernetes accepts: kubectl's YAML reader
/// takes the last of duplicate keys and a trailing comma in JSON (a YAML flow mapping),
/// and a cluster-scoped object's namespace is cleared, not refused. `skiff apply`
/// refuses all four.
const ACCEPTED_AS_KUBERNETES_DOES: &[&str] = &[
    "duplicate-yaml-key.yaml",
    "json-syntax-trailing-comma.json",
    "namespace-with-namespace.yaml",
    "node-with-namespace.yaml",
];

fn expected_path(file: &Path) -> String {
    let sidecar = file.with_extension("expect");
    let text = fs::read_to_string(if sidecar.exists() { &sidecar } else { file }).unwrap();
    let line = text.lines().find_map(|l| l.split("expect-path:").nth(1));
    line.unwrap_or_else(|| panic!("{} has no expect-path", file.display()))
        .trim()
        .to_owned()
}

#[test]
fn the_manifest_corpus_applies_or_is_refused_naming_the_field() {
    let c = Cluster::start(&[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl {
        config: kubeconfig(&c.server, dir.path()),
        cache: dir.path().join("cache"),
    };
    let namespaces = dir.path().join("namespaces.yaml");
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system, labels: {pod-security.kubernetes.io/enforce: privileged}}\n---\n\
                apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
    fs::write(&namespaces, text).unwrap();
    k.ok(&["apply", "-f", namespaces.to_str().unwrap()]);
    let mut applied = 0;
    for f in corpus("good") {
        let file = f.to_str().unwrap();
        let written = objects(&k.ok(&["create", "--dry-run=client", "-o", "json", "-f", file]));
        k.ok(&["apply", "-f", file]);
        let read = objects(&k.ok(&["get", "-o", "json", "-f", file]));
        assert_eq!(written.len(), read.len(), "{file}");
        for (w, r) in written.iter().zip(&read) {
            let mut diffs = Vec::new();
            let mut w = w.clone();
            // kubectl's own bookkeeping, not the manifest's.
            if let Some(a) = w["metadata"]["annotations"].as_object_mut() {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
            // A Secret's stringData is written into its data, as in Kubernetes.
            if let Some(Value::Object(plain)) =
                w.as_object_mut().and_then(|o| o.remove("stringData"))
            {
                for key in plain.keys() {
                    assert!(r["data"][key].is_string(), "{file}: {key} is not in data");
                }
            }
            differences(&w, r, "", &mut diffs);
            assert!(diffs.is_empty(), "{file} read back differently: {diffs:#?}");
            applied += 1;
        }
    }
    assert!(applied >= 15, "only {applied} good objects");

    let mut refused = 0;
    for f in corpus("bad") {
        let name = f.file_name().unwrap().to_str().unwrap();
        let accepted = ACCEPTED_AS_KUBERNETES_DOES.contains(&name);
        // (apply: an accepted case may name an object the good corpus made)
        let verb = if accepted { "apply" } else { "create" };
        let out = k.run(&[verb, "-f", f.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        if accepted {
            assert!(out.status.success(), "{name}: {err}");
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{name} was not refused: {err}");
        if REFUSED_BY_KUBECTL.contains(&name) {
            assert!(!err.contains("from server"), "{name}: {err}");
            continue;
        }
        let path = expected_path(&f);
        let field = if path == "-" {
            String::new()
        } else {
            format!("{path}: ")
        };
        assert!(
            err.contains("is invalid") && err.contains(&field),
            "{name}: wanted Invalid naming `{path}`, got {err}"
        );
        refused += 1;
    }
    assert!(
        refused >= 50,
        "only {refused} bad manifests reached the server"
    );
}
