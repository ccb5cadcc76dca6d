//! The raft log's write-ahead file: records appended to one file and made durable with a
//! single `fdatasync`, the way etcd's WAL works. A B-tree commit (redb) costs several page
//! writes and syncs per write; an append costs one write and one sync.
//!
//! # Format
//! A record is `length: u32 LE | crc32(kind ++ body): u32 LE | kind: u8 | body`. Bodies are
//! raft-rs protobuf messages, or `index: u64 LE ++ term: u64 LE` for positions.
//!
//! # Generations
//! The live file is `<gen>.wal` (20 digits). When it grows large, [`Wal::rewrite`] writes
//! what is still needed (a checkpoint and the retained entries) to a temporary file, syncs
//! it, renames it to the next generation and syncs the directory; only then are older
//! generations deleted. So the newest complete generation always holds the whole log, and
//! opening reads only that one.
//!
//! # Damage
//! A crash can leave the last, unsynced record half written: such a torn tail (a record that
//! runs past the end of the file, or fails its checksum with nothing but zeros after it) is
//! cut off with a warning. A record that fails its checksum with more data after it is
//! damage, reported with the file and offset, never skipped.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use protobuf::Message as _;
use raft::prelude::{ConfState, Entry, HardState};

use super::disk::{Disk, LogFile};
use crate::Error;

/// Bytes before a record's body: length, checksum, kind.
const HEADER: usize = 9;
/// Larger records are damage: raft-rs caps a message at far less.
const MAX_RECORD: usize = 256 << 20;

const ENTRY: u8 = 1;
const HARD_STATE: u8 = 2;
const CONF_STATE: u8 = 3;
const POSITION: u8 = 4;
const COMPACT: u8 = 5;

/// One record of the log file.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Entry(Entry),
    HardState(HardState),
    ConfState(ConfState),
    /// The log starts after this entry: a snapshot was installed, or a generation begins.
    Position {
        index: u64,
        term: u64,
    },
    /// Entries up to and including this one were compacted away.
    Compact {
        index: u64,
        term: u64,
    },
}

/// The write-ahead file of one member.
pub struct Wal {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    path: PathBuf,
    file: Box<dyn LogFile>,
    generation: u64,
    /// Bytes in the file.
    size: u64,
    /// Records encoded but not written yet (see [`Wal::commit`]).
    buffer: Vec<u8>,
}

pub(super) fn io(path: &Path, what: &str, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        what: what.to_owned(),
        source,
    }
}

fn file_name(generation: u64) -> String {
    format!("{generation:020}.wal")
}

impl Wal {
    /// Opens the log in `dir` (created if missing) on `disk` and returns its records, in
    /// order.
    pub fn open(disk: Arc<dyn Disk>, dir: &Path) -> Result<(Wal, Vec<Record>), Error> {
        fs::create_dir_all(dir).map_err(|e| io(dir, "creating", e))?;
        let mut generations = Vec::new();
        for item in fs::read_dir(dir).map_err(|e| io(dir, "listing", e))? {
            let path = item.map_err(|e| io(dir, "listing", e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".tmp") {
                // A rewrite that did not finish: the generation before it is intact.
                fs::remove_file(&path).map_err(|e| io(&path, "removing", e))?;
            } else if let Some(g) = name.strip_suffix(".wal").and_then(|g| g.parse().ok()) {
                generations.push(g);
            }
        }
        generations.sort_unstable();
        let generation = generations.last().copied().unwrap_or(1);
        let path = dir.join(file_name(generation));
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&path, "reading", e)),
        };
        let (records, valid) = decode_all(&path, &data)?;
        let created = !path.exists();
        let mut file = disk.append(&path).map_err(|e| io(&path, "opening", e))?;
        if created {
            // The new file's name (and the directory's, if it is new too) must survive a
            // power loss as well as its contents.
            sync_dir(dir)?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        if valid < data.len() {
            tracing::warn!(
                path = %path.display(),
                offset = valid,
                dropped = data.len() - valid,
                "raft log ends in a torn record (a crash during a write); cutting it off"
            );
            file.truncate(valid as u64)
                .map_err(|e| io(&path, "truncating", e))?;
        }
        let wal = Wal {
            disk,
            dir: dir.to_path_buf(),
            path,
            file,
            generation,
            size: valid as u64,
            buffer: Vec::new(),
        };
        // Older generations were superseded by the newest before they were deleted.
        for g in generations.iter().filter(|&&g| g < generation) {
            let old = dir.join(file_name(*g));
            fs::remove_file(&old).map_err(|e| io(&old, "removing", e))?;
        }
        Ok((wal, records))
    }

    /// The file the log is in now.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the file, and in records not written yet.
    pub fn size(&self) -> u64 {
        self.size + self.buffer.len() as u64
    }

    pub fn put_entry(&mut self, e: &Entry) {
        self.put_message(ENTRY, e);
    }

    pub fn put_hard_state(&mut self, hs: &HardState) {
        self.put_message(HARD_STATE, hs);
    }

    pub fn put_conf_state(&mut self, cs: &ConfState) {
        self.put_message(CONF_STATE, cs);
    }

    pub fn put_position(&mut self, index: u64, term: u64) {
        put_pair(&mut self.buffer, POSITION, index, term);
    }

    pub fn put_compact(&mut self, index: u64, term: u64) {
        put_pair(&mut self.buffer, COMPACT, index, term);
    }

    fn put_message(&mut self, kind: u8, m: &impl protobuf::Message) {
        let start = self.buffer.len();
        self.buffer.extend_from_slice(&[0; HEADER]);
        // Writing into a Vec fails only for messages missing required fields, which
        // proto3 messages (all of raft-rs') do not have.
        let _ = m.write_to_vec(&mut self.buffer);
        seal(&mut self.buffer, start, kind);
    }

    /// Writes the buffered records; with `sync`, returns only once they are on disk.
    /// Without it they survive the process being killed (they are in the page cache) and
    /// reach the disk with the next synced commit at the latest.
    pub fn commit(&mut self, sync: bool) -> Result<(), Error> {
        if !self.buffer.is_empty() {
            self.file
                .append(&self.buffer)
                .map_err(|e| io(&self.path, "appending to", e))?;
            self.size += self.buffer.len() as u64;
            self.buffer.clear();
        }
        if sync {
            self.file.sync().map_err(|e| io(&self.path, "syncing", e))?;
        }
        Ok(())
    }

    /// Starts the next generation, durably, with only the records `fill` puts (the whole
    /// log's state), then deletes the current one.
    pub fn rewrite(&mut self, fill: impl FnOnce(&mut Wal)) -> Result<(), Error> {
        self.buffer.clear();
        fill(self);
        let next = self.generation + 1;
        let path = self.dir.join(file_name(next));
        let tmp = path.with_extension("tmp");
        // What a failed rewrite left there must not become part of the next generation.
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                self.buffer.clear();
                return Err(io(&tmp, "removing", e));
            }
        }
        let written = self
            .disk
            .append(&tmp)
            .and_then(|mut f| f.append(&self.buffer).and_then(|()| f.sync()))
            .map_err(|e| io(&tmp, "writing", e));
        if let Err(e) = written {
            self.buffer.clear();
            return Err(e);
        }
        fs::rename(&tmp, &path).map_err(|e| io(&path, "renaming into", e))?;
        sync_dir(&self.dir)?;
        let file = self
            .disk
            .append(&path)
            .map_err(|e| io(&path, "opening", e))?;
        let old = std::mem::replace(&mut self.path, path);
        self.file = file;
        self.generation = next;
        self.size = self.buffer.len() as u64;
        self.buffer.clear();
        fs::remove_file(&old).map_err(|e| io(&old, "removing", e))
    }
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, "syncing", e))
}

