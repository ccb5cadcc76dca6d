//! Snapshots of the state machine: every object record, the member address book and the
//! removed ids, with the applied position, as one checksummed blob raft sends to a member
//! that is too far behind for the log (the transport streams it in chunks).
//!
//! Layout of `Snapshot.data`, all integers little-endian, inside one `frame`:
//! `"SKSN" format:u32  objects:u64 (key_len:u32 key rec_len:u32 rec)*  members:u64 (id:u64
//! len:u32 addr)*  removed:u64 (id:u64 index:u64)*  chunks:u64 (len:u32 data)*
//! artifacts:u64 (len:u32 manifest)*  proposals:u64 (key:u128 index:u64 len:u32 verdict)*`;
//! each object `rec` is itself checksummed, each chunk is checked against its digest, each
//! artifact against its chunks. `format` is the store's (see `format`); a format-1
//! snapshot has neither the magic and version nor the remembered proposals.

use std::collections::BTreeMap;

use raft::prelude::Snapshot;
use redb::{ReadableTable, ReadableTableMetadata};

use super::blobs::Manifest;
use super::dedup::{self, PROPOSALS, Recent, Seen};
use super::history::{EventType, encode_event};
use super::overlay::Overlay;
use super::roster::{MEMBERS, REMOVED};
use super::state::{APPLIED, COMPACTED, EVENTS, STATE_META, StateMachine};
use super::{format, frame};
use crate::Error;

/// The state as of the last applied entry: the key index, the records it points at and
/// the roster, read under one view.
pub fn export(sm: &StateMachine) -> Result<Snapshot, Error> {
    let view = sm.view()?;
    let meta = sm.applied_meta();
    let mut body = Vec::new();
    body.extend_from_slice(MAGIC);
    body.extend_from_slice(&format::CURRENT.to_le_bytes());
    let put = |body: &mut Vec<u8>, part: &[u8]| {
        body.extend_from_slice(&(part.len() as u32).to_le_bytes());
        body.extend_from_slice(part);
    };
    let events = view.txn.open_table(EVENTS).map_err(|e| sm.err(e))?;
    body.extend_from_slice(&(view.overlay.index.len() as u64).to_le_bytes());
    for (k, &at) in &view.overlay.index {
        let rec = sm
            .record_in(&view.overlay, &events, at)?
            .ok_or_else(|| sm.missing(k, at))?;
        let parts = sm.parts(at, rec.bytes())?;
        let mut object = Vec::with_capacity(8 + parts.body.len());
        object.extend_from_slice(&at.0.to_le_bytes());
        object.extend_from_slice(parts.body);
        put(&mut body, k.as_bytes());
        put(&mut body, &frame::seal(&object));
    }
    let members = view.txn.open_table(MEMBERS).map_err(|e| sm.err(e))?;
    body.extend_from_slice(&members.len().map_err(|e| sm.err(e))?.to_le_bytes());
    for item in members.iter().map_err(|e| sm.err(e))? {
        let (id, addr) = item.map_err(|e| sm.err(e))?;
        body.extend_from_slice(&id.value().to_le_bytes());
        put(&mut body, addr.value().as_bytes());
    }
    let removed = view.txn.open_table(REMOVED).map_err(|e| sm.err(e))?;
    body.extend_from_slice(&removed.len().map_err(|e| sm.err(e))?.to_le_bytes());
    for item in removed.iter().map_err(|e| sm.err(e))? {
        let (id, index) = item.map_err(|e| sm.err(e))?;
        body.extend_from_slice(&id.value().to_le_bytes());
        body.extend_from_slice(&index.value().to_le_bytes());
    }
    // Every chunk, sealed or not: an upload under way finishes on the new member too.
    let chunks = sm.blobs.chunk_digests()?;
    body.extend_from_slice(&(chunks.len() as u64).to_le_bytes());
    for c in &chunks {
        let data = sm
            .blobs
            .chunk(c)?
            .ok_or_else(|| sm.corrupt(format!("artifact chunk {c}"), "it vanished".into()))?;
        put(&mut body, &data);
    }
    let manifests = sm.blobs.manifests()?;
    body.extend_from_slice(&(manifests.len() as u64).to_le_bytes());
    for m in &manifests {
        put(&mut body, m.digest.as_bytes());
        put(&mut body, m.encode().as_bytes());
    }
    body.extend_from_slice(&(view.overlay.recent.len() as u64).to_le_bytes());
    for (key, index, verdict) in view.overlay.recent.iter() {
        body.extend_from_slice(&key.to_le_bytes());
        body.extend_from_slice(&index.to_le_bytes());
        put(&mut body, &dedup::encode(verdict));
    }
    let mut snap = Snapshot::default();
    snap.set_metadata(meta);
    snap.data = frame::seal(&body).into();
    Ok(snap)
}

