//! The scheduler: binds pending pods to nodes. It runs on the leader.
//!
//! # How a pod is placed
//! ```text
//!  cache changes ──► snapshot (nodes + what their pods hold)
//!        │
//!        └──► queue of pending pods ──► cycle: up to BATCH pods, one after another,
//!                                        each through the profile's filters and scores
//!                                        (framework::schedule), assumed in the snapshot
//!                                        │
//!                     bind::commit ◄─────┘ one raft transaction per 1,000 bindings,
//!                                          compare-and-swap on each pod's revision
//! ```
//! Each cycle places higher-priority pods first. A pod that fits nowhere may preempt
//! (`preempt`): lower-priority pods are evicted to make room on one node, and the pod
//! is placed in the next cycle. Otherwise it gets `PodScheduled=False` with the summary
//! of why, and waits in the unschedulable set until the cluster changes in a way that
//! could let it fit (a node joins or changes, a pod leaves a node), then comes back
//! after a back-off.
//!
//! # Layout
//! - `resources`: requests and allocatable, in the four dimensions counted.
//! - `snapshot`: nodes and placed pods as the scheduler sees them.
//! - `framework`: the filter and score traits, the profile, `schedule` for one pod.
//! - `plugins`: the filters and scores, one per file, and the default profile.
//! - `bind`: committing bindings and unschedulable conditions in batches.
//! - `preempt`: choosing the fewest, lowest-priority pods to evict for a pod.
//! - `config`: the cluster-wide policy (ConfigMap `default/skiff-scheduler`).
//! - `metrics`: queue depth, attempts by result, cycle and binding latency, preemptions.

pub mod bind;
pub mod config;
pub mod framework;
pub mod metrics;
pub mod plugins;
pub mod preempt;
pub mod resources;
pub mod snapshot;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::time::Duration;

use skiff_proto::model::{Pod, PodPhase};
use skiff_proto::{Kind, Object};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::machinery::cache::{Batch, Cache, Change};
use crate::machinery::client::Client;
use crate::machinery::queue::Queue;
use crate::store::StoreHandle;
use framework::{Profile, Sampling};
use metrics::Attempt;
pub use metrics::SchedulerMetrics;
use snapshot::{PodInfo, Snapshot};

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub sampling: Sampling,
    /// Pods placed per cycle (and so per batch of bindings).
    pub batch: usize,
    /// How often every unschedulable pod is tried again even without a cluster change.
    pub flush: Duration,
    /// Where its series go (the member's registry).
    pub metrics: SchedulerMetrics,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sampling: Sampling::default(),
            batch: 1000,
            flush: Duration::from_secs(30),
            metrics: SchedulerMetrics::default(),
        }
    }
}

/// Whether the scheduler should place this pod: not bound, not finished, not going.
pub fn pending(p: &Pod) -> bool {
    p.spec.node_name.as_deref().is_none_or(str::is_empty)
        && p.metadata.deletion_timestamp.is_none()
        && !p
            .status
            .as_ref()
            .is_some_and(|s| matches!(s.phase, PodPhase::Succeeded | PodPhase::Failed))
}

struct Scheduler {
    store: StoreHandle,
    cache: Cache,
    client: Client,
    profile: Profile,
    snapshot: Snapshot,
    queue: Queue<String>,
    unschedulable: HashSet<String>,
    start: usize,
    metrics: SchedulerMetrics,
}

/// Runs the scheduler until the task is dropped. `client` evicts preempted pods.
pub async fn run(store: StoreHandle, cache: Cache, client: Client, config: Config) {
    let mut changes = cache.subscribe();
    let mut s = Scheduler {
        profile: plugins::default_profile(config.sampling),
        snapshot: Snapshot::default(),
        queue: Queue::with_backoff(Duration::from_secs(1), Duration::from_secs(10)),
        unschedulable: HashSet::new(),
        start: 0,
        metrics: config.metrics.clone(),
        client: client.with_cache(&cache),
        store,
        cache,
    };
    s.rebuild();
    let mut flush = tokio::time::interval(config.flush);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            b = changes.recv() => match b {
                Ok(b) => s.absorb(&b),
                Err(RecvError::Lagged(_)) => s.rebuild(),
                Err(RecvError::Closed) => return,
            },
            keys = s.queue.next_batch(config.batch) => {
                // Place from the freshest view.
                loop {
                    match changes.try_recv() {
                        Ok(b) => s.absorb(&b),
                        Err(TryRecvError::Lagged(_)) => s.rebuild(),
                        Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                    }
                }
                s.cycle(keys).await;
            }
            _ = flush.tick() => s.retry_unschedulable(),
        }
        s.metrics.pending(s.queue.len(), s.unschedulable.len());
    }
}

