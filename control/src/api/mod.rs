//! The client API served by every member (`proto/api.proto`).
//!
//! # Layout
//! - `objects`: the ObjectService: create, update, get, list, watch, delete over the store.
//!   Writes go through raft from any member (followers forward to the leader).
//! - `artifacts`: the ArtifactService: uploads through raft as chunks and a seal; stat
//!   and fetch by digest from any member.
//! - `writes`: the write path the verbs share: plan, admission, commit, retry on a lost
//!   race.
//! - `apply`: server-side apply, replacement and the status subresource, as pure rules.
//! - `admission`: defaulting and immutable fields, before anything is proposed.
//! - `delete`: deletion with finalizers, owner-reference cascades and namespaces.
//! - `fields`: field selectors (`spec.nodeName`, `status.phase`, name, namespace).
//! - `watch`: following the history for one watch; selections entered and left.
//! - `status`: the one place store and decoding errors become gRPC statuses.

mod admission;
mod apply;
mod artifacts;
mod delete;
mod fields;
mod objects;
mod status;
mod watch;
mod writes;

pub use artifacts::{ArtifactApi, MAX_ARTIFACT_BYTES};
pub use objects::ObjectApi;

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod artifacts_tests;
#[cfg(test)]
mod bad_requests_tests;
