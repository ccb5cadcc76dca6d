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
//! - `endpoints`: each Service's ready and unready pod addresses.
//! - `gc`: objects whose owner (or pods whose node) never existed or is gone.

pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod gc;
pub mod job;
pub mod node_lifecycle;
pub mod pods;
pub mod replicaset;
pub mod runner;

use crate::machinery::cache::Cache;
use crate::machinery::client::Client;
use crate::machinery::leader::Tasks;

/// How the controllers run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Config {
    pub lifecycle: node_lifecycle::Timing,
}

/// Starts every controller.
pub fn start(tasks: &mut Tasks, cache: &Cache, client: &Client, config: Config) {
    let client = client.with_cache(cache);
    let c = || (cache.clone(), client.clone());
    let (cache_, client_) = c();
    tasks.spawn(runner::run(
        replicaset::ReplicaSetController {
            cache: cache_,
            client: client_,
        },
        cache.clone(),
        4,
    ));
    let (cache_, client_) = c();
    tasks.spawn(runner::run(
        deployment::DeploymentController {
            cache: cache_,
            client: client_,
        },
        cache.clone(),
        2,
    ));
    let (cache_, client_) = c();
    tasks.spawn(runner::run(
        job::JobController {
            cache: cache_,
            client: client_,
        },
        cache.clone(),
        2,
    ));
    let (cache_, client_) = c();
    tasks.spawn(runner::run(
        daemonset::DaemonSetController {
            cache: cache_,
            client: client_,
        },
        cache.clone(),
        2,
    ));
    let (cache_, client_) = c();
    tasks.spawn(runner::run(
        endpoints::EndpointsController {
            cache: cache_,
            client: client_,
        },
        cache.clone(),
        2,
    ));
    let (cache_, client_) = c();
    tasks.spawn(runner::run(
        node_lifecycle::NodeLifecycle::new(cache_, client_, config.lifecycle),
        cache.clone(),
        2,
    ));
    tasks.spawn(gc::run(cache.clone(), client));
}

#[cfg(test)]
pub(crate) mod tests;
