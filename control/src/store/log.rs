//! The durable raft log: entries, hard state, configuration and the truncation point.
//! Implements raft-rs' [`Storage`].
//!
//! Every write is appended to the write-ahead file (see `wal`) and fsync'd before
//! [`DiskLog::write`] returns, so a member killed at any moment restarts with all it
//! acknowledged. The entries since the last compaction are also kept in memory (as etcd's
//! `MemoryStorage` does), so raft's reads never touch the disk.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

use super::wal::{Record, Wal};
use crate::Error;

/// The index (and term) of the founding configuration of a bootstrapped cluster.
pub const BOOTSTRAP_INDEX: u64 = 1;

/// When compaction finds the file larger than this, the log is rewritten without the
/// compacted entries.
const REWRITE_OVER: u64 = 64 << 20;

/// Builds the snapshot raft sends to a lagging follower: the state machine's data at its
/// applied index.
pub trait SnapshotSource: Send + Sync {
    fn snapshot(&self) -> Result<Snapshot, Error>;
}

/// What one `Ready` asks to persist, written with one fsync.
#[derive(Default)]
pub struct LogWrite<'a> {
    pub entries: &'a [Entry],
    pub hard_state: Option<&'a HardState>,
    pub conf_state: Option<&'a ConfState>,
    /// Skip the fsync: the write becomes durable with the next one that is not lazy. Only
    /// for what raft can do without after a crash (a newer commit index).
    pub lazy: bool,
}

/// The log as raft sees it, and the file that makes it durable.
struct Inner {
    wal: Wal,
    hard_state: HardState,
    conf_state: ConfState,
    truncated_index: u64,
    truncated_term: u64,
    /// Entries `truncated_index + 1 ..= last_index`.
    entries: VecDeque<Entry>,
    /// See [`REWRITE_OVER`].
    rewrite_over: u64,
}

impl Inner {
    fn last_index(&self) -> u64 {
        self.truncated_index + self.entries.len() as u64
    }

    fn entry(&self, index: u64) -> Option<&Entry> {
        let at = index.checked_sub(self.truncated_index + 1)?;
        self.entries.get(usize::try_from(at).ok()?)
    }

    /// Appends `e`, replacing any entries from its index on.
    fn append(&mut self, e: Entry) {
        let keep = e.index.saturating_sub(self.truncated_index + 1);
        self.entries
            .truncate(usize::try_from(keep).unwrap_or(usize::MAX));
        self.entries.push_back(e);
    }

    /// Drops entries up to and including `index`.
    fn compact(&mut self, index: u64, term: u64) {
        let drop = index.saturating_sub(self.truncated_index);
        let drop = usize::try_from(drop).unwrap_or(usize::MAX);
        self.entries.drain(..drop.min(self.entries.len()));
        (self.truncated_index, self.truncated_term) = (index, term);
    }

    /// Rebuilds the log from the file's records.
    fn replay(&mut self, path: &Path, records: Vec<Record>) -> Result<(), Error> {
        for r in records {
            match r {
                Record::Entry(e) => {
                    if e.index <= self.truncated_index || e.index > self.last_index() + 1 {
                        return Err(Error::Corrupt {
                            path: path.to_path_buf(),
                            what: format!("raft entry {}", e.index),
                            reason: format!(
                                "out of place: the log holds {}..={}",
                                self.truncated_index + 1,
                                self.last_index()
                            ),
                        });
                    }
                    self.append(e);
                }
                Record::HardState(hs) => self.hard_state = hs,
                Record::ConfState(cs) => self.conf_state = cs,
                Record::Position { index, term } => {
                    self.entries.clear();
                    (self.truncated_index, self.truncated_term) = (index, term);
                }
                Record::Compact { index, term } => {
                    if index > self.truncated_index {
                        self.compact(index.min(self.last_index()), term);
                    }
                }
            }
        }
        Ok(())
    }

