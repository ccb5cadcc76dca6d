//! Deployment: declarative updates of pods through ReplicaSets, with rollout strategies,
//! revision history and rollback.

use skiff_proto_macros::model;

use super::canary::{CanaryStatus, CanaryStrategy};
use super::condition::Condition;
use super::meta::ObjectMeta;
use super::pod::PodTemplateSpec;
use super::selector::LabelSelector;
use super::values::IntOrString;

#[model]
pub struct Deployment {
    pub metadata: ObjectMeta,
    pub spec: DeploymentSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<DeploymentStatus>,
}

#[model]
pub struct DeploymentSpec {
    /// Defaults to 1; 0 is allowed (scale to zero).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Must match the template's labels.
    pub selector: LabelSelector,
    pub template: PodTemplateSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<DeploymentStrategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// Old ReplicaSets kept for rollback (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// A rollout that makes no progress for this long is reported failed (default 600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

#[model]
pub struct DeploymentStrategy {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<DeploymentStrategyType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdate>,
    /// Required with `type: Canary`, and only then. Stored beside the archive (see
    /// `stored`), so Deployments stored before it read as they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[rkyv(with = rkyv::with::Skip)]
    #[cfg_attr(test, proptest(value = "None"))]
    pub canary: Option<Box<CanaryStrategy>>,
}

#[model]
pub enum DeploymentStrategyType {
    #[default]
    RollingUpdate,
    Recreate,
    // Skiff's (Argo Rollouts'): traffic shifted by steps behind an HTTPRoute, analysed.
    Canary,
}

/// How far a rolling update may go above (`maxSurge`) or below (`maxUnavailable`) the
/// desired count: a number or a percentage such as `25%`.
#[model]
pub struct RollingUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

#[model]
pub struct DeploymentStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
    #[serde(default)]
    pub replicas: i32,
    #[serde(default)]
    pub updated_replicas: i32,
    #[serde(default)]
    pub ready_replicas: i32,
    #[serde(default)]
    pub available_replicas: i32,
    #[serde(default)]
    pub unavailable_replicas: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// Where the canary strategy stands (Canary Deployments only). Stored beside the
    /// archive, as `spec.strategy.canary` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[rkyv(with = rkyv::with::Skip)]
    #[cfg_attr(test, proptest(value = "None"))]
    pub canary: Option<Box<CanaryStatus>>,
}

/// The annotation a node's activator writes on a Deployment it scales up from zero: when
/// it was woken (the one change to a Deployment a node may make).
pub const ACTIVATED_ANNOTATION: &str = "skiff.dev/activated-at";
