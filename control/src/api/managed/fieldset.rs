//! Field sets: an object's fields as paths to leaves (a scalar, a whole atomic list, a
//! map entry, an empty object), with list items named by their merge key, and the
//! `FieldsV1` form Kubernetes writes them in (`{"f:spec":{"f:replicas":{}}}`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use skiff_proto::lists::{ListType, key_value, list_type, map_keys};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// A field of an object, or a key of a map (`f:`).
    Field(String),
    /// An item of a keyed list, by its key as JSON (`k:{"name":"web"}`).
    Key(String),
    /// A member of a set of plain values, as JSON (`v:"x"`).
    Value(String),
    /// A keyed list's item itself (`.`).
    Itself,
}

pub type Path = Vec<Step>;
pub type Set = BTreeSet<Path>;

/// Fields that are the object's identity or the server's, never anyone's to own.
const SERVER_METADATA: [&str; 9] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "managedFields",
    "generateName",
];

/// Every leaf of `object` (a whole object as JSON) with its value, leaving out the
/// header, `status` and the server's metadata.
pub fn leaves(object: &Value) -> BTreeMap<Path, Value> {
    let mut out = BTreeMap::new();
    let Some(top) = object.as_object() else {
        return out;
    };
    for (k, v) in top {
        match k.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                for (mk, mv) in v.as_object().into_iter().flatten() {
                    if !SERVER_METADATA.contains(&mk.as_str()) {
                        let path = vec![Step::Field(k.clone()), Step::Field(mk.clone())];
                        walk(mv, mk, path, &mut out);
                    }
                }
            }
            _ => walk(v, k, vec![Step::Field(k.clone())], &mut out),
        }
    }
    out
}

/// The key fields of a list whose every item has them, if it is a keyed list.
pub fn keyed<'a>(
    field: &str,
    items: impl IntoIterator<Item = &'a Value>,
) -> Option<&'static [&'static str]> {
    let items: Vec<&Value> = items.into_iter().collect();
    let keys = map_keys(field, &items)?;
    items
        .iter()
        .all(|i| keys.iter().all(|k| key_value(i, k).is_some()))
        .then_some(keys)
}

/// The step naming `item` of a list keyed on `keys` (`k:{"containerPort":53,"protocol":"UDP"}`).
pub fn key_step(keys: &[&str], item: &Value) -> Step {
    let fields: Map<String, Value> = keys
        .iter()
        .map(|k| ((*k).to_owned(), key_value(item, k).unwrap_or_default()))
        .collect();
    Step::Key(Value::Object(fields).to_string())
}

fn walk(v: &Value, field: &str, path: Path, out: &mut BTreeMap<Path, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let mut p = path.clone();
                p.push(Step::Field(k.clone()));
                walk(x, k, p, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let set = list_type(field, &items.iter().collect::<Vec<_>>()) == ListType::Set;
            if let Some(keys) = keyed(field, items) {
                for item in items {
                    let mut p = path.clone();
                    let step = key_step(keys, item);
                    p.push(step.clone());
                    let mut itself = p.clone();
                    itself.push(Step::Itself);
                    let Step::Key(k) = step else { continue };
                    out.insert(itself, Value::String(k));
                    walk(item, "", p, out);
                }
            } else if set {
                for item in items {
                    let mut p = path.clone();
                    p.push(Step::Value(item.to_string()));
                    out.insert(p, item.clone());
                }
            } else {
                out.insert(path, v.clone());
            }
        }
        _ => {
            out.insert(path, v.clone());
        }
    }
}

/// The fields a `k:` step names (`{"name":"web"}` → `name`).
pub fn key_names(key: &str) -> Vec<String> {
    serde_json::from_str::<Map<String, Value>>(key)
        .map(|m| m.into_iter().map(|(k, _)| k).collect())
        .unwrap_or_default()
}

/// A path as Kubernetes prints it in a conflict: `.spec.containers[name="web"].image`.
pub fn display(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Step::Key(k) => {
                let inner = serde_json::from_str::<Map<String, Value>>(k).unwrap_or_default();
                let parts: Vec<String> = inner.iter().map(|(k, v)| format!("{k}={v}")).collect();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            Step::Value(v) => s.push_str(&format!("[={v}]")),
            Step::Itself => {}
        }
    }
    s
}

/// `set` as `FieldsV1`.
pub fn to_fields_v1(set: &Set) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut at = &mut root;
        for step in path {
            let name = match step {
                Step::Field(f) => format!("f:{f}"),
                Step::Key(k) => format!("k:{k}"),
                Step::Value(v) => format!("v:{v}"),
                Step::Itself => ".".to_owned(),
            };
            let next = at.entry(name).or_insert_with(|| Value::Object(Map::new()));
            at = match next {
                Value::Object(m) => m,
                _ => unreachable!("every node is an object"),
            };
        }
    }
    Value::Object(root)
}

/// The set `FieldsV1` names; names it cannot read are skipped.
pub fn from_fields_v1(v: &Value) -> Set {
    fn go(v: &Value, path: &mut Path, out: &mut Set) {
        let Some(m) = v.as_object() else {
            return;
        };
        if m.is_empty() && !path.is_empty() {
            out.insert(path.clone());
            return;
        }
        for (name, child) in m {
            let step = if name == "." {
                Step::Itself
            } else if let Some(f) = name.strip_prefix("f:") {
                Step::Field(f.to_owned())
            } else if let Some(k) = name.strip_prefix("k:") {
                Step::Key(k.to_owned())
            } else if let Some(x) = name.strip_prefix("v:") {
                Step::Value(x.to_owned())
            } else {
                continue;
            };
            path.push(step);
            go(child, path, out);
            path.pop();
        }
    }
    let mut out = Set::new();
    go(v, &mut Vec::new(), &mut out);
    out
}
