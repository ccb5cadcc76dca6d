//! The durable raft log: entries, hard state, configuration and the truncation point, in
//! redb tables, every record checksummed (see `frame`). Implements raft-rs' [`Storage`].
//!
//! Every write is one redb transaction committed with `Durability::Immediate` (fsync), so
//! once [`DiskLog::write`] returns, the entries and the vote are on disk: a member killed
//! at any moment restarts with all it acknowledged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use super::frame;
use crate::Error;

const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_entries");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
const HARD_STATE: &str = "hard_state";
const CONF_STATE: &str = "conf_state";
/// The last entry discarded by compaction or replaced by a snapshot (index and term).
const TRUNCATED: &str = "truncated";

/// The index (and term) of the founding configuration of a bootstrapped cluster.
pub const BOOTSTRAP_INDEX: u64 = 1;

/// Builds the snapshot raft sends to a lagging follower: the state machine's data at its
/// applied index. Implemented by the state machine, which shares the database.
pub trait SnapshotSource: Send + Sync {
    fn snapshot(&self) -> Result<Snapshot, Error>;
}

/// Writes another part of the store makes inside the log's transaction.
pub type AlsoWrite<'a> = dyn FnMut(&WriteTransaction) -> Result<(), Error> + 'a;

/// What one `Ready` asks to persist, written in one durable transaction.
#[derive(Default)]
pub struct LogWrite<'a> {
    pub entries: &'a [Entry],
    pub hard_state: Option<&'a HardState>,
    pub conf_state: Option<&'a ConfState>,
    /// Skip the fsync: the write becomes durable with the next one that is not lazy. Only
    /// for what raft can do without after a crash (a newer commit index).
    pub lazy: bool,
    /// More writes to make in the same transaction (the state machine applying committed
    /// entries), so one commit covers both.
    pub also: Option<&'a mut AlsoWrite<'a>>,
}

/// The in-memory copy of the small records, so raft's frequent questions need no disk read.
#[derive(Default)]
struct Cached {
    hard_state: HardState,
    conf_state: ConfState,
    truncated_index: u64,
    truncated_term: u64,
    last_index: u64,
}

/// A raft log on disk. Cloning shares the same log.
#[derive(Clone)]
pub struct DiskLog {
    db: Arc<Database>,
    path: PathBuf,
    cache: Arc<RwLock<Cached>>,
    snapshots: Arc<dyn SnapshotSource>,
    /// Observes each durable commit (see `metrics`).
    fsync: prometheus_client::metrics::histogram::Histogram,
}

