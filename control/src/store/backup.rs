//! Backups: a member's state as one checksummed file (`skiff snapshot save`), and a new
//! one-member data directory prepared from it (`skiff snapshot restore`), as etcdctl's
//! snapshot save and restore do.
//!
//! # File
//! `"SKIFF-SNAPSHOT\n" | version:u32 | meta_len:u32 | meta | data_len:u64 | data |
//! sha256(everything before):32`, integers little-endian; `meta` is raft's
//! `SnapshotMetadata` (protobuf) and `data` the state machine's snapshot (see `snapshot`,
//! which carries the store format). The file's checksum covers every byte, so a damaged or
//! cut file is refused before anything is written.
//!
//! # Restore
//! The snapshot's state goes into a new database; the cluster it describes becomes one
//! member, `id`, with no address (it is learnt when the member starts, see
//! [`StateMachine::adopt_address`]) and no removed ids: a new cluster, which others join.

use std::path::Path;

use protobuf::Message as _;
use raft::prelude::{ConfState, Snapshot, SnapshotMetadata};
use sha2::{Digest, Sha256};

use super::roster::{MEMBERS, REMOVED};
use super::state::{APPLIED, STATE_META, StateMachine};
use super::{frame, open_database};
use crate::Error;

const MAGIC: &[u8] = b"SKIFF-SNAPSHOT\n";
const VERSION: u32 = 1;

/// A backup file's bytes for `snap`.
pub fn encode(snap: &Snapshot) -> Vec<u8> {
    // Plain protobuf of plain fields: encoding cannot fail.
    let meta = snap.get_metadata().write_to_bytes().unwrap_or_default();
    let mut out = Vec::with_capacity(snap.data.len() + meta.len() + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&(snap.data.len() as u64).to_le_bytes());
    out.extend_from_slice(&snap.data);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

/// Why a backup file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BadBackup {
    #[error("not a Skiff snapshot (it does not start with {:?})", String::from_utf8_lossy(MAGIC).trim_end())]
    NotASnapshot,
    #[error(
        "written by a newer Skiff (snapshot file version {0}; this build reads version {VERSION})"
    )]
    Newer(u32),
    #[error(
        "damaged: its checksum does not match its contents (cut short or changed); take a new snapshot"
    )]
    Checksum,
    #[error("damaged: {0}")]
    Malformed(&'static str),
}

/// The snapshot in a backup file's bytes, once its checksum holds.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, BadBackup> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(BadBackup::NotASnapshot)?;
    let (version, _) = rest.split_at_checked(4).ok_or(BadBackup::Checksum)?;
    let version = u32::from_le_bytes(version.try_into().map_err(|_| BadBackup::Checksum)?);
    if version > VERSION {
        return Err(BadBackup::Newer(version));
    }
    let (body, sum) = bytes
        .split_at_checked(bytes.len().saturating_sub(32))
        .filter(|(b, _)| b.len() > MAGIC.len())
        .ok_or(BadBackup::Checksum)?;
    if Sha256::digest(body).as_slice() != sum {
        return Err(BadBackup::Checksum);
    }
    let mut r = &body[MAGIC.len() + 4..];
    let mut take = |n: usize| -> Result<&[u8], BadBackup> {
        let (head, tail) = r
            .split_at_checked(n)
            .ok_or(BadBackup::Malformed("truncated"))?;
        r = tail;
        Ok(head)
    };
    let len = u32::from_le_bytes(take(4)?.try_into().unwrap_or_default()) as usize;
    let meta = SnapshotMetadata::parse_from_bytes(take(len)?)
        .map_err(|_| BadBackup::Malformed("its position does not decode"))?;
    let len = u64::from_le_bytes(take(8)?.try_into().unwrap_or_default());
    let len = usize::try_from(len).map_err(|_| BadBackup::Malformed("too large"))?;
    let data = take(len)?.to_vec();
    if !r.is_empty() {
        return Err(BadBackup::Malformed("trailing bytes"));
    }
    let mut snap = Snapshot::default();
    snap.set_metadata(meta);
    snap.data = data.into();
    Ok(snap)
}

/// Prepares `db` (a new database file) from `snap` as the store of a new cluster whose
/// only member is `id`. Returns the revision restored.
pub fn restore(snap: &Snapshot, db: &Path, id: u64) -> Result<u64, Error> {
    if db.exists() {
        return Err(Error::Config(format!(
            "{} exists: restore into a new, empty data directory",
            db.display()
        )));
    }
    let sm = StateMachine::open(open_database(db)?, db)?;
    super::snapshot::restore(&sm, snap)?;
    sm.found_alone(id)?;
    Ok(snap.get_metadata().index)
}

impl StateMachine {
    /// Makes `id` the only member, with no address yet and no removed ids (a restore).
    fn found_alone(&self, id: u64) -> Result<(), Error> {
        let _one = self.flushes.lock().unwrap_or_else(|p| p.into_inner());
        let mut meta = self.applied_meta();
        meta.set_conf_state(ConfState {
            voters: vec![id],
            ..Default::default()
        });
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = txn.open_table(MEMBERS).map_err(|e| self.err(e))?;
            t.retain(|_, _| false).map_err(|e| self.err(e))?;
            let mut t = txn.open_table(REMOVED).map_err(|e| self.err(e))?;
            t.retain(|_, _| false).map_err(|e| self.err(e))?;
            let mut t = txn.open_table(STATE_META).map_err(|e| self.err(e))?;
            t.insert(APPLIED, frame::seal_message(&meta).as_slice())
                .map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))?;
        self.reset_applied(meta);
        Ok(())
    }

    /// Records `addr` as member `id`'s address when the roster has none for it and it is
    /// the only voter: a cluster restored from a backup learns its member's address as it
    /// starts. Written directly, before raft runs: no other member holds this state yet.
    pub fn adopt_address(&self, id: u64, addr: &str) -> Result<bool, Error> {
        if self.conf_state().voters != [id] || self.members()?.contains_key(&id) {
            return Ok(false);
        }
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = txn.open_table(MEMBERS).map_err(|e| self.err(e))?;
            t.insert(id, addr).map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        let mut s = Snapshot::default();
        s.mut_metadata().index = 42;
        s.mut_metadata().term = 3;
        s.data = b"state".to_vec().into();
        s
    }

    #[test]
    fn a_backup_round_trips_and_any_damage_is_refused() {
        let bytes = encode(&snap());
        let back = decode(&bytes).unwrap();
        assert_eq!(
            (back.get_metadata().index, &back.data[..]),
            (42, &b"state"[..])
        );
        for i in [MAGIC.len() + 5, bytes.len() / 2, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert_eq!(decode(&bad).unwrap_err(), BadBackup::Checksum, "byte {i}");
        }
        assert_eq!(
            decode(&bytes[..bytes.len() - 3]).unwrap_err(),
            BadBackup::Checksum
        );
        assert_eq!(decode(b"hello").unwrap_err(), BadBackup::NotASnapshot);
        let mut newer = bytes.clone();
        newer[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&9u32.to_le_bytes());
        assert_eq!(decode(&newer).unwrap_err(), BadBackup::Newer(9));
    }
}
