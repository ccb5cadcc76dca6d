//! The client API served by every member (`proto/api.proto`).
//!
//! # Layout
//! - `objects`: the ObjectService: create, update, get, list, watch, delete over the store.
//!   Writes go through raft from any member (followers forward to the leader).
//! - `status`: the one place store and decoding errors become gRPC statuses.

mod objects;
mod status;

pub use objects::ObjectApi;
