//! HorizontalPodAutoscaler (`autoscaling/v2`): keeps a Deployment's (or ReplicaSet's)
//! replicas between `minReplicas` and `maxReplicas` so that the metrics meet their targets
//! (CPU or memory utilisation of the pods' requests; `http_requests_per_second` or
//! `http_requests_in_flight` per pod, as the routers measure them), moving as `behavior`
//! allows.

use skiff_proto_macros::model;

use super::condition::Condition;
use super::meta::ObjectMeta;
use super::quantity::Quantity;
use super::selector::LabelSelector;
use super::values::Time;

#[model]
pub struct HorizontalPodAutoscaler {
    pub metadata: ObjectMeta,
    pub spec: HorizontalPodAutoscalerSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<HorizontalPodAutoscalerStatus>,
}

#[model]
pub struct HorizontalPodAutoscalerSpec {
    /// What is scaled: a Deployment or ReplicaSet in the same namespace.
    pub scale_target_ref: CrossVersionObjectReference,
    /// At least this many replicas (default 1; 0 lets an HTTP workload scale to zero
    /// when idle, woken by its next request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    pub max_replicas: i32,
    /// Default: 80 % CPU utilisation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
}

#[model]
pub struct CrossVersionObjectReference {
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

#[model]
pub struct MetricSpec {
    #[serde(rename = "type")]
    pub type_: MetricSourceType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceMetricSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodsMetricSource>,
}

/// The kinds of metric Skiff measures (Kubernetes' `Object` and `External` need an
/// adapter Skiff does not have).
#[model]
pub enum MetricSourceType {
    #[default]
    Resource,
    Pods,
}

#[model]
pub struct ResourceMetricSource {
    /// `cpu` or `memory`.
    pub name: String,
    pub target: MetricTarget,
}

#[model]
pub struct PodsMetricSource {
    pub metric: MetricIdentifier,
    pub target: MetricTarget,
}

#[model]
pub struct MetricIdentifier {
    /// `http_requests_per_second` or `http_requests_in_flight`.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

#[model]
pub struct MetricTarget {
    #[serde(rename = "type")]
    pub type_: MetricTargetType,
    /// Percent of the pods' requests (`Utilization`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_utilization: Option<i32>,
    /// Per pod (`AverageValue`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_value: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Quantity>,
}

#[model]
pub enum MetricTargetType {
    #[default]
    Utilization,
    AverageValue,
    Value,
}

#[model]
pub struct HorizontalPodAutoscalerBehavior {
    /// Default: no stabilisation, at most double or +4 pods per 15 s, whichever is more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<HpaScalingRules>,
    /// Default: the highest recommendation of the last 300 s, any number of pods at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<HpaScalingRules>,
}

#[model]
pub struct HpaScalingRules {
    /// Recommendations of this many seconds back are considered (0–3600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stabilization_window_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<ScalingPolicySelect>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<HpaScalingPolicy>,
}

#[model]
pub enum ScalingPolicySelect {
    #[default]
    Max,
    Min,
    Disabled,
}

#[model]
pub struct HpaScalingPolicy {
    #[serde(rename = "type")]
    pub type_: HpaScalingPolicyType,
    pub value: i32,
    /// The window the policy's change is measured over (1–1800).
    pub period_seconds: i32,
}

#[model]
pub enum HpaScalingPolicyType {
    #[default]
    Pods,
    Percent,
}

#[model]
pub struct HorizontalPodAutoscalerStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Time>,
    #[serde(default)]
    pub current_replicas: i32,
    #[serde(default)]
    pub desired_replicas: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub current_metrics: Vec<MetricStatus>,
    /// `AbleToScale`, `ScalingActive`, `ScalingLimited`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[model]
pub struct MetricStatus {
    #[serde(rename = "type")]
    pub type_: MetricSourceType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceMetricStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodsMetricStatus>,
}

#[model]
pub struct ResourceMetricStatus {
    pub name: String,
    pub current: MetricValueStatus,
}

#[model]
pub struct PodsMetricStatus {
    pub metric: MetricIdentifier,
    pub current: MetricValueStatus,
}

#[model]
pub struct MetricValueStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_utilization: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_value: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Quantity>,
}

/// The Pods metric of requests per second per pod, as the routers count them.
pub const HTTP_REQUESTS_PER_SECOND: &str = "http_requests_per_second";
/// The Pods metric of requests in flight per pod (concurrency).
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "http_requests_in_flight";
