//! The benches' cluster CA: one folder in the system's temporary directory, made on first
//! use (again once its admin credential is due for renewal) and shared by every bench
//! cluster; members copy it with `--pki`, nodes get credentials issued from it, and the
//! bench's clients call as its admin, over TLS as any client does.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use skiff_pki::{Ca, Credentials, Dialer, Issue, Role, Tls};

const VALID_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

fn usable(dir: &Path) -> bool {
    Ca::load(dir).is_ok()
        && Credentials::load(&dir.join("admin"))
            .and_then(|c| c.renew_at())
            .is_ok_and(|at| at > SystemTime::now())
}

/// The CA's folder (`ca.crt`, `ca.key`, and the admin's credentials in `admin/`).
pub fn dir() -> Result<&'static Path> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    if let Some(d) = DIR.get() {
        return Ok(d);
    }
    let dir = std::env::temp_dir().join("skiff-bench-pki");
    if !usable(&dir) {
        let _ = std::fs::remove_dir_all(&dir);
        let ca = Ca::create("skiff-bench")?;
        ca.save(&dir)?;
        issue_with(&ca, Role::admin(), &dir.join("admin"))?;
    }
    Ok(DIR.get_or_init(|| dir))
}

fn issue_with(ca: &Ca, role: Role, out: &Path) -> Result<()> {
    ca.issue(&Issue {
        role,
        addresses: vec!["127.0.0.1".parse()?],
        valid_for: VALID_FOR,
    })?
    .save(out)?;
    Ok(())
}

/// Serving and peer credentials for etcd members, written to `out` (`ca.crt`, `tls.crt`,
/// `tls.key`): a member's certificate (client and server use, the control plane's DNS
/// name and 127.0.0.1), so the bench's clients check etcd as they check Skiff.
pub fn etcd(out: &Path) -> Result<PathBuf> {
    let ca = Ca::load(dir()?)?;
    issue_with(&ca, Role::Member { id: 0 }, out)?;
    Ok(out.to_owned())
}

/// The admin's credentials folder.
pub fn admin() -> Result<PathBuf> {
    Ok(dir()?.join("admin"))
}

/// Credentials for node `name`, written to `out`.
pub fn node(name: &str, out: &Path) -> Result<PathBuf> {
    let ca = Ca::load(dir()?)?;
    issue_with(&ca, Role::Node { name: name.into() }, out)?;
    Ok(out.to_owned())
}

/// The user the bench's clients call as, once [`call_as`] chose one.
static USER: OnceLock<Dialer> = OnceLock::new();

/// From now on the bench's clients ([`dialer`]) call as user `name` (no groups): every
/// call then goes through RBAC instead of `system:masters`' shortcut.
pub fn call_as(name: &str) -> Result<()> {
    let ca = Ca::load(dir()?)?;
    let out = dir()?.join(format!("user-{name}"));
    issue_with(
        &ca,
        Role::User {
            name: name.into(),
            groups: Vec::new(),
        },
        &out,
    )?;
    let creds = Credentials::load(&out)?;
    let _ = USER.set(Dialer::new(Tls::new(&creds)?));
    Ok(())
}

/// The admin's dialer, whatever [`call_as`] chose.
pub fn admin_dialer() -> Result<Dialer> {
    static DIALER: OnceLock<Dialer> = OnceLock::new();
    if let Some(d) = DIALER.get() {
        return Ok(d.clone());
    }
    let creds = Credentials::load(&admin()?).context("the bench's admin credentials")?;
    Ok(DIALER
        .get_or_init(|| Dialer::new(Tls::new(&creds).expect("admin TLS")))
        .clone())
}

/// Dials Skiff members as the admin, or as the user [`call_as`] chose.
pub fn dialer() -> Result<Dialer> {
    match USER.get() {
        Some(d) => Ok(d.clone()),
        None => admin_dialer(),
    }
}
