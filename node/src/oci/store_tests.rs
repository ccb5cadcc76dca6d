//! The image store's records and garbage collection, without a registry.
use super::*;

/// A record of an image of one layer, as a pull leaves it (the layer's folder and the
/// config on disk), used `age` seconds ago.
fn recorded(store: &ImageStore, reference: &str, layer: &str, age: u64) -> Record {
    let diff_id = format!("sha256:{layer:0>64}");
    let config = format!("sha256:{:0>64}", reference.len());
    fs::create_dir_all(store.layer_dir(&diff_id).unwrap().join("bin")).unwrap();
    let cfg = r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    write_atomically(&store.config_path(&config).unwrap(), cfg.as_bytes()).unwrap();
    let r = Record {
        reference: reference.into(),
        repository: "r.example/app".into(),
        manifest: format!("sha256:{:0>64}", reference.len() + 1),
        config,
        diff_ids: vec![diff_id],
        size: 1,
        last_used: now_secs().saturating_sub(age),
    };
    store.save(&r).unwrap();
    r
}

#[test]
fn unused_images_and_their_layers_go_and_held_or_recent_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ImageStore::open(dir.path()).unwrap());
    let old = recorded(&store, "r.example/app:old", "a", 7200);
    let held = recorded(&store, "r.example/app:held", "b", 7200);
    let fresh = recorded(&store, "r.example/app:fresh", "c", 0);
    let guard = store.hold(&store.load(&held).unwrap());
    let gone = store.collect_garbage(Duration::from_secs(3600));
    assert_eq!(gone, ["r.example/app:old"]);
    assert!(!store.layer_dir(&old.diff_ids[0]).unwrap().exists());
    assert!(store.layer_dir(&held.diff_ids[0]).unwrap().exists());
    assert!(store.layer_dir(&fresh.diff_ids[0]).unwrap().exists());
    // The records survive a restart of the agent.
    drop(guard);
    let reopened = ImageStore::open(dir.path()).unwrap();
    let mut names: Vec<String> = reopened
        .images()
        .into_iter()
        .flat_map(|i| i.names)
        .collect();
    names.sort();
    assert!(
        names.iter().any(|n| n == "r.example/app:fresh"),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n == "r.example/app:old"), "{names:?}");
}
