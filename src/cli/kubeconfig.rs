//! A kubeconfig for kubectl and client libraries: the API's address, the cluster CA and a
//! client certificate (or a ServiceAccount token), embedded (`*-data`), so
//! `KUBECONFIG=FILE kubectl get pods` works. `skiff dev` writes one beside its data
//! (`~/.skiff/kubeconfig` for the default folder); `skiff config` writes one for whatever
//! server and credentials the CLI itself uses.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine as _;
use skiff_pki::credentials::{CA_FILE, CERT_FILE, KEY_FILE};

use super::client;

/// The kubeconfig text for `server` (`HOST:PORT`) and the credentials in `dir` (or
/// `token` with the CA in `dir`).
pub fn text(server: &str, dir: &Path, token: Option<&str>) -> Result<String> {
    let read = |name: &str| -> Result<String> {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    };
    Ok(format!(
        "# Written by `skiff dev`: KUBECONFIG=THIS_FILE kubectl get pods
apiVersion: v1
kind: Config
clusters:
- name: skiff
  cluster:
    server: https://{server}
    certificate-authority-data: {ca}
    tls-server-name: {name}
users:
- name: skiff-user
  user:
{user}contexts:
- name: skiff
  context:
    cluster: skiff
    user: skiff-user
    namespace: default
current-context: skiff
",
        ca = read(CA_FILE)?,
        user = match token {
            Some(t) => format!("    token: {t}\n"),
            None => format!(
                "    client-certificate-data: {}\n    client-key-data: {}\n",
                read(CERT_FILE)?,
                read(KEY_FILE)?
            ),
        },
        name = skiff_pki::identity::member_server_name(),
    ))
}

/// Writes `DATA_DIR/kubeconfig` for `skiff dev`.
pub fn write(data_dir: &Path, server: &str, credentials: &Path) -> Result<PathBuf> {
    let path = data_dir.join("kubeconfig");
    save(&path, &text(server, credentials, None)?)?;
    Ok(path)
}

/// Writes `text` to `path`, readable by its owner only: it holds a key or a token.
fn save(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}

/// `skiff config [--output FILE]`: a kubeconfig for the server and credentials this CLI
/// uses, written to FILE (`-`: printed).
pub fn run(a: &ConfigArgs) -> Result<std::process::ExitCode> {
    let t = client::server(&a.server);
    let dir = t.credentials.clone().context(
        "no credentials: give --credentials DIR (ca.crt, tls.crt, tls.key) or set SKIFF_CREDENTIALS",
    )?;
    let text = text(&t.addr, &dir, t.token.as_deref())?;
    match a.output.as_deref() {
        Some(p) if p == Path::new("-") => print!("{text}"),
        out => {
            let path = match out {
                Some(p) => p.to_path_buf(),
                None => super::default_data_dir().join("kubeconfig"),
            };
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            save(&path, &text)?;
            println!(
                "wrote {}: KUBECONFIG={} kubectl get pods",
                path.display(),
                path.display()
            );
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub server: super::ServerArgs,
    /// Where to write the kubeconfig (default `~/.skiff/kubeconfig`; `-` prints it).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}
