//! Joining with a token, as kubeadm and k3s do it. `skiff token create` prints
//! `SKIFF1::<CA fingerprint>::<id>.<secret>`: the fingerprint pins the cluster's CA (the
//! newcomer trusts no server whose certificate that CA did not sign), and `<id>.<secret>`
//! is a bootstrap token the control plane keeps (hashed) with an expiry, a use count and
//! what it may join as. The newcomer makes its own key and sends a certificate signing
//! request; the key never leaves it.

use std::sync::Arc;

use ring::rand::{SecureRandom, SystemRandom};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::ca::fingerprint;

const PREFIX: &str = "SKIFF1";
const ID_LEN: usize = 6;
const SECRET_LEN: usize = 16;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A bootstrap token: `<id>.<secret>`, Kubernetes' `[a-z0-9]{6}.[a-z0-9]{16}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Bootstrap {
    pub id: String,
    pub secret: String,
}

impl std::fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bootstrap({}.<secret>)", self.id)
    }
}

fn random(n: usize) -> Result<String, Error> {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::cert("the system's random source failed"))?;
    // 252 = 7 × 36: bytes above it are rejected so every letter is equally likely.
    let mut out = String::with_capacity(n);
    for b in bytes {
        if b < 252 {
            out.push(ALPHABET[(b % 36) as usize] as char);
        }
    }
    if out.len() < n {
        out.push_str(&random(n - out.len())?);
    }
    Ok(out)
}

fn well_formed(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b))
}

impl Bootstrap {
    pub fn generate() -> Result<Bootstrap, Error> {
        Ok(Bootstrap {
            id: random(ID_LEN)?,
            secret: random(SECRET_LEN)?,
        })
    }

    /// `<id>.<secret>`; `None` if `s` is not shaped like one (it may be another token).
    pub fn parse(s: &str) -> Option<Bootstrap> {
        let (id, secret) = s.split_once('.')?;
        (well_formed(id, ID_LEN) && well_formed(secret, SECRET_LEN)).then(|| Bootstrap {
            id: id.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// What the control plane keeps instead of the secret: its SHA-256, hex.
    pub fn secret_hash(&self) -> String {
        fingerprint(self.secret.as_bytes())
    }

    /// Whether `hash` (from [`Bootstrap::secret_hash`]) is this token's, compared in
    /// constant time.
    pub fn matches(&self, hash: &str) -> bool {
        let mine = self.secret_hash();
        mine.len() == hash.len()
            && mine
                .bytes()
                .zip(hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl std::fmt::Display for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.id, self.secret)
    }
}

/// A join token: the CA's fingerprint and a bootstrap token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// SHA-256 of the CA certificate (DER), hex.
    pub ca_fingerprint: String,
    pub bootstrap: Bootstrap,
}

impl JoinToken {
    pub fn parse(s: &str) -> Result<JoinToken, Error> {
        let bad = |why: &str| {
            Error::cert(format!(
                "the join token is malformed ({why}); it looks like {PREFIX}::<64 hex>::<6>.<16> as `skiff token create` prints it"
            ))
        };
        let mut parts = s.trim().split("::");
        if parts.next() != Some(PREFIX) {
            return Err(bad("it does not start with SKIFF1::"));
        }
        let fp = parts.next().ok_or_else(|| bad("no CA fingerprint"))?;
        if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the CA fingerprint is not 64 hex digits"));
        }
        let bootstrap = parts
            .next()
            .and_then(Bootstrap::parse)
            .ok_or_else(|| bad("the part after the fingerprint is not <id>.<secret>"))?;
        if parts.next().is_some() {
            return Err(bad("it has more parts than three"));
        }
        Ok(JoinToken {
            ca_fingerprint: fp.to_ascii_lowercase(),
            bootstrap,
        })
    }
}

impl std::fmt::Display for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PREFIX}::{}::{}", self.ca_fingerprint, self.bootstrap)
    }
}

/// Trusts a server only if its chain carries the CA with the pinned fingerprint and that
/// CA signed its certificate (for the name dialled).
#[derive(Debug)]
struct PinnedCa {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| hex(&Sha256::digest(c.as_ref())) == self.fingerprint)
            .ok_or_else(|| {
                rustls::Error::General(format!(
                    "the server's certificate is not from the CA the join token pins (sha256 {})",
                    self.fingerprint
                ))
            })?;
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        v.verify_server_cert(end_entity, &[], server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A client configuration for a newcomer: no certificate of its own, and trust in the CA
/// `fingerprint` pins (a member's chain carries the CA certificate).
pub fn pinned_client(fingerprint: &str) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCa {
            fingerprint: fingerprint.to_ascii_lowercase(),
            provider,
        }))
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(client))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_token_prints_and_parses_back_and_bad_ones_say_why() {
        let t = JoinToken {
            ca_fingerprint: "ab".repeat(32),
            bootstrap: Bootstrap::generate().unwrap(),
        };
        assert_eq!(JoinToken::parse(&t.to_string()).unwrap(), t);
        assert!(!format!("{:?}", t.bootstrap).contains(&t.bootstrap.secret));
        for bad in [
            "",
            "SKIFF1",
            "SKIFF2::x::y",
            &format!("SKIFF1::{}::abcdef.0123456789abcdef", "zz".repeat(32)),
            &format!("SKIFF1::{}::abcdef.0123", "ab".repeat(32)),
            &format!("SKIFF1::{}::ABCDEF.0123456789abcdef", "ab".repeat(32)),
            &format!("SKIFF1::{}::abcdef.0123456789abcdef::x", "ab".repeat(32)),
        ] {
            let e = JoinToken::parse(bad).unwrap_err().to_string();
            assert!(e.contains("join token is malformed"), "{bad:?}: {e}");
        }
        let b = Bootstrap::generate().unwrap();
        assert!(b.matches(&b.secret_hash()));
        assert!(!b.matches(&Bootstrap::generate().unwrap().secret_hash()));
        assert!(!b.matches("short"));
    }
}
