//! Joining with a token, and renewing through the control plane: `skiff node
//! --join-token`, `skiff control --join ... --join-token`, and `skiff token` (create,
//! list, delete) that makes the tokens.
//!
//! A newcomer makes its own key and a certificate signing request, dials a member trusting
//! only the CA the token pins, and presents the token's bootstrap half as its bearer
//! token; the member answers with its certificate (and, for a member, the CA).

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use skiff_pki::join::{Bootstrap, JoinToken, pinned_client};
use skiff_pki::{Ca, Credentials, Tls};
use skiff_proto::grpc::api::certificate_service_client::CertificateServiceClient;
use skiff_proto::grpc::api::{ApplyRequest, DeleteRequest, ListRequest, ObjectKey, SignRequest};
use skiff_proto::model::bootstrap::{self, TokenRecord, Usage};
use skiff_proto::model::values::Time;
use skiff_proto::{Object, manifest};
use tonic::transport::Channel;

use super::ServerArgs;
use super::client::{self, Failure, refused, source_text};

/// What a newcomer joins as.
#[derive(Debug, Clone)]
pub enum Joiner {
    Node(String),
    Member(u64),
}

impl std::fmt::Display for Joiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Joiner::Node(n) => write!(f, "node {n}"),
            Joiner::Member(id) => write!(f, "member {id}"),
        }
    }
}

fn bearer_request<T>(msg: T, token: &Bootstrap) -> Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .context("the token does not fit in a header")?,
    );
    Ok(r)
}

async fn sign(
    ch: Channel,
    request: tonic::Request<SignRequest>,
) -> Result<skiff_proto::grpc::api::SignResponse, tonic::Status> {
    CertificateServiceClient::new(ch)
        .sign(request)
        .await
        .map(|r| r.into_inner())
}

