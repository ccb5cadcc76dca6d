use serde_json::json;

use super::*;

/// Both halves, with the merged object taken as admission leaves it.
fn apply(
    current: Option<&Value>,
    managed: &[ManagedFieldsEntry],
    applied: &Value,
    by: &Applier,
) -> Result<(Value, Vec<ManagedFieldsEntry>), Vec<Conflict>> {
    let m = merge(current, managed, applied, by);
    let object = m.object.clone();
    finish(m, current, &object, by).map(|e| (object, e))
}

fn by(manager: &str, force: bool) -> Applier<'_> {
    Applier {
        manager,
        api_version: "apps/v1",
        force,
        now: Time { unix_seconds: 1 },
    }
}

fn deployment(replicas: Option<i64>, containers: Value) -> Value {
    let mut d = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"template": {"spec": {"containers": containers}}}
    });
    if let Some(r) = replicas {
        d["spec"]["replicas"] = json!(r);
    }
    d
}

#[test]
fn an_apply_owns_what_it_sets_in_kubernetes_fields_v1() {
    let applied = deployment(Some(2), json!([{"name": "a", "image": "x"}]));
    let (object, managed) = apply(None, &[], &applied, &by("kubectl", false)).unwrap();
    assert_eq!(object, applied);
    assert_eq!(managed.len(), 1);
    assert_eq!(
        (managed[0].manager.as_str(), managed[0].operation.as_str()),
        ("kubectl", APPLY)
    );
    assert_eq!(
        managed[0].fields_v1,
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"a\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}}
            }
        })
    );
}

#[test]
fn an_apply_removes_what_it_no_longer_sets_but_not_what_others_own() {
    let first = deployment(
        Some(2),
        json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]),
    );
    let (object, managed) = apply(None, &[], &first, &by("me", false)).unwrap();
    // Someone else sets an env var on container a.
    let mut edited = object.clone();
    edited["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "E", "value": "1"}]);
    let managed = update(
        &object,
        &edited,
        &managed,
        "kubectl-edit",
        "apps/v1",
        Time { unix_seconds: 2 },
    );
    assert_eq!(managed.len(), 2);
    // The next apply drops container b and replicas.
    let second = deployment(None, json!([{"name": "a", "image": "x"}]));
    let (object, managed) = apply(Some(&edited), &managed, &second, &by("me", false)).unwrap();
    let containers = object["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1, "{object}");
    assert_eq!(
        containers[0]["env"][0]["value"], "1",
        "the other manager's field stays"
    );
    assert!(object["spec"].get("replicas").is_none(), "{object}");
    let mine = managed.iter().find(|e| e.manager == "me").unwrap();
    assert!(!mine.fields_v1.to_string().contains("replicas"));
}

#[test]
fn changing_a_field_another_manager_owns_conflicts_unless_forced() {
    let applied = deployment(Some(2), json!([{"name": "a", "image": "x"}]));
    let (object, managed) = apply(None, &[], &applied, &by("me", false)).unwrap();
    let mut scaled = object.clone();
    scaled["spec"]["replicas"] = json!(5);
    let managed = update(
        &object,
        &scaled,
        &managed,
        "kubectl-scale",
        "apps/v1",
        Time { unix_seconds: 2 },
    );
    // Re-applying the same configuration changes replicas back: a conflict.
    let conflicts = apply(Some(&scaled), &managed, &applied, &by("me", false)).unwrap_err();
    assert_eq!(
        conflicts,
        [Conflict {
            manager: "kubectl-scale".into(),
            api_version: "apps/v1".into(),
            field: ".spec.replicas".into()
        }]
    );
    assert_eq!(
        conflict_message(&conflicts[0]),
        "conflict with \"kubectl-scale\" using apps/v1"
    );
    // The same value is shared, not a conflict.
    let same = deployment(Some(5), json!([{"name": "a", "image": "x"}]));
    assert!(apply(Some(&scaled), &managed, &same, &by("me", false)).is_ok());
    // Forced, the field is taken.
    let (object, after) = apply(Some(&scaled), &managed, &applied, &by("me", true)).unwrap();
    assert_eq!(object["spec"]["replicas"], 2);
    assert!(
        after.iter().all(|e| e.manager != "kubectl-scale"),
        "{after:?}"
    );
    // Left out of the configuration, a field another manager owns is kept.
    let without = deployment(None, json!([{"name": "a", "image": "x"}]));
    let (object, _) = apply(Some(&scaled), &managed, &without, &by("me", false)).unwrap();
    assert_eq!(object["spec"]["replicas"], 5);
}

#[test]
fn fields_v1_reads_back_as_the_same_set() {
    let d = deployment(
        Some(1),
        json!([{"name": "a", "image": "x", "args": ["1", "2"]}]),
    );
    let mut d = d;
    d["metadata"]["finalizers"] = json!(["f1"]);
    let set: Set = leaves(&d).into_keys().collect();
    let v1 = to_fields_v1(&set);
    assert!(v1.to_string().contains("\"v:\\\"f1\\\"\""), "{v1}");
    assert!(
        v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"a\"}"]["f:args"]
            == json!({})
    );
    assert_eq!(from_fields_v1(&v1), set);
}

