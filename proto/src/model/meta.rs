//! `metadata`: what every object has (name, namespace, labels, versions, owners), and
//! references from one object to another.

use skiff_proto_macros::model;
use std::collections::BTreeMap;

use super::managed::ManagedFields;
use super::values::Time;

/// Standard object metadata, as Kubernetes' `ObjectMeta`.
#[model]
pub struct ObjectMeta {
    /// Unique within the namespace (or the cluster, for cluster-scoped kinds).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A prefix the server completes into a unique name when `name` is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    /// Empty for cluster-scoped kinds; defaulted to `default` for namespaced ones.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Set by the server when the object is created; never reused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Identifying key/value pairs that selectors match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Non-identifying data for tools and people.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The store revision of the last write (the raft index); compare-and-swap uses it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "version_string"
    )]
    #[schemars(with = "Option<String>")]
    pub resource_version: Option<u64>,
    /// Bumped by the server on every change of the desired state (spec).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    /// Set when deletion was requested and finalizers still hold the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Time>,
    /// Objects this one depends on; garbage collection follows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
    /// Names of the parties that must finish cleaning up before the object goes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    /// Who set which fields (server-side apply). Kept by the server: what a write carries
    /// here is ignored. Stored beside the archived object, not in it (see `stored`).
    #[serde(default, skip_serializing_if = "ManagedFields::is_empty")]
    #[rkyv(with = rkyv::with::Skip)]
    #[cfg_attr(test, proptest(value = "ManagedFields::default()"))]
    pub managed_fields: ManagedFields,
}

impl ObjectMeta {
    /// The owner reference with `controller: true`: the one object that manages this
    /// one (e.g. a pod's ReplicaSet), if any.
    pub fn controller(&self) -> Option<&OwnerReference> {
        self.owner_references
            .iter()
            .find(|o| o.controller == Some(true))
    }
}

/// Points at an object that owns this one.
#[model]
pub struct OwnerReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    /// True for the one owner that manages this object (e.g. its ReplicaSet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// Foreground deletion of the owner waits for this object to go first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// Points at any object, e.g. the subject of an Event or an endpoint's pod.
#[model]
pub struct ObjectReference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "version_string"
    )]
    #[schemars(with = "Option<String>")]
    pub resource_version: Option<u64>,
    /// A part of the object, e.g. `spec.containers{web}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
}

/// `resourceVersion` is a string on the wire (as in Kubernetes) and a number inside.
mod version_string {
    use serde::Serializer;
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.collect_str(n),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Option<u64>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a resource version: a string of digits such as \"42\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse()
                    .map(Some)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
        }
        d.deserialize_any(V)
    }
}