fn put_pair(buffer: &mut Vec<u8>, kind: u8, index: u64, term: u64) {
    let start = buffer.len();
    buffer.extend_from_slice(&[0; HEADER]);
    buffer.extend_from_slice(&index.to_le_bytes());
    buffer.extend_from_slice(&term.to_le_bytes());
    seal(buffer, start, kind);
}

/// Fills in the header of the record that starts at `start` and runs to the buffer's end.
fn seal(buffer: &mut [u8], start: usize, kind: u8) {
    let len = (buffer.len() - start - HEADER) as u32;
    buffer[start + 8] = kind;
    let crc = crc32fast::hash(&buffer[start + 8..]);
    buffer[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buffer[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes every record of `data` (the file at `path`); returns them and the length of the
/// intact prefix (shorter than `data` when the tail is torn).
fn decode_all(path: &Path, data: &[u8]) -> Result<(Vec<Record>, usize), Error> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let rest = &data[at..];
        let zeros_from = |from: usize| rest.get(from..).is_none_or(|r| r.iter().all(|&b| b == 0));
        if rest.len() < HEADER {
            return Ok((records, at));
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let corrupt = |reason: String| Error::Corrupt {
            path: path.to_path_buf(),
            what: format!("raft log record at byte {at}"),
            reason,
        };
        if len == 0 && crc == 0 && zeros_from(0) {
            // Zeros a crash left after the last write (the file grew, the data did not land).
            return Ok((records, at));
        }
        if len > MAX_RECORD {
            if zeros_from(HEADER) {
                return Ok((records, at));
            }
            return Err(corrupt(format!("length {len} is impossible")));
        }
        let Some(record) = rest.get(HEADER..HEADER + len) else {
            // Runs past the end of the file: the write did not finish.
            return Ok((records, at));
        };
        let kind = rest[8];
        if crc32fast::hash(&rest[8..HEADER + len]) != crc {
            if zeros_from(HEADER + len) {
                return Ok((records, at));
            }
            return Err(corrupt(
                "checksum mismatch, with more records after it".into(),
            ));
        }
        records.push(decode(kind, record).map_err(corrupt)?);
        at += HEADER + len;
    }
    Ok((records, at))
}

fn decode(kind: u8, body: &[u8]) -> Result<Record, String> {
    let pair = || -> Result<(u64, u64), String> {
        let (i, t) = body
            .split_at_checked(8)
            .filter(|(_, t)| t.len() == 8)
            .ok_or_else(|| format!("position of {} bytes, not 16", body.len()))?;
        let n = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        Ok((n(i), n(t)))
    };
    let e = |e: protobuf::ProtobufError| e.to_string();
    Ok(match kind {
        ENTRY => Record::Entry(Entry::parse_from_bytes(body).map_err(e)?),
        HARD_STATE => Record::HardState(HardState::parse_from_bytes(body).map_err(e)?),
        CONF_STATE => Record::ConfState(ConfState::parse_from_bytes(body).map_err(e)?),
        POSITION => {
            let (index, term) = pair()?;
            Record::Position { index, term }
        }
        COMPACT => {
            let (index, term) = pair()?;
            Record::Compact { index, term }
        }
        other => return Err(format!("unknown record kind {other}")),
    })
}
