//! The state machine: every object, keyed `Kind/namespace/name`, in its rkyv stored form
//! with the revision (raft index) of its last write; a history of change events for watch;
//! and the applied index, all in the member's redb database.
//!
//! Applying an entry, recording its events (see `history`) and advancing the applied index
//! happen in one transaction. Transactions are made durable together by
//! [`StateMachine::sync`]; after a crash the raft log replays the entries applied since, so
//! every entry is applied exactly once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use raft::prelude::{ConfState, Snapshot, SnapshotMetadata};
use redb::{
    Database, Durability, ReadOnlyTable, ReadTransaction, ReadableTable, TableDefinition,
    WriteTransaction,
};
use skiff_proto::model::LabelSelector;
use skiff_proto::{Kind, Object, stored};

use super::command::{Command, Op, Rejection};
use super::history::{EventType, encode_event};
use super::log::SnapshotSource;
use super::overlay::{Layer, Overlay};
use super::roster::{MEMBERS, REMOVED};
use super::{frame, key};
use crate::Error;

pub(super) const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
/// (revision, position within the revision's transaction) → event.
pub(super) const EVENTS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("events");
pub(super) const STATE_META: TableDefinition<&str, &[u8]> = TableDefinition::new("state_meta");
/// Index, term and configuration of the last applied entry.
pub(super) const APPLIED: &str = "applied";
/// Events at or below this revision are gone; a watch from there must list again.
pub(super) const COMPACTED: &str = "compacted";

/// An object and the revision of its last write.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub revision: u64,
    pub object: Object,
}

/// Where applying a batch reads the state before it: the overlay, then the database.
struct Reader<'a> {
    overlay: &'a Overlay,
    objects: &'a ReadOnlyTable<&'static str, &'static [u8]>,
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
}

