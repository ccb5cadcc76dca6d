//! Applying a command: every operation is checked against the state before it (and the
//! operations before it in the same command), then all of its changes are recorded, or
//! none. A change is a record in the history (see `history`) and a move of the key index.

use std::collections::BTreeMap;

use redb::ReadOnlyTable;
use skiff_proto::Object;

use super::blobs::Manifest;
use super::command::{Command, Op, Rejection};
use super::history::{EventType, encode_event};
use super::key;
use super::overlay::{At, Layer, Overlay};
use super::state::StateMachine;
use crate::Error;

/// What a batch of entries changed, before it joins the overlay.
#[derive(Default)]
pub(super) struct Batch {
    pub layer: Layer,
    /// Key → its new current record; `None` = deleted.
    pub index: BTreeMap<String, Option<At>>,
}

/// Where applying reads the state from before the batch: the overlay, then the database.
pub(super) struct Reader<'a> {
    pub overlay: &'a Overlay,
    pub events: &'a ReadOnlyTable<(u64, u32), &'static [u8]>,
    /// History at or below this revision is compacted.
    pub compacted: u64,
}

impl StateMachine {
    pub(super) fn apply_command(
        &self,
        reader: &Reader<'_>,
        batch: &mut Batch,
        index: u64,
        cmd: &Command,
    ) -> Result<Result<u64, Rejection>, Error> {
        // This command's changes, kept apart until every operation has passed.
        let mut moved: BTreeMap<String, Option<At>> = BTreeMap::new();
        let mut records: BTreeMap<At, Option<Vec<u8>>> = BTreeMap::new();
        for (seq, op) in cmd.ops.iter().enumerate() {
            // Artifacts are not objects: they are stored once every object passed.
            let Some(k) = op.key() else { continue };
            let current = match moved.get(&k).or_else(|| batch.index.get(&k)) {
                Some(at) => *at,
                None => reader.overlay.index.get(&k).copied(),
            };
            let check = |expected: &Option<u64>, rev: u64| match expected {
                Some(e) if *e != rev => Err(Rejection::Conflict {
                    key: k.clone(),
                    expected: *e,
                    actual: rev,
                }),
                _ => Ok(()),
            };
            if let Op::Check { expected, .. } = op {
                match current {
                    None => return Ok(Err(Rejection::NotFound(k))),
                    Some(at) => {
                        if let Err(r) = check(expected, at.0) {
                            return Ok(Err(r));
                        }
                    }
                }
                continue;
            }
            let at = (index, seq as u32);
            let rec = match (op, current) {
                (Op::PutChunk(_) | Op::SealArtifact { .. } | Op::Check { .. }, _) => continue,
                (Op::Create(_), Some(_)) => return Ok(Err(Rejection::AlreadyExists(k))),
                (Op::Update { .. } | Op::Delete { .. }, None) => {
                    return Ok(Err(Rejection::NotFound(k)));
                }
                (Op::Create(o), None) => {
                    encode_event(EventType::Added, &k, &self.encode_body(o, index)?)
                }
                (Op::Update { object, expected }, Some(prev)) => {
                    if let Err(r) = check(expected, prev.0) {
                        return Ok(Err(r));
                    }
                    encode_event(EventType::Modified, &k, &self.encode_body(object, index)?)
                }
                (Op::Delete { expected, .. }, Some(prev)) => {
                    if let Err(r) = check(expected, prev.0) {
                        return Ok(Err(r));
                    }
                    let last = self.body_at(reader, batch, &records, &k, prev)?;
                    encode_event(EventType::Deleted, &k, &last)
                }
            };
            records.insert(at, Some(rec));
            let deleted = matches!(op, Op::Delete { .. });
            moved.insert(k, (!deleted).then_some(at));
            // A version below the compaction point that stops being current can never be
            // read again: it goes now (compaction looks only above its last point).
            if let Some(prev) = current.filter(|p| p.0 <= reader.compacted) {
                records.insert(prev, None);
            }
        }
        for op in &cmd.ops {
            match op {
                Op::PutChunk(data) => {
                    self.blobs.put_chunk(data)?;
                }
                Op::SealArtifact {
                    digest,
                    size,
                    chunks,
                } => {
                    let m = Manifest {
                        digest: digest.clone(),
                        size: *size,
                        chunks: chunks.clone(),
                    };
                    if let Err(r) = self.blobs.seal(&m)? {
                        return Ok(Err(r));
                    }
                }
                _ => {}
            }
        }
        batch.layer.records.extend(records);
        batch.index.extend(moved);
        // The transformer learns its new keys as their record is written.
        let t = self.transform();
        if let Some(k) = t.config_key() {
            for op in &cmd.ops {
                if let Op::Create(o) | Op::Update { object: o, .. } = op
                    && key::of(o) == k
                {
                    t.configure(o);
                }
            }
        }
        Ok(Ok(index))
    }

    /// The stored form of `o` as written at `revision`.
    fn encode_body(&self, o: &Object, revision: u64) -> Result<Vec<u8>, Error> {
        let mut o = o.clone();
        o.metadata_mut().resource_version = Some(revision);
        skiff_proto::stored::encode(&o).map_err(|e| self.corrupt(key::of(&o), e.to_string()))
    }

    /// The stored form in the record at `at` (`k`'s current version), wherever it is.
    fn body_at(
        &self,
        reader: &Reader<'_>,
        batch: &Batch,
        records: &BTreeMap<At, Option<Vec<u8>>>,
        k: &str,
        at: At,
    ) -> Result<Vec<u8>, Error> {
        let local = records
            .get(&at)
            .or_else(|| batch.layer.records.get(&at))
            .map(|r| r.as_deref());
        let found = match local {
            Some(r) => r.map(|r| self.parts(at, r).map(|p| p.body.to_vec())),
            None => self
                .record_in(reader.overlay, reader.events, at)?
                .map(|r| self.parts(at, r.bytes()).map(|p| p.body.to_vec())),
        };
        found.unwrap_or_else(|| Err(self.missing(k, at)))
    }

    /// The index points at a record that is not there.
    pub(super) fn missing(&self, k: &str, at: At) -> Error {
        self.corrupt(
            format!("object {k}"),
            format!("its record {}.{} is missing", at.0, at.1),
        )
    }
}
