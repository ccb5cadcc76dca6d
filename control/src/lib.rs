//! Skiff's control plane.
//!
//! # Layout
//! - [`store`]: the raft-replicated store: the durable raft log, the state machine
//!   (objects in their rkyv form, revisions, watch history, member addresses), snapshots,
//!   and the event loop that drives raft-rs behind a [`store::StoreHandle`].
//! - [`cluster`]: member ids and addresses (`--initial-cluster`, conf-change contexts).
//! - [`membership`]: joining (learner, catch up, promote) and removing members.
//! - [`peer`]: raft between members over gRPC, and the membership service.
//! - [`server`]: one member put together (store, transport, services) for `skiff control`.
//! - [`auth`]: who is calling (a client certificate or a token), whether they may (RBAC,
//!   the node authorizer), joining, and the audit log.
//! - [`encryption`]: Secrets encrypted at rest (AES-256-GCM data keys under a
//!   key-encryption key), and key rotation.
//! - [`api`]: the object API (create, update, get, list, watch, delete) on every member.
//! - [`rest`]: the same API at Kubernetes' REST paths (discovery, tables, watch streams,
//!   `Status` errors), beside gRPC on the same port, for kubectl and client libraries.
//! - [`ui`]: the web dashboard at `/ui/` (its page, compiled in, and its logins); it
//!   reads the cluster through the REST API as the logged-in user.
//! - [`machinery`]: the informer cache, work queues, the in-process API client and
//!   leader-only running that the scheduler and controllers share.
//! - [`scheduler`]: binds pending pods to nodes (filters, scores, batched bindings).
//! - [`controllers`]: Deployments, ReplicaSets, Jobs, DaemonSets, Endpoints, node
//!   lifecycle.
//! - [`autoscaler`]: HorizontalPodAutoscalers, decided every second from live figures.
//! - [`usage`]: what pods and nodes use and are asked now, read from the agents
//!   (`skiff top`, metrics.k8s.io, the autoscalers).
//! - `error`: [`Error`], the crate's one error type.

pub mod api;
pub mod auth;
pub mod autoscaler;
pub mod cluster;
pub mod controllers;
pub mod encryption;
mod error;
pub mod machinery;
pub mod membership;
#[cfg(test)]
mod membership_tests;
pub mod peer;
pub mod rest;
pub mod scheduler;
pub mod server;
pub mod store;
pub mod ui;
pub mod usage;

pub use error::Error;
