//! The store's format version: a data directory written by the previous format (a fixture
//! kept in the repository) opens, migrated, with every object; a directory or snapshot
//! from a newer format is refused with what to do.

use std::path::{Path, PathBuf};

use skiff_proto::Kind;
use tempfile::TempDir;

use super::log::SnapshotSource;
use super::{Member, STORE_FORMAT, Tuning, key, restore_snapshot};
use crate::Error;

/// A copy of the format-1 member files, and the path of its database.
fn format_1() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store-format-1.tar.gz");
    let file = std::fs::File::open(&fixture).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(dir.path())
        .unwrap();
    let db = dir.path().join("store.redb");
    (dir, db)
}

fn open(db: &Path) -> Result<Member, Error> {
    Member::open(1, db, &Default::default(), &Tuning::default())
}

#[test]
fn a_format_1_directory_opens_migrated_with_every_object() {
    let (_dir, db) = format_1();
    let m = open(&db).unwrap();
    let sm = m.state();
    let kept = sm
        .get(&key::make(Kind::ConfigMap, "default", "kept"))
        .unwrap()
        .expect("the ConfigMap written by the format-1 build");
    let yaml = kept.object.to_yaml().unwrap();
    assert!(yaml.contains("written by the format-1 build"), "{yaml}");
    assert!(
        sm.get(&key::make(Kind::Secret, "default", "sealed"))
            .unwrap()
            .is_some()
    );
    let (pods, _) = sm.list(Kind::Pod, None, None).unwrap();
    assert_eq!(pods.len(), 2, "the example's pods");
    assert_eq!(sm.blobs().manifests().unwrap().len(), 1, "hello.wasm");
    assert!(sm.applied().0 > 0);
    // Its snapshot is in this format, and restores elsewhere.
    let snap = sm.snapshot().unwrap();
    drop(m);
    assert_eq!(super::format::stored(&db).unwrap(), STORE_FORMAT);
    let other = TempDir::new().unwrap();
    let path = other.path().join("store.redb");
    let fresh = super::StateMachine::open(super::open_database(&path).unwrap(), &path).unwrap();
    restore_snapshot(&fresh, &snap).unwrap();
    assert_eq!(fresh.list(Kind::Pod, None, None).unwrap().0.len(), 2);
    // Opening again migrates nothing.
    let m = open(&db).unwrap();
    assert_eq!(m.state().applied(), snap_position(&snap));
}

fn snap_position(s: &raft::prelude::Snapshot) -> (u64, u64) {
    (s.get_metadata().index, s.get_metadata().term)
}

#[test]
fn a_directory_or_snapshot_from_a_newer_format_is_refused_untouched() {
    let (_dir, db) = format_1();
    let snap = {
        let m = open(&db).unwrap();
        m.state().snapshot().unwrap()
    };
    super::format::set(&db, STORE_FORMAT + 1).unwrap();
    let e = open(&db).err().expect("refused");
    let text = e.to_string();
    assert!(
        text.contains("written by a newer Skiff")
            && text.contains(&format!("store format {}", STORE_FORMAT + 1)),
        "{text}"
    );
    assert_eq!(
        super::format::stored(&db).unwrap(),
        STORE_FORMAT + 1,
        "left as it was"
    );

    // A snapshot says its format after a magic; a newer one is refused too.
    let mut body = super::frame::open(&db, &|| "test".into(), &snap.data)
        .unwrap()
        .to_vec();
    body[4..8].copy_from_slice(&(STORE_FORMAT + 1).to_le_bytes());
    let mut newer = snap.clone();
    newer.data = super::frame::seal(&body).into();
    let other = TempDir::new().unwrap();
    let path = other.path().join("store.redb");
    let fresh = super::StateMachine::open(super::open_database(&path).unwrap(), &path).unwrap();
    let e = restore_snapshot(&fresh, &newer).unwrap_err();
    assert!(e.to_string().contains("written by a newer Skiff"), "{e}");
}
