//! Tests of the durable raft log, after raft-rs' own `MemStorage` tests, plus what only a
//! disk can show: state survives reopening, damage is reported with the path.

use std::path::PathBuf;
use std::sync::Arc;

use raft::prelude::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, Storage, StorageError};
use tempfile::TempDir;

use super::frame;
use super::{DiskLog, LogWrite, SnapshotSource, open_database};
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
        let path = dir.path().join("raft.redb");
        Fixture { _dir: dir, path }
    }

    fn open(&self) -> DiskLog {
        DiskLog::open(
            open_database(&self.path).unwrap(),
            &self.path,
            Arc::new(FixedSnapshot(0, 0)),
        )
        .unwrap()
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
    let log = DiskLog::open(
        open_database(&f.path).unwrap(),
        &f.path,
        Arc::new(FixedSnapshot(5, 2)),
    )
    .unwrap();
    assert_eq!(log.snapshot(5, 2).unwrap().get_metadata().index, 5);
    assert_eq!(
        log.snapshot(6, 2),
        Err(raft::Error::Store(
            StorageError::SnapshotTemporarilyUnavailable
        ))
    );
}

#[test]
fn a_damaged_record_is_reported_with_the_path() {
    let f = Fixture::new();
    {
        let log = f.open();
        append(&log, &[entry(1, 1), entry(2, 1)]);
    }
    {
        // Damage entry 2 behind the log's back, as a torn write or bad sector would.
        let db = open_database(&f.path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn
                .open_table(redb::TableDefinition::<u64, &[u8]>::new("raft_entries"))
                .unwrap();
            let mut rec = frame::seal_message(&entry(2, 1));
            let last = rec.len() - 1;
            rec[last] ^= 0x55;
            t.insert(2u64, rec.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let log = f.open();
    let err = log.entries(1, 3, None, ctx()).unwrap_err().to_string();
    assert!(
        err.contains(f.path.to_str().unwrap())
            && err.contains("raft entry 2")
            && err.contains("checksum"),
        "{err}"
    );
}
