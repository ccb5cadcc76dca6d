//! PriorityClass: a named pod priority. Pods name one in `priorityClassName`; the API
//! server writes its value into `spec.priority`. The scheduler places higher-priority
//! pods first and, when one fits nowhere, may evict lower-priority pods to make room.

use skiff_proto_macros::model;

use super::meta::ObjectMeta;

#[model]
pub struct PriorityClass {
    pub metadata: ObjectMeta,
    /// Higher runs first; user classes stay at or below 1,000,000,000.
    pub value: i32,
    /// The class of pods that name none (at most one class has this).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub global_default: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `Never`: pods of this class wait rather than evict others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preemption_policy: Option<PreemptionPolicy>,
}

#[model]
pub enum PreemptionPolicy {
    #[default]
    PreemptLowerPriority,
    Never,
}

/// The highest value a user's class may have (Kubernetes keeps the rest for the system).
pub const HIGHEST_USER_PRIORITY: i32 = 1_000_000_000;
