use super::*;

/// `v` and every schema inside it, depth first.
fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(v);
    if let Some(p) = v.get("properties").and_then(Value::as_object) {
        p.values().for_each(|x| walk(x, out));
    }
    for single in ["items", "additionalProperties"] {
        if let Some(x) = v.get(single).filter(|x| x.is_object()) {
            walk(x, out);
        }
    }
    for many in ["allOf", "anyOf", "oneOf"] {
        if let Some(a) = v.get(many).and_then(Value::as_array) {
            a.iter().for_each(|x| walk(x, out));
        }
    }
}

fn at<'a>(s: &'a Schemas, v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, field| {
        let v = s.resolve(v);
        v.get("properties")
            .and_then(|p| p.get(*field))
            .unwrap_or_else(|| panic!("no {field} in {v}"))
    })
}

#[test]
fn a_kinds_schema_says_what_kubectl_explain_reads() {
    let s = Schemas::all();
    let name = s.root(Kind::Deployment).expect("a Deployment schema");
    let root = &s.components()[name];
    assert_eq!(
        root["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "version": "v1", "kind": "Deployment"}])
    );
    assert_eq!(at(s, root, &["apiVersion"])["type"], "string");
    let replicas = at(s, root, &["spec", "replicas"]);
    assert_eq!(replicas["type"], "integer", "{replicas}");
    assert!(
        replicas["description"]
            .as_str()
            .is_some_and(|d| d.contains("scale to zero")),
        "{replicas}"
    );
    let strategy = s.resolve(at(s, root, &["spec", "strategy", "type"]));
    assert_eq!(strategy["type"], "string", "{strategy}");
    assert_eq!(
        strategy["enum"],
        json!(["RollingUpdate", "Recreate", "Canary"])
    );
    let surge = at(s, root, &["spec", "strategy", "rollingUpdate", "maxSurge"]);
    assert_eq!(surge["x-kubernetes-int-or-string"], true);
    assert_eq!(
        at(s, root, &["metadata", "resourceVersion"])["type"],
        "string"
    );
    let required = s.resolve(at(s, root, &["spec"]))["required"].clone();
    assert_eq!(required, json!(["selector", "template"]));
}

#[test]
fn schemas_have_no_nulls_no_unions_and_every_reference_resolves() {
    let s = Schemas::all();
    let mut all = Vec::new();
    for v in s.components().values() {
        walk(v, &mut all);
    }
    for v in all {
        let text = v.to_string();
        assert!(v.get("nullable").is_none(), "nullable in {text}");
        assert!(
            v.get("anyOf").is_none() && v.get("oneOf").is_none(),
            "{text}"
        );
        assert!(v.get("title").is_none(), "{text}");
        if let Some(e) = v.get("enum").and_then(Value::as_array) {
            assert!(!e.contains(&Value::Null), "null in {text}");
        }
        if let Some(t) = v.get("type") {
            assert!(t.is_string(), "a type list in {text}");
        }
        if let Some(r) = v.get("$ref").and_then(Value::as_str) {
            let name = r.strip_prefix(REF_PREFIX).expect("a components reference");
            assert!(s.components().contains_key(name), "{r} is missing");
            assert_eq!(
                v.as_object().map(Map::len),
                Some(1),
                "$ref siblings: {text}"
            );
        }
    }
    for k in Kind::ALL {
        assert!(s.root(k).is_some(), "{k} has no schema");
    }
}

#[test]
fn unknown_fields_are_found_at_every_depth_and_removed() {
    let mut v = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "colour": "red"},
        "spec": {
            "replicas": 2,
            "replica": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "a", "image": "nginx:1.27"},
                    {"name": "b", "image": "nginx:1.27", "imagee": "z"}
                ]}
            }
        }
    });
    let found = Schemas::all().prune_unknown(Kind::Deployment, &mut v);
    assert_eq!(
        found,
        [
            "metadata.colour",
            "spec.replica",
            "spec.template.spec.containers[1].imagee"
        ]
    );
    assert_eq!(v["metadata"]["labels"]["app"], "web", "map values are kept");
    assert_eq!(v["spec"]["replicas"], 2);
    let text = v.to_string();
    let o = crate::manifest::decode_one(&text, &crate::manifest::Source::named("t"));
    assert!(o.is_ok(), "what is left decodes strictly: {o:?}");
}
