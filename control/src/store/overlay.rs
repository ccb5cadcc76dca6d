//! The state in memory: the key index (every live object's key → where its current
//! version's record is, as etcd keeps its `treeIndex`), and the change records not in the
//! database yet, as etcd's backend buffers its batch transaction. Applying entries only
//! updates memory; [`StateMachine::sync`] writes everything buffered in one durable
//! transaction, on the syncer's thread, while raft goes on applying. Records are keyed by
//! revision, so a sync appends at the end of one B-tree instead of rewriting a leaf page
//! per object scattered over the key space. Readers see the database through the buffer.
//!
//! Consistency: a reader holds the overlay's read lock while it looks at both layers *and*
//! opens its database read transaction. The layer being flushed leaves the overlay only
//! after its transaction committed, under the write lock, so a reader sees every change
//! either in a layer or in the database, never in neither.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLockReadGuard};

use raft::prelude::SnapshotMetadata;
use redb::{AccessGuard, ReadOnlyTable, ReadTransaction, ReadableDatabase};

use super::dedup::{self, Recent, Seen};
use super::frame;
use super::state::{APPLIED, EVENTS, STATE_META, StateMachine};
use crate::Error;

/// Where a change record is: (revision, position within the revision's transaction).
pub(super) type At = (u64, u32);

/// One generation of buffered changes.
#[derive(Default, Clone)]
pub(super) struct Layer {
    /// Change records to write; `None` removes one (a version superseded below the
    /// compaction point, which nothing can read any more).
    pub records: BTreeMap<At, Option<Vec<u8>>>,
    /// The applied position these changes bring the state to.
    pub meta: Option<SnapshotMetadata>,
    /// Proposals applied under an idempotency key (see `dedup`).
    pub proposals: Vec<Seen>,
}

impl Layer {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.meta.is_none() && self.proposals.is_empty()
    }

    /// Adds `newer` on top of this layer.
    pub fn absorb(&mut self, newer: Layer) {
        self.records.extend(newer.records);
        self.proposals.extend(newer.proposals);
        if newer.meta.is_some() {
            self.meta = newer.meta;
        }
    }
}

/// The key index and the buffered changes: those applied since the last flush began, and
/// those it writes.
#[derive(Default)]
pub(super) struct Overlay {
    /// Every live object's key → its current version's record, as of the applied index.
    pub index: BTreeMap<String, At>,
    pub active: Layer,
    pub flushing: Option<Arc<Layer>>,
    /// Kind name → the revision of its last change since `base` (see
    /// [`StateMachine::kind_changed`]).
    pub changed: std::collections::HashMap<String, u64>,
    /// The applied index this overlay started from (open, or a snapshot's install).
    pub base: u64,
    /// Proposals applied within the idempotency window (see `dedup`).
    pub recent: Recent,
}

impl Overlay {
    /// The buffered record at `at`: `Some(None)` if it is being removed, `None` if the
    /// database has it (or never had it).
    pub fn record(&self, at: At) -> Option<Option<&[u8]>> {
        self.active
            .records
            .get(&at)
            .or_else(|| self.flushing.as_ref()?.records.get(&at))
            .map(|r| r.as_deref())
    }

    /// Buffered records after `revision`, newest version of each (`None`: being removed).
    pub fn records_after(&self, revision: u64) -> BTreeMap<At, Option<&[u8]>> {
        let mut out = BTreeMap::new();
        for layer in self.layers() {
            for (at, rec) in layer.records.range((revision + 1, 0)..) {
                out.insert(*at, rec.as_deref());
            }
        }
        out
    }

    /// Oldest first.
    fn layers(&self) -> impl Iterator<Item = &Layer> {
        self.flushing.as_deref().into_iter().chain([&self.active])
    }
}

/// A consistent view: the overlay (read-locked) over a database read transaction.
pub(super) struct View<'a> {
    pub overlay: RwLockReadGuard<'a, Overlay>,
    pub txn: ReadTransaction,
}

