//! Status conditions: the `type`/`status`/`reason`/`message` records every status carries.

use skiff_proto_macros::model;

use super::values::Time;

/// One observation about an object (`Ready`, `Available`, `Progressing`, ...).
#[model]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
    /// A CamelCase word a program can match on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A sentence for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Node conditions: when the node last reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<Time>,
    /// Pod conditions: when it was last probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// Workload conditions: when it was last updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
}

#[model]
pub enum ConditionStatus {
    True,
    False,
    #[default]
    Unknown,
}
