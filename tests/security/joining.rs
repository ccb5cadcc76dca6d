//! A cluster started with join tokens only: members and nodes that were given no CA and
//! no certificate join with a token that pins the CA, and get their certificates (and,
//! for members, the CA); expired, used-up, forged, mis-pinned and wrong-usage tokens are
//! refused with a message that says which.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::node::{Agent, wait_for};
use crate::support::{self, Members};

fn token(server: &str, args: &[&str]) -> String {
    let out = support::pki::skiff()
        .env("SKIFF_SERVER", server)
        .args(["token", "create"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && text.starts_with("SKIFF1::"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A node that tries to join with `token` and must fail: its error output.
fn refused_node(server: &str, token: &str, dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args([
            "node",
            "--name",
            "n9",
            "--control",
            server,
            "--join-token",
            token,
        ])
        .arg("--data-dir")
        .arg(dir.join(format!(
            "n9-{:x}",
            token.bytes().map(u64::from).sum::<u64>()
        )))
        .output()
        .unwrap();
    assert!(!out.status.success(), "a node joined with {token:.30}…");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn wait_voters(m: &Members, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = m.table(1);
        if t.len() == want && t.iter().all(|(_, r, _)| r == "leader" || r == "follower") {
            return;
        }
        assert!(Instant::now() < deadline, "members did not settle: {t:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn members_and_nodes_join_with_tokens_and_bad_tokens_are_refused_plainly() {
    let mut m = Members::start(1);
    m.leader(1);
    let server = m.addr(1);
    // Two members and two nodes: four joins, no more.
    let t = token(
        &server,
        &["--usages", "member,node", "--uses", "4", "--ttl", "10m"],
    );
    let m2 = m.join_with_token(1, &t);
    let m3 = m.join_with_token(1, &t);
    wait_voters(&m, 3);
    for id in [m2, m3] {
        let data = m.dir.path().join(format!("m{id}"));
        assert!(data.join("pki/ca/ca.key").exists(), "member {id} got no CA");
        let creds = skiff_pki::Credentials::load(&data.join("pki/member")).unwrap();
        assert_eq!(creds.identity().unwrap().member_id(), Some(id));
    }
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Agent> = ["n1", "n2"]
        .iter()
        .map(|n| {
            let data = dir.path().join(n);
            Agent::joining(n, &server, &data, &dir.path().join(format!("{n}.log")), &t)
        })
        .collect();
    for n in ["n1", "n2"] {
        wait_for(&server, &["node", n], |o| {
            o["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        });
        let creds = skiff_pki::Credentials::load(&dir.path().join(n).join("pki/node")).unwrap();
        assert_eq!(creds.identity().unwrap().node_name(), Some(n));
    }

    // Every port of this token-made cluster refuses callers without a valid certificate
    // (none, another CA's, an expired one): a joined member's, and a joined node's agent.
    let agent = wait_for(&server, &["node", "n1"], |n| {
        n["status"]["daemonEndpoints"]["agentEndpoint"]["port"].is_u64()
    })["status"]["daemonEndpoints"]["agentEndpoint"]["port"]
        .clone();
    let agent = format!("127.0.0.1:{agent}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let list = skiff_proto::grpc::api::ListRequest {
            kind: "Namespace".into(),
            ..Default::default()
        };
        let member = m.addr(m2);
        let name = skiff_pki::identity::member_server_name();
        for (how, ch) in super::strangers(&member, &name).await {
            let Some(ch) = ch else { continue };
            let r = skiff_proto::grpc::api::object_service_client::ObjectServiceClient::new(ch)
                .list(list.clone())
                .await;
            assert!(r.is_err(), "member {m2} answered a caller with {how}");
        }
        let logs = skiff_proto::grpc::node::ContainerLogsRequest {
            namespace: "default".into(),
            pod: "x".into(),
            pod_uid: "u".into(),
            container: "c".into(),
            query: None,
        };
        let name = skiff_pki::identity::node_server_name("n1");
        for (how, ch) in super::strangers(&agent, &name).await {
            let Some(ch) = ch else { continue };
            let r = skiff_proto::grpc::node::node_service_client::NodeServiceClient::new(ch)
                .container_logs(logs.clone())
                .await;
            assert!(r.is_err(), "n1's agent answered a caller with {how}");
        }
    });

    // Used up: the fifth join is refused.
    let e = refused_node(&server, &t, dir.path());
    assert!(e.contains("used as many times as it allows"), "{e}");
    // Expired.
    let short = token(&server, &["--ttl", "1s"]);
    std::thread::sleep(Duration::from_millis(2100));
    let e = refused_node(&server, &short, dir.path());
    assert!(e.contains("expired"), "{e}");
    // Forged: a known id with another secret.
    let good = token(&server, &["--ttl", "10m"]);
    let forged = format!("{}{}", &good[..good.len() - 16], "0123456789abcdef");
    let e = refused_node(&server, &forged, dir.path());
    assert!(e.contains("not one this cluster issued"), "{e}");
    // Pinning another CA: the member is not trusted, and the token never sent.
    let other = skiff_pki::Ca::create("other")
        .unwrap()
        .fingerprint()
        .unwrap();
    let mispinned = format!("SKIFF1::{other}::{}", good.rsplit("::").next().unwrap());
    let e = refused_node(&server, &mispinned, dir.path());
    assert!(e.contains("not from the CA the join token pins"), "{e}");
    // Garbage.
    let e = refused_node(&server, "SKIFF1::nope", dir.path());
    assert!(e.contains("join token is malformed"), "{e}");
    // A node-only token cannot make a member.
    m.ports.push(support::free_port());
    let id = m.ports.len() as u64;
    let out = support::pki::skiff()
        .args(["control", "--id", &id.to_string(), "--listen", &m.addr(id)])
        .args(["--join", &server, "--join-token", &good])
        .arg("--data-dir")
        .arg(m.dir.path().join(format!("m{id}")))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && e.contains("does not allow"), "{e}");
    drop(nodes);
}

/// A node holds no CA: it renews its certificate through the control plane (a signing
/// request presented with the certificate it renews), and keeps working past the first
/// one's expiry.
#[test]
fn a_node_renews_its_certificate_through_the_control_plane() {
    let ports = vec![support::free_port()];
    let mut m = Members {
        children: Vec::new(),
        cluster: format!("1=127.0.0.1:{}", ports[0]),
        ports,
        dir: tempfile::TempDir::new().unwrap(),
    };
    let cluster = m.cluster.clone();
    let child = m.spawn_with(1, &["--initial-cluster", &cluster, "--cert-validity", "3s"]);
    m.children.push(Some(child));
    m.leader(1);
    let server = m.addr(1);
    let t = token(&server, &["--ttl", "10m"]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("n1");
    let _node = Agent::joining("n1", &server, &data, &dir.path().join("n1.log"), &t);
    let cert = data.join("pki/node/tls.crt");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 3 {
        assert!(Instant::now() < deadline, "renewed {} times", seen.len());
        if let Ok(c) = std::fs::read_to_string(&cert) {
            seen.insert(c);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Well past the first certificate's end, the node still reports to the control plane.
    let before = wait_for(&server, &["node", "n1"], |_| true)["status"]["conditions"].clone();
    wait_for(&server, &["node", "n1"], |o| {
        o["status"]["conditions"] != before
    });
}
