//! `skiff snapshot save` from a running member and `skiff snapshot restore` into a new data
//! directory: the new one-member cluster holds every object, serves writes, and takes a
//! new member; a damaged file or a used directory is refused with the reason.

use std::process::Output;

use skiff_proto::grpc::api::{CreateRequest, ListRequest};

use crate::support::{Members, client, config_map, free_port, pki};

fn skiff(args: &[&str]) -> Output {
    pki::skiff()
        .args(args)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn names(port: u16) -> Vec<String> {
    let r = client(port)
        .await
        .list(ListRequest {
            kind: "ConfigMap".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut names: Vec<String> = r
        .items
        .into_iter()
        .filter_map(|e| e.key.map(|k| k.name))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_saved_from_a_member_restores_into_a_new_cluster() {
    let m = Members::start(3);
    let leader = m.leader(1);
    let follower = (1..=3).find(|&i| i != leader).unwrap();
    let mut c = client(m.ports[0]).await;
    let mut written = Vec::new();
    for i in 0..20 {
        let name = format!("kept-{i:02}");
        c.create(CreateRequest {
            manifest: config_map(&name),
            ..Default::default()
        })
        .await
        .unwrap();
        written.push(name);
    }
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("backup.snap");
    let f = file.to_str().unwrap();
    let out = skiff(&["snapshot", "save", f, "--server", &m.addr(follower)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Snapshot saved to"), "{}", text(&out));
    drop(m);

    // A damaged copy is refused, and nothing is made.
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    let bad = dir.path().join("bad.snap");
    std::fs::write(&bad, &bytes).unwrap();
    let nowhere = dir.path().join("nowhere");
    let out = skiff(&[
        "snapshot",
        "restore",
        bad.to_str().unwrap(),
        "--data-dir",
        nowhere.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("damaged"), "{}", text(&out));
    assert!(!nowhere.exists());

    // The new cluster: one member restored, then started as `skiff control` is.
    let mut new = Members {
        children: Vec::new(),
        ports: vec![free_port()],
        cluster: String::new(),
        dir: tempfile::TempDir::new().unwrap(),
    };
    let data = new.dir.path().join("m1");
    let restore = |data: &std::path::Path| {
        skiff(&[
            "snapshot",
            "restore",
            f,
            "--data-dir",
            data.to_str().unwrap(),
        ])
    };
    let out = restore(&data);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("skiff control --id 1"),
        "{}",
        text(&out)
    );
    let out = restore(&data);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not empty"), "{}", text(&out));
    let child = new.spawn_with(1, &[]);
    new.children.push(Some(child));
    assert_eq!(new.leader(1), 1);
    assert_eq!(names(new.ports[0]).await, written, "every object restored");
    client(new.ports[0])
        .await
        .create(CreateRequest {
            manifest: config_map("after"),
            ..Default::default()
        })
        .await
        .expect("the new cluster takes writes");
    // Others join it as usual, and get everything.
    let joined = new.join(1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let t = new.table(1);
        if t.iter()
            .any(|(id, role, _)| *id == joined && role == "follower")
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no join: {t:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut all = written.clone();
    all.push("after".into());
    all.sort();
    assert_eq!(names(new.ports[1]).await, all);
}
