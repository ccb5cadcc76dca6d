//! The cluster CA: an ECDSA P-256 key and a self-signed certificate, made once when the
//! cluster is founded and kept as `ca.crt` and `ca.key` (mode 0600). It signs certificates
//! for members, nodes and users ([`Ca::issue`]).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::credentials::{Credentials, write_private};
use crate::identity::Role;

/// The CA certificate's file in a folder.
pub const CA_CERT: &str = "ca.crt";
/// The CA key's file in a folder (0600).
pub const CA_KEY: &str = "ca.key";
/// How long the CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Certificates start this much in the past, for clocks a little behind (a tenth of a
/// short certificate's life at most, so its renewal point stays ahead of its issue).
const SKEW: Duration = Duration::from_secs(5 * 60);

/// What a certificate is for.
#[derive(Debug, Clone)]
pub struct Issue {
    pub role: Role,
    /// Addresses the party serves at (IP subject alternative names, for tools that check
    /// the address; Skiff's own clients check the role's DNS name).
    pub addresses: Vec<IpAddr>,
    pub valid_for: Duration,
}

/// The cluster CA.
pub struct Ca {
    cert_pem: String,
    key: KeyPair,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ca(with its key)")
    }
}

impl Ca {
    /// A new CA for the cluster named `cluster`.
    pub fn create(cluster: &str) -> Result<Ca, Error> {
        let key = KeyPair::generate().map_err(Error::cert)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("skiff-ca {cluster}"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, CA_VALIDITY);
        params.serial_number = Some(serial(key.public_key_raw()));
        let cert = params.self_signed(&key).map_err(Error::cert)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            key,
        })
    }

    /// The CA in `dir` (`ca.crt` and `ca.key`).
    pub fn load(dir: &Path) -> Result<Ca, Error> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read_to_string(&p).map_err(Error::io(format!("reading {}", p.display())))
        };
        Ca::from_pem(
            read(CA_CERT)?,
            &read(CA_KEY)?,
            &dir.join(CA_CERT).display().to_string(),
            &dir.join(CA_KEY).display().to_string(),
        )
    }

    /// The CA from its certificate and key (named `cert_at` and `key_at` in errors).
    pub fn from_pem(
        cert_pem: String,
        key_pem: &str,
        cert_at: &str,
        key_at: &str,
    ) -> Result<Ca, Error> {
        let key = KeyPair::from_pem(key_pem)
            .map_err(|e| Error::cert(format!("{key_at} is not a private key: {e}")))?;
        let der = crate::credentials::first_cert(cert_pem.as_bytes())
            .map_err(|e| Error::cert(format!("{cert_at}: {e}")))?;
        // The pair must match, or every certificate it signs would fail to verify.
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| Error::cert(format!("{cert_at} is not a certificate: {e}")))?;
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(Error::cert(format!(
                "{key_at} is not the key of {cert_at}; keep the pair together"
            )));
        }
        Ok(Ca { cert_pem, key })
    }

    /// The CA's private key (PEM): only for a member joining the control plane.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// Whether `dir` holds a CA.
    pub fn exists(dir: &Path) -> bool {
        dir.join(CA_CERT).exists() && dir.join(CA_KEY).exists()
    }

    /// Writes `ca.crt` and `ca.key` (0600) into `dir`, creating it.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let cert = dir.join(CA_CERT);
        std::fs::write(&cert, &self.cert_pem)
            .map_err(Error::io(format!("writing {}", cert.display())))?;
        write_private(&dir.join(CA_KEY), &self.key.serialize_pem())
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The SHA-256 of the CA certificate (DER), hex: what a join token pins.
    pub fn fingerprint(&self) -> Result<String, Error> {
        Ok(fingerprint(&crate::credentials::first_cert(
            self.cert_pem.as_bytes(),
        )?))
    }

    /// Signs ServiceAccount tokens with this CA's key (see `tokens`).
    pub fn token_issuer(&self) -> Result<crate::tokens::Issuer, Error> {
        crate::tokens::Issuer::from_pem(&self.key.serialize_pem())
    }

    /// A new key and a certificate for `what`, signed by this CA.
    pub fn issue(&self, what: &Issue) -> Result<Credentials, Error> {
        let key = KeyPair::generate().map_err(Error::cert)?;
        let cert = self.sign(what, &key)?;
        Ok(Credentials {
            ca_pem: self.cert_pem.clone(),
            cert_pem: cert,
            key_pem: key.serialize_pem(),
        })
    }

    /// A certificate (PEM) for `what`, for the key of the certificate signing request
    /// `csr_pem`. The request's own subject and extensions are ignored: `what` says who
    /// the certificate names. The request's signature must verify (it proves the key).
    pub fn sign_request(&self, what: &Issue, csr_pem: &str) -> Result<String, Error> {
        let csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| Error::cert(format!("the certificate signing request: {e}")))?;
        self.sign(what, &csr.public_key)
    }

    fn sign(&self, what: &Issue, key: &impl rcgen::PublicKeyData) -> Result<String, Error> {
        let mut params = CertificateParams::default();
        let id = what.role.identity();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, id.user.clone());
        for g in &id.groups {
            dn.push(DnType::OrganizationName, g.clone());
        }
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if let Some(name) = what.role.server_name() {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
            let dns = name.try_into().map_err(Error::cert)?;
            params.subject_alt_names.push(SanType::DnsName(dns));
            params
                .subject_alt_names
                .extend(what.addresses.iter().map(|a| SanType::IpAddress(*a)));
        }
        validity(&mut params, what.valid_for);
        params.serial_number = Some(serial(key.der_bytes()));
        params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key).map_err(Error::cert)?;
        let cert = params.signed_by(key, &issuer).map_err(Error::cert)?;
        Ok(cert.pem())
    }
}

