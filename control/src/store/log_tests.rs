//! Tests of the durable raft log, after raft-rs' own `MemStorage` tests, plus what only a
//! disk can show: state survives reopening, damage is reported with the path.

use std::path::PathBuf;
use std::sync::Arc;

use raft::prelude::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, Storage, StorageError};
use tempfile::TempDir;

use super::{DiskLog, LogWrite, SnapshotSource};
use crate::Error;

/// A snapshot source with fixed metadata (the state machine provides the real one).
struct FixedSnapshot(u64, u64);

impl SnapshotSource for FixedSnapshot {
    fn snapshot(&self) -> Result<Snapshot, Error> {
        let mut s = Snapshot::default();
        s.mut_metadata().index = self.0;
        s.mut_metadata().term = self.1;
        Ok(s)
    }
}

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        data: vec![7; 10].into(),
        ..Default::default()
    }
}

fn ctx() -> GetEntriesContext {
    GetEntriesContext::empty(false)
}

struct Fixture {
    _dir: TempDir,
    path: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("raft.wal");
        Fixture { _dir: dir, path }
    }

    fn open(&self) -> DiskLog {
        DiskLog::open(&self.path, Arc::new(FixedSnapshot(0, 0))).unwrap()
    }
}

fn append(log: &DiskLog, entries: &[Entry]) {
    log.write(LogWrite {
        entries,
        ..Default::default()
    })
    .unwrap();
}

#[test]
fn a_new_log_is_empty() {
    let f = Fixture::new();
    let log = f.open();
    assert_eq!(log.first_index().unwrap(), 1);
    assert_eq!(log.last_index().unwrap(), 0);
    assert_eq!(log.term(0).unwrap(), 0);
    assert!(!log.initial_state().unwrap().initialized());
}

#[test]
fn entries_terms_and_size_limits() {
    let f = Fixture::new();
    let log = f.open();
    append(&log, &[entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 3)]);
    assert_eq!(log.last_index().unwrap(), 4);
    assert_eq!(log.term(3).unwrap(), 2);
    assert_eq!(
        log.entries(2, 5, None, ctx()).unwrap(),
        vec![entry(2, 1), entry(3, 2), entry(4, 3)]
    );
    // A limit smaller than one entry still returns one.
    assert_eq!(log.entries(2, 5, 0, ctx()).unwrap().len(), 1);
    let one = u64::from(protobuf::Message::compute_size(&entry(2, 1)));
    assert_eq!(log.entries(2, 5, one * 2, ctx()).unwrap().len(), 2);
    assert_eq!(
        log.entries(2, 6, None, ctx()),
        Err(raft::Error::Store(StorageError::Unavailable))
    );
    assert_eq!(
        log.term(5),
        Err(raft::Error::Store(StorageError::Unavailable))
    );
}

#[test]
fn a_conflicting_suffix_is_replaced() {
    let f = Fixture::new();
    let log = f.open();
    append(&log, &[entry(1, 1), entry(2, 1), entry(3, 1)]);
    append(&log, &[entry(2, 2)]);
    assert_eq!(log.last_index().unwrap(), 2);
    assert_eq!(
        log.entries(1, 3, None, ctx()).unwrap(),
        vec![entry(1, 1), entry(2, 2)]
    );
    assert_eq!(
        log.term(3),
        Err(raft::Error::Store(StorageError::Unavailable))
    );
}

#[test]
fn gaps_and_compacted_overwrites_are_refused() {
    let f = Fixture::new();
    let log = f.open();
    append(&log, &[entry(1, 1), entry(2, 1), entry(3, 1)]);
    assert!(matches!(
        log.write(LogWrite {
            entries: &[entry(5, 1)],
            ..Default::default()
        }),
        Err(Error::Log(_))
    ));
    log.compact(3).unwrap();
    assert!(matches!(
        log.write(LogWrite {
            entries: &[entry(1, 2)],
            ..Default::default()
        }),
        Err(Error::Log(_))
    ));
    assert_eq!(
        log.last_index().unwrap(),
        3,
        "a refused write changes nothing"
    );
}

