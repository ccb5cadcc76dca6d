//! Namespace: a scope for names, quotas and access rules.

use skiff_proto_macros::model;

use super::meta::ObjectMeta;

#[model]
pub struct Namespace {
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "NamespaceSpec::is_empty")]
    pub spec: NamespaceSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<NamespaceStatus>,
}

#[model]
pub struct NamespaceSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

impl NamespaceSpec {
    pub fn is_empty(&self) -> bool {
        self.finalizers.is_empty()
    }
}

#[model]
pub struct NamespaceStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<NamespacePhase>,
}

#[model]
pub enum NamespacePhase {
    #[default]
    Active,
    Terminating,
}

/// The label that sets the Pod Security level a namespace enforces.
pub const POD_SECURITY_ENFORCE: &str = "pod-security.kubernetes.io/enforce";
/// The label whose level is reported to clients as warnings.
pub const POD_SECURITY_WARN: &str = "pod-security.kubernetes.io/warn";
/// The label whose level is recorded in the audit log.
pub const POD_SECURITY_AUDIT: &str = "pod-security.kubernetes.io/audit";
/// The Pod Security Standards' levels, least strict first.
pub const POD_SECURITY_LEVELS: [&str; 3] = ["privileged", "baseline", "restricted"];
