//! Membership with the real binary: two members join a running three-member cluster
//! (`--join`), catch up and vote; a joined member restarts from its data directory alone;
//! a removed member is told so and exits. Every process is killed when the test ends.

mod support;

use std::time::{Duration, Instant};

use skiff_proto::grpc::api::{CreateRequest, ListRequest};
use support::{Members, client, config_map};

/// Waits until `skiff members` through `via` shows `want` members, each a leader or
/// follower (joined, caught up and promoted).
fn wait_voters(m: &Members, via: u64, want: usize) -> Vec<(u64, String, Option<u64>)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = m.table(via);
        let settled = t.len() == want
            && t.iter()
                .all(|(_, role, _)| role == "leader" || role == "follower");
        if settled {
            return t;
        }
        assert!(Instant::now() < deadline, "members did not settle: {t:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_restart_and_leave() {
    let mut m = Members::start(3);
    m.leader(1);
    let mut c = client(m.ports[0]).await;
    // 30 × 80 KiB: the snapshot the new members get travels in several 1 MiB chunks.
    let filler = "x".repeat(80 << 10);
    for i in 0..30 {
        let manifest = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: before-{i}\ndata:\n  k: {filler}\n"
        );
        c.create(CreateRequest {
            manifest: manifest.into_bytes(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    // Two at once: the second waits its turn (raft takes one change at a time).
    let four = m.join(1);
    let five = m.join(2);
    let table = wait_voters(&m, 1, 5);
    assert_eq!(
        table.iter().filter(|r| r.1 == "leader").count(),
        1,
        "{table:?}"
    );

    // The new members hold every object (a linearizable list waits for them to apply).
    for id in [four, five] {
        let items = client(m.ports[id as usize - 1])
            .await
            .list(ListRequest {
                kind: "ConfigMap".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .items;
        assert_eq!(items.len(), 30, "member {id}");
    }

    let sent: Vec<String> = (1..=3)
        .flat_map(|id| m.log(id).lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| l.contains("snapshot sent") && l.contains("delivered=true"))
        .collect();
    assert!(sent.len() >= 2, "each new member got a snapshot: {sent:?}");

    // A joined member restarts from its data directory with no cluster flags at all.
    m.kill(four);
    m.children[four as usize - 1] = Some(m.spawn_with(four, &[]));
    wait_voters(&m, 1, 5);

    // Remove member 5 through member 1: it is told, and stops with the reason.
    let out = support::pki::skiff()
        .args([
            "members",
            "remove",
            &five.to_string(),
            "--server",
            &m.addr(1),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_voters(&m, 1, 4);
    let child = m.children[five as usize - 1].as_mut().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the removed member kept running");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(1));
    assert!(
        m.log(five).contains("was removed from the cluster"),
        "{}",
        m.log(five)
    );
    // Its id is not reused.
    let out = support::pki::skiff()
        .args([
            "members",
            "remove",
            &five.to_string(),
            "--server",
            &m.addr(1),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in the cluster"));

    // Four voters still take writes, through the member that joined.
    client(m.ports[four as usize - 1])
        .await
        .create(CreateRequest {
            manifest: config_map("after-removal"),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[test]
fn an_empty_data_directory_needs_a_cluster_to_found_or_join() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = support::pki::skiff()
        .args(["control", "--id", "1", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--initial-cluster") && err.contains("--join"),
        "{err}"
    );
}
