//! Snapshots of the state machine: every object record with the applied position, as one
//! checksummed blob raft sends to a member that is too far behind for the log.
//!
//! Layout of `Snapshot.data`: `crc32 ++ count:u64 ++ (key_len:u32 key rec_len:u32 rec)*`,
//! where each `rec` is the object's stored record, itself checksummed.

use raft::prelude::Snapshot;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::frame;
use super::state::{APPLIED, COMPACTED, EVENTS, OBJECTS, STATE_META, StateMachine};
use crate::Error;

/// The state as of the last applied entry, read in one consistent transaction.
pub fn export(sm: &StateMachine) -> Result<Snapshot, Error> {
    let txn = sm.db.begin_read().map_err(|e| sm.err(e))?;
    let meta = sm.applied_in(&txn)?;
    let objects = txn.open_table(OBJECTS).map_err(|e| sm.err(e))?;
    let mut body = Vec::new();
    body.extend_from_slice(&objects.len().map_err(|e| sm.err(e))?.to_le_bytes());
    for item in objects.iter().map_err(|e| sm.err(e))? {
        let (k, v) = item.map_err(|e| sm.err(e))?;
        for part in [k.value().as_bytes(), v.value()] {
            body.extend_from_slice(&(part.len() as u32).to_le_bytes());
            body.extend_from_slice(part);
        }
    }
    let mut snap = Snapshot::default();
    snap.set_metadata(meta);
    snap.data = frame::seal(&body).into();
    Ok(snap)
}

/// Replaces the whole state by a snapshot's. Event history before it is gone.
pub fn restore(sm: &StateMachine, snap: &Snapshot) -> Result<(), Error> {
    let what = || format!("snapshot at index {}", snap.get_metadata().index);
    let corrupt = |reason: &str| Error::Corrupt {
        path: sm.path.clone(),
        what: what(),
        reason: reason.to_owned(),
    };
    let mut body = frame::open(&sm.path, &what, &snap.data)?;
    let mut take = |n: usize| -> Result<&[u8], Error> {
        if body.len() < n {
            return Err(corrupt("truncated"));
        }
        let (head, rest) = body.split_at(n);
        body = rest;
        Ok(head)
    };
    let mut count = [0u8; 8];
    count.copy_from_slice(take(8)?);
    let count = u64::from_le_bytes(count);
    let mut records = Vec::new();
    for _ in 0..count {
        let mut part = || -> Result<Vec<u8>, Error> {
            let mut len = [0u8; 4];
            len.copy_from_slice(take(4)?);
            Ok(take(u32::from_le_bytes(len) as usize)?.to_vec())
        };
        let k = String::from_utf8(part()?).map_err(|_| corrupt("a key is not UTF-8"))?;
        records.push((k, part()?));
    }
    let meta = snap.get_metadata().clone();
    let txn = sm.db.begin_write().map_err(|e| sm.err(e))?;
    {
        let mut objects = txn.open_table(OBJECTS).map_err(|e| sm.err(e))?;
        objects.retain(|_, _| false).map_err(|e| sm.err(e))?;
        for (k, rec) in &records {
            objects
                .insert(k.as_str(), rec.as_slice())
                .map_err(|e| sm.err(e))?;
        }
        txn.open_table(EVENTS)
            .map_err(|e| sm.err(e))?
            .retain(|_, _| false)
            .map_err(|e| sm.err(e))?;
        let mut m = txn.open_table(STATE_META).map_err(|e| sm.err(e))?;
        m.insert(APPLIED, frame::seal_message(&meta).as_slice())
            .map_err(|e| sm.err(e))?;
        m.insert(COMPACTED, frame::seal(&meta.index.to_le_bytes()).as_slice())
            .map_err(|e| sm.err(e))?;
    }
    txn.commit().map_err(|e| sm.err(e))?;
    sm.reset_applied(meta);
    Ok(())
}
