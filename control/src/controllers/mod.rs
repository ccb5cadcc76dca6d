//! The controllers: each a level-triggered reconcile of one kind over a work queue
//! (`runner`), started on the leader with the cache they share.
//!
//! # Layout
//! - `runner`: the reconcile loop, queueing keys from cache changes.
//! - `pods`: pod predicates (active, ready, available), owner references, templates.
//! - `replicaset`: keeps `replicas` pods.
//! - `deployment`: rollouts over ReplicaSets, revisions, status and deadline.
//! - `job`: pods to completion, with retries and deadlines.
//! - `daemonset`: one pod per qualifying node, updated rolling.
//! - `node_lifecycle`: nodes that stop reporting are tainted and their pods evicted.
//! - `node_ipam`: every node's range of the cluster CIDR for its container pods.
//! - `endpoints`: each Service's ready and unready pod addresses.
//! - `gc`: objects whose owner (or pods whose node) never existed or is gone.
//! - `metrics`: reconciles by result, their duration, work queue depth.

pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod gc;
pub mod job;
pub mod metrics;
pub mod node_ipam;
pub mod node_lifecycle;
pub mod pods;
pub mod replicaset;
pub mod runner;

pub use metrics::ControllerMetrics;

use std::sync::Arc;

use crate::machinery::cache::Cache;
use crate::machinery::client::Client;
use crate::machinery::leader::Tasks;
use crate::usage::NodeStats;

/// How the controllers run.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub lifecycle: node_lifecycle::Timing,
    pub cluster_cidr: node_ipam::ClusterCidr,
    /// Where their series go (the member's registry).
    pub metrics: ControllerMetrics,
    /// How often HPAs are evaluated (default [`crate::autoscaler::hpa::TICK`]).
    pub hpa_sync_period: Option<std::time::Duration>,
}

/// Starts every controller, each with its number of workers; `nodes` answers for the
/// agents (canary analysis reads the routers' figures through it).
pub fn start(
    tasks: &mut Tasks,
    cache: &Cache,
    client: &Client,
    config: Config,
    nodes: Arc<dyn NodeStats>,
) {
    let client = client.with_cache(cache);
    let (c, k, m) = (cache, &client, &config.metrics);
    tasks.spawn(runner::run(
        replicaset::ReplicaSetController {
            cache: c.clone(),
            client: k.clone(),
        },
        c.clone(),
        4,
        m.clone(),
    ));
    tasks.spawn(runner::run(
        deployment::DeploymentController {
            cache: c.clone(),
            client: k.clone(),
            analyst: Arc::new(deployment::analysis::Analyst::new(nodes)),
        },
        c.clone(),
        2,
        m.clone(),
    ));
    tasks.spawn(runner::run(
        job::JobController {
            cache: c.clone(),
            client: k.clone(),
        },
        c.clone(),
        2,
        m.clone(),
    ));
    tasks.spawn(runner::run(
        daemonset::DaemonSetController {
            cache: c.clone(),
            client: k.clone(),
        },
        c.clone(),
        2,
        m.clone(),
    ));
    tasks.spawn(runner::run(
        endpoints::EndpointsController {
            cache: c.clone(),
            client: k.clone(),
        },
        c.clone(),
        2,
        m.clone(),
    ));
    tasks.spawn(runner::run(
        node_lifecycle::NodeLifecycle::new(c.clone(), k.clone(), config.lifecycle),
        c.clone(),
        2,
        m.clone(),
    ));
    // One worker: ranges are handed out one at a time.
    tasks.spawn(runner::run(
        node_ipam::NodeIpam::new(c.clone(), k.clone(), config.cluster_cidr),
        c.clone(),
        1,
        m.clone(),
    ));
    tasks.spawn(gc::run(c.clone(), client));
}

#[cfg(test)]
pub(crate) mod plane;
#[cfg(test)]
mod tests;