#[test]
fn compaction_keeps_the_term_of_the_last_discarded_entry() {
    let f = Fixture::new();
    let log = f.open();
    append(&log, &[entry(1, 1), entry(2, 2), entry(3, 3), entry(4, 3)]);
    log.compact(3).unwrap();
    assert_eq!(log.first_index().unwrap(), 3);
    assert_eq!(log.term(2).unwrap(), 2);
    assert_eq!(
        log.term(1),
        Err(raft::Error::Store(StorageError::Compacted))
    );
    assert_eq!(
        log.entries(2, 4, None, ctx()),
        Err(raft::Error::Store(StorageError::Compacted))
    );
    assert_eq!(
        log.entries(3, 5, None, ctx()).unwrap(),
        vec![entry(3, 3), entry(4, 3)]
    );
    assert!(log.compact(9).is_err());
}

#[test]
fn everything_survives_reopening() {
    let f = Fixture::new();
    let hs = HardState {
        term: 3,
        vote: 2,
        commit: 2,
        ..Default::default()
    };
    let cs = ConfState {
        voters: vec![1, 2, 3],
        ..Default::default()
    };
    {
        let log = f.open();
        assert!(log.initialize(&cs).unwrap());
        assert_eq!(
            (log.first_index().unwrap(), log.last_index().unwrap()),
            (2, 1),
            "bootstrap is a snapshot at 1"
        );
        log.write(LogWrite {
            entries: &[entry(2, 1), entry(3, 3), entry(4, 3)],
            hard_state: Some(&hs),
            ..Default::default()
        })
        .unwrap();
        log.compact(3).unwrap();
    }
    let log = f.open();
    let state = log.initial_state().unwrap();
    assert_eq!(
        (state.hard_state.term, state.conf_state.voters.clone()),
        (3, vec![1, 2, 3])
    );
    assert!(
        !log.initialize(&ConfState::default()).unwrap(),
        "bootstrap never overwrites state"
    );
    assert_eq!(
        (log.first_index().unwrap(), log.last_index().unwrap()),
        (3, 4)
    );
    assert_eq!(log.term(2).unwrap(), 1);
    assert_eq!(
        log.entries(3, 5, None, ctx()).unwrap(),
        vec![entry(3, 3), entry(4, 3)]
    );
}

#[test]
fn a_snapshot_replaces_the_log() {
    let f = Fixture::new();
    let log = f.open();
    append(&log, &[entry(1, 1), entry(2, 1)]);
    let mut meta = SnapshotMetadata {
        index: 10,
        term: 4,
        ..Default::default()
    };
    meta.mut_conf_state().voters = vec![1, 2];
    log.apply_snapshot(&meta).unwrap();
    assert_eq!(
        (log.first_index().unwrap(), log.last_index().unwrap()),
        (11, 10)
    );
    assert_eq!(log.term(10).unwrap(), 4);
    let state = log.initial_state().unwrap();
    assert_eq!((state.hard_state.commit, state.hard_state.term), (10, 4));
    append(&log, &[entry(11, 4)]);
    assert!(
        matches!(log.apply_snapshot(&meta), Err(Error::Log(_))),
        "an older snapshot is refused"
    );
    drop(log);
    let log = f.open();
    assert_eq!(
        (log.first_index().unwrap(), log.last_index().unwrap()),
        (11, 11)
    );
}

#[test]
fn snapshots_come_from_the_state_machine() {
    let f = Fixture::new();
    let log = DiskLog::open(&f.path, Arc::new(FixedSnapshot(5, 2))).unwrap();
    assert_eq!(log.snapshot(5, 2).unwrap().get_metadata().index, 5);
    assert_eq!(
        log.snapshot(6, 2),
        Err(raft::Error::Store(
            StorageError::SnapshotTemporarilyUnavailable
        ))
    );
}