impl StateMachine {
    pub fn open(db: Arc<Database>, path: &Path) -> Result<Self, Error> {
        let err = |e: redb::Error| Error::storage(path, e);
        let txn = db.begin_write().map_err(|e| err(e.into()))?;
        let mut applied = Applied::default();
        {
            txn.open_table(OBJECTS).map_err(|e| err(e.into()))?;
            txn.open_table(EVENTS).map_err(|e| err(e.into()))?;
            txn.open_table(MEMBERS).map_err(|e| err(e.into()))?;
            txn.open_table(REMOVED).map_err(|e| err(e.into()))?;
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
        Ok(StateMachine {
            db,
            path: path.to_path_buf(),
            synced: Arc::new(AtomicU64::new(applied.meta.index)),
            applied: Arc::new(RwLock::new(applied)),
            overlay: Arc::default(),
            flushes: Arc::default(),
        })
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
        let mut verdicts = self.apply_batch(&[(index, term, data)])?;
        Ok(verdicts.pop().unwrap_or(Ok(index)))
    }

    /// Applies consecutive normal entries `(index, term, data)` and returns each one's
    /// verdict, in order. The changes go to the overlay (see `overlay`): the database gets
    /// them with the next [`StateMachine::sync`].
    pub fn apply_batch(
        &self,
        entries: &[(u64, u64, &[u8])],
    ) -> Result<Vec<Result<u64, Rejection>>, Error> {
        let Some(&(last, last_term, _)) = entries.last() else {
            return Ok(Vec::new());
        };
        let mut batch = Layer::default();
        let mut verdicts = Vec::with_capacity(entries.len());
        {
            let view = self.view()?;
            let objects = view.txn.open_table(OBJECTS).map_err(|e| self.err(e))?;
            let reader = Reader {
                overlay: &view.overlay,
                objects: &objects,
            };
            for &(index, _, data) in entries {
                // An empty entry (each new leader appends one) carries no command.
                verdicts.push(if data.is_empty() {
                    Ok(index)
                } else {
                    match Command::decode(data) {
                        Ok(cmd) => self.apply_command(&reader, &mut batch, index, &cmd)?,
                        Err(rejection) => Err(rejection),
                    }
                });
            }
        }
        batch.meta = Some(self.next_position(last, last_term, None));
        self.buffer(batch);
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

    /// The applied position after entry `index` (and configuration `cs`, if it changed).
    fn next_position(&self, index: u64, term: u64, cs: Option<&ConfState>) -> SnapshotMetadata {
        let mut meta = self
            .applied
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .meta
            .clone();
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

    /// Checks every operation against the current state (and the ones before it), then
    /// writes all or nothing.
    fn apply_command(
        &self,
        reader: &Reader<'_>,
        batch: &mut Layer,
        index: u64,
        cmd: &Command,
    ) -> Result<Result<u64, Rejection>, Error> {
        // The state as this command sees it: key → (revision, object), None = deleted.
        let mut staged: BTreeMap<String, Option<(u64, Object)>> = BTreeMap::new();
        // What to write: key → the new object's encoded body, None = delete.
        let mut writes: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
        let mut events = Vec::with_capacity(cmd.ops.len());
        for op in &cmd.ops {
            let k = match op {
                Op::Create(o) | Op::Update { object: o, .. } => key::of(o),
                Op::Delete { key, .. } => key.clone(),
            };
            let current = match staged.get(&k) {
                Some(c) => c.clone(),
                None => self.current(reader, batch, &k)?,
            };
            let check = |expected: &Option<u64>, rev: u64| match expected {
                Some(e) if *e != rev => Err(Rejection::Conflict {
                    key: k.clone(),
                    expected: *e,
                    actual: rev,
                }),
                _ => Ok(()),
            };
            let (next, event) = match (op, &current) {
                (Op::Create(_), Some(_)) => return Ok(Err(Rejection::AlreadyExists(k))),
                (Op::Update { .. } | Op::Delete { .. }, None) => {
                    return Ok(Err(Rejection::NotFound(k)));
                }
                (Op::Create(o), None) => (Some(stamped(o, index)), EventType::Added),
                (Op::Update { object, expected }, Some((rev, _))) => {
                    if let Err(r) = check(expected, *rev) {
                        return Ok(Err(r));
                    }
                    (Some(stamped(object, index)), EventType::Modified)
                }
                (Op::Delete { expected, .. }, Some((rev, _))) => {
                    if let Err(r) = check(expected, *rev) {
                        return Ok(Err(r));
                    }
                    (None, EventType::Deleted)
                }
            };
            // Encoded once, for both the object and its event.
            let body = next.as_ref().map(|o| self.encode_body(o)).transpose()?;
            match (&body, &current) {
                (Some(b), _) => events.push((event, k.clone(), b.clone())),
                (None, Some((_, o))) => events.push((event, k.clone(), self.encode_body(o)?)),
                (None, None) => {}
            }
            staged.insert(k.clone(), next.map(|o| (index, o)));
            writes.insert(k, body);
        }
        // All checks passed: the command's writes join the batch.
        for (k, body) in writes {
            let rec = body.map(|body| {
                let mut rec = Vec::with_capacity(body.len() + 8);
                rec.extend_from_slice(&index.to_le_bytes());
                rec.extend_from_slice(&body);
                frame::seal(&rec)
            });
            batch.objects.insert(k, rec);
        }
        for (seq, (kind, k, body)) in events.iter().enumerate() {
            batch
                .events
                .insert((index, seq as u32), encode_event(*kind, k, body));
        }
        Ok(Ok(index))
    }

    /// The object at `k` before the command being applied: as this batch left it, else as
    /// buffered, else as stored.
    fn current(
        &self,
        reader: &Reader<'_>,
        batch: &Layer,
        k: &str,
    ) -> Result<Option<(u64, Object)>, Error> {
        let buffered = batch
            .objects
            .get(k)
            .map(|r| r.as_deref())
            .or_else(|| reader.overlay.object(k));
        let stored = match buffered {
            Some(Some(rec)) => Some(self.decode_record(k, rec)?),
            Some(None) => None,
            None => match reader.objects.get(k).map_err(|e| self.err(e))? {
                Some(rec) => Some(self.decode_record(k, rec.value())?),
                None => None,
            },
        };
        Ok(stored.map(|s| (s.revision, s.object)))
    }

    fn encode_body(&self, o: &Object) -> Result<Vec<u8>, Error> {
        stored::encode(o).map_err(|e| self.corrupt(key::of(o), e.to_string()))
    }

    fn decode_record(&self, k: &str, rec: &[u8]) -> Result<Stored, Error> {
        let body = frame::open(&self.path, &|| format!("object {k}"), rec)?;
        if body.len() < 8 {
            return Err(self.corrupt(format!("object {k}"), "record too short".into()));
        }
        let (rev, obj) = body.split_at(8);
        let object =
            stored::decode(obj).map_err(|e| self.corrupt(format!("object {k}"), e.to_string()))?;
        Ok(Stored {
            revision: read_u64(rev),
            object,
        })
    }

    /// The applied position as stored, read inside `txn` so it matches what `txn` sees.
    pub(super) fn applied_in(&self, txn: &ReadTransaction) -> Result<SnapshotMetadata, Error> {
        let t = txn.open_table(STATE_META).map_err(|e| self.err(e))?;
        match t.get(APPLIED).map_err(|e| self.err(e))? {
            Some(r) => frame::open_message(&self.path, &|| "applied index".into(), r.value()),
            None => Ok(SnapshotMetadata::default()),
        }
    }

    /// The object at `key`, as of the last applied entry.
    pub fn get(&self, key: &str) -> Result<Option<Stored>, Error> {
        let view = self.view()?;
        match view.overlay.object(key) {
            Some(Some(rec)) => return Ok(Some(self.decode_record(key, rec)?)),
            Some(None) => return Ok(None),
            None => {}
        }
        let t = view.txn.open_table(OBJECTS).map_err(|e| self.err(e))?;
        match t.get(key).map_err(|e| self.err(e))? {
            Some(rec) => Ok(Some(self.decode_record(key, rec.value())?)),
            None => Ok(None),
        }
    }

    /// Every object of `kind` (in `namespace`, if given) that `selector` matches, and the
    /// revision the list was taken at: a watch from it misses nothing.
    pub fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        selector: Option<&LabelSelector>,
    ) -> Result<(Vec<Stored>, u64), Error> {
        let view = self.view()?;
        let revision = self.applied().0;
        let t = view.txn.open_table(OBJECTS).map_err(|e| self.err(e))?;
        let (start, end) = key::range(kind, namespace);
        let buffered = view.overlay.objects_in(&start, &end);
        let mut found = BTreeMap::new();
        for item in t
            .range(start.as_str()..end.as_str())
            .map_err(|e| self.err(e))?
        {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if !buffered.contains_key(k.value()) {
                found.insert(
                    k.value().to_owned(),
                    self.decode_record(k.value(), v.value())?,
                );
            }
        }
        for (k, rec) in buffered {
            if let Some(rec) = rec {
                found.insert(k.to_owned(), self.decode_record(k, rec)?);
            }
        }
        let out = found
            .into_values()
            .filter(|s| selector.is_none_or(|sel| sel.matches(&s.object.metadata().labels)))
            .collect();
        Ok((out, revision))
    }
}

/// The object as stored: its resourceVersion is the revision it was written at.
fn stamped(o: &Object, revision: u64) -> Object {
    let mut o = o.clone();
    o.metadata_mut().resource_version = Some(revision);
    o
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
