//! Every channel is TLS 1.3 with a client certificate from the cluster's CA: a member's
//! port (client API, raft, membership) and a node agent's API refuse plaintext, no
//! certificate, a certificate from another CA and an expired one; raft messages from
//! anyone but a member are refused before they are parsed, a node's agent serves only
//! members, and a node's router takes requests naming an endpoint only from other nodes'
//! routers, on its TLS peer port.

#[path = "security/admission.rs"]
mod admission;
#[path = "security/common.rs"]
mod common;
#[path = "security/encryption.rs"]
mod encryption;
#[path = "security/joining.rs"]
mod joining;
mod support;
#[path = "security/tenancy.rs"]
mod tenancy;

use std::sync::Arc;
use std::time::Duration;

use skiff_pki::identity::{member_server_name, node_server_name};
use skiff_pki::{Ca, Credentials, Dialer, Role, Tls};
use skiff_proto::grpc::api::ListRequest;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::node::ContainerLogsRequest;
use skiff_proto::grpc::node::node_service_client::NodeServiceClient;
use skiff_proto::grpc::raft::RaftBatch;
use skiff_proto::grpc::raft::raft_transport_client::RaftTransportClient;
use support::node::{NodeCluster, wait_for};
use tonic::transport::Channel;

/// The ways a caller can come without a valid certificate.
async fn strangers(addr: &str, server_name: &str) -> Vec<(&'static str, Option<Channel>)> {
    let real = Credentials::load(&support::pki::admin()).unwrap();
    let timeout = Duration::from_secs(3);
    // Plaintext HTTP/2.
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .ok();
    // TLS that trusts the cluster's CA but presents no certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(skiff_pki::credentials::first_cert(real.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let mut anonymous = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    anonymous.alpn_protocols = vec![b"h2".to_vec()];
    let anonymous =
        skiff_pki::transport::channel(addr, server_name, Arc::new(anonymous), timeout, false)
            .await
            .ok();
    // A self-made certificate (another CA's) for `admin`, presented to a server it trusts.
    let rogue = Ca::create("rogue")
        .unwrap()
        .issue(&skiff_pki::Issue {
            role: Role::admin(),
            addresses: Vec::new(),
            valid_for: Duration::from_secs(3600),
        })
        .unwrap();
    let rogue = Tls::new(&Credentials {
        ca_pem: real.ca_pem.clone(),
        ..rogue
    })
    .unwrap();
    let rogue =
        skiff_pki::transport::channel(addr, server_name, rogue.client_config(), timeout, false)
            .await
            .ok();
    // The cluster's CA, but expired.
    let dir = tempfile::tempdir().unwrap();
    let expired = support::pki::issue(Role::admin(), Duration::ZERO, dir.path());
    std::thread::sleep(Duration::from_millis(1100));
    let expired = Tls::new(&Credentials::load(&expired).unwrap()).unwrap();
    let expired =
        skiff_pki::transport::channel(addr, server_name, expired.client_config(), timeout, false)
            .await
            .ok();
    vec![
        ("plaintext", plain),
        ("no certificate", anonymous),
        ("another CA's certificate", rogue),
        ("an expired certificate", expired),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_port_refuses_callers_without_a_valid_certificate() {
    let c = tokio::task::spawn_blocking(NodeCluster::start)
        .await
        .unwrap();
    let server = c.server.clone();
    let node = tokio::task::spawn_blocking(move || {
        wait_for(&server, &["node", "n1"], |n| {
            n["status"]["daemonEndpoints"]["agentEndpoint"]["port"].is_u64()
        })
    })
    .await
    .unwrap();
    let agent = format!(
        "127.0.0.1:{}",
        node["status"]["daemonEndpoints"]["agentEndpoint"]["port"]
    );

    // The member's port: the object API answers the admin, and nobody else.
    let admin = support::pki::dialer();
    let mut ok = ObjectServiceClient::new(admin.member(&c.server).await.unwrap());
    let list = ListRequest {
        kind: "Namespace".into(),
        ..Default::default()
    };
    ok.list(list.clone()).await.unwrap();
    for (how, channel) in strangers(&c.server, &member_server_name()).await {
        let Some(ch) = channel else { continue };
        let r = ObjectServiceClient::new(ch).list(list.clone()).await;
        assert!(r.is_err(), "the member's API answered a caller with {how}");
    }
    // The agent's API, the same.
    let logs = ContainerLogsRequest {
        namespace: "default".into(),
        pod: "x".into(),
        pod_uid: "u".into(),
        container: "c".into(),
        query: None,
    };
    for (how, channel) in strangers(&agent, &node_server_name("n1")).await {
        let Some(ch) = channel else { continue };
        let r = NodeServiceClient::new(ch)
            .container_logs(logs.clone())
            .await;
        assert!(r.is_err(), "the agent's API answered a caller with {how}");
    }
    // An authenticated user or node is no member: the agent refuses the admin...
    let e = NodeServiceClient::new(admin.node("n1", &agent).await.unwrap())
        .container_logs(logs.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");
    assert!(e.message().contains("Forbidden: User \"admin\""), "{e}");

    // ...and a member refuses raft messages from a node before parsing them: garbage
    // bytes get "forbidden", not a parse error.
    let dir = tempfile::tempdir().unwrap();
    let n1 = support::pki::issue(
        Role::Node { name: "n1".into() },
        Duration::from_secs(600),
        dir.path(),
    );
    let n1 = Dialer::new(Tls::new(&Credentials::load(&n1).unwrap()).unwrap());
    let mut raft = RaftTransportClient::new(n1.member(&c.server).await.unwrap());
    let batch = RaftBatch {
        from: 9,
        to: 1,
        messages: vec![vec![0xff; 64]],
    };
    let e = raft
        .send(tokio_stream::iter(vec![batch]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");
    assert!(e.message().contains("system:node:n1"), "{e}");
    let log = std::fs::read_to_string(c.members.dir.path().join("m1.log")).unwrap();
    assert!(
        !log.contains("decod"),
        "a refused raft message was parsed:\n{log}"
    );
}

/// A member renews its certificate two thirds through its life while clients keep
/// calling: new connections see the new certificate, none is refused, and a connection
/// opened before the renewal keeps working after the old certificate expired.
#[tokio::test(flavor = "multi_thread")]
async fn a_member_renews_its_certificate_without_downtime() {
    let m = tokio::task::spawn_blocking(|| {
        let ports = vec![support::free_port()];
        let mut m = support::Members {
            children: Vec::new(),
            cluster: format!("1=127.0.0.1:{}", ports[0]),
            ports,
            dir: tempfile::TempDir::new().unwrap(),
        };
        let child = m.spawn_with(
            1,
            &[
                "--initial-cluster",
                &m.cluster.clone(),
                "--cert-validity",
                "3s",
            ],
        );
        m.children.push(Some(child));
        m.leader(1);
        m
    })
    .await
    .unwrap();
    let addr = m.addr(1);
    let admin = support::pki::dialer();
    let list = ListRequest {
        kind: "Namespace".into(),
        ..Default::default()
    };
    let mut early = ObjectServiceClient::new(admin.member(&addr).await.unwrap());
    early.list(list.clone()).await.unwrap();
    let cert = m.dir.path().join("m1/pki/member/tls.crt");
    let first = std::fs::read_to_string(&cert).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(7);
    while std::time::Instant::now() < deadline {
        // A new connection (and handshake) every time.
        let ch = admin.member(&addr).await.unwrap();
        ObjectServiceClient::new(ch)
            .list(list.clone())
            .await
            .unwrap();
        seen.insert(std::fs::read_to_string(&cert).unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Renewed at least once while the clients called (three times, on an idle machine).
    assert!(seen.len() >= 2, "never renewed: {seen:?}");
    assert_ne!(std::fs::read_to_string(&cert).unwrap(), first);
    early.list(list).await.unwrap();
}
