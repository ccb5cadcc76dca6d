//! The manifest corpus under `tests/manifests/`: every file in `good/` (real Kubernetes
//! manifests, as their docs write them) decodes and validates; every file in `bad/` is
//! rejected with a diagnostic that names the expected field path and problem.
//!
//! A bad case states its expectation in its first two lines (or, for JSON, in a sibling
//! `NAME.expect` file):
//! ```text
//! # expect-path: spec.template.spec.containers[0].imagee   (or `-` for the whole document)
//! # expect-message: unknown field
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use skiff_proto::manifest::{self, Source};

fn corpus(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/manifests")
        .join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn good_manifests_are_accepted() {
    let files = corpus("good");
    assert!(
        files.len() >= 6,
        "the good corpus shrank to {} files",
        files.len()
    );
    let mut kinds = std::collections::BTreeSet::new();
    for f in files {
        let text = fs::read_to_string(&f).expect("read manifest");
        let decoded = manifest::decode(&text, &Source::file(&f));
        assert!(
            decoded.diagnostics.0.is_empty(),
            "{} was rejected:\n{}",
            f.display(),
            decoded.diagnostics
        );
        assert!(
            !decoded.objects.is_empty(),
            "{} held no object",
            f.display()
        );
        kinds.extend(decoded.objects.iter().map(|o| o.kind()));
    }
    use skiff_proto::Kind::*;
    for k in [
        Deployment, Service, ConfigMap, Secret, Job, DaemonSet, Pod, Ingress, HttpRoute,
    ] {
        assert!(kinds.contains(&k), "no good manifest of kind {k}");
    }
}

/// The two expectation lines of a bad case.
fn expectation(file: &Path) -> (String, String) {
    let sidecar = file.with_extension("expect");
    let text = if sidecar.exists() {
        fs::read_to_string(&sidecar)
    } else {
        fs::read_to_string(file)
    }
    .expect("read case");
    let field = |key: &str| {
        text.lines()
            .find_map(|l| {
                l.trim_start_matches('#')
                    .trim()
                    .strip_prefix(key)
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("{} has no `{key}` line", file.display()))
    };
    (field("expect-path:"), field("expect-message:"))
}

#[test]
fn bad_manifests_are_rejected_with_field_and_problem() {
    let files = corpus("bad");
    assert!(
        files.len() >= 20,
        "the bad corpus shrank to {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for f in &files {
        let (path, message) = expectation(f);
        let text = fs::read_to_string(f).expect("read manifest");
        let decoded = manifest::decode(&text, &Source::file(f));
        let want_path = if path == "-" {
            "(document)".to_owned()
        } else {
            path.clone()
        };
        let hit = decoded.diagnostics.0.iter().any(|d| {
            d.path.to_string() == want_path
                && d.message.to_lowercase().contains(&message.to_lowercase())
        });
        if !hit {
            failures.push(format!(
                "{}: wanted `{want_path}` / {message:?}, got:\n{}\n",
                f.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                if decoded.diagnostics.0.is_empty() {
                    "  (accepted)".to_owned()
                } else {
                    decoded.diagnostics.to_string()
                }
            ));
        }
        // Every diagnostic says where: the parser knows a line for each of these cases.
        for d in &decoded.diagnostics.0 {
            assert!(d.position.is_some(), "{}: no line in {d}", f.display());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad manifests were not rejected as expected:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_error_in_a_file_is_reported() {
    let text = "\
apiVersion: v1
kind: Service
metadata:
  name: Bad_Name
  labels:
    \"bad key\": x
spec:
  ports:
  - port: 0
";
    let d = manifest::decode(text, &Source::named("svc.yaml")).diagnostics;
    let paths: Vec<String> = d.0.iter().map(|d| d.path.to_string()).collect();
    assert!(paths.contains(&"metadata.name".to_owned()), "{paths:?}");
    assert!(
        paths.contains(&r#"metadata.labels["bad key"]"#.to_owned()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"spec.ports[0].port".to_owned()),
        "{paths:?}"
    );
    let shown = d.to_string();
    assert!(shown.starts_with("svc.yaml:4:"), "{shown}");
}

#[test]
fn typo_hint_names_the_closest_field() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    imagee: nginx\n";
    let d = manifest::decode(text, &Source::named("pod.yaml")).diagnostics;
    assert_eq!(d.0.len(), 1, "{d}");
    assert_eq!(d.0[0].position, Some((8, 5)));
    assert_eq!(d.0[0].hint.as_deref(), Some("did you mean `image`?"));
    assert_eq!(
        d.to_string(),
        "pod.yaml:8:5: document 1 (Pod/p): spec.containers[0].imagee: unknown field `imagee`\n  hint: did you mean `image`?"
    );
}

/// The OpenAPI schemas accept exactly what the decoder does: nothing in a good manifest
/// is unknown to them, and each bad manifest with an unknown field has it found where
/// the decoder finds it.
#[test]
fn the_schemas_know_the_fields_the_decoder_knows() {
    use skiff_proto::schema::Schemas;
    for f in corpus("good") {
        let text = fs::read_to_string(&f).expect("read manifest");
        for o in manifest::decode(&text, &Source::file(&f)).objects {
            let mut v = serde_json::to_value(&o).expect("to JSON");
            let unknown = Schemas::all().prune_unknown(o.kind(), &mut v);
            assert!(unknown.is_empty(), "{}: {unknown:?}", f.display());
        }
    }
    let mut checked = 0;
    for f in corpus("bad") {
        let (path, message) = expectation(&f);
        if message != "unknown field" {
            continue;
        }
        let text = fs::read_to_string(&f).expect("read manifest");
        let mut v: serde_json::Value = if f.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).expect("JSON")
        } else {
            serde_saphyr::from_str(&text).expect("YAML")
        };
        let kind = v["kind"].as_str().and_then(skiff_proto::Kind::lookup);
        let kind = kind.unwrap_or_else(|| panic!("{}: no kind", f.display()));
        let unknown = Schemas::all().prune_unknown(kind, &mut v);
        assert_eq!(unknown, [path], "{}", f.display());
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} unknown-field cases");
}
