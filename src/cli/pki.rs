//! Certificates for `skiff control`, `skiff node` and `skiff dev`, and the `skiff pki`
//! verbs that make a CA and issue certificates by hand.
//!
//! A member keeps its files in its data folder: `pki/ca/` (the cluster CA, `ca.crt` and
//! `ca.key`) and `pki/member/` (its own `ca.crt`, `tls.crt`, `tls.key`). The member that
//! founds a cluster alone makes the CA; founding members of a larger cluster are given one
//! (`--pki DIR`, made by `skiff pki init DIR`); members that join are given it too, or get
//! it with a join token (`join`). A node agent is given its credentials (`skiff pki issue
//! --node NAME`) or joins with a token. Every party renews its certificate two thirds
//! through its life, without a restart: with the CA if it holds it, else through the
//! control plane.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use skiff_pki::{Ca, Credentials, Issue, Role, Tls};

/// How long member, node and user certificates are valid (kubeadm's year).
pub const VALID_FOR: Duration = Duration::from_secs(365 * 24 * 3600);
/// How often a holder of the CA looks at its own certificate's age.
const RENEW_CHECK: Duration = Duration::from_secs(3600);

#[derive(Debug, Args)]
pub struct PkiArgs {
    #[command(subcommand)]
    pub action: PkiAction,
}

#[derive(Debug, Subcommand)]
pub enum PkiAction {
    /// Make a cluster CA in DIR (`ca.crt`, `ca.key`) and an admin credential in DIR/admin.
    /// Give DIR to each founding member with `skiff control --pki DIR`.
    Init {
        dir: PathBuf,
        /// The cluster's name, in the CA's subject.
        #[arg(long, default_value = "skiff")]
        cluster: String,
    },
    /// Issue a certificate signed by the CA in --ca, into --out (`ca.crt`, `tls.crt`,
    /// `tls.key`, the layout `skiff node --credentials` and `--credentials` read).
    Issue(IssueArgs),
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The folder holding the CA (`ca.crt`, `ca.key`).
    #[arg(long)]
    pub ca: PathBuf,
    /// Where to write the credentials.
    #[arg(long)]
    pub out: PathBuf,
    /// A node agent's certificate (`system:node:NAME`).
    #[arg(long, conflicts_with = "user", required_unless_present = "user")]
    pub node: Option<String>,
    /// A user's certificate (its common name).
    #[arg(long)]
    pub user: Option<String>,
    /// A group of the user (an `O=` of the certificate); repeat for more.
    #[arg(long, requires = "user")]
    pub group: Vec<String>,
    /// Addresses the node serves at (IP subject alternative names), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub address: Vec<IpAddr>,
    /// How long the certificate is valid, e.g. 1h, 30d.
    #[arg(long, default_value = "365d")]
    pub valid_for: humantime::Duration,
}

