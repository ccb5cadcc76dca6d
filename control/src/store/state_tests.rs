//! Tests of the state machine on a real database: compare-and-swap, all-or-nothing
//! transactions, lists, watch history, compaction, restarts and snapshots.

use std::path::PathBuf;

use skiff_proto::manifest::{Source, decode_one};
use skiff_proto::model::LabelSelector;
use skiff_proto::{Kind, Object};
use tempfile::TempDir;

use super::blobs::sha256_hex;
use super::log::SnapshotSource;
use super::{
    Command, EventType, Op, Rejection, StateMachine, key, open_database, restore_snapshot,
};
use crate::Error;

fn config_map(ns: &str, name: &str, tier: &str) -> Object {
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    tier: {tier}\ndata:\n  k: v\n"
    );
    decode_one(&text, &Source::named("test")).unwrap()
}

struct Fixture {
    _dir: TempDir,
    path: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("state.redb");
        Fixture { _dir: dir, path }
    }

    fn open(&self) -> StateMachine {
        StateMachine::open(open_database(&self.path).unwrap(), &self.path).unwrap()
    }
}

fn run(sm: &StateMachine, index: u64, ops: Vec<Op>) -> Result<u64, Rejection> {
    sm.apply(index, 1, &Command { ops }.encode()).unwrap()
}

#[test]
fn create_update_delete_with_compare_and_swap() {
    let f = Fixture::new();
    let sm = f.open();
    let a = config_map("default", "a", "web");
    let k = key::of(&a);
    assert_eq!(run(&sm, 1, vec![Op::Create(a.clone())]), Ok(1));
    let got = sm.get(&k).unwrap().unwrap();
    assert_eq!(got.revision, 1);
    assert_eq!(
        got.object.metadata().resource_version,
        Some(1),
        "resourceVersion is the raft index"
    );
    assert_eq!(
        run(&sm, 2, vec![Op::Create(a.clone())]),
        Err(Rejection::AlreadyExists(k.clone()))
    );
    assert_eq!(
        run(
            &sm,
            3,
            vec![Op::Update {
                object: a.clone(),
                expected: Some(2)
            }]
        ),
        Err(Rejection::Conflict {
            key: k.clone(),
            expected: 2,
            actual: 1
        })
    );
    assert_eq!(
        run(
            &sm,
            4,
            vec![Op::Update {
                object: a.clone(),
                expected: Some(1)
            }]
        ),
        Ok(4)
    );
    assert_eq!(sm.get(&k).unwrap().unwrap().revision, 4);
    assert_eq!(
        run(
            &sm,
            5,
            vec![Op::Delete {
                key: k.clone(),
                expected: Some(1)
            }]
        ),
        Err(Rejection::Conflict {
            key: k.clone(),
            expected: 1,
            actual: 4
        })
    );
    assert_eq!(
        run(
            &sm,
            6,
            vec![Op::Delete {
                key: k.clone(),
                expected: None
            }]
        ),
        Ok(6)
    );
    assert_eq!(sm.get(&k).unwrap(), None);
    assert_eq!(
        run(
            &sm,
            7,
            vec![Op::Delete {
                key: k.clone(),
                expected: None
            }]
        ),
        Err(Rejection::NotFound(k))
    );
    assert_eq!(
        sm.applied(),
        (7, 1),
        "rejected commands advance the applied index too"
    );
}

#[test]
fn a_transaction_applies_all_or_nothing() {
    let f = Fixture::new();
    let sm = f.open();
    let (a, b) = (
        config_map("default", "a", "web"),
        config_map("default", "b", "web"),
    );
    run(&sm, 1, vec![Op::Create(b.clone())]).unwrap();
    let r = run(&sm, 2, vec![Op::Create(a.clone()), Op::Create(b.clone())]);
    assert_eq!(r, Err(Rejection::AlreadyExists(key::of(&b))));
    assert_eq!(
        sm.get(&key::of(&a)).unwrap(),
        None,
        "the first op of a rejected transaction is undone"
    );
    // Operations see the ones before them in the same transaction.
    let r = run(
        &sm,
        3,
        vec![
            Op::Create(a.clone()),
            Op::Update {
                object: a.clone(),
                expected: Some(3),
            },
        ],
    );
    assert_eq!(r, Ok(3));
    assert_eq!(sm.events_since(2).unwrap().len(), 2);
}

