//! One workload inside a pod: an OCI image run by runc, or a Wasm component run by
//! wasmtime (when the pod's `runtimeClassName` is `wasm`).

use skiff_proto_macros::model;
use std::collections::BTreeMap;

use super::probe::Probe;
use super::quantity::Quantity;
use super::security::SecurityContext;

/// A container (or Wasm component) and how to run it.
#[model]
pub struct Container {
    /// Unique within the pod (a DNS label).
    pub name: String,
    /// An OCI image reference; for Wasm pods also a `sha256:` digest or a local file path.
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// Replaces the image's entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    #[serde(default, skip_serializing_if = "ResourceRequirements::is_empty")]
    pub resources: ResourceRequirements,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    /// What a Wasm component is given beyond WASI's basics (Skiff's own field; Wasm pods
    /// only). A component that imports a capability its container was not given does not
    /// start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wasi: Option<WasiGrants>,
}

impl Container {
    /// Every ConfigMap and Secret whose keys the container reads whole: `envFrom`, then
    /// `wasi.config`.
    pub fn key_sources(&self) -> impl Iterator<Item = &EnvFromSource> {
        self.env_from
            .iter()
            .chain(self.wasi.iter().flat_map(|w| &w.config))
    }
}

/// The host capabilities a Wasm component is granted (`wasi:logging` always is: it writes
/// into the pod's log).
#[model]
pub struct WasiGrants {
    /// `wasi:config`: the keys of these ConfigMaps and Secrets (later ones win, `prefix`
    /// prepended), read when the container starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<EnvFromSource>,
    /// `wasi:keyvalue`: buckets of the pod's namespace, kept in the control plane.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyvalue: Option<KeyValueGrant>,
}

/// Which key-value buckets a component may open.
#[model]
pub struct KeyValueGrant {
    /// Bucket names (DNS labels); empty: any bucket of the namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<String>,
}

impl KeyValueGrant {
    /// Whether `bucket` may be opened.
    pub fn allows(&self, bucket: &str) -> bool {
        self.buckets.is_empty() || self.buckets.iter().any(|b| b == bucket)
    }
}

#[model]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

#[model]
pub enum Protocol {
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

/// A port the workload listens on.
#[model]
pub struct ContainerPort {
    /// Lets Services and probes refer to the port by name (an IANA service name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub container_port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
}

/// An environment variable: a literal value, or one read from elsewhere.
#[model]
pub struct EnvVar {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// Where an environment variable's value comes from; exactly one is set.
#[model]
pub struct EnvVarSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeySelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeySelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldSelector>,
}

/// A key of a ConfigMap or Secret in the pod's namespace.
#[model]
pub struct KeySelector {
    pub name: String,
    pub key: String,
    /// When true, a missing object or key leaves the variable unset instead of failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A field of the pod itself, e.g. `metadata.name` or `status.podIP`.
#[model]
pub struct FieldSelector {
    pub field_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

/// Every key of a ConfigMap or Secret as environment variables.
#[model]
pub struct EnvFromSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<NamedRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<NamedRef>,
}

/// A ConfigMap or Secret by name.
#[model]
pub struct NamedRef {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// CPU and memory: `requests` are what scheduling reserves, `limits` what is enforced.
#[model]
pub struct ResourceRequirements {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Quantity>,
}

impl ResourceRequirements {
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.limits.is_empty()
    }
}

/// Where a pod volume appears inside the workload.
#[model]
pub struct VolumeMount {
    /// The name of one of the pod's `volumes`.
    pub name: String,
    pub mount_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
}
