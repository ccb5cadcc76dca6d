//! Pod: the unit of scheduling. One or more workloads (OCI containers, or Wasm components
//! when `runtimeClassName: wasm`) that share a node, volumes and a lifecycle.

use skiff_proto_macros::model;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::condition::Condition;
use super::container::Container;
use super::meta::ObjectMeta;
use super::quantity::Quantity;
use super::scheduling::{Affinity, Toleration, TopologySpreadConstraint};
use super::security::PodSecurityContext;
use super::values::Time;
use super::volume::Volume;

/// The runtime class that selects Skiff's Wasm runtime (as runwasi and SpinKube users write).
pub const WASM_RUNTIME_CLASS: &str = "wasm";

#[model]
pub struct Pod {
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<PodStatus>,
}

/// A pod as written inside a workload (Deployment, ReplicaSet, Job, DaemonSet).
#[model]
pub struct PodTemplateSpec {
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
}

#[model]
pub struct PodSpec {
    /// Run in order to completion before `containers` start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    pub containers: Vec<Container>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// `wasm` runs the containers' images as Wasm components; unset runs OCI containers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
    /// Set by the scheduler (or by hand) to bind the pod to a node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// Deadline for the whole pod (jobs); exceeded pods fail with `DeadlineExceeded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
}

impl PodSpec {
    /// Whether this pod runs on the Wasm runtime.
    pub fn is_wasm(&self) -> bool {
        self.runtime_class_name.as_deref() == Some(WASM_RUNTIME_CLASS)
    }

    /// Whether the pod uses the Secret `name` (a volume, an environment variable or an
    /// image pull secret): what a node may read for it.
    pub fn uses_secret(&self, name: &str) -> bool {
        self.volumes
            .iter()
            .any(|v| v.secret.as_ref().is_some_and(|s| s.secret_name == name))
            || self.image_pull_secrets.iter().any(|r| r.name == name)
            || self.all_containers().any(|c| {
                c.key_sources()
                    .any(|f| f.secret_ref.as_ref().is_some_and(|r| r.name == name))
                    || c.env.iter().any(|e| {
                        e.value_from
                            .as_ref()
                            .and_then(|f| f.secret_key_ref.as_ref())
                            .is_some_and(|k| k.name == name)
                    })
            })
    }

    /// Whether the pod uses the ConfigMap `name` (a volume or an environment variable).
    pub fn uses_config_map(&self, name: &str) -> bool {
        self.volumes
            .iter()
            .any(|v| v.config_map.as_ref().is_some_and(|c| c.name == name))
            || self.all_containers().any(|c| {
                c.key_sources()
                    .any(|f| f.config_map_ref.as_ref().is_some_and(|r| r.name == name))
                    || c.env.iter().any(|e| {
                        e.value_from
                            .as_ref()
                            .and_then(|f| f.config_map_key_ref.as_ref())
                            .is_some_and(|k| k.name == name)
                    })
            })
    }

    /// Init containers, then the others.
    pub fn all_containers(&self) -> impl Iterator<Item = &Container> {
        self.init_containers.iter().chain(&self.containers)
    }
}

/// An object in the same namespace, by name.
#[model]
pub struct LocalObjectReference {
    pub name: String,
}

#[model]
pub enum RestartPolicy {
    #[default]
    Always,
    OnFailure,
    Never,
}

#[model]
pub enum PodPhase {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

#[model]
pub struct PodStatus {
    #[serde(default)]
    pub phase: PodPhase,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Kubernetes spells these `hostIP` and `podIP`, not camelCase.
    #[serde(rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    #[serde(rename = "podIP", skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    /// The node the scheduler made room on by preempting other pods, while this pod
    /// waits to be bound there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nominated_node_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_container_statuses: Vec<ContainerStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container_statuses: Vec<ContainerStatus>,
    /// What the pod's workloads use, as its node measures them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<PodUsage>,
}

/// A pod's resource use, measured by its node's agent. Kubernetes serves this from the
/// metrics API (`kubectl top`); Skiff also keeps it in the pod's status, so every client
/// sees real figures without a metrics server.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct PodUsage {
    /// CPU in use over `windowSeconds` before `timestamp`, in cores (`kubectl top`'s
    /// figure, e.g. `12m`).
    pub cpu: Quantity,
    /// Linear memory the pod's live instances hold (bytes).
    pub memory: Quantity,
    /// The most they held at once.
    pub peak_memory: Quantity,
    /// CPU time since the pod started on its node, in nanoseconds.
    pub cpu_nanos: u64,
    /// HTTP requests served, and those whose instance failed.
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub failed_requests: u64,
    pub timestamp: Time,
    pub window_seconds: u32,
}

/// The state of one workload, under Kubernetes' names so tools and habits carry over.
#[model]
pub struct ContainerStatus {
    pub name: String,
    #[serde(default)]
    pub state: ContainerState,
    #[serde(default, skip_serializing_if = "ContainerState::is_empty")]
    pub last_state: ContainerState,
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub restart_count: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// The resolved artifact (digest) that runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
}

/// At most one of the three is set.
#[model]
pub struct ContainerState {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<StateWaiting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<StateRunning>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated: Option<StateTerminated>,
}

impl ContainerState {
    pub fn is_empty(&self) -> bool {
        self.waiting.is_none() && self.running.is_none() && self.terminated.is_none()
    }
}

#[model]
pub struct StateWaiting {
    /// E.g. `ContainerCreating`, `CrashLoopBackOff`, `ArtifactNotFound`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[model]
pub struct StateRunning {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
}

#[model]
pub struct StateTerminated {
    pub exit_code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// E.g. `Completed`, `Error`, `OOMKilled`, `Trapped`, `DeadlineExceeded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
}
