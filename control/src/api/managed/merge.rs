//! The two edits server-side apply makes to an object's JSON: a field removed (one the
//! applier set before and no longer does, that no one else owns), and the applied
//! configuration merged in (objects field by field, keyed lists item by item, sets
//! member by member, anything else replaced).

use serde_json::Value;
use skiff_proto::lists::{ListType, key_value, list_type};

use super::fieldset::{Step, key_step, keyed};

/// Removes the field at `path` from `v`, and any object or list left empty by it.
pub fn remove(v: &mut Value, path: &[Step]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match (first, v) {
        (Step::Field(f), Value::Object(m)) => {
            if rest.is_empty() {
                m.remove(f);
                return;
            }
            if let Some(child) = m.get_mut(f) {
                remove(child, rest);
                if is_empty(child) {
                    m.remove(f);
                }
            }
        }
        (Step::Key(k), Value::Array(items)) => {
            let Some(i) = items.iter().position(|item| matches_key(item, k)) else {
                return;
            };
            if rest == [Step::Itself] {
                items.remove(i);
            } else {
                remove(&mut items[i], rest);
            }
        }
        (Step::Value(x), Value::Array(items)) => {
            if let Ok(x) = serde_json::from_str::<Value>(x) {
                items.retain(|item| *item != x);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Whether `item` is the one the `k:` step `key` names.
fn matches_key(item: &Value, key: &str) -> bool {
    let Ok(Value::Object(want)) = serde_json::from_str::<Value>(key) else {
        return false;
    };
    want.iter()
        .all(|(k, v)| key_value(item, k).as_ref() == Some(v))
}

/// Merges `applied` into `v` (the value of field `field`).
pub fn merge(v: &mut Value, applied: &Value, field: &str) {
    match (v, applied) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, a) in from {
                match into.get_mut(k) {
                    Some(existing) => merge(existing, a, k),
                    None => {
                        into.insert(k.clone(), a.clone());
                    }
                }
            }
        }
        (Value::Array(into), Value::Array(from)) => {
            let all: Vec<&Value> = into.iter().chain(from).collect();
            let set = list_type(field, &all) == ListType::Set;
            if let Some(keys) = keyed(field, into.iter().chain(from)) {
                for a in from {
                    let step = key_step(keys, a);
                    let Step::Key(k) = &step else { continue };
                    match into.iter_mut().find(|i| matches_key(i, k)) {
                        Some(existing) => merge(existing, a, ""),
                        None => into.push(a.clone()),
                    }
                }
            } else if set {
                for a in from {
                    if !into.contains(a) {
                        into.push(a.clone());
                    }
                }
            } else {
                *into = from.clone();
            }
        }
        (v, a) => *v = a.clone(),
    }
}
