//! What every client verb shares: which server to talk to, the connection, kinds and
//! their short names, and how a failed call becomes a message and an exit code
//! (0 ok, 1 the request was wrong, 2 no server to talk to).

use std::path::PathBuf;
use std::process::ExitCode;

use prost::Message as _;
use skiff_proto::Kind;
use skiff_proto::grpc::api::ErrorDetails;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use tonic::transport::Channel;

use super::ServerArgs;

/// The address used when neither `--server`, `SKIFF_SERVER` nor `~/.skiff/config` says.
pub const DEFAULT_SERVER: &str = "127.0.0.1:7420";

/// Why a verb stopped.
#[derive(Debug)]
pub enum Failure {
    /// The request was refused or wrong (exit 1); the message says why.
    User(String),
    /// No member answered at the address (exit 2).
    Unreachable(String),
}

impl Failure {
    pub fn report(self) -> ExitCode {
        match self {
            Failure::User(m) => {
                eprintln!("{m}");
                ExitCode::from(1)
            }
            Failure::Unreachable(m) => {
                eprintln!("{m}");
                ExitCode::from(2)
            }
        }
    }
}

/// A failed call as the user should read it: the server's message, and each field error
/// with its path and hint when the server sent them.
pub fn refused(what: &str, s: &tonic::Status) -> Failure {
    if matches!(s.code(), tonic::Code::Unavailable) && s.message().contains("connect") {
        return Failure::Unreachable(format!("{what}: {}", s.message()));
    }
    let mut m = format!("{what}: {}", s.message());
    if let Ok(d) = ErrorDetails::decode(s.details()) {
        for e in d
            .errors
            .iter()
            .filter(|e| !s.message().contains(&e.message))
        {
            m.push_str(&format!("\n  {}: {}", e.path, e.message));
            if !e.hint.is_empty() {
                m.push_str(&format!("\n    hint: {}", e.hint));
            }
        }
    }
    Failure::User(m)
}

/// Where a verb talks to and as whom.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: String,
    /// A folder with `ca.crt`, and `tls.crt` and `tls.key` unless a token is given.
    pub credentials: Option<PathBuf>,
    /// A ServiceAccount's bearer token (`skiff create token`), sent instead of a client
    /// certificate.
    pub token: Option<String>,
}

/// The server and credentials: `--server`, `--credentials` and `--token` (or
/// `SKIFF_SERVER`, `SKIFF_CREDENTIALS` and `SKIFF_TOKEN`, through clap), else the
/// `server:`, `credentials:` and `token:` lines of the client config (`SKIFF_CONFIG`, else
/// `~/.skiff/config`; written by `skiff dev`), else the default address.
pub fn server(args: &ServerArgs) -> Target {
    target(
        args.server.as_deref(),
        args.credentials.as_deref(),
        args.token.as_deref(),
    )
}

pub fn target(
    server: Option<&str>,
    credentials: Option<&std::path::Path>,
    token: Option<&str>,
) -> Target {
    let config = config_path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let line = |key: &str| {
        config
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(key)
                    .map(|v| v.trim().trim_matches('"').to_owned())
            })
            .filter(|s| !s.is_empty())
    };
    Target {
        addr: server
            .map(str::to_owned)
            .or_else(|| line("server:"))
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned()),
        credentials: credentials
            .map(PathBuf::from)
            .or_else(|| line("credentials:").map(PathBuf::from)),
        token: token
            .map(|t| t.trim().to_owned())
            .or_else(|| line("token:"))
            .filter(|t| !t.is_empty()),
    }
}

/// Adds `authorization: Bearer TOKEN` to every call when there is a token.
#[derive(Clone, Debug, Default)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            r.metadata_mut().insert("authorization", v.clone());
        }
        Ok(r)
    }
}

/// A connection to a member, with the caller's token (if any) on every call.
pub type Conn = tonic::service::interceptor::InterceptedService<Channel, Bearer>;

fn bearer(t: &Target) -> Result<Bearer, Failure> {
    let Some(token) = &t.token else {
        return Ok(Bearer(None));
    };
    format!("Bearer {token}")
        .parse()
        .map(|v| Bearer(Some(v)))
        .map_err(|_| {
            Failure::User(
                "--token: the token holds characters a header cannot carry; paste it as `skiff create token` printed it".into(),
            )
        })
}

/// The client config: `SKIFF_CONFIG`, else `~/.skiff/config`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SKIFF_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".skiff").join("config"))
}

