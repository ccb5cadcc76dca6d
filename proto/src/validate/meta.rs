//! Rules for `metadata`: the name, the namespace (or its absence), labels and annotations.

use super::{Violations, names};
use crate::manifest::FieldPath;
use crate::model::ObjectMeta;
use crate::object::Kind;

/// Annotations are free text, but bounded (as in Kubernetes).
const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

pub fn object_meta(kind: Kind, m: &ObjectMeta, at: &FieldPath, v: &mut Violations) {
    let name_rule = match kind {
        // These names become DNS labels (service names, namespace folders).
        Kind::Namespace | Kind::Service => names::dns_label,
        // RBAC names may hold `:` (`system:node`), as in Kubernetes.
        Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding => {
            names::path_segment
        }
        _ => names::dns_subdomain,
    };
    if m.name.is_empty() {
        if m.generate_name.is_none() {
            v.add_hint(
                at.field("name"),
                "missing field `name`",
                "every object needs `metadata.name` (or `metadata.generateName`)",
            );
        }
    } else if let Err(why) = name_rule(&m.name) {
        v.add_hint(
            at.field("name"),
            format!("invalid name {:?}: {why}", m.name),
            "use lowercase letters, digits and '-', e.g. `my-app`",
        );
    }
    if let Some(g) = &m.generate_name
        && let Err(why) = names::dns_subdomain(&format!("{g}x"))
    {
        v.add(
            at.field("generateName"),
            format!("invalid name prefix {g:?}: {why}"),
        );
    }
    if !kind.is_namespaced() {
        if !m.namespace.is_empty() {
            v.add_hint(
                at.field("namespace"),
                format!("a {kind} is cluster-scoped and has no namespace"),
                "remove `metadata.namespace`",
            );
        }
    } else if !m.namespace.is_empty()
        && let Err(why) = names::dns_label(&m.namespace)
    {
        v.add(
            at.field("namespace"),
            format!("invalid name {:?} for a namespace: {why}", m.namespace),
        );
    }
    labels(&m.labels, &at.field("labels"), v);
    for key in m.annotations.keys() {
        if let Err(why) = names::label_key(key) {
            v.add(
                at.field("annotations").field(key),
                format!("invalid annotation key {key:?}: {why}"),
            );
        }
    }
    let size: usize = m
        .annotations
        .iter()
        .map(|(k, val)| k.len() + val.len())
        .sum();
    if size > MAX_ANNOTATIONS_BYTES {
        v.add(
            at.field("annotations"),
            format!("annotations hold {size} bytes; the limit is {MAX_ANNOTATIONS_BYTES}"),
        );
    }
}

/// Label keys and values (also used for selectors and node selectors).
pub fn labels(
    map: &std::collections::BTreeMap<String, String>,
    at: &FieldPath,
    v: &mut Violations,
) {
    for (key, value) in map {
        if let Err(why) = names::label_key(key) {
            v.add_hint(
                at.field(key),
                format!("invalid label key {key:?}: {why}"),
                "label keys look like `app` or `example.com/tier`",
            );
        } else if let Err(why) = names::label_value(value) {
            v.add_hint(
                at.field(key),
                format!("invalid label value {value:?}: {why}"),
                "label values look like `web`, `v1.2` or `blue_green`",
            );
        }
    }
}
