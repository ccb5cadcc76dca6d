//! The state machine: every object, keyed `Kind/namespace/name`, in its rkyv stored form
//! with the revision (raft index) of its last write, and the applied index. Objects live
//! in the change history (see `history`), found through the key index (see `overlay`).
//!
//! Applying entries changes memory (see `apply` and `overlay`); [`StateMachine::sync`]
//! makes everything applied durable in one transaction of the member's redb database.
//! After a crash the raft log replays the entries applied since, so every entry is applied
//! exactly once.

use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use raft::prelude::{ConfState, Snapshot, SnapshotMetadata};
use redb::{
    Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};
use skiff_proto::model::LabelSelector;
use skiff_proto::{Kind, Object};

use super::apply::{Batch, Reader};
use super::blobs::Blobs;
use super::command::{Command, Rejection};
use super::dedup::{self, PROPOSALS};
use super::log::SnapshotSource;
use super::overlay::{At, Overlay};
use super::roster::{MEMBERS, REMOVED};
use super::transform::{Plain, Transformer};
use super::{frame, key};
use crate::Error;

/// (revision, position within the revision's transaction) → change record.
pub(super) const EVENTS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("events");
pub(super) const STATE_META: TableDefinition<&str, &[u8]> = TableDefinition::new("state_meta");
/// Index, term and configuration of the last applied entry.
pub(super) const APPLIED: &str = "applied";
/// Events at or below this revision are gone; a watch from there must list again.
pub(super) const COMPACTED: &str = "compacted";

/// A committed normal entry to apply.
#[derive(Debug, Clone, Copy)]
pub struct ToApply<'a> {
    pub index: u64,
    pub term: u64,
    pub data: &'a [u8],
    /// The proposal's idempotency key (see `dedup`), if it has one.
    pub key: Option<u128>,
}

/// An object and the revision of its last write.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub revision: u64,
    pub object: Object,
}

/// One page of a list (see [`StateMachine::list_page`]).
#[derive(Debug)]
pub struct Listing {
    pub items: Vec<Stored>,
    /// The revision the page was read at.
    pub revision: u64,
    /// Keys of the kind (and namespace) after the page, not yet read or filtered: more
    /// pages follow when it is not 0.
    pub unread: usize,
}

/// What the state machine has applied: shared with snapshots.
#[derive(Default)]
pub(super) struct Applied {
    pub(super) meta: SnapshotMetadata,
    pub(super) compacted: u64,
}

/// An applied position written but not yet installed (see [`StateMachine::finish`]).
#[derive(Debug)]
pub struct Position(SnapshotMetadata);

/// The member's copy of every object. Cloning shares it.
#[derive(Clone)]
pub struct StateMachine {
    pub(super) db: Arc<Database>,
    pub(super) path: PathBuf,
    pub(super) applied: Arc<RwLock<Applied>>,
    /// The applied index as of the last [`StateMachine::sync`].
    pub(super) synced: Arc<AtomicU64>,
    /// Applied changes not in the database yet.
    pub(super) overlay: Arc<RwLock<Overlay>>,
    /// Held by the one sync that runs.
    pub(super) flushes: Arc<Mutex<()>>,
    /// Uploaded artifacts, in a directory beside the database.
    pub(super) blobs: Blobs,
    /// Objects' stored form (see `transform`).
    pub(super) transform: Arc<RwLock<Arc<dyn Transformer>>>,
}

