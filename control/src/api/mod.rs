//! The client API served by every member (`proto/api.proto`).
//!
//! # Layout
//! - `objects`: the ObjectService: create, update, get, list, watch, delete over the store.
//!   Writes go through raft from any member (followers forward to the leader).
//! - `artifacts`: the ArtifactService: uploads through raft as chunks and a seal; stat
//!   and fetch by digest from any member.
//! - `logs`: the LogService: a container's log, relayed from the pod's node.
//! - `batch`: many creations in one transaction, for controllers.
//! - `writes`: the write path the verbs share: plan, admission, commit, retry on a lost
//!   race.
//! - `apply`: server-side apply, replacement and the status subresource, as pure rules.
//! - `applying`: server-side apply on the ObjectService: planned from this member's copy,
//!   then from a linearizable read when the store refuses the write.
//! - `managed`: field ownership (`managedFields`): what server-side apply sets, removes
//!   and refuses as a conflict; what other writes take over.
//! - `admission`: defaulting and immutable fields, before anything is proposed.
//! - `delete`: deletion with finalizers, owner-reference cascades and namespaces.
//! - `events`: Event objects recorded (and aggregated) in the transaction of the change
//!   they describe; their expiry.
//! - `policies`: WasmAdmissionPolicies: components that allow, deny or patch writes.
//! - `podsecurity`: Pod Security admission (the namespace's enforce and warn levels).
//! - `quota`: LimitRange defaults and bounds; ResourceQuota charged atomically with
//!   the write.
//! - `priority`: pods get their PriorityClass's value; one global default class.
//! - `namespaces`: nothing created in a missing or terminating namespace; `default`.
//! - `pages`: lists in pages (`limit`, `continue` tokens).
//! - `fields`: field selectors (`spec.nodeName`, `status.phase`, name, namespace).
//! - `watch`: following the history for one watch; selections entered and left.
//! - `status`: the one place store and decoding errors become gRPC statuses.
//! - `metrics`: the API's request counters, latencies and open watch streams.

mod admission;
mod apply;
mod applying;
mod artifacts;
mod batch;
mod delete;
mod events;
mod fields;
mod logs;
mod managed;
pub mod metrics;
mod namespaces;
pub(crate) mod objects;
mod pages;
pub mod podsecurity;
pub mod policies;
mod priority;
mod quota;
pub(crate) mod status;
mod watch;
mod writes;

pub use artifacts::{ArtifactApi, MAX_ARTIFACT_BYTES};
pub use events::{
    About, COMBINED, EVENT_TTL, What, event_key, expire as expire_events, record as record_event,
    record_as,
};
pub use logs::LogApi;
pub use namespaces::{ensure, ensure_default as ensure_default_namespace};
pub use objects::ObjectApi;
pub use quota::refresh as refresh_quotas;

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod artifacts_tests;
#[cfg(test)]
mod bad_requests_tests;
#[cfg(test)]
mod lifecycle_tests;
