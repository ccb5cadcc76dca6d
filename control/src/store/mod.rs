//! The replicated store: raft-rs driving a durable log (an append-only file) and a state
//! machine (a redb database) per member.
//!
//! # Layout
//! - `disk`: [`Disk`], the seam under the log and the database (the machine's files, or a
//!   layer that loses unsynced writes in the chaos tests).
//! - `frame`: checksummed records, so damage is detected and reported with the file.
//! - `wal`: the raft log's append-only file (checksummed records, torn-tail recovery,
//!   generations), one `fdatasync` per write.
//! - `log`: [`DiskLog`], raft-rs' `Storage` (entries, hard state, configuration,
//!   truncation point) in memory and in the `wal`, fsync'd before a write returns.
//! - `backup`: a member's state as one checksummed file, and a new data directory from it.
//! - `blobs`: uploaded artifacts (chunks and manifests, content-addressed files), written
//!   as their entries apply.
//! - `command`: [`Command`], the transaction a raft entry carries, and why one is rejected.
//! - `conf`: conf-change entries in either raft-rs encoding; membership of a configuration.
//! - `dedup`: proposals applied under an idempotency key, so one proposed twice (a retry,
//!   a re-proposal after a leader change) applies once.
//! - `format`: the on-disk format's version, and migrations from older ones.
//! - `key`: `Kind/namespace/name` keys and the ranges that list a kind.
//! - `state`: [`StateMachine`], objects with revisions and the applied index, advanced
//!   together; synced now and then, replayed from the log after a crash.
//! - `apply`: a command's operations checked against the state, then recorded all or
//!   nothing.
//! - `overlay`: the key index, and applied changes buffered in memory until the next sync
//!   writes them in one transaction; readers see the database through it.
//! - `syncer`: the state machine's syncs on a background thread, while raft applies on.
//! - `history`: every change, per revision: what watches read and where objects live;
//!   its compaction.
//! - `roster`: member addresses and removed ids, kept by the state machine.
//! - `snapshot`: the state machine as one blob for a lagging member, and its restore.
//! - `proposal`: [`ProposalId`] in a raft entry's context, and [`Applied`], its outcome.
//! - `member`: [`Member`], raft-rs' `RawNode` over the log and state machine, driven like
//!   its `five_mem_node` example; synchronous, so tests drive it deterministically.
//! - `inbound`: peers' raft messages that contradict the member's log, refused before
//!   raft-rs (which trusts its peers) stops on them.
//! - `fuzzing` (tests and the `fuzzing` feature): what the `raft_frames` fuzz target runs.
//! - `recovery`: founding a cluster, and repairing the log after a crash between its
//!   writes and the state machine's, before raft starts.
//! - `reads`: linearizable reads batched onto one raft ReadIndex at a time, re-issued when
//!   raft loses one.
//! - `raft_log`: raft-rs' slog records passed on to tracing (target `raft`).
//! - `metrics`: [`StoreMetrics`], the counters `/metrics` will expose.
//! - `runtime`: the event loop that runs a member on tokio behind a [`StoreHandle`]
//!   (propose, linearizable reads, status) and a [`Transport`] seam for raft messages.

mod apply;
pub mod backup;
pub mod blobs;
mod command;
mod conf;
mod dedup;
pub mod disk;
mod format;
mod frame;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod history;
mod inbound;
pub mod key;
mod log;
mod member;
mod metrics;
mod overlay;
mod proposal;
mod raft_log;
mod reads;
mod recovery;
mod roster;
mod runtime;
mod snapshot;
mod state;
mod syncer;
pub mod transform;
mod wal;

#[cfg(test)]
mod chaos;
#[cfg(test)]
mod dedup_tests;
#[cfg(test)]
mod format_tests;
#[cfg(test)]
pub(crate) mod runtime_tests;
#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod state_tests;

pub use command::{Command, Op, Rejection};
pub use conf::in_conf;
pub use dedup::{HEADER as IDEMPOTENCY_HEADER, request_key, with_request_key};
pub use disk::Disk;
pub use format::CURRENT as STORE_FORMAT;
pub use history::{Event, EventType};
pub use member::{Applied, Early, Member, Output, ProposalId, Tuning};
pub use metrics::StoreMetrics;
pub use runtime::{Status, StoreHandle, Transport, WriteError, spawn};
pub use snapshot::restore as restore_snapshot;
pub use state::{Listing, StateMachine, Stored};

#[cfg(test)]
mod log_tests;

pub use log::{DiskLog, LogWrite, SnapshotSource};

use std::path::Path;
use std::sync::Arc;

use crate::Error;

/// Opens (or creates) a member's database file.
pub fn open_database(path: &Path) -> Result<Arc<redb::Database>, Error> {
    open_database_on(&disk::Local, path)
}

/// Opens (or creates) a member's database file on `disk`.
pub fn open_database_on(disk: &dyn Disk, path: &Path) -> Result<Arc<redb::Database>, Error> {
    disk.database(path)
        .map(Arc::new)
        .map_err(|e| Error::storage(path, e))
}