/// The log's one file (a log has a single live generation).
fn only_file(f: &Fixture) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(&f.path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn a_damaged_record_is_reported_with_the_path() {
    let f = Fixture::new();
    {
        let log = f.open();
        append(&log, &[entry(1, 1), entry(2, 1), entry(3, 1)]);
    }
    // Damage entry 2's body behind the log's back, as a bad sector would.
    let file = only_file(&f);
    let mut bytes = std::fs::read(&file).unwrap();
    let record = bytes.len() / 3;
    bytes[record + record / 2] ^= 0x55;
    std::fs::write(&file, &bytes).unwrap();
    let err = DiskLog::open(&f.path, Arc::new(FixedSnapshot(0, 0)))
        .err()
        .expect("damage is reported")
        .to_string();
    assert!(
        err.contains(file.to_str().unwrap())
            && err.contains(&format!("byte {record}"))
            && err.contains("checksum"),
        "{err}"
    );
}

#[test]
fn a_torn_last_write_is_cut_off() {
    let f = Fixture::new();
    {
        let log = f.open();
        append(&log, &[entry(1, 1), entry(2, 1)]);
        append(&log, &[entry(3, 1)]);
    }
    let file = only_file(&f);
    let whole = std::fs::read(&file).unwrap();
    let record = whole.len() / 3;
    // The last write landed partly; then zeros where the file grew but data did not land;
    // then a last record whose bytes landed damaged.
    let mut damaged_tail = whole.clone();
    let end = damaged_tail.len() - 3;
    damaged_tail[end] ^= 1;
    for torn in [
        whole[..whole.len() - 5].to_vec(),
        whole[..2 * record + 4].to_vec(),
        [whole.clone(), vec![0; 4096]].concat(),
        [&whole[..2 * record], &vec![0; record][..]].concat(),
        damaged_tail,
    ] {
        std::fs::write(&file, &torn).unwrap();
        let log = f.open();
        let last = log.last_index().unwrap();
        assert!(
            last == 2 || (last == 3 && torn.len() > whole.len()),
            "{last}"
        );
        assert_eq!(
            log.entries(1, last + 1, None, ctx()).unwrap().len() as u64,
            last
        );
        // The log goes on from the intact prefix.
        append(&log, &[entry(last + 1, 2)]);
        drop(log);
        assert_eq!(f.open().term(last + 1).unwrap(), 2);
        std::fs::write(&file, &whole).unwrap();
    }
}

#[test]
fn compaction_rewrites_a_large_file_without_the_compacted_entries() {
    let f = Fixture::new();
    let hs = HardState {
        term: 2,
        vote: 1,
        commit: 40,
        ..Default::default()
    };
    let before;
    {
        let log = f.open();
        log.rewrite_over(1000);
        let entries: Vec<Entry> = (1..=50).map(|i| entry(i, 2)).collect();
        log.write(LogWrite {
            entries: &entries,
            hard_state: Some(&hs),
            ..Default::default()
        })
        .unwrap();
        before = log.path();
        log.compact(41).unwrap();
        assert_ne!(log.path(), before, "a new generation");
        append(&log, &[entry(51, 3)]);
    }
    let file = only_file(&f);
    assert!(!before.exists());
    assert!(std::fs::metadata(&file).unwrap().len() < 20 * 40);
    let log = f.open();
    assert_eq!(
        (log.first_index().unwrap(), log.last_index().unwrap()),
        (41, 51)
    );
    assert_eq!((log.term(40).unwrap(), log.term(51).unwrap()), (2, 3));
    assert_eq!(log.initial_state().unwrap().hard_state, hs);
    // A rewrite cut short by a crash leaves a temporary file, which the next open removes.
    std::fs::write(f.path.join("00000000000000000099.tmp"), b"partial").unwrap();
    drop(log);
    let log = f.open();
    assert_eq!(log.last_index().unwrap(), 51);
    assert_eq!(only_file(&f), file);
}
