//! The controllers' series, named as controller-runtime and client-go's work queues name
//! them: reconciles by controller and result, their duration, and each work queue's depth.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    controller: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Named {
    controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueName {
    name: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration() -> Histogram {
    // 50 µs to ~1.6 s, doubling.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// How a reconcile ended.
#[derive(Debug, Clone, Copy)]
pub enum Reconciled {
    Success,
    /// Asked to look again after a while.
    RequeueAfter,
    /// Lost a race with another write; reconciled again at once.
    Conflict,
    Error,
}

/// The controllers' series. Cheap to clone: clones update the same series.
#[derive(Clone, Debug)]
pub struct ControllerMetrics {
    reconciles: Family<Outcome, Counter>,
    duration: Histograms<Named>,
    depth: Family<QueueName, Gauge>,
    adds: Family<QueueName, Counter>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        ControllerMetrics {
            reconciles: Family::default(),
            duration: Histograms::new_with_constructor(duration as fn() -> _),
            depth: Family::default(),
            adds: Family::default(),
        }
    }
}

impl ControllerMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "controller_runtime_reconcile",
            "Reconciles by controller and result (success, requeue_after, conflict, error)",
            self.reconciles.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_time_seconds",
            "How long one reconcile took, by controller",
            self.duration.clone(),
        );
        registry.register(
            "workqueue_depth",
            "Keys waiting in each controller's work queue",
            self.depth.clone(),
        );
        registry.register(
            "workqueue_adds",
            "Keys added to each controller's work queue",
            self.adds.clone(),
        );
    }

    /// Gives `controller` its series before its first reconcile (zeros, not "no data").
    pub fn start(&self, controller: &'static str) {
        for result in ["success", "requeue_after", "conflict", "error"] {
            let _ = self
                .reconciles
                .get_or_create(&Outcome { controller, result });
        }
        let _ = self.duration.get_or_create(&Named { controller });
        let _ = self.adds.get_or_create(&QueueName { name: controller });
        self.depth(controller, 0);
    }

    pub fn reconciled(&self, controller: &'static str, r: Reconciled, took: Duration) {
        let result = match r {
            Reconciled::Success => "success",
            Reconciled::RequeueAfter => "requeue_after",
            Reconciled::Conflict => "conflict",
            Reconciled::Error => "error",
        };
        self.reconciles
            .get_or_create(&Outcome { controller, result })
            .inc();
        self.duration
            .get_or_create(&Named { controller })
            .observe(took.as_secs_f64());
    }

    /// `n` keys added to `name`'s queue, which now holds `depth`.
    pub fn queued(&self, name: &'static str, n: usize, depth: usize) {
        if n > 0 {
            self.adds
                .get_or_create(&QueueName { name })
                .inc_by(n as u64);
        }
        self.depth(name, depth);
    }

    pub fn depth(&self, name: &'static str, depth: usize) {
        self.depth
            .get_or_create(&QueueName { name })
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }
}