/// A new key and a certificate signing request for it (both PEM): what a party joining
/// with a token sends, keeping its key.
pub fn request() -> Result<(String, String), Error> {
    let key = KeyPair::generate().map_err(Error::cert)?;
    let csr = CertificateParams::default()
        .serialize_request(&key)
        .map_err(Error::cert)?;
    Ok((key.serialize_pem(), csr.pem().map_err(Error::cert)?))
}

fn validity(params: &mut CertificateParams, valid_for: Duration) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - SKEW.min(valid_for / 10);
    params.not_after = now + valid_for;
}

/// A serial number unique per key and moment (RFC 5280: positive, ≤ 20 bytes).
fn serial(public_key: &[u8]) -> SerialNumber {
    let mut h = Sha256::new();
    h.update(public_key);
    h.update(
        time::OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .to_be_bytes(),
    );
    let mut bytes: Vec<u8> = h.finalize()[..16].to_vec();
    if let Some(b) = bytes.first_mut() {
        *b &= 0x7f;
    }
    SerialNumber::from_slice(&bytes)
}

/// SHA-256 of DER bytes, hex.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity;

    #[test]
    fn a_ca_saved_and_loaded_signs_what_it_signed_before() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::create("test").unwrap();
        ca.save(dir.path()).unwrap();
        let again = Ca::load(dir.path()).unwrap();
        assert_eq!(again.fingerprint().unwrap(), ca.fingerprint().unwrap());
        let creds = again
            .issue(&Issue {
                role: Role::Node { name: "n1".into() },
                addresses: vec!["10.0.0.1".parse().unwrap()],
                valid_for: Duration::from_secs(3600),
            })
            .unwrap();
        let id = creds.identity().unwrap();
        assert_eq!(id.user, "system:node:n1");
        assert_eq!(id.node_name(), Some("n1"));
        assert_eq!(id.groups, vec![identity::NODES.to_owned()]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(CA_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the CA key is private");
    }

    #[test]
    fn a_mismatched_or_garbled_ca_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        Ca::create("a").unwrap().save(dir.path()).unwrap();
        let other = tempfile::tempdir().unwrap();
        Ca::create("b").unwrap().save(other.path()).unwrap();
        std::fs::copy(other.path().join(CA_KEY), dir.path().join(CA_KEY)).unwrap();
        let e = Ca::load(dir.path()).err().unwrap().to_string();
        assert!(e.contains("is not the key of"), "{e}");
        std::fs::write(
            dir.path().join(CA_KEY),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n",
        )
        .unwrap();
        let e = Ca::load(dir.path()).err().unwrap().to_string();
        assert!(e.contains("ca.key"), "{e}");
    }
}
