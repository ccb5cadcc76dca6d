//! Skiff's control plane.
//!
//! # Layout (as the work lands)
//! - `store`: the raft-replicated state machine on durable storage (raft-rs, redb).
//! - `api`: the tonic services of `skiff_proto::grpc::api`, admission and authorization.
//! - `scheduler`: binds pods to nodes from an immutable snapshot.
//! - `controllers`: Deployments, ReplicaSets, Jobs, DaemonSets, Endpoints, node lifecycle.
//!
//! Nothing is here yet: the object model and the wire contract it builds on live in
//! `skiff-proto`.