impl StateMachine {
    pub fn open(db: Arc<Database>, path: &Path) -> Result<Self, Error> {
        super::format::upgrade(&db, path)?;
        let err = |e: redb::Error| Error::storage(path, e);
        let txn = db.begin_write().map_err(|e| err(e.into()))?;
        let mut applied = Applied::default();
        {
            txn.open_table(EVENTS).map_err(|e| err(e.into()))?;
            txn.open_table(MEMBERS).map_err(|e| err(e.into()))?;
            txn.open_table(REMOVED).map_err(|e| err(e.into()))?;
            txn.open_table(PROPOSALS).map_err(|e| err(e.into()))?;
            let meta = txn.open_table(STATE_META).map_err(|e| err(e.into()))?;
            if let Some(r) = meta.get(APPLIED).map_err(|e| err(e.into()))? {
                applied.meta = frame::open_message(path, &|| "applied index".into(), r.value())?;
            }
            if let Some(r) = meta.get(COMPACTED).map_err(|e| err(e.into()))? {
                applied.compacted = read_u64(frame::open(
                    path,
                    &|| "compacted revision".into(),
                    r.value(),
                )?);
            }
        }
        txn.commit().map_err(|e| err(e.into()))?;
        let sm = StateMachine {
            db,
            path: path.to_path_buf(),
            synced: Arc::new(AtomicU64::new(applied.meta.index)),
            applied: Arc::new(RwLock::new(applied)),
            overlay: Arc::default(),
            flushes: Arc::default(),
            blobs: Blobs::open(&path.with_extension("artifacts"))?,
            transform: Arc::new(RwLock::new(Arc::new(Plain))),
        };
        let (index, recent) = {
            let txn = sm.db.begin_read().map_err(|e| sm.err(e))?;
            let events = txn.open_table(EVENTS).map_err(|e| sm.err(e))?;
            let proposals = txn.open_table(PROPOSALS).map_err(|e| sm.err(e))?;
            let recent = dedup::load(&proposals, sm.applied().0)
                .map_err(|e| sm.err(e))?
                .map_err(|reason| sm.corrupt("remembered proposals".into(), reason))?;
            (sm.rebuild_index(&events)?, recent)
        };
        {
            let mut o = sm.overlay.write().unwrap_or_else(|p| p.into_inner());
            o.index = index;
            o.base = sm.applied().0;
            o.recent = recent;
        }
        Ok(sm)
    }

    /// Stores objects through `t` from now on, configured from the store's record.
    pub fn set_transform(&self, t: Arc<dyn Transformer>) -> Result<(), Error> {
        *self.transform.write().unwrap_or_else(|p| p.into_inner()) = t;
        self.configure_transform()
    }

