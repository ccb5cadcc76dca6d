//! How the lists of each field merge, as Kubernetes' types declare them (`patchMergeKey`,
//! `listType`): item by item on a key (containers by `name`), as a set of plain values
//! (`finalizers`), or whole. Strategic merge patch and server-side apply both read this.

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
    }
}
