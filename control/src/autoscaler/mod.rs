//! Autoscaling on the leader: HorizontalPodAutoscalers (`autoscaling/v2`) decided every
//! second from the pods' live figures, read from their nodes.
//!
//! # Layout
//! - `observe`: each pod's rates since the last look (CPU, memory, requests per second,
//!   average requests in flight) and windows of a workload's totals.
//! - `metrics`: what each metric asks for: Resource metrics as Kubernetes' HPA computes
//!   them, Pods metrics of HTTP traffic as Knative's autoscaler does (stable and panic
//!   windows, zero only after an idle window).
//! - `behavior`: how far and fast replicas may move (tolerance, stabilisation windows,
//!   policies, bounds), as Kubernetes' HPA decides it.
//! - `hpa`: the controller: one round per second over every HPA, the target's scale
//!   written, status, conditions and events.

pub mod behavior;
pub mod hpa;
pub mod metrics;
pub mod observe;
