//! Applied changes that are not in the database yet, as etcd's backend buffers its batch
//! transaction: applying entries only updates memory, and [`StateMachine::sync`] writes
//! everything buffered in one durable transaction, on the syncer's thread, while raft goes
//! on applying. Readers see the database through the buffer.
//!
//! Consistency: a reader holds the overlay's read lock while it looks at both layers *and*
//! opens its database read transaction. The layer being flushed leaves the overlay only
//! after its transaction committed, under the write lock, so a reader sees every change
//! either in a layer or in the database, never in neither.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLockReadGuard};

use raft::prelude::SnapshotMetadata;
use redb::{ReadTransaction, ReadableDatabase};

use super::frame;
use super::state::{APPLIED, EVENTS, OBJECTS, STATE_META, StateMachine};
use crate::Error;

/// One generation of buffered changes.
#[derive(Default, Clone)]
pub(super) struct Layer {
    /// Key → sealed object record (revision + stored form); `None` = deleted.
    pub objects: BTreeMap<String, Option<Vec<u8>>>,
    /// (revision, position) → sealed event.
    pub events: BTreeMap<(u64, u32), Vec<u8>>,
    /// The applied position these changes bring the state to.
    pub meta: Option<SnapshotMetadata>,
}

impl Layer {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.events.is_empty() && self.meta.is_none()
    }

    /// Adds `newer` on top of this layer.
    pub fn absorb(&mut self, newer: Layer) {
        self.objects.extend(newer.objects);
        self.events.extend(newer.events);
        if newer.meta.is_some() {
            self.meta = newer.meta;
        }
    }
}

/// The buffered changes: those applied since the last flush began, and those it writes.
#[derive(Default)]
pub(super) struct Overlay {
    pub active: Layer,
    pub flushing: Option<Arc<Layer>>,
}

impl Overlay {
    /// The newest buffered record of `key`: `Some(None)` if it was deleted, `None` if the
    /// database has the current one.
    pub fn object(&self, key: &str) -> Option<Option<&[u8]>> {
        self.active
            .objects
            .get(key)
            .or_else(|| self.flushing.as_ref()?.objects.get(key))
            .map(|r| r.as_deref())
    }

    /// Buffered records with keys in `start..end`, newest version of each.
    pub fn objects_in(&self, start: &str, end: &str) -> BTreeMap<&str, Option<&[u8]>> {
        let mut out = BTreeMap::new();
        for layer in self.layers() {
            for (k, rec) in layer
                .objects
                .range::<str, _>((Bound::Included(start), Bound::Excluded(end)))
            {
                out.insert(k.as_str(), rec.as_deref());
            }
        }
        out
    }

    /// Buffered events after `revision`, in order.
    pub fn events_after(&self, revision: u64) -> BTreeMap<(u64, u32), &[u8]> {
        let mut out = BTreeMap::new();
        for layer in self.layers() {
            for (k, rec) in layer.events.range((revision + 1, 0)..) {
                out.insert(*k, rec.as_slice());
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

    /// Adds what a batch of entries changed to the overlay and makes its position the
    /// applied one, atomically for readers.
    pub(super) fn buffer(&self, batch: Layer) {
        let mut o = self.overlay.write().unwrap_or_else(|p| p.into_inner());
        let meta = batch.meta.clone();
        o.active.absorb(batch);
        if let Some(meta) = meta {
            let mut a = self.applied.write().unwrap_or_else(|p| p.into_inner());
            a.meta = meta;
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
            let mut t = txn.open_table(OBJECTS).map_err(|e| self.err(e))?;
            for (k, rec) in &layer.objects {
                match rec {
                    Some(rec) => t.insert(k.as_str(), rec.as_slice()).map(|_| ()),
                    None => t.remove(k.as_str()).map(|_| ()),
                }
                .map_err(|e| self.err(e))?;
            }
            let mut t = txn.open_table(EVENTS).map_err(|e| self.err(e))?;
            for (k, rec) in &layer.events {
                t.insert(k, rec.as_slice()).map_err(|e| self.err(e))?;
            }
            if let Some(meta) = &layer.meta {
                let mut t = txn.open_table(STATE_META).map_err(|e| self.err(e))?;
                t.insert(APPLIED, frame::seal_message(meta).as_slice())
                    .map_err(|e| self.err(e))?;
            }
        }
        txn.commit().map_err(|e| self.err(e))
    }

    /// Drops buffered events at or below `revision` (compaction).
    pub(super) fn forget_events(&self, revision: u64) {
        let mut o = self.overlay.write().unwrap_or_else(|p| p.into_inner());
        o.active.events.retain(|&(rev, _), _| rev > revision);
    }
}