/// Joins with `token` through the first of `control` that answers: the credentials, and
/// the CA (with its key) for a member.
pub async fn join(
    token: &JoinToken,
    control: &[String],
    who: &Joiner,
    addresses: &[IpAddr],
) -> Result<(Credentials, Option<Ca>)> {
    let (key_pem, csr_pem) = skiff_pki::ca::request()?;
    let msg = SignRequest {
        csr_pem,
        node_name: match who {
            Joiner::Node(n) => n.clone(),
            Joiner::Member(_) => String::new(),
        },
        member_id: match who {
            Joiner::Member(id) => *id,
            Joiner::Node(_) => 0,
        },
        addresses: addresses.iter().map(IpAddr::to_string).collect(),
    };
    let config = pinned_client(&token.ca_fingerprint)?;
    let deadline = tokio::time::Instant::now() + JOIN_WITHIN;
    loop {
        let mut last = anyhow::anyhow!("no control-plane address to join through");
        for addr in control {
            let ch = match skiff_pki::transport::member_channel(addr, config.clone()).await {
                Ok(ch) => ch,
                // A server the token does not trust: no point in asking again.
                Err(e) if source_text(&e).contains("certificate") => {
                    bail!("{addr}: {}", source_text(&e))
                }
                Err(e) => {
                    last = anyhow::anyhow!("{addr}: {}", source_text(&e));
                    continue;
                }
            };
            let r = match sign(ch, bearer_request(msg.clone(), &token.bootstrap)?).await {
                Ok(r) => r,
                // No leader yet, and the like: another member, or later.
                Err(s) if s.code() == tonic::Code::Unavailable => {
                    last = anyhow::anyhow!("{addr}: {}", s.message());
                    continue;
                }
                Err(s) => bail!("{addr} refused to let {who} join: {}", s.message()),
            };
            return received(token, addr, r, key_pem);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(last.context(format!(
                "joining as {who}: no control-plane member answered within {} s",
                JOIN_WITHIN.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The credentials (and CA) a member sent, checked against the token's pin.
fn received(
    token: &JoinToken,
    addr: &str,
    r: skiff_proto::grpc::api::SignResponse,
    key_pem: String,
) -> Result<(Credentials, Option<Ca>)> {
    let creds = Credentials {
        ca_pem: r.ca_pem.clone(),
        cert_pem: r.cert_pem,
        key_pem,
    };
    let pinned = skiff_pki::ca::fingerprint(
        skiff_pki::credentials::first_cert(creds.ca_pem.as_bytes())?.as_ref(),
    );
    if pinned != token.ca_fingerprint {
        bail!("{addr} answered with a CA the token does not pin");
    }
    let ca = if r.ca_key_pem.is_empty() {
        None
    } else {
        Some(Ca::from_pem(
            r.ca_pem,
            &r.ca_key_pem,
            "the CA sent",
            "the CA key sent",
        )?)
    };
    Ok((creds, ca))
}

/// A new certificate for the party `tls` presents, signed by the control plane (for
/// those that do not hold the CA: nodes, and members that joined without it).
pub async fn renew_remote(
    tls: &Tls,
    control: &[String],
    addresses: &[IpAddr],
) -> Result<Credentials> {
    let (key_pem, csr_pem) = skiff_pki::ca::request()?;
    let dialer = skiff_pki::Dialer::new(tls.clone());
    let mut last = anyhow::anyhow!("no control-plane address to renew through");
    for addr in control {
        let ch = match dialer.member(addr).await {
            Ok(ch) => ch,
            Err(e) => {
                last = anyhow::anyhow!("{addr}: {}", source_text(&e));
                continue;
            }
        };
        let msg = SignRequest {
            csr_pem: csr_pem.clone(),
            addresses: addresses.iter().map(IpAddr::to_string).collect(),
            ..Default::default()
        };
        match sign(ch, tonic::Request::new(msg)).await {
            Ok(r) => {
                return Ok(Credentials {
                    ca_pem: r.ca_pem,
                    cert_pem: r.cert_pem,
                    key_pem,
                });
            }
            Err(s) => last = anyhow::anyhow!("{addr}: {}", s.message()),
        }
    }
    Err(last)
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub action: TokenAction,
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Print a new join token: `skiff node --join-token T` (and, with `--usages member`,
    /// `skiff control --join ADDR --join-token T`).
    Create {
        /// How long it can be used: `30m`, `1h`, `24h`.
        #[arg(long, default_value = "1h")]
        ttl: humantime::Duration,
        /// What it may join: node, member (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "node")]
        usages: Vec<String>,
        /// How many joins it allows (default: any number until it expires).
        #[arg(long)]
        uses: Option<u32>,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the tokens: id, expiry, uses left, usages.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete a token by id: it can no longer be used.
    Delete {
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

fn usage(word: &str) -> Result<Usage, Failure> {
    match word.trim() {
        "node" => Ok(Usage::Node),
        "member" => Ok(Usage::Member),
        other => Err(Failure::User(format!(
            "--usages {other:?}: a token may join a `node` or a `member`"
        ))),
    }
}

/// The fingerprint of the CA in the client's credentials: what the token pins.
fn ca_fingerprint(t: &client::Target) -> Result<String, Failure> {
    let dir = t.credentials.as_ref().ok_or_else(|| {
        Failure::User(
            "a join token pins the cluster's CA: give --credentials DIR (with ca.crt)".into(),
        )
    })?;
    let pem = std::fs::read_to_string(dir.join("ca.crt")).map_err(|e| {
        Failure::User(format!(
            "--credentials {}: reading ca.crt: {e}",
            dir.display()
        ))
    })?;
    let der = skiff_pki::credentials::first_cert(pem.as_bytes())
        .map_err(|e| Failure::User(format!("{}: {e}", dir.join("ca.crt").display())))?;
    Ok(skiff_pki::ca::fingerprint(der.as_ref()))
}

pub async fn run(a: &TokenArgs) -> Result<ExitCode, Failure> {
    match &a.action {
        TokenAction::Create {
            ttl,
            usages,
            uses,
            description,
            server,
        } => {
            let t = client::server(server);
            let usages = usages
                .iter()
                .map(|u| usage(u))
                .collect::<Result<Vec<_>, _>>()?;
            let b = Bootstrap::generate().map_err(|e| Failure::User(e.to_string()))?;
            let record = TokenRecord {
                id: b.id.clone(),
                secret_sha256: b.secret_hash(),
                expiration: Time {
                    unix_seconds: Time::now().unix_seconds + ttl.as_secs(),
                },
                usages,
                uses_left: *uses,
                description: description.clone(),
            };
            let token = JoinToken {
                ca_fingerprint: ca_fingerprint(&t)?,
                bootstrap: b,
            };
            let json = Object::Secret(record.to_secret())
                .to_json()
                .map_err(|e| Failure::User(e.to_string()))?;
            client::connect(&t)
                .await?
                .apply(ApplyRequest {
                    manifest: json.into_bytes(),
                    field_manager: "skiff-token".into(),
                    ..Default::default()
                })
                .await
                .map_err(|s| refused("creating a join token", &s))?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        TokenAction::List { server } => {
            let t = client::server(server);
            let items = client::connect(&t)
                .await?
                .list(ListRequest {
                    kind: "Secret".into(),
                    namespace: bootstrap::NAMESPACE.into(),
                    ..Default::default()
                })
                .await
                .map_err(|s| refused("listing join tokens", &s))?
                .into_inner()
                .items;
            println!(
                "{:<8} {:<22} {:<10} {:<14} DESCRIPTION",
                "ID", "EXPIRES", "USES-LEFT", "USAGES"
            );
            for env in items {
                let text = String::from_utf8_lossy(&env.json);
                let Ok(Object::Secret(s)) =
                    manifest::decode_one(&text, &manifest::Source::named("<api>"))
                else {
                    continue;
                };
                let Some(r) = TokenRecord::from_secret(&s) else {
                    continue;
                };
                let expired = if r.expiration <= Time::now() {
                    " (expired)"
                } else {
                    ""
                };
                println!(
                    "{:<8} {:<22} {:<10} {:<14} {}",
                    r.id,
                    format!("{}{expired}", r.expiration),
                    r.uses_left.map_or("-".to_owned(), |n| n.to_string()),
                    r.usages
                        .iter()
                        .map(|u| u.name())
                        .collect::<Vec<_>>()
                        .join(","),
                    r.description
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenAction::Delete { id, server } => {
            let t = client::server(server);
            client::connect(&t)
                .await?
                .delete(DeleteRequest {
                    key: Some(ObjectKey {
                        kind: "Secret".into(),
                        namespace: bootstrap::NAMESPACE.into(),
                        name: bootstrap::secret_name(id),
                    }),
                    ..Default::default()
                })
                .await
                .map_err(|s| refused(&format!("deleting join token {id}"), &s))?;
            println!("join token {id} deleted");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// How long a joiner waits for the control plane to answer, in all.
pub const JOIN_WITHIN: Duration = Duration::from_secs(30);
