//! Server-side tables (`meta.k8s.io/v1 Table`): what `kubectl get` prints. A client asks
//! with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`; the columns and cells are
//! the printer columns of `skiff_proto::printer` (the CLI prints the same), ages rendered
//! here since kubectl prints cells as they come. Each row carries the object's metadata
//! (`PartialObjectMetadata`), which `-A` and `--show-labels` read, or the whole object
//! with `includeObject=Object`.

use serde_json::{Value, json};
use skiff_proto::model::values::Time;
use skiff_proto::printer::{cells, columns};
use skiff_proto::{Kind, Object};

/// Whether `accept` asks for a Table.
pub fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table") && first.contains("g=meta.k8s.io"))
}

/// What each row carries of its object (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    pub fn parse(v: Option<&str>) -> Include {
        match v {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

/// The column definitions of `kind`.
pub fn definitions(kind: Kind) -> Value {
    let defs: Vec<Value> = columns(kind)
        .into_iter()
        .map(|c| {
            json!({
                "name": title(c.name),
                "type": c.type_,
                "format": if c.name == "NAME" { "name" } else { "" },
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect();
    Value::Array(defs)
}

/// `RESTARTS` → `Restarts`, `UP-TO-DATE` → `Up-to-date`, as Kubernetes names columns
/// (kubectl prints them upper-cased again).
fn title(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let mut c = lower.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// One row: the cells and, as asked, the object. `json` is the object's manifest JSON.
pub fn row(o: &Object, json: &Value, include: Include, now: Time) -> Value {
    let object = match include {
        Include::None => Value::Null,
        Include::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": json.get("metadata").cloned().unwrap_or(Value::Null),
        }),
        Include::Object => json.clone(),
    };
    json!({"cells": cells(o, now), "object": object})
}

/// A table of `rows` of `kind` at `resource_version`; `headers: false` leaves the column
/// definitions out (the watch events after the first).
pub fn table(kind: Kind, rows: Vec<Value>, resource_version: u64, headers: bool) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": if headers { definitions(kind) } else { Value::Null },
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectls_accept_header_asks_for_a_table() {
        assert!(wanted(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        ));
        assert!(!wanted("application/json"));
    }

    #[test]
    fn columns_are_named_as_kubernetes_names_them() {
        let d = definitions(Kind::Pod);
        assert_eq!(d[0]["name"], "Name");
        assert_eq!(d[0]["format"], "name");
        assert_eq!(title("UP-TO-DATE"), "Up-to-date");
        let wide: Vec<&Value> = d
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["priority"] == 1)
            .collect();
        assert_eq!(wide.len(), 1, "NODE only with -o wide");
    }
}
