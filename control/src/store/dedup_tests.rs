//! Idempotency keys on a real database: a proposal applied twice under one key changes
//! the state once and answers both times alike, across a batch, a restart and a snapshot.

use tempfile::TempDir;

use super::log::SnapshotSource;
use super::runtime_tests::create;
use super::state::ToApply;
use super::{Rejection, StateMachine, open_database, restore_snapshot};

fn open(dir: &TempDir, name: &str) -> StateMachine {
    let path = dir.path().join(name);
    StateMachine::open(open_database(&path).unwrap(), &path).unwrap()
}

fn apply(sm: &StateMachine, entries: &[(u64, &[u8], Option<u128>)]) -> Vec<Result<u64, Rejection>> {
    let batch: Vec<ToApply<'_>> = entries
        .iter()
        .map(|&(index, data, key)| ToApply {
            index,
            term: 1,
            data,
            key,
        })
        .collect();
    sm.apply_batch(&batch).unwrap()
}

#[test]
fn a_key_applies_once_and_answers_alike_across_restarts_and_snapshots() {
    let dir = TempDir::new().unwrap();
    let sm = open(&dir, "a.redb");
    let a = create("a").encode();
    // The same proposal twice in one batch (a re-proposal after a leader change), and a
    // second create of `a` under another key.
    assert_eq!(
        apply(&sm, &[(1, &a, Some(7)), (2, &a, Some(7)), (3, &a, Some(8))]),
        [
            Ok(1),
            Ok(1),
            Err(Rejection::AlreadyExists("ConfigMap/default/a".into()))
        ]
    );
    // In a later batch, each key keeps its first verdict; no key: applies as it comes.
    assert_eq!(
        apply(&sm, &[(4, &a, Some(7)), (5, &a, Some(8)), (6, &a, None)]),
        [
            Ok(1),
            Err(Rejection::AlreadyExists("ConfigMap/default/a".into())),
            Err(Rejection::AlreadyExists("ConfigMap/default/a".into()))
        ]
    );
    assert_eq!(sm.events_since(0).unwrap().len(), 1, "created once");
    sm.sync().unwrap();
    let snap = sm.snapshot().unwrap();
    drop(sm);

    let sm = open(&dir, "a.redb");
    assert_eq!(apply(&sm, &[(7, &a, Some(7))]), [Ok(1)], "after a restart");

    let other = open(&dir, "b.redb");
    restore_snapshot(&other, &snap).unwrap();
    assert_eq!(
        apply(&other, &[(7, &a, Some(7))]),
        [Ok(1)],
        "after a snapshot"
    );
    let b = create("b").encode();
    assert_eq!(
        apply(&other, &[(8, &b, Some(7))]),
        [Ok(1)],
        "a key answers for whatever it carried"
    );
    assert_eq!(apply(&other, &[(9, &b, Some(9))]), [Ok(9)]);
}