#[test]
fn lists_by_namespace_and_labels_at_a_revision() {
    let f = Fixture::new();
    let sm = f.open();
    run(
        &sm,
        1,
        vec![
            Op::Create(config_map("default", "a", "web")),
            Op::Create(config_map("default", "b", "db")),
            Op::Create(config_map("other", "c", "web")),
        ],
    )
    .unwrap();
    let (all, rev) = sm.list(Kind::ConfigMap, None, None).unwrap();
    assert_eq!((all.len(), rev), (3, 1));
    let (ns, _) = sm.list(Kind::ConfigMap, Some("default"), None).unwrap();
    assert_eq!(ns.len(), 2);
    let sel = LabelSelector {
        match_labels: [("tier".to_owned(), "web".to_owned())].into(),
        ..Default::default()
    };
    let (web, _) = sm.list(Kind::ConfigMap, None, Some(&sel)).unwrap();
    let names: Vec<_> = web
        .iter()
        .map(|s| s.object.metadata().name.clone())
        .collect();
    assert_eq!(names, ["a", "c"]);
    assert!(sm.list(Kind::Pod, None, None).unwrap().0.is_empty());
}

#[test]
fn pages_start_after_a_key_and_count_what_is_left() {
    let f = Fixture::new();
    let sm = f.open();
    let ops = (0..5)
        .map(|i| Op::Create(config_map("default", &format!("c{i}"), "web")))
        .chain([Op::Create(config_map("other", "z", "db"))])
        .collect();
    run(&sm, 1, ops).unwrap();
    let names = |p: &super::Listing| -> Vec<String> {
        p.items
            .iter()
            .map(|s| s.object.metadata().name.clone())
            .collect()
    };
    let all = |_: &Object| true;
    let first = sm.list_page(Kind::ConfigMap, None, None, 2, all).unwrap();
    assert_eq!(
        (names(&first), first.unread),
        (vec!["c0".into(), "c1".into()], 4)
    );
    let after = key::make(Kind::ConfigMap, "default", "c1");
    let next = sm
        .list_page(Kind::ConfigMap, None, Some(&after), 2, all)
        .unwrap();
    assert_eq!(
        (names(&next), next.unread),
        (vec!["c2".into(), "c3".into()], 2)
    );
    // A filter skips without counting against the limit; the last page leaves nothing.
    let web = |o: &Object| o.metadata().labels["tier"] == "web";
    let last = sm
        .list_page(Kind::ConfigMap, None, Some(&after), 0, web)
        .unwrap();
    assert_eq!(
        (names(&last), last.unread),
        (vec!["c2".into(), "c3".into(), "c4".into()], 0)
    );
    // Keys outside the kind's range (a client's token may name any) never panic.
    for odd in ["", "A", "ConfigMap/", "ConfigMap0", "Pod/x/y", "\u{10ffff}"] {
        let p = sm
            .list_page(Kind::ConfigMap, None, Some(odd), 1, all)
            .unwrap();
        assert!(p.items.len() <= 1, "{odd}");
    }
    let p = sm
        .list_page(Kind::ConfigMap, Some("default"), Some("ConfigMap0"), 1, all)
        .unwrap();
    assert!(p.items.is_empty());
}

#[test]
fn watch_history_is_in_commit_order_and_compactable() {
    let f = Fixture::new();
    let sm = f.open();
    let a = config_map("default", "a", "web");
    run(&sm, 1, vec![Op::Create(a.clone())]).unwrap();
    run(
        &sm,
        2,
        vec![Op::Update {
            object: config_map("default", "a", "db"),
            expected: None,
        }],
    )
    .unwrap();
    run(
        &sm,
        3,
        vec![Op::Delete {
            key: key::of(&a),
            expected: None,
        }],
    )
    .unwrap();
    let events = sm.events_since(0).unwrap();
    let seen: Vec<_> = events.iter().map(|e| (e.revision, e.kind)).collect();
    assert_eq!(
        seen,
        [
            (1, EventType::Added),
            (2, EventType::Modified),
            (3, EventType::Deleted)
        ]
    );
    assert_eq!(
        events[2].object.metadata().labels["tier"],
        "db",
        "a deletion carries the last state"
    );
    assert_eq!(sm.events_since(2).unwrap().len(), 1);
    sm.compact_events(2).unwrap();
    assert!(matches!(
        sm.events_since(1),
        Err(Error::Compacted {
            requested: 1,
            compacted: 2
        })
    ));
    assert_eq!(sm.events_since(2).unwrap().len(), 1);
}

#[test]
fn state_survives_reopening() {
    let f = Fixture::new();
    {
        let sm = f.open();
        run(&sm, 5, vec![Op::Create(config_map("default", "a", "web"))]).unwrap();
        sm.sync().unwrap();
        sm.compact_events(5).unwrap();
    }
    let sm = f.open();
    assert_eq!(sm.applied(), (5, 1));
    assert_eq!(sm.list(Kind::ConfigMap, None, None).unwrap().0.len(), 1);
    assert!(matches!(sm.events_since(4), Err(Error::Compacted { .. })));
}