    /// Starts a new generation of the file holding only what the log holds now.
    fn rewrite(&mut self) -> Result<(), Error> {
        let Inner {
            wal,
            hard_state,
            conf_state,
            truncated_index,
            truncated_term,
            entries,
            ..
        } = self;
        wal.rewrite(|wal| {
            wal.put_position(*truncated_index, *truncated_term);
            wal.put_conf_state(conf_state);
            wal.put_hard_state(hard_state);
            for e in entries.iter() {
                wal.put_entry(e);
            }
        })
    }
}

/// A raft log on disk. Cloning shares the same log.
#[derive(Clone)]
pub struct DiskLog {
    inner: Arc<RwLock<Inner>>,
    snapshots: Arc<dyn SnapshotSource>,
    /// Observes each fsync'd write (see `metrics`).
    fsync: prometheus_client::metrics::histogram::Histogram,
}

impl DiskLog {
    /// Opens the log kept in the directory `dir` (created if missing), checking every
    /// record.
    pub fn open(dir: &Path, snapshots: Arc<dyn SnapshotSource>) -> Result<Self, Error> {
        Self::open_on(Arc::new(super::disk::Local), dir, snapshots)
    }

    /// As [`DiskLog::open`], on `disk`.
    pub fn open_on(
        disk: Arc<dyn super::disk::Disk>,
        dir: &Path,
        snapshots: Arc<dyn SnapshotSource>,
    ) -> Result<Self, Error> {
        let (wal, records) = Wal::open(disk, dir)?;
        let path = wal.path().to_path_buf();
        let mut inner = Inner {
            wal,
            hard_state: HardState::default(),
            conf_state: ConfState::default(),
            truncated_index: 0,
            truncated_term: 0,
            entries: VecDeque::new(),
            rewrite_over: REWRITE_OVER,
        };
        inner.replay(&path, records)?;
        Ok(DiskLog {
            inner: Arc::new(RwLock::new(inner)),
            snapshots,
            fsync: super::metrics::StoreMetrics::default().fsync_seconds,
        })
    }