pub fn run(a: &PkiArgs) -> Result<ExitCode> {
    match &a.action {
        PkiAction::Init { dir, cluster } => {
            if Ca::exists(dir) {
                bail!(
                    "{} already holds a CA; a cluster has one CA, so it is kept (choose another folder for a new cluster)",
                    dir.display()
                );
            }
            let ca = Ca::create(cluster)?;
            ca.save(dir)?;
            let admin = dir.join("admin");
            issue(&ca, Role::admin(), Vec::new(), VALID_FOR)?.save(&admin)?;
            println!("CA written to {} (keep ca.key secret)", dir.display());
            println!(
                "admin credentials in {} (--credentials {0})",
                admin.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        PkiAction::Issue(i) => {
            let ca = Ca::load(&i.ca)?;
            let role = match (&i.node, &i.user) {
                (Some(node), _) => Role::Node { name: node.clone() },
                (None, Some(user)) => Role::User {
                    name: user.clone(),
                    groups: i.group.clone(),
                },
                (None, None) => {
                    bail!("say whom the certificate is for: --node NAME or --user NAME")
                }
            };
            let creds = issue(&ca, role, i.address.clone(), *i.valid_for)?;
            creds.save(&i.out)?;
            println!("{} written to {}", creds.identity()?.user, i.out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn issue(
    ca: &Ca,
    role: Role,
    addresses: Vec<IpAddr>,
    valid_for: Duration,
) -> Result<Credentials> {
    Ok(ca.issue(&Issue {
        role,
        addresses,
        valid_for,
    })?)
}

/// The folders in a member's data folder.
pub fn ca_dir(data: &Path) -> PathBuf {
    data.join("pki").join("ca")
}

pub fn member_dir(data: &Path) -> PathBuf {
    data.join("pki").join("member")
}

/// How a member finds its CA when it has none yet.
pub enum CaSource<'a> {
    /// `--pki DIR`.
    Given(&'a Path),
    /// A cluster founded by this member alone: it makes the CA.
    MakeOne,
    /// Neither: an error that says what to do.
    Missing(&'static str),
}

/// A member's TLS: its credentials from its data folder, made on first start.
pub fn member_tls(
    data: &Path,
    id: u64,
    addresses: Vec<IpAddr>,
    source: CaSource<'_>,
    valid_for: Duration,
) -> Result<(Tls, Option<Ca>)> {
    let own = member_dir(data);
    let ca = if Ca::exists(&ca_dir(data)) {
        Some(Ca::load(&ca_dir(data))?)
    } else {
        match source {
            CaSource::Given(dir) => {
                let ca = Ca::load(dir).with_context(|| format!("--pki {}", dir.display()))?;
                ca.save(&ca_dir(data))?;
                Some(ca)
            }
            CaSource::MakeOne if !Credentials::exist(&own) => {
                let ca = Ca::create("skiff")?;
                ca.save(&ca_dir(data))?;
                issue(&ca, Role::admin(), Vec::new(), VALID_FOR)?.save(&admin_dir(data))?;
                tracing::info!(admin = %admin_dir(data).display(), "made the cluster CA and an admin credential");
                Some(ca)
            }
            CaSource::MakeOne => None,
            CaSource::Missing(why) if !Credentials::exist(&own) => bail!("{why}"),
            CaSource::Missing(_) => None,
        }
    };
    let creds = if Credentials::exist(&own) {
        Credentials::load(&own)?
    } else {
        let ca = ca
            .as_ref()
            .context("no CA to issue this member's certificate")?;
        let c = issue(ca, Role::Member { id }, addresses, valid_for)?;
        c.save(&own)?;
        c
    };
    let who = creds.identity()?;
    if who.member_id() != Some(id) {
        bail!(
            "{} holds the certificate of {}, not of member {id}: this data folder belongs to another member",
            own.display(),
            who.user
        );
    }
    Ok((Tls::new(&creds)?, ca))
}

/// Where a founding member alone puts the admin credential.
pub fn admin_dir(data: &Path) -> PathBuf {
    data.join("pki").join("admin")
}

/// Who signs a renewed certificate.
pub enum Signer {
    /// The CA, held here.
    Local(std::sync::Arc<Ca>),
    /// The control plane at these addresses (a certificate signing request, presented
    /// with the certificate being renewed).
    Remote(Vec<String>),
}

/// Renews the certificate in `dir` (and what `tls` presents) two thirds through its life,
/// while the process runs.
pub async fn renew(
    tls: Tls,
    dir: PathBuf,
    signer: Signer,
    role: Role,
    addresses: Vec<IpAddr>,
    valid_for: Duration,
) {
    loop {
        let at = Credentials::load(&dir).and_then(|c| c.renew_at());
        let wait = match &at {
            Ok(at) => at
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .min(RENEW_CHECK),
            Err(_) => RENEW_CHECK,
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
            continue;
        }
        let fresh = match &signer {
            Signer::Local(ca) => issue(ca, role.clone(), addresses.clone(), valid_for),
            Signer::Remote(control) => super::join::renew_remote(&tls, control, &addresses).await,
        };
        let renewed = fresh
            .and_then(|c| c.save(&dir).map(|()| c).map_err(Into::into))
            .and_then(|c| tls.rotate(&c).map_err(Into::into));
        match renewed {
            Ok(()) => {
                tracing::info!(dir = %dir.display(), "certificate renewed");
                // However short the certificates, never renew in a tight loop.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %format!("{e:#}"), "renewing the certificate");
                // Soon again, but not before a short certificate's next renewal point.
                tokio::time::sleep(
                    Duration::from_secs(60)
                        .min(valid_for / 10)
                        .max(Duration::from_secs(1)),
                )
                .await;
            }
        }
    }
}

/// The IP addresses a server is reached at, from `HOST:PORT` texts (names are skipped:
/// clients check the role's DNS name, these are for tools that check addresses).
pub fn addresses<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = texts
        .into_iter()
        .filter_map(|t| t.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .filter(|ip| !ip.is_unspecified())
        .collect();
    out.push(IpAddr::from([127, 0, 0, 1]));
    out.sort();
    out.dedup();
    out
}