impl DiskLog {
    /// Opens the log kept in `db` (a redb database at `path`), checking every small record.
    pub fn open(
        db: Arc<Database>,
        path: &Path,
        snapshots: Arc<dyn SnapshotSource>,
    ) -> Result<Self, Error> {
        let err = |e: redb::Error| Error::storage(path, e);
        let txn = db.begin_write().map_err(|e| err(e.into()))?;
        // Create the tables on first open so reads never meet a missing table.
        txn.open_table(ENTRIES).map_err(|e| err(e.into()))?;
        txn.open_table(META).map_err(|e| err(e.into()))?;
        txn.commit().map_err(|e| err(e.into()))?;

        let read = db.begin_read().map_err(|e| err(e.into()))?;
        let meta = read.open_table(META).map_err(|e| err(e.into()))?;
        let mut cached = Cached::default();
        let load = |key: &'static str| -> Result<Option<Vec<u8>>, Error> {
            Ok(meta
                .get(key)
                .map_err(|e| err(e.into()))?
                .map(|v| v.value().to_vec()))
        };
        let what = |key: &'static str| move || format!("raft {key}");
        if let Some(r) = load(HARD_STATE)? {
            cached.hard_state = frame::open_message(path, &what(HARD_STATE), &r)?;
        }
        if let Some(r) = load(CONF_STATE)? {
            cached.conf_state = frame::open_message(path, &what(CONF_STATE), &r)?;
        }
        if let Some(r) = load(TRUNCATED)? {
            let t: SnapshotMetadata = frame::open_message(path, &what(TRUNCATED), &r)?;
            (cached.truncated_index, cached.truncated_term) = (t.index, t.term);
        }
        let entries = read.open_table(ENTRIES).map_err(|e| err(e.into()))?;
        let last = entries
            .last()
            .map_err(|e| err(e.into()))?
            .map(|(k, _)| k.value());
        cached.last_index = last.unwrap_or(0).max(cached.truncated_index);
        Ok(DiskLog {
            db,
            path: path.to_path_buf(),
            cache: Arc::new(RwLock::new(cached)),
            snapshots,
            fsync: super::metrics::StoreMetrics::default().fsync_seconds,
        })
    }

    /// Sends durable-commit timings to `h` (the member's metrics).
    pub fn observe_fsync(&mut self, h: prometheus_client::metrics::histogram::Histogram) {
        self.fsync = h;
    }

    fn cache(&self) -> RwLockReadGuard<'_, Cached> {
        // A panic while holding the lock leaves plain data behind, still consistent with disk.
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    fn cache_mut(&self) -> RwLockWriteGuard<'_, Cached> {
        self.cache.write().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, e: impl Into<redb::Error>) -> Error {
        Error::storage(&self.path, e)
    }

    /// Bootstraps a brand-new log as if it had installed a snapshot at index 1 holding the
    /// founding configuration (as raft-rs' `five_mem_node` does): a member that joins later
    /// starts empty and is brought up by snapshot, which carries the configuration it needs.
    /// Returns false, changing nothing, when the log already has state.
    pub fn initialize(&self, conf_state: &ConfState) -> Result<bool, Error> {
        let fresh = {
            let c = self.cache();
            c.conf_state.voters.is_empty() && c.conf_state.learners.is_empty() && c.last_index == 0
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
    /// configuration, durably, in one transaction.
    pub fn write(&self, mut w: LogWrite<'_>) -> Result<(), Error> {
        let log_only = w.entries.is_empty() && w.hard_state.is_none() && w.conf_state.is_none();
        if log_only && w.also.is_none() {
            return Ok(());
        }
        let mut cache = self.cache_mut();
        let first = cache.truncated_index + 1;
        if let Some(e) = w.entries.first() {
            if e.index < first {
                return Err(Error::Log(format!(
                    "cannot overwrite compacted entries: first index is {first}, got {}",
                    e.index
                )));
            }
            if e.index > cache.last_index + 1 {
                return Err(Error::Log(format!(
                    "entries must be contiguous: last index is {}, got {}",
                    cache.last_index, e.index
                )));
            }
        }
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        // Nothing of the log's own to make durable: the other writes need no fsync.
        let lazy = w.lazy || log_only;
        if lazy {
            txn.set_durability(Durability::None)
                .map_err(|e| Error::Log(format!("setting the durability of a write: {e}")))?;
        }
        {
            let mut entries = txn.open_table(ENTRIES).map_err(|e| self.err(e))?;
            if let Some(e) = w.entries.first() {
                entries
                    .retain_in(e.index.., |_, _| false)
                    .map_err(|e| self.err(e))?;
            }
            for e in w.entries {
                entries
                    .insert(e.index, frame::seal_message(e).as_slice())
                    .map_err(|e| self.err(e))?;
            }
            let mut meta = txn.open_table(META).map_err(|e| self.err(e))?;
            if let Some(hs) = w.hard_state {
                meta.insert(HARD_STATE, frame::seal_message(hs).as_slice())
                    .map_err(|e| self.err(e))?;
            }
            if let Some(cs) = w.conf_state {
                meta.insert(CONF_STATE, frame::seal_message(cs).as_slice())
                    .map_err(|e| self.err(e))?;
            }
        }
        if let Some(also) = w.also.as_mut() {
            also(&txn)?;
        }
        let started = std::time::Instant::now();
        txn.commit().map_err(|e| self.err(e))?;
        if !lazy {
            self.fsync.observe(started.elapsed().as_secs_f64());
        }
        if let Some(e) = w.entries.last() {
            cache.last_index = e.index;
        }
        if let Some(hs) = w.hard_state {
            cache.hard_state = hs.clone();
        }
        if let Some(cs) = w.conf_state {
            cache.conf_state = cs.clone();
        }
        Ok(())
    }

    /// Replaces the whole log by a snapshot's position (the state machine installs the data).
    pub fn apply_snapshot(&self, meta: &SnapshotMetadata) -> Result<(), Error> {
        let mut cache = self.cache_mut();
        if meta.index <= cache.truncated_index {
            return Err(Error::Log(format!(
                "snapshot at {} is older than the log (first index {})",
                meta.index,
                cache.truncated_index + 1
            )));
        }
        let mut hs = cache.hard_state.clone();
        hs.term = hs.term.max(meta.term);
        hs.commit = meta.index;
        let truncated = truncation(meta.index, meta.term);
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut entries = txn.open_table(ENTRIES).map_err(|e| self.err(e))?;
            entries.retain(|_, _| false).map_err(|e| self.err(e))?;
            let mut m = txn.open_table(META).map_err(|e| self.err(e))?;
            m.insert(HARD_STATE, frame::seal_message(&hs).as_slice())
                .map_err(|e| self.err(e))?;
            m.insert(
                CONF_STATE,
                frame::seal_message(meta.get_conf_state()).as_slice(),
            )
            .map_err(|e| self.err(e))?;
            m.insert(TRUNCATED, frame::seal_message(&truncated).as_slice())
                .map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))?;
        cache.hard_state = hs;
        cache.conf_state = meta.get_conf_state().clone();
        (cache.truncated_index, cache.truncated_term) = (meta.index, meta.term);
        cache.last_index = meta.index;
        Ok(())
    }

    /// Discards entries before `compact_index` (which must be applied already).
    pub fn compact(&self, compact_index: u64) -> Result<(), Error> {
        let (first, last) = {
            let c = self.cache();
            (c.truncated_index + 1, c.last_index)
        };
        if compact_index <= first {
            return Ok(());
        }
        if compact_index > last + 1 {
            return Err(Error::Log(format!(
                "cannot compact to {compact_index}: last index is {last}"
            )));
        }
        let term = self
            .term(compact_index - 1)
            .map_err(|e| Error::Log(e.to_string()))?;
        let mut cache = self.cache_mut();
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut entries = txn.open_table(ENTRIES).map_err(|e| self.err(e))?;
            entries
                .retain_in(..compact_index, |_, _| false)
                .map_err(|e| self.err(e))?;
            let mut m = txn.open_table(META).map_err(|e| self.err(e))?;
            m.insert(
                TRUNCATED,
                frame::seal_message(&truncation(compact_index - 1, term)).as_slice(),
            )
            .map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))?;
        (cache.truncated_index, cache.truncated_term) = (compact_index - 1, term);
        Ok(())
    }

    fn read_entry(&self, index: u64) -> Result<Entry, Error> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(ENTRIES).map_err(|e| self.err(e))?;
        let rec = table
            .get(index)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::Corrupt {
                path: self.path.clone(),
                what: format!("raft entry {index}"),
                reason: "missing from the log".into(),
            })?;
        frame::open_message(&self.path, &|| format!("raft entry {index}"), rec.value())
    }
}