/// What a snapshot body starts with, before its format version (from format 2 on).
const MAGIC: &[u8; 4] = b"SKSN";

/// Reads a snapshot body front to back, failing on anything short.
struct Reader<'a> {
    body: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.body.len() < n {
            return None;
        }
        let (head, rest) = self.body.split_at(n);
        self.body = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }

    fn part(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        self.take(len as usize)
    }
}

/// A snapshot's contents: object records by key, member addresses, removed ids.
struct Contents<'a> {
    objects: Vec<(String, Vec<u8>)>,
    members: Vec<(u64, String)>,
    removed: Vec<(u64, u64)>,
    chunks: Vec<&'a [u8]>,
    manifests: Vec<Manifest>,
    proposals: Vec<Seen>,
}

/// Why a snapshot body could not be read.
enum Unreadable {
    Damaged(&'static str),
    Newer(u32),
}

impl From<&'static str> for Unreadable {
    fn from(s: &'static str) -> Self {
        Unreadable::Damaged(s)
    }
}

fn parse(body: &[u8]) -> Result<Contents<'_>, Unreadable> {
    const SHORT: &str = "truncated";
    let mut r = Reader { body };
    let version = match body.strip_prefix(MAGIC) {
        Some(_) => {
            r.take(MAGIC.len());
            let v = r.take(4).ok_or(SHORT)?;
            u32::from_le_bytes(v.try_into().map_err(|_| SHORT)?)
        }
        None => 1,
    };
    if version > format::CURRENT {
        return Err(Unreadable::Newer(version));
    }
    let mut objects = Vec::new();
    for _ in 0..r.u64().ok_or(SHORT)? {
        let k = r.part().ok_or(SHORT)?;
        let k = String::from_utf8(k.to_vec()).map_err(|_| "a key is not UTF-8")?;
        objects.push((k, r.part().ok_or(SHORT)?.to_vec()));
    }
    let mut members = Vec::new();
    for _ in 0..r.u64().ok_or(SHORT)? {
        let id = r.u64().ok_or(SHORT)?;
        let addr = r.part().ok_or(SHORT)?;
        let addr = String::from_utf8(addr.to_vec()).map_err(|_| "an address is not UTF-8")?;
        members.push((id, addr));
    }
    let mut removed = Vec::new();
    for _ in 0..r.u64().ok_or(SHORT)? {
        removed.push((r.u64().ok_or(SHORT)?, r.u64().ok_or(SHORT)?));
    }
    let mut chunks = Vec::new();
    for _ in 0..r.u64().ok_or(SHORT)? {
        chunks.push(r.part().ok_or(SHORT)?);
    }
    let mut manifests = Vec::new();
    for _ in 0..r.u64().ok_or(SHORT)? {
        let digest =
            std::str::from_utf8(r.part().ok_or(SHORT)?).map_err(|_| "a digest is not UTF-8")?;
        let text =
            std::str::from_utf8(r.part().ok_or(SHORT)?).map_err(|_| "a manifest is not UTF-8")?;
        manifests.push(Manifest::decode(digest, text).ok_or("a manifest does not decode")?);
    }
    let mut proposals = Vec::new();
    if version >= 2 {
        for _ in 0..r.u64().ok_or(SHORT)? {
            let key = r.u128().ok_or(SHORT)?;
            let index = r.u64().ok_or(SHORT)?;
            let verdict = dedup::decode(r.part().ok_or(SHORT)?)
                .map_err(|_| "a remembered proposal's verdict does not decode")?;
            proposals.push((key, index, verdict));
        }
    }
    if !r.body.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(Contents {
        objects,
        members,
        removed,
        chunks,
        manifests,
        proposals,
    })
}