    /// Sends fsync timings to `h` (the member's metrics).
    pub fn observe_fsync(&mut self, h: prometheus_client::metrics::histogram::Histogram) {
        self.fsync = h;
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind, still consistent with disk.
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_lock(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the file size over which compaction rewrites the log (tests use small ones).
    #[cfg(test)]
    pub(super) fn rewrite_over(&self, bytes: u64) {
        self.write_lock().rewrite_over = bytes;
    }

    /// The file the log is in now.
    pub fn path(&self) -> std::path::PathBuf {
        self.read().wal.path().to_path_buf()
    }

    /// The last entry in the log (the truncation point when it holds none).
    pub fn last(&self) -> (u64, u64) {
        let l = self.read();
        let last = l.last_index();
        let term = l.entry(last).map_or(l.truncated_term, |e| e.term);
        (last, term)
    }

    /// Bootstraps a brand-new log as if it had installed a snapshot at index 1 holding the
    /// founding configuration (as raft-rs' `five_mem_node` does): a member that joins later
    /// starts empty and is brought up by snapshot, which carries the configuration it needs.
    /// Returns false, changing nothing, when the log already has state.
    pub fn initialize(&self, conf_state: &ConfState) -> Result<bool, Error> {
        let fresh = {
            let l = self.read();
            l.conf_state.voters.is_empty()
                && l.conf_state.learners.is_empty()
                && l.last_index() == 0
        };
        if fresh {
            let meta = SnapshotMetadata {
                index: BOOTSTRAP_INDEX,
                term: BOOTSTRAP_INDEX,
                conf_state: Some(conf_state.clone()).into(),
                ..Default::default()
            };
            self.apply_snapshot(&meta)?;
        }
        Ok(fresh)
    }

    /// Appends entries (replacing any conflicting suffix) and saves the hard state and
    /// configuration, durably unless `lazy`.
    pub fn write(&self, w: LogWrite<'_>) -> Result<(), Error> {
        if w.entries.is_empty() && w.hard_state.is_none() && w.conf_state.is_none() {
            return Ok(());
        }
        let mut l = self.write_lock();
        if let Some(e) = w.entries.first() {
            let first = l.truncated_index + 1;
            if e.index < first {
                return Err(Error::Log(format!(
                    "cannot overwrite compacted entries: first index is {first}, got {}",
                    e.index
                )));
            }
            if e.index > l.last_index() + 1 {
                return Err(Error::Log(format!(
                    "entries must be contiguous: last index is {}, got {}",
                    l.last_index(),
                    e.index
                )));
            }
        }
        for e in w.entries {
            l.wal.put_entry(e);
        }
        if let Some(hs) = w.hard_state {
            l.wal.put_hard_state(hs);
        }
        if let Some(cs) = w.conf_state {
            l.wal.put_conf_state(cs);
        }
        let started = std::time::Instant::now();
        l.wal.commit(!w.lazy)?;
        if !w.lazy {
            self.fsync.observe(started.elapsed().as_secs_f64());
        }
        for e in w.entries {
            l.append(e.clone());
        }
        if let Some(hs) = w.hard_state {
            l.hard_state = hs.clone();
        }
        if let Some(cs) = w.conf_state {
            l.conf_state = cs.clone();
        }
        Ok(())
    }

    /// Replaces the whole log by a snapshot's position (the state machine installs the
    /// data, durably, before this is called).
    pub fn apply_snapshot(&self, meta: &SnapshotMetadata) -> Result<(), Error> {
        let mut l = self.write_lock();
        if meta.index <= l.truncated_index {
            return Err(Error::Log(format!(
                "snapshot at {} is older than the log (first index {})",
                meta.index,
                l.truncated_index + 1
            )));
        }
        let mut hs = l.hard_state.clone();
        hs.term = hs.term.max(meta.term);
        hs.commit = meta.index;
        let cs = meta.get_conf_state();
        l.wal.rewrite(|wal| {
            wal.put_position(meta.index, meta.term);
            wal.put_conf_state(cs);
            wal.put_hard_state(&hs);
        })?;
        l.hard_state = hs;
        l.conf_state = cs.clone();
        l.entries.clear();
        (l.truncated_index, l.truncated_term) = (meta.index, meta.term);
        Ok(())
    }

    /// Discards entries before `compact_index` (which must be applied, durably, already).
    pub fn compact(&self, compact_index: u64) -> Result<(), Error> {
        let mut l = self.write_lock();
        let (first, last) = (l.truncated_index + 1, l.last_index());
        if compact_index <= first {
            return Ok(());
        }
        if compact_index > last + 1 {
            return Err(Error::Log(format!(
                "cannot compact to {compact_index}: last index is {last}"
            )));
        }
        let index = compact_index - 1;
        let term = l.entry(index).map_or(l.truncated_term, |e| e.term);
        l.compact(index, term);
        if l.wal.size() > l.rewrite_over {
            return l.rewrite();
        }
        l.wal.put_compact(index, term);
        l.wal.commit(false)
    }
}

impl Storage for DiskLog {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let l = self.read();
        Ok(RaftState {
            hard_state: l.hard_state.clone(),
            conf_state: l.conf_state.clone(),
        })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _ctx: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let max_size = max_size.into().unwrap_or(u64::MAX);
        let l = self.read();
        if low <= l.truncated_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > l.last_index() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let mut out = Vec::new();
        let mut size = 0u64;
        for index in low..high {
            let Some(e) = l.entry(index) else { break };
            size += u64::from(e.compute_size());
            // Like raft-rs' limit_size: always at least one entry.
            if !out.is_empty() && size > max_size {
                break;
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let l = self.read();
        if idx == l.truncated_index {
            return Ok(l.truncated_term);
        }
        if idx < l.truncated_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        l.entry(idx)
            .map(|e| e.term)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.read().truncated_index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.read().last_index())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let snap = self.snapshots.snapshot()?;
        if snap.get_metadata().index < request_index {
            // The state machine has not applied far enough yet; raft asks again later.
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(snap)
    }
}