impl Scheduler {
    /// Builds the snapshot again from the whole cache and queues every pending pod.
    fn rebuild(&mut self) {
        let nodes: Vec<_> = self.cache.list(Kind::Node, None);
        let pods = self.cache.list(Kind::Pod, None);
        let node_objects = nodes.iter().filter_map(|s| match &s.object {
            Object::Node(n) => Some(n),
            _ => None,
        });
        self.snapshot = Snapshot::build(node_objects, pods.iter());
        for p in &pods {
            if let Object::Pod(pod) = &p.object
                && pending(pod)
            {
                self.queue.add(crate::store::key::of(&p.object));
            }
        }
    }

    fn absorb(&mut self, b: &Batch) {
        if b.relisted {
            return self.rebuild();
        }
        let mut wake = false;
        for c in &b.changes {
            match c.kind {
                Kind::Node => wake |= self.node_changed(c),
                Kind::Pod => wake |= self.pod_changed(c),
                _ => {}
            }
        }
        if wake {
            self.retry_unschedulable();
        }
    }

    /// Follows a node; true when the change could let a waiting pod fit.
    fn node_changed(&mut self, c: &Change) -> bool {
        match (&c.old, &c.new) {
            (_, Some(new)) => {
                let Object::Node(n) = &new.object else {
                    return false;
                };
                let before = self.snapshot.node(&n.metadata.name).cloned();
                self.snapshot.upsert_node(n);
                let after = self.snapshot.node(&n.metadata.name);
                match (before, after) {
                    (Some(b), Some(a)) => {
                        b.ready != a.ready
                            || b.unschedulable != a.unschedulable
                            || b.taints != a.taints
                            || b.labels != a.labels
                            || b.allocatable != a.allocatable
                            || b.runtimes != a.runtimes
                    }
                    _ => true,
                }
            }
            (Some(old), None) => {
                self.snapshot.remove_node(&old.object.metadata().name);
                false
            }
            (None, None) => false,
        }
    }

    /// Follows a pod; true when it left a node (room freed).
    fn pod_changed(&mut self, c: &Change) -> bool {
        let was = self.snapshot.placed_on(&c.key).map(str::to_owned);
        // Most changes are a bound pod's status (its agent reporting): what it holds
        // on its node stays the same, so the snapshot does too.
        let unchanged = match (c.old.as_ref(), c.new.as_ref()) {
            (Some(o), Some(n)) => match (&o.object, &n.object) {
                (Object::Pod(a), Object::Pod(b)) => {
                    was.is_some()
                        && snapshot::holds_room(&o.object).is_some()
                        && snapshot::holds_room(&o.object) == snapshot::holds_room(&n.object)
                        && a.spec == b.spec
                        && a.metadata.labels == b.metadata.labels
                }
                _ => false,
            },
            _ => false,
        };
        if !unchanged {
            self.snapshot.update_pod(&c.key, c.new.as_ref());
        }
        let is = self.snapshot.placed_on(&c.key);
        match c.new.as_ref().map(|s| &s.object) {
            Some(Object::Pod(p)) if pending(p) => {
                // A pod waiting for the cluster to change stays waiting when only its
                // status moved (e.g. the condition saying why it waits).
                let spec_changed = match c.old.as_ref().map(|s| &s.object) {
                    Some(Object::Pod(old)) => {
                        old.spec != p.spec || old.metadata.labels != p.metadata.labels
                    }
                    _ => true,
                };
                if !self.unschedulable.contains(&c.key) || spec_changed {
                    self.unschedulable.remove(&c.key);
                    self.queue.add(c.key.clone());
                }
            }
            _ => {
                self.unschedulable.remove(&c.key);
            }
        }
        was.is_some() && was.as_deref() != is
    }

    fn retry_unschedulable(&mut self) {
        for k in self.unschedulable.drain() {
            self.queue.retry(k);
        }
    }