/// A connection to the object API, or why there is none.
pub async fn connect(t: &Target) -> Result<ObjectServiceClient<Conn>, Failure> {
    channel(t).await.map(ObjectServiceClient::new)
}

/// The TLS setup for `t`'s credentials.
pub fn dialer(t: &Target) -> Result<skiff_pki::Dialer, Failure> {
    let Some(dir) = &t.credentials else {
        return Err(Failure::User(format!(
            "no credentials for the Skiff API at {}: `skiff dev` writes an admin credential \
             into ~/.skiff/config; elsewhere pass --credentials DIR (a folder with ca.crt, \
             tls.crt and tls.key, e.g. from `skiff pki issue --user NAME`; with --token, \
             ca.crt alone) or set SKIFF_CREDENTIALS",
            t.addr
        )));
    };
    let creds = skiff_pki::Credentials::load(dir)
        .map_err(|e| Failure::User(format!("--credentials {}: {e}", dir.display())))?;
    let tls = skiff_pki::Tls::new(&creds)
        .map_err(|e| Failure::User(format!("--credentials {}: {e}", dir.display())))?;
    Ok(skiff_pki::Dialer::new(tls))
}

/// A connection to the member at `t` (any of its services), or why there is none.
pub async fn channel(t: &Target) -> Result<Conn, Failure> {
    let bearer = bearer(t)?;
    Ok(Conn::new(raw_channel(t).await?, bearer))
}

/// A connection to the member at `t` that adds no token: for plain HTTP requests, which
/// carry `authorization` themselves.
pub async fn raw_channel(t: &Target) -> Result<Channel, Failure> {
    let addr = &t.addr;
    if addr.parse::<std::net::SocketAddr>().is_err() && !addr.contains(':') {
        return Err(Failure::User(format!(
            "--server {addr:?} is not an address: give HOST:PORT"
        )));
    }
    let dialled = match (&t.token, &t.credentials) {
        // A token authenticates; the folder need only hold the CA to check the server.
        (Some(_), Some(dir)) if !dir.join("tls.crt").exists() => {
            let ca = std::fs::read_to_string(dir.join("ca.crt")).map_err(|e| {
                Failure::User(format!(
                    "--credentials {}: reading ca.crt: {e}",
                    dir.display()
                ))
            })?;
            let config = skiff_pki::tls::anonymous_client(&ca)
                .map_err(|e| Failure::User(format!("--credentials {}: {e}", dir.display())))?;
            skiff_pki::transport::member_channel(addr, config).await
        }
        _ => dialer(t)?.member(addr).await,
    };
    dialled.map_err(|e| {
        let why = source_text(&e);
        if why.contains("certificate") || why.contains("CertificateRequired") {
            return Failure::User(format!(
                "the Skiff API at {addr} refused the TLS handshake ({why}).\n\
                 The credentials in {} are not from this cluster's CA, or have expired: \
                 use the cluster's (`skiff dev` writes them to ~/.skiff/config)",
                t.credentials
                    .as_deref()
                    .unwrap_or(std::path::Path::new("?"))
                    .display()
            ));
        }
        Failure::Unreachable(format!(
            "cannot reach a Skiff API server at {addr} ({why}).\n\
             Start one with `skiff dev` (a one-process cluster), or point at a running member \
             with --server ADDR or SKIFF_SERVER."
        ))
    })
}

/// An error with its chain of causes, `a: b: c`.
pub fn source_text(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s = format!("{s}: {c}");
        cur = c.source();
    }
    s
}

/// A kind from what a user types: its name in any case, plural, singular or a short name,
/// optionally with its group (`deployments.apps`), as kubectl reads it.
pub fn kind(word: &str) -> Result<Kind, Failure> {
    Kind::lookup(word).ok_or_else(|| {
        let words: Vec<String> = Kind::ALL
            .iter()
            .map(|k| match k.info().short_names {
                [] => k.resource().to_owned(),
                short => format!("{} ({})", k.resource(), short.join(", ")),
            })
            .collect();
        Failure::User(format!(
            "unknown kind {word:?}; kinds: {}",
            words.join(", ")
        ))
    })
}

/// The runtime the client verbs run on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Runs a verb's body and turns its failure into the exit code.
pub fn run_verb(
    body: impl std::future::Future<Output = Result<ExitCode, Failure>>,
) -> anyhow::Result<ExitCode> {
    Ok(runtime()?.block_on(body).unwrap_or_else(Failure::report))
}
