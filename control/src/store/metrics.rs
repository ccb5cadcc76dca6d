//! The store's series (prometheus-client): raft term, leadership and leader changes,
//! commit and applied index and the lag between them, how long proposals take to apply,
//! and how long each durable write (fsync) takes.

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
    /// Committed entries not yet applied here.
    pub apply_lag: Gauge,
    /// 1 on the leader, 0 elsewhere.
    pub is_leader: Gauge,
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
            apply_lag: Gauge::default(),
            is_leader: Gauge::default(),
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
            "apply_lag",
            "Committed raft entries this member has not applied yet",
            self.apply_lag.clone(),
        );
        r.register(
            "is_leader",
            "1 when this member leads the raft group",
            self.is_leader.clone(),
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
