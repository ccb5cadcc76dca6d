//! Event: a record of something notable that happened to an object.

use skiff_proto_macros::model;

use super::meta::{ObjectMeta, ObjectReference};
use super::values::Time;

#[model]
pub struct Event {
    pub metadata: ObjectMeta,
    pub involved_object: ObjectReference,
    /// A CamelCase word, e.g. `Scheduled`, `Pulled`, `BackOff`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<EventType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<EventSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_timestamp: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<Time>,
}

#[model]
pub enum EventType {
    #[default]
    Normal,
    Warning,
}

#[model]
pub struct EventSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}