fn truncation(index: u64, term: u64) -> SnapshotMetadata {
    SnapshotMetadata {
        index,
        term,
        ..Default::default()
    }
}

impl Storage for DiskLog {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let c = self.cache();
        Ok(RaftState {
            hard_state: c.hard_state.clone(),
            conf_state: c.conf_state.clone(),
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
        {
            let c = self.cache();
            if low <= c.truncated_index {
                return Err(raft::Error::Store(StorageError::Compacted));
            }
            if high > c.last_index + 1 {
                return Err(raft::Error::Store(StorageError::Unavailable));
            }
        }
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(ENTRIES).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        let mut size = 0u64;
        for item in table.range(low..high).map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let index = k.value();
            let e: Entry =
                frame::open_message(&self.path, &|| format!("raft entry {index}"), v.value())?;
            size += u64::from(e.compute_size());
            // Like raft-rs' limit_size: always at least one entry.
            if !out.is_empty() && size > max_size {
                break;
            }
            out.push(e);
        }
        if out.len() as u64 != high - low && size <= max_size {
            return Err(Error::Corrupt {
                path: self.path.clone(),
                what: format!("raft entries {low}..{high}"),
                reason: "entries are missing".into(),
            }
            .into());
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        {
            let c = self.cache();
            if idx == c.truncated_index {
                return Ok(c.truncated_term);
            }
            if idx < c.truncated_index {
                return Err(raft::Error::Store(StorageError::Compacted));
            }
            if idx > c.last_index {
                return Err(raft::Error::Store(StorageError::Unavailable));
            }
        }
        Ok(self.read_entry(idx)?.term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.cache().truncated_index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.cache().last_index)
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