#[test]
fn a_first_apply_to_an_object_no_one_owns_keeps_and_conflicts_as_kubernetes_does() {
    let made = deployment(
        Some(3),
        json!([{"name": "a", "image": "x", "args": ["-v"]}]),
    );
    // Applying another image: the object's fields are before-first-apply's.
    let applied = deployment(None, json!([{"name": "a", "image": "y"}]));
    let conflicts = apply(Some(&made), &[], &applied, &by("me", false)).unwrap_err();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].manager, BEFORE_FIRST_APPLY);
    assert!(
        conflicts[0]
            .field
            .ends_with(r#".containers[name="a"].image"#),
        "{conflicts:?}"
    );
    let (object, managed) = apply(Some(&made), &[], &applied, &by("me", true)).unwrap();
    let c = &object["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        (c["image"].as_str(), c["args"][0].as_str()),
        (Some("y"), Some("-v")),
        "what it leaves out stays"
    );
    assert_eq!(object["spec"]["replicas"], 3);
    assert!(managed.iter().any(|e| e.manager == BEFORE_FIRST_APPLY));
}

#[test]
fn a_dropped_item_stays_while_another_manager_owns_something_in_it() {
    let first = deployment(
        None,
        json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]),
    );
    let (object, managed) = apply(None, &[], &first, &by("me", false)).unwrap();
    let mut edited = object.clone();
    edited["spec"]["template"]["spec"]["containers"][1]["env"] =
        json!([{"name": "E", "value": "1"}]);
    let managed = update(
        &object,
        &edited,
        &managed,
        "edit",
        "apps/v1",
        Time { unix_seconds: 2 },
    );
    let second = deployment(None, json!([{"name": "a", "image": "x"}]));
    let (object, _) = apply(Some(&edited), &managed, &second, &by("me", false)).unwrap();
    let containers = object["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 2, "b holds edit's env: {object}");
    assert_eq!(containers[1]["env"][0]["value"], "1");
}

#[test]
fn ports_are_told_apart_by_protocol() {
    let ports = json!([{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53}]);
    let applied = deployment(None, json!([{"name": "dns", "image": "x", "ports": ports}]));
    let (object, managed) = apply(None, &[], &applied, &by("me", false)).unwrap();
    let (again, _) = apply(Some(&object), &managed, &applied, &by("me", false)).unwrap();
    let got = &again["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert_eq!(got.as_array().map(Vec::len), Some(2), "{got}");
    let v1 = managed[0].fields_v1.to_string();
    assert!(
        v1.contains(r#"k:{\"containerPort\":53,\"protocol\":\"TCP\"}"#),
        "{v1}"
    );
}

#[test]
fn client_side_applied_fields_go_to_a_server_side_apply_without_a_conflict() {
    let mut made = deployment(Some(2), json!([{"name": "a", "image": "x"}]));
    made["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": "{}"});
    // Made by client-side apply: no one owns it yet (before-first-apply will).
    let managed: Vec<ManagedFieldsEntry> = Vec::new();
    let applied = deployment(Some(3), json!([{"name": "a", "image": "x"}]));
    let (object, after) = apply(Some(&made), &managed, &applied, &by("kubectl", false)).unwrap();
    assert_eq!(object["spec"]["replicas"], 3);
    assert!(
        after
            .iter()
            .any(|e| e.manager == "kubectl" && e.operation == APPLY)
    );
    // Without the annotation, the same fields conflict.
    made["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    assert!(apply(Some(&made), &managed, &applied, &by("kubectl", false)).is_err());
}
