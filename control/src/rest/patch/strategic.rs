//! Strategic merge patch, as kubectl sends it for built-in kinds (`apply`, `edit`, `set
//! image`, `rollout restart`): a merge patch whose lists of objects merge item by item on
//! a key (containers by `name`, ports by `containerPort` or `port`, ...) instead of being
//! replaced, with the directives `$patch` (`delete`, `replace`), `$retainKeys`,
//! `$deleteFromPrimitiveList/FIELD` and `$setElementOrder/FIELD` (an order hint; the
//! patched order is kept).
//!
//! Merge keys come from [`skiff_proto::lists`]; a list without one is replaced whole, as
//! in Kubernetes.

use serde_json::{Map, Value};
use skiff_proto::lists::{ListType, list_type};

/// Applies `patch` to `doc`.
pub fn apply(doc: &mut Value, patch: &Value) -> Result<(), String> {
    match (doc.as_object_mut(), patch.as_object()) {
        (Some(d), Some(p)) => merge_map(d, p),
        _ => Err("a strategic merge patch must be a JSON object".into()),
    }
}

/// `v` without directives, for a value that is put as it is.
fn clean(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), clean(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(clean).collect()),
        other => other.clone(),
    }
}

fn merge_map(doc: &mut Map<String, Value>, patch: &Map<String, Value>) -> Result<(), String> {
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        *doc = match clean(&Value::Object(patch.clone())) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        return Ok(());
    }
    for (k, pv) in patch {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let gone: Vec<&Value> = pv
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            if let Some(Value::Array(list)) = doc.get_mut(field) {
                list.retain(|x| !gone.contains(&x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        match pv {
            Value::Null => {
                doc.remove(k);
            }
            Value::Object(pm) if pm.get("$patch").and_then(Value::as_str) == Some("delete") => {
                doc.remove(k);
            }
            Value::Object(pm) => match doc.get_mut(k) {
                Some(Value::Object(dm)) => merge_map(dm, pm)?,
                _ => {
                    doc.insert(k.clone(), clean(pv));
                }
            },
            Value::Array(pa) => {
                let merged = merge_list(k, doc.get(k), pa)?;
                doc.insert(k.clone(), merged);
            }
            scalar => {
                doc.insert(k.clone(), scalar.clone());
            }
        }
    }
    if let Some(keep) = patch.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        doc.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn merge_list(field: &str, doc: Option<&Value>, patch: &[Value]) -> Result<Value, String> {
    let current: Vec<Value> = doc.and_then(Value::as_array).cloned().unwrap_or_default();
    let all: Vec<&Value> = current.iter().chain(patch.iter()).collect();
    let kind = list_type(field, &all);
    if kind == ListType::Set {
        let mut out = current;
        for v in patch {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        return Ok(Value::Array(out));
    }
    let ListType::Map(key) = kind else {
        return Ok(clean(&Value::Array(patch.to_vec())));
    };
    if patch
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        let kept: Vec<Value> = patch
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .map(clean)
            .collect();
        return Ok(Value::Array(kept));
    }
    let mut out = current;
    for item in patch {
        let Some(obj) = item.as_object() else {
            return Err(format!(
                "{field}: a strategic merge patch item must be an object with {key:?}"
            ));
        };
        let id = obj.get(key).ok_or_else(|| {
            format!("{field}: every item of a strategic merge patch needs its merge key {key:?}")
        })?;
        let at = out.iter().position(|d| d.get(key) == Some(id));
        match (obj.get("$patch").and_then(Value::as_str), at) {
            (Some("delete"), Some(i)) => {
                out.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => {
                if let Some(d) = out[i].as_object_mut() {
                    merge_map(d, obj)?;
                }
            }
            (_, None) => out.push(clean(item)),
        }
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patched(doc: Value, patch: Value) -> Value {
        let mut d = doc;
        apply(&mut d, &patch).unwrap();
        d
    }

    #[test]
    fn containers_merge_by_name_and_other_lists_are_replaced() {
        let doc = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "b:1"}
        ], "tolerations": [{"key": "x"}]}});
        // kubectl set image: only the changed container, with an order hint.
        let out = patched(
            doc.clone(),
            json!({"spec": {
                "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [{"name": "b", "image": "b:2"}],
                "tolerations": [{"key": "y"}]
            }}),
        );
        assert_eq!(out["spec"]["containers"][0]["image"], "a:1");
        assert_eq!(out["spec"]["containers"][1]["image"], "b:2");
        assert_eq!(out["spec"]["tolerations"], json!([{"key": "y"}]));
        // A new item is appended; `$patch: delete` removes one by its key.
        let out = patched(
            doc,
            json!({"spec": {"containers": [
                {"name": "c", "image": "c:1"},
                {"name": "a", "$patch": "delete"}
            ]}}),
        );
        let names: Vec<&str> = out["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["b", "c"]);
    }

    #[test]
    fn directives_do_what_kubernetes_says() {
        let doc = json!({"metadata": {"finalizers": ["a"], "labels": {"x": "1", "y": "2"}},
                         "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let out = patched(
            doc,
            json!({
                "metadata": {"finalizers": ["b"], "labels": {"x": null},
                             "$deleteFromPrimitiveList/finalizers": ["a"]},
                "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}
            }),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        assert_eq!(out["metadata"]["labels"], json!({"y": "2"}));
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        let out = patched(
            json!({"spec": {"a": 1, "b": 2}}),
            json!({"spec": {"$patch": "replace", "c": 3}}),
        );
        assert_eq!(out, json!({"spec": {"c": 3}}));
        let service = patched(
            json!({"ports": [{"port": 80, "name": "http"}]}),
            json!({"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}),
        );
        assert_eq!(
            service["ports"][0],
            json!({"port": 80, "name": "http", "targetPort": 8080})
        );
        assert_eq!(service["ports"].as_array().unwrap().len(), 2);
    }
}
