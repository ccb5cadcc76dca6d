//! One party's credentials: its certificate and key and the cluster CA's certificate, as
//! PEM text and as three files in a folder (`ca.crt`, `tls.crt`, `tls.key`, the key
//! 0600), the layout of a Kubernetes TLS Secret.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::Error;
use crate::identity::Identity;

pub const CA_FILE: &str = "ca.crt";
pub const CERT_FILE: &str = "tls.crt";
pub const KEY_FILE: &str = "tls.key";

#[derive(Clone)]
pub struct Credentials {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = self.identity().map(|i| i.user).unwrap_or_default();
        f.debug_struct("Credentials").field("user", &who).finish()
    }
}

impl Credentials {
    /// The credentials in `dir`; the error names the missing or broken file.
    pub fn load(dir: &Path) -> Result<Credentials, Error> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read_to_string(&p).map_err(Error::io(format!("reading {}", p.display())))
        };
        let c = Credentials {
            ca_pem: read(CA_FILE)?,
            cert_pem: read(CERT_FILE)?,
            key_pem: read(KEY_FILE)?,
        };
        c.identity()
            .map_err(|e| Error::cert(format!("{}: {e}", dir.join(CERT_FILE).display())))?;
        Ok(c)
    }

    /// Whether `dir` holds credentials.
    pub fn exist(dir: &Path) -> bool {
        [CA_FILE, CERT_FILE, KEY_FILE]
            .iter()
            .all(|f| dir.join(f).exists())
    }

    /// Writes the three files into `dir` (created 0700), the key 0600, each replaced
    /// whole (written aside, then renamed) so a reader never sees half a pair.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        create_private_dir(dir)?;
        let aside = |name: &str| dir.join(format!(".{name}.new"));
        std::fs::write(aside(CA_FILE), &self.ca_pem)
            .map_err(Error::io(format!("writing in {}", dir.display())))?;
        std::fs::write(aside(CERT_FILE), &self.cert_pem)
            .map_err(Error::io(format!("writing in {}", dir.display())))?;
        write_private(&aside(KEY_FILE), &self.key_pem)?;
        for f in [KEY_FILE, CERT_FILE, CA_FILE] {
            std::fs::rename(aside(f), dir.join(f))
                .map_err(Error::io(format!("replacing {}", dir.join(f).display())))?;
        }
        Ok(())
    }

    /// Who the certificate names.
    pub fn identity(&self) -> Result<Identity, Error> {
        Identity::from_certificate(&first_cert(self.cert_pem.as_bytes())?)
    }

    /// When the certificate stops being valid.
    pub fn not_after(&self) -> Result<SystemTime, Error> {
        Ok(self.validity()?.1)
    }

    /// When to renew: two thirds through the certificate's life (kubelet renews between
    /// 70 % and 90 %).
    pub fn renew_at(&self) -> Result<SystemTime, Error> {
        let (from, to) = self.validity()?;
        let life = to.duration_since(from).unwrap_or_default();
        Ok(from + life * 2 / 3)
    }

    /// The certificate's not-before and not-after times.
    fn validity(&self) -> Result<(SystemTime, SystemTime), Error> {
        validity(&first_cert(self.cert_pem.as_bytes())?)
    }
}

/// A DER certificate's not-before and not-after times.
pub fn validity(der: &[u8]) -> Result<(SystemTime, SystemTime), Error> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| Error::cert(format!("the certificate does not parse: {e}")))?;
    let v = cert.validity();
    Ok((at(v.not_before.timestamp()), at(v.not_after.timestamp())))
}

/// A certificate time (seconds since the epoch) as a `SystemTime`; before 1970 is 1970.
pub(crate) fn at(t: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64)
}

/// The first certificate of a PEM text, DER.
pub fn first_cert(pem: &[u8]) -> Result<CertificateDer<'static>, Error> {
    CertificateDer::pem_slice_iter(pem)
        .next()
        .ok_or_else(|| Error::cert("no PEM certificate found"))?
        .map_err(|e| Error::cert(format!("a PEM certificate does not parse: {e}")))
}

/// Writes `text` to `path`, readable by its owner only from the start.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io(format!("creating {}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(Error::io(format!("writing {}", path.display())))
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(Error::io(format!("creating {}", dir.display())))
}
