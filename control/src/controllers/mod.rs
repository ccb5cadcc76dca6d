//! The controllers: each a level-triggered reconcile of one kind over a work queue
//! (`runner`), started on the leader with the cache they share.
//!
//! # Layout
//! - `runner`: the reconcile loop, queueing keys from cache changes.
//! - `pods`: pod predicates (active, ready, available), owner references, templates.
//! - `replicaset`: keeps `replicas` pods.
//! - `deployment`: rollouts over ReplicaSets, revisions, status and deadline.

pub mod deployment;
pub mod pods;
pub mod replicaset;
pub mod runner;

use crate::machinery::cache::Cache;
use crate::machinery::client::Client;
use crate::machinery::leader::Tasks;

/// Starts every controller.
pub fn start(tasks: &mut Tasks, cache: &Cache, client: &Client) {
    let client = client.with_cache(cache);
    tasks.spawn(runner::run(
        replicaset::ReplicaSetController {
            cache: cache.clone(),
            client: client.clone(),
        },
        cache.clone(),
        4,
    ));
    tasks.spawn(runner::run(
        deployment::DeploymentController {
            cache: cache.clone(),
            client: client.clone(),
        },
        cache.clone(),
        2,
    ));
}

#[cfg(test)]
pub(crate) mod tests;