    /// The transformer in use.
    pub fn transform(&self) -> Arc<dyn Transformer> {
        self.transform
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Shows the transformer its configuration record, as now stored.
    pub(super) fn configure_transform(&self) -> Result<(), Error> {
        let t = self.transform();
        if let Some(k) = t.config_key()
            && let Some(s) = self.get(&k)?
        {
            t.configure(&s.object);
        }
        Ok(())
    }

    /// Installs what a restored snapshot applied: its position, and no history before it.
    pub(super) fn reset_applied(&self, meta: SnapshotMetadata) {
        let mut a = self.applied.write().unwrap_or_else(|p| p.into_inner());
        a.compacted = meta.index;
        a.meta = meta;
    }

    pub(super) fn err(&self, e: impl Into<redb::Error>) -> Error {
        Error::storage(&self.path, e)
    }

    pub(super) fn corrupt(&self, what: String, reason: String) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            what,
            reason,
        }
    }

    /// Index and term of the last applied entry (give the index to raft's `Config::applied`
    /// on restart, so committed entries after it are delivered again).
    pub fn applied(&self) -> (u64, u64) {
        let a = self.applied.read().unwrap_or_else(|p| p.into_inner());
        (a.meta.index, a.meta.term)
    }

    /// Starts a write that is not fsync'd by itself: it becomes durable with the next
    /// [`StateMachine::sync`]. A crash before that loses only applications the raft log
    /// replays on restart (the log keeps every entry after the last sync).
    pub(super) fn begin(&self) -> Result<WriteTransaction, Error> {
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.set_durability(Durability::None)
            .map_err(|e| Error::Log(format!("setting the durability of a write: {e}")))?;
        Ok(txn)
    }

    /// Makes everything applied so far durable (one transaction, one fsync); returns the
    /// applied index, which the raft log may now be compacted up to.
    pub fn sync(&self) -> Result<u64, Error> {
        self.flush()
    }

    /// Applies a normal entry. The outer error is a storage failure (the member must stop);
    /// the inner result is the command's verdict, the same on every member.
    pub fn apply(
        &self,
        index: u64,
        term: u64,
        data: &[u8],
    ) -> Result<Result<u64, Rejection>, Error> {
        let mut verdicts = self.apply_batch(&[ToApply {
            index,
            term,
            data,
            key: None,
        }])?;
        Ok(verdicts.pop().unwrap_or(Ok(index)))
    }

    /// Applies consecutive normal entries and returns each one's verdict, in order. The
    /// changes go to the overlay (see `overlay`): the database gets them with the next
    /// [`StateMachine::sync`]. An entry whose key applied within the window (see `dedup`)
    /// changes nothing and gets the verdict it had then.
    pub fn apply_batch(
        &self,
        entries: &[ToApply<'_>],
    ) -> Result<Vec<Result<u64, Rejection>>, Error> {
        let Some(&ToApply {
            index: last,
            term: last_term,
            ..
        }) = entries.last()
        else {
            return Ok(Vec::new());
        };
        let compacted = self
            .applied
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .compacted;
        let mut batch = Batch::default();
        let mut verdicts = Vec::with_capacity(entries.len());
        {
            let view = self.view()?;
            let events = view.txn.open_table(EVENTS).map_err(|e| self.err(e))?;
            let reader = Reader {
                overlay: &view.overlay,
                events: &events,
                compacted,
            };
            // Keys applied earlier in this batch: (index, verdict), within the window too.
            let mut keys: HashMap<u128, (u64, Result<u64, Rejection>)> = HashMap::new();
            for &ToApply {
                index, data, key, ..
            } in entries
            {
                if let Some(k) = key
                    && let Some(v) = keys
                        .get(&k)
                        .filter(|(at, _)| at + dedup::WINDOW > index)
                        .map(|(_, v)| v.clone())
                        .or_else(|| view.overlay.recent.get(k, index))
                {
                    verdicts.push(v);
                    continue;
                }
                // An empty entry (each new leader appends one) carries no command.
                let verdict = if data.is_empty() {
                    Ok(index)
                } else {
                    match Command::decode(data) {
                        Ok(cmd) => self.apply_command(&reader, &mut batch, index, &cmd)?,
                        Err(rejection) => Err(rejection),
                    }
                };
                if let Some(k) = key {
                    keys.insert(k, (index, verdict.clone()));
                    let v = verdict.as_ref().err().map(|r| Box::new(r.clone()));
                    batch.layer.proposals.push((k, index, v));
                }
                verdicts.push(verdict);
            }
        }
        batch.layer.meta = Some(self.next_position(last, last_term, None));
        self.buffer(batch.layer, batch.index);
        Ok(verdicts)
    }

    /// Makes a committed position the one readers see.
    fn installed(&self, position: Position) {
        let mut applied = self.applied.write().unwrap_or_else(|p| p.into_inner());
        applied.meta = position.0;
    }

    /// The configuration as of the last applied entry.
    pub fn conf_state(&self) -> ConfState {
        let a = self.applied.read().unwrap_or_else(|p| p.into_inner());
        a.meta.get_conf_state().clone()
    }

    pub(super) fn finish(
        &self,
        txn: WriteTransaction,
        index: u64,
        term: u64,
        cs: Option<&ConfState>,
    ) -> Result<(), Error> {
        let position = self.stage_position(&txn, index, term, cs)?;
        txn.commit().map_err(|e| self.err(e))?;
        self.installed(position);
        Ok(())
    }

    /// The position (index, term, configuration) of the last applied entry.
    pub(super) fn applied_meta(&self) -> SnapshotMetadata {
        self.applied
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .meta
            .clone()
    }

    /// The applied position after entry `index` (and configuration `cs`, if it changed).
    fn next_position(&self, index: u64, term: u64, cs: Option<&ConfState>) -> SnapshotMetadata {
        let mut meta = self.applied_meta();
        meta.index = index;
        meta.term = term;
        if let Some(cs) = cs {
            meta.set_conf_state(cs.clone());
        }
        meta
    }

    /// Records the applied position (and configuration) in `txn`.
    fn stage_position(
        &self,
        txn: &WriteTransaction,
        index: u64,
        term: u64,
        cs: Option<&ConfState>,
    ) -> Result<Position, Error> {
        let meta = self.next_position(index, term, cs);
        let mut t = txn.open_table(STATE_META).map_err(|e| self.err(e))?;
        t.insert(APPLIED, frame::seal_message(&meta).as_slice())
            .map_err(|e| self.err(e))?;
        Ok(Position(meta))
    }

    /// The artifacts this member stores.
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    /// The object at `key`, as of the last applied entry.
    pub fn get(&self, key: &str) -> Result<Option<Stored>, Error> {
        let view = self.view()?;
        let Some(&at) = view.overlay.index.get(key) else {
            return Ok(None);
        };
        let events = view.txn.open_table(EVENTS).map_err(|e| self.err(e))?;
        self.stored_at(&view.overlay, &events, key, at).map(Some)
    }

    /// Every object of `kind` (in `namespace`, if given) that `selector` matches, and the
    /// revision the list was taken at: a watch from it misses nothing.
    pub fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        selector: Option<&LabelSelector>,
    ) -> Result<(Vec<Stored>, u64), Error> {
        let keep = |o: &Object| selector.is_none_or(|sel| sel.matches(&o.metadata().labels));
        let page = self.list_page(kind, namespace, None, 0, keep)?;
        Ok((page.items, page.revision))
    }

    /// Up to `limit` objects (0: no limit) of `kind` (in `namespace`, if given) that
    /// `keep` accepts, in key order from just after the key `after`. Only the objects
    /// read for the page are decoded, so listing in pages costs what the pages hold.
    pub fn list_page(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        after: Option<&str>,
        limit: usize,
        mut keep: impl FnMut(&Object) -> bool,
    ) -> Result<Listing, Error> {
        let view = self.view()?;
        let revision = self.applied().0;
        let events = view.txn.open_table(EVENTS).map_err(|e| self.err(e))?;
        let (start, end) = key::range(kind, namespace);
        let from = match after {
            // Past the range (a client's token may say anything): nothing is left.
            Some(a) if a >= end.as_str() => Bound::Excluded(end.as_str()),
            Some(a) if a >= start.as_str() => Bound::Excluded(a),
            _ => Bound::Included(start.as_str()),
        };
        if from == Bound::Excluded(end.as_str()) {
            return Ok(Listing {
                items: Vec::new(),
                revision,
                unread: 0,
            });
        }
        let mut keys = view
            .overlay
            .index
            .range::<str, _>((from, Bound::Excluded(end.as_str())));
        let mut items = Vec::new();
        for (k, &at) in keys.by_ref() {
            let s = self.stored_at(&view.overlay, &events, k, at)?;
            if keep(&s.object) {
                items.push(s);
                if items.len() == limit {
                    break;
                }
            }
        }
        let unread = keys.count();
        Ok(Listing {
            items,
            revision,
            unread,
        })
    }

    /// Every object of `kind` in its stored form (see `transform`), with its key.
    pub fn list_stored(&self, kind: Kind) -> Result<Vec<(String, Stored)>, Error> {
        let view = self.view()?;
        let events = view.txn.open_table(EVENTS).map_err(|e| self.err(e))?;
        let (start, end) = key::range(kind, None);
        let mut out = Vec::new();
        for (k, &at) in view.overlay.index.range::<str, _>((
            Bound::Included(start.as_str()),
            Bound::Excluded(end.as_str()),
        )) {
            let rec = self
                .record_in(&view.overlay, &events, at)?
                .ok_or_else(|| self.missing(k, at))?;
            let e = self.decode_stored_event(at, rec.bytes())?;
            out.push((
                k.clone(),
                Stored {
                    revision: at.0,
                    object: e.object,
                },
            ));
        }
        Ok(out)
    }

    /// The object `k` whose current record is at `at`.
    fn stored_at(
        &self,
        overlay: &Overlay,
        events: &ReadOnlyTable<(u64, u32), &'static [u8]>,
        k: &str,
        at: At,
    ) -> Result<Stored, Error> {
        let rec = self
            .record_in(overlay, events, at)?
            .ok_or_else(|| self.missing(k, at))?;
        let e = self.decode_event(at, rec.bytes())?;
        Ok(Stored {
            revision: at.0,
            object: e.object,
        })
    }
}

fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(a)
}

impl SnapshotSource for StateMachine {
    fn snapshot(&self) -> Result<Snapshot, Error> {
        super::snapshot::export(self)
    }
}
