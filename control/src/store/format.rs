//! The store's on-disk format version, and the migrations that bring a data directory
//! written by an older build up to this one's.
//!
//! The version lives in the database (`state_meta` record `format`) and governs the whole
//! member directory: the database, the raft log beside it and the artifacts. Snapshots
//! carry their own (see `snapshot`). Opening a directory:
//! - fresh: this build's version is recorded;
//! - older: each migration from its version up runs, in one durable transaction, and the
//!   new version is recorded with it (a crash leaves the old version and the old data);
//! - newer: refused with [`Error::NewerFormat`], before anything is written.
//!
//! # Versions
//! 1. Everything up to December 2026, with no version recorded.
//! 2. Proposals remembered by idempotency key (table `proposals`, see `dedup`), and the
//!    version record.

use std::path::Path;

use redb::{Database, ReadableTable, WriteTransaction};

use super::dedup::PROPOSALS;
use super::frame;
use super::state::{APPLIED, STATE_META};
use crate::Error;

/// The format this build writes.
pub const CURRENT: u32 = 2;

/// The record holding a database's format version.
const FORMAT: &str = "format";

/// A migration from version `n` to `n + 1`, at index `n - 1`.
type Migration = fn(&WriteTransaction) -> Result<(), redb::Error>;

const MIGRATIONS: [Migration; (CURRENT - 1) as usize] = [remember_proposals];

/// Format 1 → 2: the table of remembered proposals starts empty (nothing proposed
/// before carried a key).
fn remember_proposals(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(PROPOSALS)?;
    Ok(())
}

/// Brings the database at `path` to [`CURRENT`]; returns the version it was in.
pub(super) fn upgrade(db: &Database, path: &Path) -> Result<u32, Error> {
    let err = |e: redb::Error| Error::storage(path, e);
    let txn = db.begin_write().map_err(|e| err(e.into()))?;
    let found = {
        let meta = txn.open_table(STATE_META).map_err(|e| err(e.into()))?;
        match meta.get(FORMAT).map_err(|e| err(e.into()))? {
            Some(v) => {
                let b = frame::open(path, &|| "format version".into(), v.value())?;
                let b: [u8; 4] = b.try_into().map_err(|_| Error::Corrupt {
                    path: path.to_path_buf(),
                    what: "format version".into(),
                    reason: format!("{} bytes, not 4", b.len()),
                })?;
                u32::from_le_bytes(b)
            }
            // A database that applied something before versions were recorded is version
            // 1; an empty one is new.
            None if meta.get(APPLIED).map_err(|e| err(e.into()))?.is_some() => 1,
            None => 0,
        }
    };
    if found > CURRENT {
        return Err(Error::NewerFormat {
            path: path.to_path_buf(),
            found,
            supported: CURRENT,
        });
    }
    if found == CURRENT {
        return Ok(found);
    }
    if found > 0 {
        for (i, migrate) in MIGRATIONS.iter().enumerate().skip(found as usize - 1) {
            migrate(&txn).map_err(err)?;
            tracing::info!(path = %path.display(), from = i + 1, to = i + 2, "migrated the store's data");
        }
    }
    record(&txn, CURRENT).map_err(err)?;
    txn.commit().map_err(|e| err(e.into()))?;
    Ok(found)
}

/// Records `version` as the database's format.
pub(super) fn record(txn: &WriteTransaction, version: u32) -> Result<(), redb::Error> {
    let mut meta = txn.open_table(STATE_META)?;
    meta.insert(FORMAT, frame::seal(&version.to_le_bytes()).as_slice())?;
    Ok(())
}

/// The format recorded in the database at `path` (tests).
#[cfg(test)]
pub(super) fn stored(path: &Path) -> Result<u32, Error> {
    use redb::ReadableDatabase;
    let db = Database::open(path).map_err(|e| Error::storage(path, e))?;
    let txn = db.begin_read().map_err(|e| Error::storage(path, e))?;
    let meta = txn
        .open_table(STATE_META)
        .map_err(|e| Error::storage(path, e))?;
    let v = meta
        .get(FORMAT)
        .map_err(|e| Error::storage(path, e))?
        .ok_or_else(|| Error::Config("no format recorded".into()))?;
    let b = frame::open(path, &|| "format version".into(), v.value())?;
    Ok(u32::from_le_bytes(b.try_into().unwrap_or_default()))
}

/// Records `version` in the database at `path` (tests: a directory from the future).
#[cfg(test)]
pub(super) fn set(path: &Path, version: u32) -> Result<(), Error> {
    let db = Database::open(path).map_err(|e| Error::storage(path, e))?;
    let txn = db.begin_write().map_err(|e| Error::storage(path, e))?;
    record(&txn, version).map_err(|e| Error::storage(path, e))?;
    txn.commit().map_err(|e| Error::storage(path, e))
}