    async fn cycle(&mut self, keys: Vec<String>) {
        let policy = config::policy(&self.cache);
        let mut pods: Vec<PodInfo> = keys
            .iter()
            .filter_map(|k| {
                let pod = self.cache.get_key(Kind::Pod, k)?;
                match &pod.object {
                    Object::Pod(p) if pending(p) => PodInfo::new(pod),
                    _ => None,
                }
            })
            .collect();
        // Higher priority first, then in the order they came.
        pods.sort_by_key(|p| std::cmp::Reverse(p.priority));
        let started = std::time::Instant::now();
        let plan = framework::plan(
            &self.profile,
            &mut self.snapshot,
            policy,
            pods,
            &mut self.start,
        );
        self.metrics.cycle(started.elapsed());
        let binds = plan
            .placements
            .iter()
            .filter_map(|(pod, p)| {
                Some(bind::Write {
                    key: pod.key.clone(),
                    ops: vec![bind::binding(&pod.pod, &p.node)?],
                })
            })
            .collect();
        let started = std::time::Instant::now();
        let bound = bind::commit(&self.store, binds).await;
        self.metrics.binding(started.elapsed());
        self.metrics
            .attempts(Attempt::Scheduled, bound.written.len());
        self.metrics.attempts(Attempt::Error, bound.lost.len());
        for k in &bound.lost {
            self.snapshot.forget(k);
            self.queue.retry(k.clone());
        }
        // `Scheduled` events go in the background, as kube-scheduler's broadcaster sends
        // them: the bindings' transactions stay as small as they were.
        let written: HashSet<&String> = bound.written.iter().collect();
        for (pod, p) in &plan.placements {
            if written.contains(&pod.key) {
                let m = pod.pod.object.metadata();
                self.client.event(
                    bind::COMPONENT,
                    Kind::Pod,
                    m,
                    skiff_proto::model::event::EventType::Normal,
                    "Scheduled",
                    format!(
                        "Successfully assigned {}/{} to {}",
                        m.namespace, m.name, p.node
                    ),
                );
            }
        }
        for k in &bound.written {
            self.queue.forget(k);
        }
        let mut notes = Vec::new();
        for (pod, diagnosis) in &plan.unfit {
            if self.preempt(pod, policy).await {
                continue;
            }
            let message = diagnosis.message();
            tracing::debug!(pod = %pod.key, %message, "unschedulable");
            self.metrics.attempts(Attempt::Unschedulable, 1);
            self.unschedulable.insert(pod.key.clone());
            if let Some(ops) = bind::unschedulable(&self.store, &pod.pod, &message) {
                notes.push(bind::Write {
                    key: pod.key.clone(),
                    ops,
                });
            }
        }
        let noted = bind::commit(&self.store, notes).await;
        // Next cycle reads a cache that has these writes, so no pod is placed twice.
        self.cache
            .caught_up(bound.revision.max(noted.revision))
            .await;
        for k in &keys {
            self.queue.done(k);
        }
    }

    /// Evicts the pods that make room for `pod`, if its class allows and some do; true
    /// when it did (the pod is placed in a later cycle).
    async fn preempt(&mut self, pod: &PodInfo, policy: framework::Policy) -> bool {
        if pod.priority <= 0 || !config::may_preempt(&self.cache, pod) {
            return false;
        }
        let found = {
            let cx = framework::Cycle::new(pod, &self.snapshot, policy);
            preempt::find(&self.profile, &self.snapshot, &cx, pod)
        };
        let Some(p) = found else { return false };
        tracing::info!(pod = %pod.key, node = %p.node, victims = p.victims.len(), "preempting");
        self.metrics.preempted(p.victims.len());
        let mut events = Vec::new();
        for v in &p.victims {
            let Some(s) = self.cache.get_key(Kind::Pod, v) else {
                continue;
            };
            let m = s.object.metadata();
            match self
                .client
                .delete(Kind::Pod, &m.namespace, &m.name, Some(s.revision))
                .await
            {
                Ok(()) => {
                    if let Object::Pod(by) = &pod.pod.object
                        && let Some(op) = bind::preempted(&self.store, &s.object, by, &p.node)
                    {
                        events.push(bind::Write {
                            key: v.clone(),
                            ops: vec![op],
                        });
                    }
                }
                Err(e) if crate::machinery::client::stale(&e) => {}
                Err(e) => {
                    tracing::warn!(victim = %v, error = %e.message(), "preemption");
                    return false;
                }
            }
        }
        bind::commit(&self.store, events).await;
        if let Some(ops) = bind::nominated(&pod.pod, &p.node, p.victims.len()) {
            let _ = bind::commit(
                &self.store,
                vec![bind::Write {
                    key: pod.key.clone(),
                    ops,
                }],
            )
            .await;
        }
        self.unschedulable.remove(&pod.key);
        self.queue.add(pod.key.clone());
        true
    }
}
