//! Skiff's cluster PKI: who is who on every channel.
//!
//! The founding member makes the cluster's CA; members, nodes and users hold certificates
//! it signed, and every channel (client API, raft peers, node ↔ control plane, the agent's
//! API, router ↔ router) is TLS 1.3 with a client certificate, loopback included.
//!
//! # Modules
//! - [`identity`]: who a certificate names (user and groups, as Kubernetes reads `CN` and
//!   `O`), the roles' conventional names, and the DNS names a server is checked against.
//! - [`ca`]: the cluster CA: made once, kept as two PEM files, signs certificates.
//! - [`credentials`]: one party's certificate, key and the CA, as files in a folder.
//! - [`tls`]: rustls configurations (TLS 1.3 only, client certificates) whose certificate
//!   can be swapped while connections keep going, for rotation.
//! - [`join`]: join tokens (`SKIFF1::<CA fingerprint>::<id>.<secret>`) and trusting a
//!   server by the CA a token pins.
//! - [`tokens`]: ServiceAccount bearer tokens: JWTs signed with the CA's key.
//! - [`transport`]: TLS under tonic: an accept loop whose connections carry the peer's
//!   identity, and a connector for channels.

pub mod ca;
pub mod credentials;
pub mod identity;
pub mod join;
pub mod tls;
pub mod tokens;
pub mod transport;

pub use ca::{Ca, Issue};
pub use credentials::Credentials;
pub use identity::{Identity, Role};
pub use tls::Tls;
pub use transport::{Dialer, PeerInfo, TlsIncoming};

/// What went wrong with a certificate, key, CA or TLS setup.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Certificate(String),
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    pub(crate) fn cert(what: impl std::fmt::Display) -> Error {
        Error::Certificate(what.to_string())
    }
}
