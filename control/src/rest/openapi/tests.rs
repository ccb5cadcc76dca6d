use super::*;

fn doc(path: &str) -> Value {
    let d = &DOCUMENTS.by_path[path];
    serde_json::from_slice(&d.json).expect("a JSON document")
}

#[test]
fn the_index_names_every_group_version_with_its_hash() {
    let index: Value = serde_json::from_slice(&DOCUMENTS.index).expect("JSON");
    let paths = index["paths"].as_object().expect("paths");
    for want in [
        "api/v1",
        "apis/apps/v1",
        "apis/gateway.networking.k8s.io/v1",
        "apis/skiff.dev/v1",
    ] {
        let url = paths[want]["serverRelativeURL"].as_str().expect(want);
        let hash = &DOCUMENTS.by_path[want].hash;
        assert_eq!(url, format!("/openapi/v3/{want}?hash={hash}"));
    }
    assert_eq!(paths.len(), DOCUMENTS.by_path.len());
}

/// What kubectl looks for before it leaves validation to the server: a PATCH for the
/// group-version-kind that takes `fieldValidation`.
#[test]
fn every_kinds_patch_takes_field_validation() {
    for k in Kind::ALL {
        let d = doc(&path_of(k));
        let gvk = json!({"group": k.group(), "version": k.version(), "kind": k.info().name});
        let patch = d["paths"]
            .as_object()
            .expect("paths")
            .values()
            .filter_map(|p| p.get("patch"))
            .find(|op| op["x-kubernetes-group-version-kind"] == gvk)
            .unwrap_or_else(|| panic!("no PATCH for {k}"));
        let params = patch["parameters"].as_array().expect("parameters");
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"),
            "{k}"
        );
        let content = patch["requestBody"]["content"].as_object().expect("bodies");
        assert!(!content.contains_key("application/strategic-merge-patch+json"));
    }
}

#[test]
fn a_document_holds_its_kinds_and_every_reference_resolves() {
    let d = doc("apis/apps/v1");
    let schemas = d["components"]["schemas"].as_object().expect("schemas");
    let kinds: Vec<&str> = schemas
        .values()
        .filter_map(|s| s["x-kubernetes-group-version-kind"][0]["kind"].as_str())
        .collect();
    for k in [
        "Deployment",
        "DeploymentList",
        "ReplicaSet",
        "DaemonSet",
        "Scale",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert!(!kinds.contains(&"Pod"), "core kinds stay in api/v1");
    let text = d.to_string();
    for piece in text.split("\"$ref\":\"").skip(1) {
        let r = piece.split('"').next().unwrap_or_default();
        let name = r.strip_prefix(REF_PREFIX).expect("a components reference");
        assert!(schemas.contains_key(name), "{r} is missing");
    }
    let ops = d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
        .as_object()
        .expect("the item path");
    for m in ["get", "put", "patch", "delete"] {
        assert_eq!(
            ops[m]["operationId"]
                .as_str()
                .map(|s| s.contains("AppsV1NamespacedDeployment")),
            Some(true)
        );
    }
}

#[test]
fn documents_are_cached_only_at_their_current_hash() {
    let hash = DOCUMENTS.by_path["api/v1"].hash.clone();
    let control = |r: Reply| {
        r.headers()[http::header::CACHE_CONTROL]
            .to_str()
            .map(str::to_owned)
    };
    assert_eq!(
        control(serve("/api/v1", Some(&hash)).expect("served"))
            .ok()
            .as_deref(),
        Some("public, immutable")
    );
    assert_eq!(
        control(serve("/api/v1", Some("stale")).expect("served"))
            .ok()
            .as_deref(),
        Some("no-cache, private")
    );
    assert!(serve("/apis/widgets.example/v1", None).is_none());
    assert!(serve("", None).is_some());
}