/// Replaces the whole state by a snapshot's. Event history before it is gone.
pub fn restore(sm: &StateMachine, snap: &Snapshot) -> Result<(), Error> {
    let what = || format!("snapshot at index {}", snap.get_metadata().index);
    let body = frame::open(&sm.path, &what, &snap.data)?;
    let Contents {
        objects,
        members,
        removed,
        chunks,
        manifests,
        proposals,
    } = parse(body).map_err(|e| match e {
        Unreadable::Damaged(reason) => Error::Corrupt {
            path: sm.path.clone(),
            what: what(),
            reason: reason.to_owned(),
        },
        Unreadable::Newer(found) => Error::NewerFormat {
            path: sm.path.clone(),
            found,
            supported: format::CURRENT,
        },
    })?;
    let meta = snap.get_metadata().clone();
    // Each object becomes the record of its revision; objects written by one transaction
    // share it and are told apart by their position, in key order.
    let mut records = Vec::with_capacity(objects.len());
    let mut index = BTreeMap::new();
    let mut positions: BTreeMap<u64, u32> = BTreeMap::new();
    for (k, rec) in &objects {
        let inner = frame::open(&sm.path, &|| format!("snapshot object {k}"), rec)?;
        let (rev, body) = inner.split_at_checked(8).ok_or_else(|| Error::Corrupt {
            path: sm.path.clone(),
            what: format!("snapshot object {k}"),
            reason: "record too short".into(),
        })?;
        let rev = u64::from_le_bytes(rev.try_into().unwrap_or([0; 8]));
        let seq = positions.entry(rev).or_default();
        let at = (rev, *seq);
        *seq += 1;
        records.push((at, encode_event(EventType::Added, k, body)));
        index.insert(k.clone(), at);
    }
    // Artifacts first: once the snapshot's position is recorded, they must be on disk.
    for data in chunks {
        sm.blobs.put_chunk(data)?;
    }
    for m in &manifests {
        if let Err(r) = sm.blobs.seal(m)? {
            return Err(sm.corrupt(what(), r.to_string()));
        }
    }
    // No sync may run meanwhile: it would write older state over the snapshot's.
    let _one = sm.flushes.lock().unwrap_or_else(|p| p.into_inner());
    let txn = sm.db.begin_write().map_err(|e| sm.err(e))?;
    {
        let mut t = txn.open_table(EVENTS).map_err(|e| sm.err(e))?;
        t.retain(|_, _| false).map_err(|e| sm.err(e))?;
        for (at, rec) in &records {
            t.insert(at, rec.as_slice()).map_err(|e| sm.err(e))?;
        }
        let mut t = txn.open_table(MEMBERS).map_err(|e| sm.err(e))?;
        t.retain(|_, _| false).map_err(|e| sm.err(e))?;
        for (id, addr) in &members {
            t.insert(id, addr.as_str()).map_err(|e| sm.err(e))?;
        }
        let mut t = txn.open_table(REMOVED).map_err(|e| sm.err(e))?;
        t.retain(|_, _| false).map_err(|e| sm.err(e))?;
        for (id, index) in &removed {
            t.insert(id, index).map_err(|e| sm.err(e))?;
        }
        let mut t = txn.open_table(PROPOSALS).map_err(|e| sm.err(e))?;
        t.retain(|_, _| false).map_err(|e| sm.err(e))?;
        drop(t);
        dedup::write(&txn, &proposals, meta.index).map_err(|e| sm.err(e))?;
        let mut m = txn.open_table(STATE_META).map_err(|e| sm.err(e))?;
        m.insert(APPLIED, frame::seal_message(&meta).as_slice())
            .map_err(|e| sm.err(e))?;
        m.insert(COMPACTED, frame::seal(&meta.index.to_le_bytes()).as_slice())
            .map_err(|e| sm.err(e))?;
    }
    // Readers see the old state (buffered changes included) or the new one, nothing between.
    let mut overlay = sm.overlay.write().unwrap_or_else(|p| p.into_inner());
    txn.commit().map_err(|e| sm.err(e))?;
    let mut recent = Recent::default();
    for seen in proposals {
        recent.insert(seen);
    }
    recent.forget_before(meta.index);
    *overlay = Overlay {
        index,
        base: meta.index,
        recent,
        ..Overlay::default()
    };
    sm.reset_applied(meta);
    drop(overlay);
    sm.configure_transform()
}
