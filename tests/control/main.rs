//! Three real `skiff control` processes on loopback: they elect a leader, survive a SIGKILL
//! of it, and the killed member restarts from its data directory and catches up; writes
//! ride through failovers (`failover`) and a one-way partition made by TCP proxies
//! (`partition`); backups (`backup`); server-side apply through members that lag
//! (`apply`). Every process is killed when the test ends, pass or fail.

use std::path::Path;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{
    CreateRequest, DeleteRequest, GetRequest, ListRequest, ObjectKey, UpdateRequest,
    WatchEventType, WatchRequest,
};

#[path = "../support/mod.rs"]
mod support;

mod apply;
mod backup;
mod failover;
mod partition;

use support::{Members, client, config_map};

#[test]
fn three_processes_survive_sigkill_of_the_leader() {
    let mut m = Members::start(3);
    let old = m.leader(1);
    m.children[old as usize - 1].take().map(|mut c| {
        c.kill().unwrap();
        c.wait().unwrap()
    });
    let survivor = (1..=3).find(|&i| i != old).unwrap();
    let new = m.leader(survivor);
    assert_ne!(new, old);
    let table = m.table(survivor);
    assert!(
        table
            .iter()
            .any(|(id, role, _)| *id == old && role == "unreachable"),
        "{table:?}"
    );

    // Restart the killed member on its data directory: it rejoins as a follower and catches up.
    let child = m.spawn(old);
    m.children[old as usize - 1] = Some(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = m.table(survivor);
        let applied = |id: u64| t.iter().find(|r| r.0 == id).and_then(|r| r.2);
        let back = t
            .iter()
            .any(|(id, role, _)| *id == old && role == "follower");
        if back
            && applied(old).is_some()
            && applied(old) >= applied(new).map(|a| a.saturating_sub(1))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted member did not catch up: {t:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(Path::new(&m.dir.path().join(format!("m{old}/store.redb"))).exists());
}

fn key(name: &str) -> Option<ObjectKey> {
    Some(ObjectKey {
        kind: "ConfigMap".into(),
        namespace: "default".into(),
        name: name.into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_object_api_works_through_any_member_and_watches_see_every_change() {
    let m = Members::start(3);
    let leader = m.leader(1);
    let follower = (1..=3).find(|&i| i != leader).unwrap();
    let other = (1..=3).find(|&i| i != leader && i != follower).unwrap();
    let port = |id: u64| m.ports[id as usize - 1];

    let mut watch = client(port(other))
        .await
        .watch(WatchRequest {
            kind: "ConfigMap".into(),
            since_revision: 0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let mut c = client(port(follower)).await;
    let created = c
        .create(CreateRequest {
            manifest: config_map("a"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .object
        .unwrap();
    let again = c
        .create(CreateRequest {
            manifest: config_map("a"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::AlreadyExists);
    let stale = c
        .update(UpdateRequest {
            manifest: config_map("a"),
            expected_resource_version: Some(created.resource_version + 1000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), tonic::Code::Aborted, "{stale:?}");
    let updated = c
        .update(UpdateRequest {
            manifest: config_map("a"),
            expected_resource_version: Some(created.resource_version),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .object
        .unwrap();
    assert!(updated.resource_version > created.resource_version);

    // A linearizable read on a third member sees the update at once.
    let got = client(port(other))
        .await
        .get(GetRequest {
            key: key("a"),
            consistency: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        got.object.unwrap().resource_version,
        updated.resource_version
    );
    let bad = c
        .create(CreateRequest {
            manifest: b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("metadata.name"), "{}", bad.message());
    c.delete(DeleteRequest {
        key: key("a"),
        ..Default::default()
    })
    .await
    .unwrap();

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .expect("watch event")
            .unwrap()
            .unwrap();
        seen.push((ev.r#type, ev.revision));
    }
    let types: Vec<i32> = seen.iter().map(|e| e.0).collect();
    assert_eq!(
        types,
        [
            WatchEventType::Added as i32,
            WatchEventType::Modified as i32,
            WatchEventType::Deleted as i32
        ]
    );
    assert!(seen.windows(2).all(|w| w[0].1 < w[1].1));
}

/// Clients creating ConfigMaps through every member until `stop`; each returns the names
/// whose creation was acknowledged.
pub(crate) fn spawn_writers(
    ports: &[u16],
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    (0..4usize)
        .map(|w| {
            let (ports, stop) = (ports.to_vec(), stop.clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let name = format!("w{w}-{i:04}");
                    let port = ports[(w + i) % ports.len()];
                    let Ok(mut c) = support::pki::channel(&format!("127.0.0.1:{port}"))
                        .await
                        .map(ObjectServiceClient::new)
                    else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    if c.create(CreateRequest {
                        manifest: config_map(&name),
                        ..Default::default()
                    })
                    .await
                    .is_ok()
                    {
                        acked.push(name);
                    }
                }
                acked
            })
        })
        .collect()
}

/// Asserts every member lists every acknowledged name (a linearizable list: it waits for
/// the member to apply everything committed; a restarted member may still be starting).
pub(crate) async fn assert_every_member_has(ports: &[u16], acked: &[String]) {
    assert!(
        acked.len() > 20,
        "too few writes succeeded: {}",
        acked.len()
    );
    for (i, port) in ports.iter().enumerate() {
        let addr = format!("127.0.0.1:{port}");
        let mut names = std::collections::HashSet::new();
        for attempt in 0.. {
            let answer = match support::pki::channel(&addr)
                .await
                .map(ObjectServiceClient::new)
            {
                Ok(mut c) => c
                    .list(ListRequest {
                        kind: "ConfigMap".into(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match answer {
                Ok(r) => {
                    names = r
                        .into_inner()
                        .items
                        .into_iter()
                        .filter_map(|e| e.key.map(|k| k.name))
                        .collect();
                    break;
                }
                Err(e) => {
                    assert!(attempt < 150, "member {} never answered: {e}", i + 1);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let missing: Vec<_> = acked.iter().filter(|n| !names.contains(*n)).collect();
        assert!(
            missing.is_empty(),
            "member {} lacks acknowledged writes: {missing:?}",
            i + 1
        );
    }
}

pub(crate) async fn stop_writers(
    stop: &AtomicBool,
    writers: Vec<tokio::task::JoinHandle<Vec<String>>>,
) -> Vec<String> {
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_leader_mid_load_loses_no_acknowledged_write() {
    let mut m = Members::start(3);
    let old = m.leader(1);
    let ports = m.ports.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&ports, &stop);
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Some(mut c) = m.children[old as usize - 1].take() {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restarted = m.spawn(old);
    m.children[old as usize - 1] = Some(restarted);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let acked = stop_writers(&stop, writers).await;
    assert_every_member_has(&ports, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_every_member_at_once_loses_no_acknowledged_write() {
    // The state machine is made durable only now and then; what it loses in a crash is
    // replayed from the raft log on restart.
    let mut m = Members::start(3);
    m.leader(1);
    let ports = m.ports.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&ports, &stop);
    tokio::time::sleep(Duration::from_millis(800)).await;
    for child in m.children.iter_mut() {
        if let Some(mut c) = child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
    let acked = stop_writers(&stop, writers).await;
    for id in 1..=3u64 {
        let restarted = m.spawn(id);
        m.children[id as usize - 1] = Some(restarted);
    }
    assert_every_member_has(&ports, &acked).await;
}

#[test]
fn a_bad_initial_cluster_is_refused_with_the_reason() {
    let out = support::pki::skiff()
        .args([
            "control",
            "--id",
            "4",
            "--data-dir",
            "/nonexistent-skiff",
            "--initial-cluster",
            "1=127.0.0.1:1,2=127.0.0.1:2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("member 4 is not in --initial-cluster"),
        "{err}"
    );
}
