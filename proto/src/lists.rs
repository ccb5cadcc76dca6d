//! How the lists of each field merge, as Kubernetes' types declare them: item by item on
//! a key (containers by `name`), as a set of plain values (`finalizers`), or whole.
//! Strategic merge patch reads the `patchMergeKey` ([`list_type`]); server-side apply the
//! `listMapKeys` ([`map_keys`]), which differ for ports (apply tells `53/TCP` from
//! `53/UDP`; a strategic patch keys on the port alone, as kubectl expects).

use serde_json::Value;

/// How a list merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// Items are objects told apart by this field.
    Map(&'static str),
    /// Items are plain values, each at most once.
    Set,
    /// The list is one value, replaced whole.
    Atomic,
}

/// How the list in field `field` with `items` merges.
pub fn list_type(field: &str, items: &[&Value]) -> ListType {
    let key = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => "name",
        "volumeMounts" | "volumeDevices" => "mountPath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        // A container's ports merge on containerPort, a Service's on port.
        "ports" if items.iter().any(|i| i.get("containerPort").is_some()) => "containerPort",
        "ports" => "port",
        "finalizers" => return ListType::Set,
        _ => return ListType::Atomic,
    };
    ListType::Map(key)
}

/// The fields server-side apply tells the items of list `field` apart by, if it is a
/// keyed list.
pub fn map_keys(field: &str, items: &[&Value]) -> Option<&'static [&'static str]> {
    Some(match list_type(field, items) {
        ListType::Map("containerPort") => &["containerPort", "protocol"],
        ListType::Map("port") => &["port", "protocol"],
        ListType::Map("name") => &["name"],
        ListType::Map("mountPath") => &["mountPath"],
        ListType::Map("type") => &["type"],
        ListType::Map("uid") => &["uid"],
        ListType::Map("ip") => &["ip"],
        ListType::Map(_) | ListType::Set | ListType::Atomic => return None,
    })
}

/// An item's value of key field `key`, with the default Kubernetes gives it when left out
/// (a port's `protocol` is TCP).
pub fn key_value(item: &Value, key: &str) -> Option<Value> {
    match item.get(key) {
        Some(v) => Some(v.clone()),
        None if key == "protocol" => Some(Value::String("TCP".into())),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_merge_as_kubernetes_types_say() {
        assert_eq!(list_type("containers", &[]), ListType::Map("name"));
        let port = json!({"containerPort": 80});
        assert_eq!(list_type("ports", &[&port]), ListType::Map("containerPort"));
        assert_eq!(
            list_type("ports", &[&json!({"port": 80})]),
            ListType::Map("port")
        );
        assert_eq!(list_type("finalizers", &[]), ListType::Set);
        assert_eq!(list_type("args", &[]), ListType::Atomic);
        assert_eq!(
            map_keys("ports", &[&port]),
            Some(&["containerPort", "protocol"][..])
        );
        assert_eq!(key_value(&port, "protocol"), Some(json!("TCP")));
        // Every merge key has its apply keys.
        for field in [
            "containers",
            "env",
            "volumeMounts",
            "conditions",
            "ownerReferences",
            "hostAliases",
        ] {
            assert!(map_keys(field, &[]).is_some(), "{field}");
        }
    }
}
