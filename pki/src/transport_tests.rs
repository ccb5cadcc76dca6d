//! Handshakes between real sockets: who gets in, and who the server sees.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::StreamExt;

use super::*;
use crate::identity::{Role, member_server_name, node_server_name};
use crate::{Ca, Credentials, Issue, Tls};

fn issue(ca: &Ca, role: Role, valid_for: Duration) -> Credentials {
    ca.issue(&Issue {
        role,
        addresses: vec!["127.0.0.1".parse().unwrap()],
        valid_for,
    })
    .unwrap()
}

const HOUR: Duration = Duration::from_secs(3600);

/// A member's server on a free port: the identities it saw, in order.
async fn serve(tls: &Tls) -> (String, mpsc::Receiver<Option<Identity>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut incoming = TlsIncoming::new(listener, tls.server_config());
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(Ok(mut conn)) = incoming.next().await {
            let _ = tx.send(conn.peer().identity.clone()).await;
            let mut buf = [0u8; 4];
            if conn.read_exact(&mut buf).await.is_ok() {
                let _ = conn.write_all(&buf).await;
            }
        }
    });
    (addr, rx)
}

async fn echo(addr: &str, name: &str, tls: &Tls) -> io::Result<()> {
    let mut s = connect(addr, name, tls.client_config()).await?;
    s.write_all(b"ping").await?;
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"ping");
    Ok(())
}

#[tokio::test]
async fn members_and_nodes_see_each_others_identity_and_strangers_are_refused() {
    let ca = Ca::create("t").unwrap();
    let member = Tls::new(&issue(&ca, Role::Member { id: 1 }, HOUR)).unwrap();
    let node = Tls::new(&issue(&ca, Role::Node { name: "n1".into() }, HOUR)).unwrap();
    let (addr, mut seen) = serve(&member).await;

    echo(&addr, &member_server_name(), &node).await.unwrap();
    let id = seen.recv().await.unwrap().unwrap();
    assert_eq!(id.node_name(), Some("n1"));

    // A certificate from another CA, and a server that is not a member.
    let stranger = Tls::new(&issue(&Ca::create("x").unwrap(), Role::admin(), HOUR)).unwrap();
    assert!(echo(&addr, &member_server_name(), &stranger).await.is_err());
    let (node_addr, _) = serve(&node).await;
    let e = echo(&node_addr, &member_server_name(), &member)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
    echo(&node_addr, &node_server_name("n1"), &member)
        .await
        .unwrap();
    // Nothing reached the member's server from the refused ones.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), seen.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_client_without_a_certificate_or_with_an_expired_one_is_refused() {
    let ca = Ca::create("t").unwrap();
    let member = Tls::new(&issue(&ca, Role::Member { id: 1 }, HOUR)).unwrap();
    let (addr, mut seen) = serve(&member).await;

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(crate::credentials::first_cert(ca.cert_pem().as_bytes()).unwrap())
        .unwrap();
    let anonymous = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let r = async {
        let mut s = connect(&addr, &member_server_name(), Arc::new(anonymous)).await?;
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await
    }
    .await;
    assert!(r.is_err(), "an anonymous client got an answer");

    let expired = Tls::new(&issue(&ca, Role::admin(), Duration::ZERO)).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(echo(&addr, &member_server_name(), &expired).await.is_err());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), seen.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_rotated_certificate_is_presented_from_the_next_handshake() {
    let ca = Ca::create("t").unwrap();
    let first = issue(&ca, Role::Member { id: 1 }, HOUR);
    let member = Tls::new(&first).unwrap();
    let client = Tls::new(&issue(&ca, Role::admin(), HOUR)).unwrap();
    let (addr, _seen) = serve(&member).await;
    let before = connect(&addr, &member_server_name(), client.client_config())
        .await
        .unwrap();
    let second = issue(&ca, Role::Member { id: 1 }, 2 * HOUR);
    member.rotate(&second).unwrap();
    let after = connect(&addr, &member_server_name(), client.client_config())
        .await
        .unwrap();
    let leaf = |s: &tokio_rustls::client::TlsStream<TcpStream>| {
        s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    };
    assert_ne!(leaf(&before), leaf(&after));
    assert_eq!(
        leaf(&after),
        crate::credentials::first_cert(second.cert_pem.as_bytes())
            .unwrap()
            .to_vec()
    );
    // Another party's credentials are refused.
    let other = issue(&ca, Role::Member { id: 2 }, HOUR);
    assert!(member.rotate(&other).is_err());
}

#[test]
fn garbage_certificates_are_errors_not_panics() {
    for junk in [
        &b""[..],
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        &[0x30, 0x82, 0xff, 0xff][..],
    ] {
        assert!(Identity::from_certificate(junk).is_err());
        let c = Credentials {
            ca_pem: String::from_utf8_lossy(junk).into(),
            cert_pem: String::from_utf8_lossy(junk).into(),
            key_pem: String::new(),
        };
        assert!(Tls::new(&c).is_err());
    }
}
