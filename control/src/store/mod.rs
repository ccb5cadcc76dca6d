//! The replicated store: raft-rs driving a durable log and a state machine that share one
//! redb database per member.
//!
//! # Layout
//! - `frame`: checksummed records, so damage is detected and reported with the file.
//! - `log`: [`DiskLog`], raft-rs' `Storage` on disk (entries, hard state, configuration,
//!   truncation point), fsync'd before a write returns.

mod frame;
mod log;

#[cfg(test)]
mod log_tests;

pub use log::{DiskLog, LogWrite, SnapshotSource};

use std::path::Path;
use std::sync::Arc;

use crate::Error;

/// Opens (or creates) a member's database file.
pub fn open_database(path: &Path) -> Result<Arc<redb::Database>, Error> {
    redb::Database::create(path)
        .map(Arc::new)
        .map_err(|e| Error::storage(path, e))
}
