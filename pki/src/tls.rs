//! rustls configurations for Skiff's channels: TLS 1.3 only, the cluster CA as the only
//! root, a client certificate on both sides. The certificate in use can be replaced while
//! the process runs ([`Tls::rotate`]): new handshakes present the new one, connections
//! already open keep going.

use std::sync::{Arc, RwLock};

use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;
use crate::credentials::Credentials;
use crate::identity::Identity;

/// A party's TLS setup: server and client configurations sharing one swappable
/// certificate.
#[derive(Clone)]
pub struct Tls {
    current: Arc<Current>,
    roots: Arc<RootCertStore>,
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    ca_pem: Arc<str>,
}

struct Current {
    key: RwLock<Arc<CertifiedKey>>,
    identity: RwLock<Identity>,
}

impl std::fmt::Debug for Current {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Current")
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tls({})", self.identity())
    }
}

impl Tls {
    pub fn new(creds: &Credentials) -> Result<Tls, Error> {
        let provider = provider();
        let roots = Arc::new(roots(&creds.ca_pem)?);
        let current = Arc::new(Current {
            key: RwLock::new(certified(creds, &provider)?),
            identity: RwLock::new(creds.identity()?),
        });
        let server = server_config(&roots, &current, false)?;
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots.clone())
            .with_client_cert_resolver(current.clone());
        client.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Tls {
            current,
            roots,
            server,
            client: Arc::new(client),
            ca_pem: creds.ca_pem.as_str().into(),
        })
    }

    /// Presents `creds` from the next handshake on. They must name the same party.
    pub fn rotate(&self, creds: &Credentials) -> Result<(), Error> {
        let identity = creds.identity()?;
        if identity != self.identity() {
            return Err(Error::cert(format!(
                "new credentials name {identity}, not {}",
                self.identity()
            )));
        }
        let key = certified(creds, &provider())?;
        if let Ok(mut k) = self.current.key.write() {
            *k = key;
        }
        Ok(())
    }

    /// Who this party's certificate names.
    pub fn identity(&self) -> Identity {
        self.current
            .identity
            .read()
            .map(|i| i.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The CA certificate (PEM) this party trusts.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }

    /// A server configuration that also lets clients without a certificate finish the
    /// handshake (whoever serves it must refuse them everything but what a newcomer may
    /// ask, such as joining with a token).
    pub fn server_config_allowing_anonymous(&self) -> Result<Arc<ServerConfig>, Error> {
        server_config(&self.roots, &self.current, true)
    }

    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client.clone()
    }
}

fn server_config(
    roots: &Arc<RootCertStore>,
    current: &Arc<Current>,
    anonymous: bool,
) -> Result<Arc<ServerConfig>, Error> {
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
    let verifier = if anonymous {
        verifier.allow_unauthenticated()
    } else {
        verifier
    }
    .build()
    .map_err(|e| Error::cert(format!("client verification: {e}")))?;
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(current.clone());
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

impl Current {
    fn current(&self) -> Arc<CertifiedKey> {
        match self.key.read() {
            Ok(k) => k.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl ResolvesClientCert for Current {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The chain a party presents: its certificate, then the CA's (so a newcomer that pins
/// the CA by its fingerprint can check it).
fn certified(creds: &Credentials, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, Error> {
    let mut chain = Vec::new();
    for pem in [&creds.cert_pem, &creds.ca_pem] {
        chain.push(crate::credentials::first_cert(pem.as_bytes())?);
    }
    let key = PrivateKeyDer::from_pem_slice(creds.key_pem.as_bytes())
        .map_err(|e| Error::cert(format!("the private key: {e}")))?;
    Ok(Arc::new(CertifiedKey::from_der(chain, key, provider)?))
}

/// A client configuration that trusts `ca_pem` and presents no certificate: for a client
/// that authenticates another way (a bearer token).
pub fn anonymous_client(ca_pem: &str) -> Result<Arc<ClientConfig>, Error> {
    let roots = roots(ca_pem)?;
    let mut client = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(client))
}

/// The trust roots: every certificate of `ca_pem` (at least one).
fn roots(ca_pem: &str) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let c = c.map_err(|e| Error::cert(format!("the CA certificate: {e}")))?;
        roots
            .add(c)
            .map_err(|e| Error::cert(format!("the CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(Error::cert("no CA certificate"));
    }
    Ok(roots)
}