impl StateMachine {
    /// The overlay and the database as of one moment.
    pub(super) fn view(&self) -> Result<View<'_>, Error> {
        let overlay = self.overlay.read().unwrap_or_else(|p| p.into_inner());
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        Ok(View { overlay, txn })
    }

    /// A number that grows whenever an object of `kind` is created, changed or deleted:
    /// caches derived from a kind (RBAC's rules) compare it to know they are current.
    pub fn kind_changed(&self, kind: skiff_proto::Kind) -> u64 {
        let o = self.overlay.read().unwrap_or_else(|p| p.into_inner());
        o.changed.get(kind.name()).copied().unwrap_or(0).max(o.base)
    }

    /// Adds what a batch of entries changed to the overlay, and makes its index changes
    /// and position the applied ones, atomically for readers.
    pub(super) fn buffer(&self, batch: Layer, index: BTreeMap<String, Option<At>>) {
        let mut o = self.overlay.write().unwrap_or_else(|p| p.into_inner());
        let meta = batch.meta.clone();
        for seen in &batch.proposals {
            o.recent.insert(seen.clone());
        }
        if let Some(m) = &meta {
            o.recent.forget_before(m.index);
        }
        o.active.absorb(batch);
        if let Some(m) = &meta {
            for k in index.keys() {
                let kind = k.split_once('/').map_or(k.as_str(), |(kind, _)| kind);
                if o.changed.get(kind) != Some(&m.index) {
                    o.changed.insert(kind.to_owned(), m.index);
                }
            }
        }
        for (k, at) in index {
            match at {
                Some(at) => o.index.insert(k, at),
                None => o.index.remove(&k),
            };
        }
        if let Some(meta) = meta {
            let mut a = self.applied.write().unwrap_or_else(|p| p.into_inner());
            a.meta = meta;
        }
    }

    /// The record at `at`, as buffered or as stored (`events` is `view`'s table).
    pub(super) fn record_in<'v>(
        &self,
        overlay: &'v Overlay,
        events: &'v ReadOnlyTable<(u64, u32), &'static [u8]>,
        at: At,
    ) -> Result<Option<RecordBytes<'v>>, Error> {
        match overlay.record(at) {
            Some(Some(rec)) => Ok(Some(RecordBytes::Buffered(rec))),
            Some(None) => Ok(None),
            None => Ok(events
                .get(at)
                .map_err(|e| self.err(e))?
                .map(RecordBytes::Stored)),
        }
    }

    /// Writes everything buffered in one durable transaction; returns the applied index
    /// the database now holds (the raft log may be compacted up to it). One at a time.
    pub(super) fn flush(&self) -> Result<u64, Error> {
        let _one = self.flushes.lock().unwrap_or_else(|p| p.into_inner());
        let (layer, applied) = {
            let mut o = self.overlay.write().unwrap_or_else(|p| p.into_inner());
            // A flush that failed left its layer: write it again, under the newer one.
            let mut layer = match o.flushing.take() {
                Some(l) => Arc::unwrap_or_clone(l),
                None => Layer::default(),
            };
            layer.absorb(std::mem::take(&mut o.active));
            let applied = self.applied().0;
            let layer = Arc::new(layer);
            o.flushing = Some(layer.clone());
            (layer, applied)
        };
        if !layer.is_empty() || self.synced.load(Ordering::Acquire) != applied {
            self.write_layer(&layer)?;
            self.synced.store(applied, Ordering::Release);
        }
        self.overlay
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .flushing = None;
        Ok(applied)
    }

    fn write_layer(&self, layer: &Layer) -> Result<(), Error> {
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = txn.open_table(EVENTS).map_err(|e| self.err(e))?;
            for (at, rec) in &layer.records {
                match rec {
                    Some(rec) => t.insert(at, rec.as_slice()).map(|_| ()),
                    None => t.remove(at).map(|_| ()),
                }
                .map_err(|e| self.err(e))?;
            }
            if let Some(meta) = &layer.meta {
                let mut t = txn.open_table(STATE_META).map_err(|e| self.err(e))?;
                t.insert(APPLIED, frame::seal_message(meta).as_slice())
                    .map_err(|e| self.err(e))?;
                dedup::write(&txn, &layer.proposals, meta.index).map_err(|e| self.err(e))?;
            }
        }
        txn.commit().map_err(|e| self.err(e))
    }
}

/// A record's bytes, from the overlay or from a database read.
pub(super) enum RecordBytes<'v> {
    Buffered(&'v [u8]),
    Stored(AccessGuard<'v, &'static [u8]>),
}

impl RecordBytes<'_> {
    pub fn bytes(&self) -> &[u8] {
        match self {
            RecordBytes::Buffered(b) => b,
            RecordBytes::Stored(g) => g.value(),
        }
    }
}
