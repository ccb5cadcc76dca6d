//! Skiff's extension points as Wasm components (group `skiff.dev`): an HttpFilter, which
//! HTTPRoute rules attach through `filters: [{type: ExtensionRef, ...}]`, and a
//! WasmAdmissionPolicy, which the API server runs on the writes it matches.

use skiff_proto_macros::model;
use std::collections::BTreeMap;

use super::meta::ObjectMeta;
use super::quantity::Quantity;
use super::selector::LabelSelector;

/// A filter's time limit per request when it sets none.
pub const DEFAULT_FILTER_TIMEOUT: &str = "10ms";
/// A filter's memory per instance when it sets none.
pub const DEFAULT_FILTER_MEMORY: &str = "16Mi";
/// A policy's deadline per write when it sets none.
pub const DEFAULT_POLICY_TIMEOUT: &str = "100ms";
/// A policy's memory per instance when it sets none.
pub const DEFAULT_POLICY_MEMORY: &str = "32Mi";

/// An HTTP filter component (`skiff:http-filter/http-filter@0.1.0`).
#[model]
pub struct HttpFilter {
    pub metadata: ObjectMeta,
    pub spec: PluginSpec,
}

/// A component and what each call of it may use.
#[model]
pub struct PluginSpec {
    /// The component: `sha256:<hex>` of an uploaded artifact, an OCI reference, or a
    /// local file path (`skiff apply` uploads it).
    pub image: String,
    /// Values the component reads through `wasi:config`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Wall-clock time of one call (a Gateway API duration such as `10ms`); a call past
    /// it is cut off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Linear memory of one instance, e.g. `16Mi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
}

/// An admission policy component (`skiff:admission/admission-policy@0.1.0`), run on the
/// writes it matches. Cluster-scoped.
#[model]
pub struct WasmAdmissionPolicy {
    pub metadata: ObjectMeta,
    pub spec: AdmissionPolicySpec,
}

#[model]
pub struct AdmissionPolicySpec {
    /// The component, as an HttpFilter's `image`.
    pub image: String,
    /// Values the component reads through `wasi:config`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// The deadline of one review (a Gateway API duration such as `100ms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Linear memory of one instance, e.g. `32Mi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// Which writes the policy reviews.
    #[serde(default)]
    pub match_resources: PolicyMatch,
    /// `Fail` (the default): a policy that fails or misses its deadline refuses the
    /// write. `Ignore`: the write goes on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_policy: Option<FailurePolicy>,
}

impl AdmissionPolicySpec {
    /// The component and its limits, as an HttpFilter gives them.
    pub fn plugin(&self) -> PluginSpec {
        PluginSpec {
            image: self.image.clone(),
            config: self.config.clone(),
            timeout: self.timeout.clone(),
            memory: self.memory.clone(),
        }
    }
}

/// Kinds, namespaces and labels a policy reviews (empty: all).
#[model]
pub struct PolicyMatch {
    /// Kinds by name, e.g. `Deployment`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// The labels of the object written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_selector: Option<LabelSelector>,
    /// `CREATE`, `UPDATE` (empty: both). Deletions are not reviewed yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<String>,
}

#[model]
pub enum FailurePolicy {
    #[default]
    Fail,
    Ignore,
}
