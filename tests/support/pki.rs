//! The tests' cluster CA: made once under cargo's scratch folder for integration tests
//! (`target/tmp`), shared by every test process (each founding member copies it with
//! `--pki`), with an admin credential the CLI and gRPC clients use, and node credentials
//! issued per node.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use skiff_pki::{Ca, Credentials, Dialer, Issue, Role, Tls};

const VALID_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// The CA's folder (`ca.crt`, `ca.key`), with the admin's credentials in `admin/`.
pub fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skiff-test-pki");
        let fresh = |d: &Path| {
            let renew = Credentials::load(&d.join("admin"))
                .and_then(|c| c.renew_at())
                .map(|at| at < std::time::SystemTime::now())
                .unwrap_or(true);
            !renew && Ca::load(d).is_ok()
        };
        if fresh(&dir) {
            return dir;
        }
        // Made aside and renamed into place: test processes race for it.
        let aside = dir.with_extension(format!("new{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&aside);
        let ca = Ca::create("skiff-tests").unwrap();
        ca.save(&aside).unwrap();
        ca.issue(&Issue {
            role: Role::admin(),
            addresses: Vec::new(),
            valid_for: VALID_FOR,
        })
        .unwrap()
        .save(&aside.join("admin"))
        .unwrap();
        if !fresh(&dir) {
            let _ = std::fs::remove_dir_all(&dir);
        }
        if std::fs::rename(&aside, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&aside);
        }
        assert!(fresh(&dir), "no test CA at {}", dir.display());
        dir
    })
}

/// The admin's credentials folder.
pub fn admin() -> PathBuf {
    dir().join("admin")
}

/// Credentials for node `name`, written to `out` (for `skiff node --credentials`).
pub fn node(name: &str, out: &Path) -> PathBuf {
    issue(Role::Node { name: name.into() }, VALID_FOR, out)
}

/// Credentials for `role`, written to `out`.
pub fn issue(role: Role, valid_for: Duration, out: &Path) -> PathBuf {
    let ca = Ca::load(dir()).unwrap();
    ca.issue(&Issue {
        role,
        addresses: vec!["127.0.0.1".parse().unwrap()],
        valid_for,
    })
    .unwrap()
    .save(out)
    .unwrap();
    out.to_owned()
}

/// The `skiff` binary, with the admin's credentials for client verbs.
pub fn skiff() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_skiff"));
    c.env("SKIFF_CREDENTIALS", admin());
    c
}

/// Dials members and agents as the admin.
pub fn dialer() -> Dialer {
    Dialer::new(Tls::new(&Credentials::load(&admin()).unwrap()).unwrap())
}

/// A gRPC channel to the member at `addr`, as the admin.
pub async fn channel(addr: &str) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    dialer().member(addr).await
}
