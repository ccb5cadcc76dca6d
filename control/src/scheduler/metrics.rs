//! The scheduler's series, named as kube-scheduler names them: pods waiting
//! (`scheduler_pending_pods`, by queue), scheduling attempts by result, how long a cycle
//! takes, how long committing its bindings takes, and preemptions.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Queue {
    queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Result_ {
    result: &'static str,
}

/// What became of one pod's scheduling attempt.
#[derive(Debug, Clone, Copy)]
pub enum Attempt {
    Scheduled,
    Unschedulable,
    /// The binding could not be written.
    Error,
}

/// The scheduler's series. Cheap to clone: clones update the same series.
#[derive(Clone, Debug)]
pub struct SchedulerMetrics {
    pending: Family<Queue, Gauge>,
    attempts: Family<Result_, Counter>,
    cycle: Histogram,
    binding: Histogram,
    preemptions: Counter,
    victims: Counter,
}

impl Default for SchedulerMetrics {
    fn default() -> Self {
        // 50 µs to ~1.6 s, doubling.
        let buckets = || exponential_buckets(0.000_05, 2.0, 16);
        SchedulerMetrics {
            pending: Family::default(),
            attempts: Family::default(),
            cycle: Histogram::new(buckets()),
            binding: Histogram::new(buckets()),
            preemptions: Counter::default(),
            victims: Counter::default(),
        }
    }
}

impl SchedulerMetrics {
    pub fn register(&self, registry: &mut Registry) {
        // Every result has a series from the start, so rates of it are never "no data".
        for result in ["scheduled", "unschedulable", "error"] {
            let _ = self.attempts.get_or_create(&Result_ { result });
        }
        self.pending(0, 0);
        registry.register(
            "scheduler_pending_pods",
            "Pods waiting to be placed: `active` (queued) or `unschedulable` (waiting for the cluster to change)",
            self.pending.clone(),
        );
        registry.register(
            "scheduler_schedule_attempts",
            "Pods the scheduler tried to place, by result",
            self.attempts.clone(),
        );
        registry.register(
            "scheduler_scheduling_cycle_duration_seconds",
            "One scheduling cycle: placing a batch of pods, before their bindings are written",
            self.cycle.clone(),
        );
        registry.register(
            "scheduler_binding_duration_seconds",
            "Writing one batch of bindings (a raft transaction)",
            self.binding.clone(),
        );
        registry.register(
            "scheduler_preemption_attempts",
            "Preemptions: pods that evicted lower-priority pods to fit",
            self.preemptions.clone(),
        );
        registry.register(
            "scheduler_preemption_victims",
            "Pods evicted by preemption",
            self.victims.clone(),
        );
    }

    /// The queues' sizes now.
    pub fn pending(&self, active: usize, unschedulable: usize) {
        for (queue, n) in [("active", active), ("unschedulable", unschedulable)] {
            self.pending
                .get_or_create(&Queue { queue })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    pub fn attempts(&self, a: Attempt, n: usize) {
        let result = match a {
            Attempt::Scheduled => "scheduled",
            Attempt::Unschedulable => "unschedulable",
            Attempt::Error => "error",
        };
        self.attempts
            .get_or_create(&Result_ { result })
            .inc_by(n as u64);
    }

    pub fn cycle(&self, took: Duration) {
        self.cycle.observe(took.as_secs_f64());
    }

    pub fn binding(&self, took: Duration) {
        self.binding.observe(took.as_secs_f64());
    }

    pub fn preempted(&self, victims: usize) {
        self.preemptions.inc();
        self.victims.inc_by(victims as u64);
    }
}
