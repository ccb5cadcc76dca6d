//! The change history, which is also where objects live: one record per change, keyed by
//! the revision (raft index) of its write and its position within that write, holding the
//! object as that write left it (for a deletion, its last state). The key index (see
//! `overlay`) points at each live object's current record.
//!
//! Compaction forgets the history up to a revision, as etcd's does: every record there
//! goes except the current version of each live object. A version superseded later, when
//! it is already below the compaction point, is removed by the write that supersedes it.

use std::collections::BTreeMap;

use redb::{ReadOnlyTable, ReadableTable};
use skiff_proto::{Object, stored};

use super::frame;
use super::overlay::At;
use super::state::{COMPACTED, EVENTS, STATE_META, StateMachine};
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change, as a watch delivers it. For a deletion, `object` is the last state.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub revision: u64,
    pub kind: EventType,
    pub key: String,
    pub object: Object,
}

/// A record's parts, checked but not decoded: kind, key and the object's stored form.
pub(super) struct Parts<'r> {
    pub kind: EventType,
    pub key: &'r str,
    pub body: &'r [u8],
}

impl StateMachine {
    /// Every event after `revision`, in commit order; `Error::Compacted` if some are gone.
    pub fn events_since(&self, revision: u64) -> Result<Vec<Event>, Error> {
        let compacted = self
            .applied
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .compacted;
        if revision < compacted {
            return Err(Error::Compacted {
                requested: revision,
                compacted,
            });
        }
        let view = self.view()?;
        let buffered = view.overlay.records_after(revision);
        let t = view.txn.open_table(EVENTS).map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for item in t.range((revision + 1, 0)..).map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if !buffered.contains_key(&k.value()) {
                out.insert(k.value(), self.decode_event(k.value(), v.value())?);
            }
        }
        for (at, rec) in buffered {
            if let Some(rec) = rec {
                out.insert(at, self.decode_event(at, rec)?);
            }
        }
        Ok(out.into_values().collect())
    }

    /// A record's parts, or `Error::Corrupt` naming it.
    pub(super) fn parts<'r>(&self, at: At, rec: &'r [u8]) -> Result<Parts<'r>, Error> {
        let what = || format!("event {}.{}", at.0, at.1);
        let body = frame::open(&self.path, &what, rec)?;
        let bad = |reason: &str| self.corrupt(what(), reason.to_owned());
        let (&tag, rest) = body.split_first().ok_or_else(|| bad("empty"))?;
        let kind = match tag {
            0 => EventType::Added,
            1 => EventType::Modified,
            2 => EventType::Deleted,
            _ => return Err(bad("unknown event type")),
        };
        let (len, rest) = rest.split_at_checked(4).ok_or_else(|| bad("too short"))?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (k, body) = rest
            .split_at_checked(len)
            .ok_or_else(|| bad("key runs past the record"))?;
        let key = std::str::from_utf8(k).map_err(|_| bad("key is not UTF-8"))?;
        Ok(Parts { kind, key, body })
    }

    pub(super) fn decode_event(&self, at: At, rec: &[u8]) -> Result<Event, Error> {
        let mut e = self.decode_stored_event(at, rec)?;
        self.transform().unseal(&mut e.object).map_err(|err| {
            self.corrupt(
                format!("event {}.{} ({})", at.0, at.1, e.key),
                err.to_string(),
            )
        })?;
        Ok(e)
    }

    /// The event at `at` with its object in the stored form (see `transform`).
    pub(super) fn decode_stored_event(&self, at: At, rec: &[u8]) -> Result<Event, Error> {
        let p = self.parts(at, rec)?;
        let object = stored::decode(p.body)
            .map_err(|e| self.corrupt(format!("event {}.{}", at.0, at.1), e.to_string()))?;
        Ok(Event {
            revision: at.0,
            kind: p.kind,
            key: p.key.to_owned(),
            object,
        })
    }

    /// Forgets the history up to `revision` (see the module's text); watches from before
    /// it must list again.
    pub fn compact_events(&self, revision: u64) -> Result<(), Error> {
        let (revision, from) = {
            let a = self.applied.read().unwrap_or_else(|p| p.into_inner());
            (revision.min(a.meta.index), a.compacted)
        };
        if revision <= from {
            return Ok(());
        }
        // Not while a sync writes buffered records: they would come back.
        let _one = self.flushes.lock().unwrap_or_else(|p| p.into_inner());
        let doomed = {
            let view = self.view()?;
            let t = view.txn.open_table(EVENTS).map_err(|e| self.err(e))?;
            let mut doomed = Vec::new();
            for item in t
                .range((from + 1, 0)..(revision + 1, 0))
                .map_err(|e| self.err(e))?
            {
                let (k, v) = item.map_err(|e| self.err(e))?;
                let at = k.value();
                let current = match view.overlay.record(at) {
                    Some(_) => true, // buffered: judged below, once written
                    None => view.overlay.index.get(self.parts(at, v.value())?.key) == Some(&at),
                };
                if !current {
                    doomed.push(at);
                }
            }
            doomed
        };
        let txn = self.begin()?;
        {
            let mut t = txn.open_table(EVENTS).map_err(|e| self.err(e))?;
            for at in doomed {
                t.remove(at).map_err(|e| self.err(e))?;
            }
            let mut m = txn.open_table(STATE_META).map_err(|e| self.err(e))?;
            m.insert(COMPACTED, frame::seal(&revision.to_le_bytes()).as_slice())
                .map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))?;
        self.applied
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .compacted = revision;
        Ok(())
    }

    /// The key index as the stored records leave it: replays every record in order.
    pub(super) fn rebuild_index(
        &self,
        events: &ReadOnlyTable<(u64, u32), &'static [u8]>,
    ) -> Result<BTreeMap<String, At>, Error> {
        let mut index = BTreeMap::new();
        for item in events.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let p = self.parts(k.value(), v.value())?;
            match p.kind {
                EventType::Deleted => index.remove(p.key),
                _ => index.insert(p.key.to_owned(), k.value()),
            };
        }
        Ok(index)
    }
}

pub(super) fn encode_event(kind: EventType, key: &str, object: &[u8]) -> Vec<u8> {
    let mut rec = Vec::with_capacity(5 + key.len() + object.len());
    rec.push(match kind {
        EventType::Added => 0,
        EventType::Modified => 1,
        EventType::Deleted => 2,
    });
    rec.extend_from_slice(&(key.len() as u32).to_le_bytes());
    rec.extend_from_slice(key.as_bytes());
    rec.extend_from_slice(object);
    frame::seal(&rec)
}
