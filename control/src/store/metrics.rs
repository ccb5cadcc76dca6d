//! The store's counters (prometheus-client), kept from the start so `/metrics` can expose
//! them when it lands: raft term and leader changes, commit and applied index, how long
//! proposals take to apply, and how long each durable write (fsync) takes.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Cheap to clone: every clone updates the same series.
#[derive(Clone)]
pub struct StoreMetrics {
    pub term: Gauge,
    pub leader_changes: Counter,
    pub commit_index: Gauge,
    pub applied_index: Gauge,
    /// From proposal to applied on the proposing member.
    pub proposal_seconds: Histogram,
    /// One durable redb commit of the raft log.
    pub fsync_seconds: Histogram,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        // 50 µs to ~1.6 s, doubling.
        let buckets = || exponential_buckets(0.000_05, 2.0, 16);
        StoreMetrics {
            term: Gauge::default(),
            leader_changes: Counter::default(),
            commit_index: Gauge::default(),
            applied_index: Gauge::default(),
            proposal_seconds: Histogram::new(buckets()),
            fsync_seconds: Histogram::new(buckets()),
        }
    }
}

impl StoreMetrics {
    /// Registers every series under `skiff_store_`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("skiff_store");
        r.register("raft_term", "Current raft term", self.term.clone());
        r.register(
            "leader_changes",
            "Times this member saw the leader change",
            self.leader_changes.clone(),
        );
        r.register(
            "commit_index",
            "Raft commit index",
            self.commit_index.clone(),
        );
        r.register(
            "applied_index",
            "Index applied to the state machine",
            self.applied_index.clone(),
        );
        r.register(
            "proposal_seconds",
            "Proposal to applied, on the proposing member",
            self.proposal_seconds.clone(),
        );
        r.register(
            "fsync_seconds",
            "Durable raft log writes",
            self.fsync_seconds.clone(),
        );
    }
}
