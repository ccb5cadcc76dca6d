//! `skiff auth whoami`, `skiff auth can-i` and `skiff create token`: who the client is, what
//! it (or another user) may do, and tokens for ServiceAccounts.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use skiff_proto::grpc::api::auth_service_client::AuthServiceClient;
use skiff_proto::grpc::api::{AccessReviewRequest, TokenRequest, WhoAmIRequest};

use super::ServerArgs;
use super::client::{self, Failure, refused};

#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    pub action: AuthAction,
}

#[derive(Debug, Subcommand)]
pub enum AuthAction {
    /// Print who the API takes you for: your user name and groups.
    Whoami {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Say whether you (or --as USER) may do VERB on RESOURCE: prints yes (exit 0) or no
    /// (exit 1). RESOURCE is a kind or plural (`pods`, `deploy`), `pods/log`, or
    /// `RESOURCE.GROUP`.
    CanI(CanIArgs),
}

#[derive(Debug, Args)]
pub struct CanIArgs {
    /// get, list, watch, create, update, patch, delete, bind, escalate, ...
    pub verb: String,
    pub resource: String,
    /// One object's name.
    pub name: Option<String>,
    /// Ask about this user instead (needs the right to review others' access).
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    /// The groups of --as.
    #[arg(long = "as-group", value_name = "GROUP", requires = "as_user")]
    pub as_groups: Vec<String>,
    /// At the cluster scope, or across every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(subcommand)]
    pub what: CreateWhat,
}

#[derive(Debug, Subcommand)]
pub enum CreateWhat {
    /// Print a bearer token for a ServiceAccount (use it with --token or `token:` in
    /// ~/.skiff/config).
    Token {
        /// The ServiceAccount's name.
        service_account: String,
        /// How long the token lasts: `10m`, `1h` (default), at most `48h`.
        #[arg(long, default_value = "1h")]
        duration: humantime::Duration,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// `RESOURCE[/SUB][.GROUP]` as the API names it: a kind's plural and group, or as written.
fn resource(word: &str) -> (String, String, String) {
    let (word, sub) = word.split_once('/').unwrap_or((word, ""));
    let (res, group) = match word.split_once('.') {
        Some((r, g)) => (r.to_owned(), Some(g.to_owned())),
        None => (word.to_owned(), None),
    };
    match (client::kind(&res), group) {
        (Ok(k), None) => (k.resource().into(), k.group().into(), sub.into()),
        (Ok(k), Some(g)) => (k.resource().into(), g, sub.into()),
        (Err(_), g) => (res.to_ascii_lowercase(), g.unwrap_or_default(), sub.into()),
    }
}

pub async fn run(a: &AuthArgs) -> Result<ExitCode, Failure> {
    match &a.action {
        AuthAction::Whoami { server } => {
            let t = client::server(server);
            let mut api = AuthServiceClient::new(client::channel(&t).await?);
            let me = api
                .who_am_i(WhoAmIRequest {})
                .await
                .map_err(|s| refused("whoami", &s))?
                .into_inner();
            println!("ATTRIBUTE   VALUE");
            println!("Username    {}", me.user);
            println!("Groups      [{}]", me.groups.join(" "));
            Ok(ExitCode::SUCCESS)
        }
        AuthAction::CanI(c) => can_i(c).await,
    }
}

async fn can_i(c: &CanIArgs) -> Result<ExitCode, Failure> {
    let t = client::server(&c.server);
    let (resource, group, subresource) = resource(&c.resource);
    let namespace = if c.all_namespaces {
        String::new()
    } else {
        c.server
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into())
    };
    let mut api = AuthServiceClient::new(client::channel(&t).await?);
    let r = api
        .review(AccessReviewRequest {
            verb: c.verb.clone(),
            group,
            resource,
            subresource,
            namespace,
            name: c.name.clone().unwrap_or_default(),
            user: c.as_user.clone().unwrap_or_default(),
            groups: c.as_groups.clone(),
        })
        .await
        .map_err(|s| refused("can-i", &s))?
        .into_inner();
    if r.allowed {
        println!("yes");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("no");
        Ok(ExitCode::from(1))
    }
}

pub async fn create(a: &CreateArgs) -> Result<ExitCode, Failure> {
    let CreateWhat::Token {
        service_account,
        duration,
        server,
    } = &a.what;
    let t = client::server(server);
    let mut api = AuthServiceClient::new(client::channel(&t).await?);
    let r = api
        .create_token(TokenRequest {
            namespace: server.namespace.clone().unwrap_or_default(),
            service_account: service_account.clone(),
            expiration_seconds: duration.as_secs().max(1) as i64,
        })
        .await
        .map_err(|s| refused(&format!("token for serviceaccount {service_account}"), &s))?
        .into_inner();
    println!("{}", r.token);
    Ok(ExitCode::SUCCESS)
}
