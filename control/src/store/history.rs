//! The change history watches read: one event per changed object, keyed by the revision
//! (raft index) of its write and its position within that write, kept until compacted.

use std::collections::BTreeMap;

use skiff_proto::{Object, stored};

use super::frame;
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
        let buffered = view.overlay.events_after(revision);
        let t = view.txn.open_table(EVENTS).map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for item in t.range((revision + 1, 0)..).map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let (rev, seq) = k.value();
            if !buffered.contains_key(&(rev, seq)) {
                out.insert((rev, seq), self.decode_event(rev, seq, v.value())?);
            }
        }
        for ((rev, seq), rec) in buffered {
            out.insert((rev, seq), self.decode_event(rev, seq, rec)?);
        }
        Ok(out.into_values().collect())
    }

    fn decode_event(&self, revision: u64, seq: u32, rec: &[u8]) -> Result<Event, Error> {
        let what = || format!("event {revision}.{seq}");
        let body = frame::open(&self.path, &what, rec)?;
        let bad = |reason: &str| self.corrupt(what(), reason.to_owned());
        let (&tag, rest) = body.split_first().ok_or_else(|| bad("empty"))?;
        let kind = match tag {
            0 => EventType::Added,
            1 => EventType::Modified,
            2 => EventType::Deleted,
            _ => return Err(bad("unknown event type")),
        };
        if rest.len() < 4 {
            return Err(bad("too short"));
        }
        let (len, rest) = rest.split_at(4);
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if rest.len() < len {
            return Err(bad("key runs past the record"));
        }
        let (k, obj) = rest.split_at(len);
        let key = String::from_utf8(k.to_vec()).map_err(|_| bad("key is not UTF-8"))?;
        let object = stored::decode(obj).map_err(|e| self.corrupt(what(), e.to_string()))?;
        Ok(Event {
            revision,
            kind,
            key,
            object,
        })
    }

    /// Forgets events at or below `revision`; watches from there must list again.
    pub fn compact_events(&self, revision: u64) -> Result<(), Error> {
        let mut applied = self.applied.write().unwrap_or_else(|p| p.into_inner());
        let revision = revision.min(applied.meta.index);
        if revision <= applied.compacted {
            return Ok(());
        }
        // Not while a sync writes buffered events: they would come back.
        let _one = self.flushes.lock().unwrap_or_else(|p| p.into_inner());
        self.forget_events(revision);
        let txn = self.begin()?;
        {
            let mut t = txn.open_table(EVENTS).map_err(|e| self.err(e))?;
            t.retain_in(..(revision + 1, 0), |_, _| false)
                .map_err(|e| self.err(e))?;
            let mut m = txn.open_table(STATE_META).map_err(|e| self.err(e))?;
            m.insert(COMPACTED, frame::seal(&revision.to_le_bytes()).as_slice())
                .map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))?;
        applied.compacted = revision;
        Ok(())
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