#[test]
fn buffered_changes_shadow_the_database_and_a_crash_loses_only_them() {
    let f = Fixture::new();
    let (a, b) = (
        config_map("default", "a", "web"),
        config_map("default", "b", "web"),
    );
    {
        let sm = f.open();
        run(&sm, 1, vec![Op::Create(a.clone()), Op::Create(b.clone())]).unwrap();
        assert_eq!(sm.sync().unwrap(), 1);
        // In the overlay only: b deleted, a updated, c created.
        run(
            &sm,
            2,
            vec![
                Op::Delete {
                    key: key::of(&b),
                    expected: Some(1),
                },
                Op::Update {
                    object: config_map("default", "a", "db"),
                    expected: Some(1),
                },
                Op::Create(config_map("default", "c", "web")),
            ],
        )
        .unwrap();
        assert!(sm.get(&key::of(&b)).unwrap().is_none());
        assert_eq!(sm.get(&key::of(&a)).unwrap().unwrap().revision, 2);
        let (items, rev) = sm.list(Kind::ConfigMap, None, None).unwrap();
        let names: Vec<_> = items
            .iter()
            .map(|s| s.object.metadata().name.as_str())
            .collect();
        assert_eq!((names, rev), (vec!["a", "c"], 2));
        let web = LabelSelector {
            match_labels: [("tier".to_owned(), "web".to_owned())].into(),
            ..Default::default()
        };
        assert_eq!(
            sm.list(Kind::ConfigMap, None, Some(&web)).unwrap().0.len(),
            1
        );
        let kinds: Vec<_> = sm.events_since(0).unwrap().iter().map(|e| e.kind).collect();
        use EventType::*;
        assert_eq!(kinds, [Added, Added, Deleted, Modified, Added]);
        // A conflict is judged against the buffered state, not the database's.
        assert!(matches!(
            run(
                &sm,
                3,
                vec![Op::Update {
                    object: a.clone(),
                    expected: Some(1)
                }]
            ),
            Err(Rejection::Conflict { actual: 2, .. })
        ));
        // Dropped without a sync, as by a crash.
    }
    let sm = f.open();
    assert_eq!(sm.applied().0, 1, "the log replays from here");
    let (items, _) = sm.list(Kind::ConfigMap, None, None).unwrap();
    let names: Vec<_> = items
        .iter()
        .map(|s| s.object.metadata().name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(sm.events_since(0).unwrap().len(), 2);
}

/// Records the database holds, after a sync.
fn stored_records(sm: &StateMachine) -> u64 {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    sm.sync().unwrap();
    let txn = sm.db.begin_read().unwrap();
    txn.open_table(super::state::EVENTS).unwrap().len().unwrap()
}

#[test]
fn compaction_keeps_each_live_objects_current_version_and_nothing_else() {
    let f = Fixture::new();
    let (a, b, c) = (
        config_map("default", "a", "web"),
        config_map("default", "b", "web"),
        config_map("default", "c", "web"),
    );
    {
        let sm = f.open();
        run(&sm, 1, vec![Op::Create(a.clone()), Op::Create(b.clone())]).unwrap();
        run(&sm, 2, vec![Op::Create(c.clone())]).unwrap();
        let update = |o: &Object| Op::Update {
            object: o.clone(),
            expected: None,
        };
        run(&sm, 3, vec![update(&b)]).unwrap();
        let delete = Op::Delete {
            key: key::of(&c),
            expected: None,
        };
        run(&sm, 4, vec![delete]).unwrap();
        assert_eq!(stored_records(&sm), 5);
        sm.compact_events(4).unwrap();
        // a@1 and b@3 are current; b@1, c@2 and c's deletion are gone.
        assert_eq!(stored_records(&sm), 2);
        assert_eq!(sm.get(&key::of(&a)).unwrap().unwrap().revision, 1);
        // a@1 is below the compaction point: superseding it removes it at once.
        run(&sm, 5, vec![update(&a)]).unwrap();
        assert_eq!(stored_records(&sm), 2);
        assert_eq!(sm.events_since(4).unwrap().len(), 1);
    }
    // The key index is rebuilt from the records.
    let sm = f.open();
    let (items, _) = sm.list(Kind::ConfigMap, None, None).unwrap();
    let seen: Vec<_> = items
        .iter()
        .map(|s| (s.object.metadata().name.as_str(), s.revision))
        .collect();
    assert_eq!(seen, [("a", 5), ("b", 3)]);
    assert!(sm.get(&key::of(&c)).unwrap().is_none());
}

#[test]
fn malformed_entries_are_rejected_not_fatal() {
    let f = Fixture::new();
    let sm = f.open();
    assert!(matches!(
        sm.apply(1, 1, &[9, 9, 9]).unwrap(),
        Err(Rejection::Malformed(_))
    ));
    assert_eq!(
        sm.apply(2, 1, &[]).unwrap(),
        Ok(2),
        "a leader's empty entry is a no-op"
    );
    assert_eq!(sm.applied(), (2, 1));
}

#[test]
fn a_snapshot_restores_the_same_state_elsewhere() {
    let (f1, f2) = (Fixture::new(), Fixture::new());
    let sm = f1.open();
    run(
        &sm,
        1,
        vec![
            Op::Create(config_map("default", "a", "web")),
            Op::Create(config_map("x", "b", "db")),
            Op::PutChunk(b"a component".to_vec()),
            Op::SealArtifact {
                digest: sha256_hex(b"a component"),
                size: 11,
                chunks: vec![sha256_hex(b"a component")],
            },
            // An upload under way: its chunk travels too, so it can finish anywhere.
            Op::PutChunk(b"half".to_vec()),
        ],
    )
    .unwrap();
    let cs = raft::prelude::ConfState {
        voters: vec![1, 2, 3],
        ..Default::default()
    };
    let book = crate::cluster::parse_initial_cluster("1=h:1,2=h:2,3=h:3").unwrap();
    sm.apply_conf_state(2, 1, &cs, &book).unwrap();
    // Member 3 leaves: its address goes, and its id is never to be reused.
    let cs = raft::prelude::ConfState {
        voters: vec![1, 2],
        ..Default::default()
    };
    sm.apply_conf_state(3, 1, &cs, &Default::default()).unwrap();
    assert_eq!(sm.members().unwrap().keys().collect::<Vec<_>>(), [&1, &2]);
    assert!(sm.is_removed(3).unwrap() && !sm.is_removed(2).unwrap());
    let snap = sm.snapshot().unwrap();
    assert_eq!(
        (
            snap.get_metadata().index,
            snap.get_metadata().get_conf_state().voters.clone()
        ),
        (3, vec![1, 2])
    );

    let other = f2.open();
    run(
        &other,
        1,
        vec![Op::Create(config_map("default", "stale", "web"))],
    )
    .unwrap();
    restore_snapshot(&other, &snap).unwrap();
    assert_eq!(
        other.list(Kind::ConfigMap, None, None).unwrap(),
        sm.list(Kind::ConfigMap, None, None).unwrap()
    );
    assert_eq!(other.applied(), (3, 1));
    assert_eq!(other.members().unwrap(), sm.members().unwrap());
    assert!(other.is_removed(3).unwrap());
    assert_eq!(other.conf_state().voters, vec![1, 2]);
    assert_eq!(
        other.blobs().manifests().unwrap(),
        sm.blobs().manifests().unwrap()
    );
    assert_eq!(
        other
            .blobs()
            .chunk(&sha256_hex(b"half"))
            .unwrap()
            .as_deref(),
        Some(&b"half"[..])
    );
    assert!(matches!(
        other.events_since(0),
        Err(Error::Compacted { .. })
    ));

    let mut damaged = snap.clone();
    let mut data = damaged.data.to_vec();
    data[10] ^= 1;
    damaged.data = data.into();
    assert!(matches!(
        restore_snapshot(&other, &damaged),
        Err(Error::Corrupt { .. })
    ));
    // Objects one transaction wrote share a revision; both come back from disk.
    other.sync().unwrap();
    drop(other);
    let reopened = f2.open();
    let listed = reopened.list(Kind::ConfigMap, None, None).unwrap().0;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed, sm.list(Kind::ConfigMap, None, None).unwrap().0);
}

#[test]
fn a_bad_artifact_seal_rejects_its_whole_command() {
    let f = Fixture::new();
    let sm = f.open();
    let chunk = sha256_hex(b"bytes");
    let r = run(
        &sm,
        1,
        vec![
            Op::Create(config_map("default", "a", "web")),
            Op::PutChunk(b"bytes".to_vec()),
            Op::SealArtifact {
                digest: sha256_hex(b"other bytes"),
                size: 5,
                chunks: vec![chunk.clone()],
            },
        ],
    );
    let Err(Rejection::BadArtifact(why)) = r else {
        panic!("{r:?}")
    };
    assert!(why.contains("have digest"), "{why}");
    assert!(
        sm.get(&key::of(&config_map("default", "a", "web")))
            .unwrap()
            .is_none()
    );
    assert!(sm.blobs().manifests().unwrap().is_empty());
    // The same chunk sealed under its right digest is accepted, and survives a reopen.
    let good = Op::SealArtifact {
        digest: sha256_hex(b"bytes"),
        size: 5,
        chunks: vec![chunk],
    };
    assert_eq!(run(&sm, 2, vec![good]), Ok(2));
    drop(sm);
    assert_eq!(f.open().blobs().manifests().unwrap().len(), 1);
}
