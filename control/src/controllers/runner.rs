//! Running one controller: changes from the cache become keys in a work queue, and
//! workers reconcile keys, level-triggered (each reconcile reads the whole current state
//! of its object, never the change that queued it), with back-off on failure.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_proto::Kind;
use tokio::sync::broadcast::error::RecvError;
use tonic::Status;

use crate::machinery::cache::{Cache, Change};
use crate::machinery::client::stale;
use crate::machinery::queue::Queue;

use super::metrics::{ControllerMetrics, Reconciled};

/// What a reconcile asks for next.
pub type Next = Result<Option<Duration>, Status>;

/// One controller.
pub trait Reconciler: Send + Sync + 'static {
    /// For logs.
    const NAME: &'static str;
    /// The kind whose objects it reconciles (every one is queued after a relist).
    const KIND: Kind;

    /// The keys (of `KIND`) a change concerns.
    fn keys(&self, change: &Change, cache: &Cache) -> Vec<String>;

    /// Brings the object at `key` to its desired state; `Ok(Some(d))` asks to look
    /// again after `d` (e.g. when a deadline falls).
    fn reconcile(&self, key: &str) -> impl Future<Output = Next> + Send;
}

/// Runs `r` with `workers` workers until the task is dropped, counting into `metrics`.
pub async fn run<R: Reconciler>(r: R, cache: Cache, workers: usize, metrics: ControllerMetrics) {
    let r = Arc::new(r);
    metrics.start(R::NAME);
    let queue: Queue<String> = Queue::new(Duration::from_secs(30));
    let mut changes = cache.subscribe();
    // Everything once at the start: the cache may have listed before we subscribed.
    let all = |queue: &Queue<String>| {
        let objects = cache.list(R::KIND, None);
        for s in &objects {
            queue.add(crate::store::key::of(&s.object));
        }
        metrics.queued(R::NAME, objects.len(), queue.len());
    };
    all(&queue);
    let mut tasks = crate::machinery::leader::Tasks::new();
    for _ in 0..workers.max(1) {
        tasks.spawn(work(r.clone(), queue.clone(), metrics.clone()));
    }
    // A member that stops leading leaves no stale depth behind.
    let _empty = Emptied(metrics.clone(), R::NAME);
    loop {
        match changes.recv().await {
            Ok(b) if b.relisted => all(&queue),
            Ok(b) => {
                let mut n = 0;
                for c in &b.changes {
                    for k in r.keys(c, &cache) {
                        queue.add(k);
                        n += 1;
                    }
                }
                metrics.queued(R::NAME, n, queue.len());
            }
            Err(RecvError::Lagged(_)) => all(&queue),
            Err(RecvError::Closed) => return,
        }
    }
}

/// Sets a controller's queue depth to zero when its loop ends.
struct Emptied(ControllerMetrics, &'static str);

impl Drop for Emptied {
    fn drop(&mut self) {
        self.0.depth(self.1, 0);
    }
}

async fn work<R: Reconciler>(r: Arc<R>, queue: Queue<String>, metrics: ControllerMetrics) {
    loop {
        let k = queue.next().await;
        metrics.depth(R::NAME, queue.len());
        let started = Instant::now();
        let result = match r.reconcile(&k).await {
            Ok(after) => {
                queue.forget(&k);
                if let Some(d) = after {
                    queue.add_after(k.clone(), d);
                    Reconciled::RequeueAfter
                } else {
                    Reconciled::Success
                }
            }
            Err(e) if stale(&e) => {
                tracing::debug!(controller = R::NAME, key = %k, error = %e.message(), "lost a race; reconciling again");
                queue.retry(k.clone());
                Reconciled::Conflict
            }
            Err(e) => {
                tracing::warn!(controller = R::NAME, key = %k, error = %e.message(), "reconcile failed; retrying");
                queue.retry(k.clone());
                Reconciled::Error
            }
        };
        metrics.reconciled(R::NAME, result, started.elapsed());
        queue.done(&k);
    }
}

/// The key of the controller that owns the changed object, when it is of `kind`
/// (before and after the change, if the owner moved).
pub fn owner_keys(change: &Change, kind: Kind) -> Vec<String> {
    let mut out = Vec::new();
    for s in [&change.old, &change.new].into_iter().flatten() {
        let m = s.object.metadata();
        if let Some(o) = m.controller().filter(|o| o.kind == kind.name()) {
            let k = crate::store::key::make(kind, &m.namespace, &o.name);
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out
}

/// The object at `key` to reconcile: there, and not being deleted (what is being deleted
/// is left to deletion's own cascade).
pub fn live(cache: &Cache, kind: Kind, key: &str) -> Option<std::sync::Arc<crate::store::Stored>> {
    cache
        .get_key(kind, key)
        .filter(|s| s.object.metadata().deletion_timestamp.is_none())
}

/// The change's own key, when it is of `kind`.
pub fn own_key(change: &Change, kind: Kind) -> Vec<String> {
    if change.kind == kind {
        vec![change.key.clone()]
    } else {
        Vec::new()
    }
}
