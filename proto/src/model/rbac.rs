//! RBAC, as Kubernetes' `rbac.authorization.k8s.io/v1` defines it: `Role` and
//! `ClusterRole` grant verbs on resources; `RoleBinding` and `ClusterRoleBinding` give a
//! role to users, groups and service accounts. Nothing is allowed unless a rule allows it.

use serde::{Deserialize, Serialize};
use skiff_proto_macros::model;

use super::meta::ObjectMeta;

/// One permission: every verb on every resource (in any of the API groups, limited to the
/// names, when given). `"*"` matches anything in its list.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct PolicyRule {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`,
    /// and the special `bind`, `escalate`, `impersonate`; `*` for all.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// `""` is the core group (pods, secrets, ...), `apps`, `batch`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Plural resource names (`pods`), or a subresource (`pods/log`, `*/status`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Only these objects (empty: all of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Paths that are not objects (`/healthz`); only in ClusterRoles.
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

/// Rules that apply in one namespace.
#[model]
pub struct Role {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
}

/// Rules that apply in every namespace (through a ClusterRoleBinding), or in one
/// (through a RoleBinding), and to cluster-scoped kinds.
#[model]
pub struct ClusterRole {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
}

/// Who a binding gives its role to.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    pub name: String,
    /// A ServiceAccount's namespace (the binding's own when empty, for a RoleBinding).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
}

/// The role a binding gives.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct RoleRef {
    #[serde(default)]
    pub api_group: String,
    /// `Role` (a RoleBinding's own namespace) or `ClusterRole`.
    pub kind: String,
    pub name: String,
}

/// Gives a Role or ClusterRole's rules to its subjects, in the binding's namespace.
#[model]
pub struct RoleBinding {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub subjects: Vec<Subject>,
    pub role_ref: RoleRef,
}

/// Gives a ClusterRole's rules to its subjects, everywhere.
#[model]
pub struct ClusterRoleBinding {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub subjects: Vec<Subject>,
    pub role_ref: RoleRef,
}

/// The API group of RBAC's kinds, as `roleRef.apiGroup` names it.
pub const GROUP: &str = "rbac.authorization.k8s.io";
