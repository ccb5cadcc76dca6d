//! `skiff dashboard`: a link that logs a browser into the web dashboard as you, once (the
//! member makes a one-time code for whoever asks, with the same certificate or token the
//! other verbs send).

use std::process::ExitCode;

use clap::Args;
use http_body_util::BodyExt;
use hyper::header::{AUTHORIZATION, HeaderValue};
use tonic::codegen::Service;

use super::ServerArgs;
use super::client::{self, Failure, Target};

#[derive(Debug, Args)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub server: ServerArgs,
}

pub async fn run(a: &DashboardArgs) -> Result<ExitCode, Failure> {
    let t = client::server(&a.server);
    let url = login_url(&t).await?;
    println!("{url}");
    eprintln!(
        "Open it within 5 minutes: it works once, and logs the browser in as you on {} for 12 hours. The page is served with the cluster's certificate: trust the cluster CA ({}) in the browser, or accept the warning.",
        t.addr,
        t.credentials
            .as_deref()
            .map(|d| d.join("ca.crt").display().to_string())
            .unwrap_or_else(|| "ca.crt".into()),
    );
    Ok(ExitCode::SUCCESS)
}

/// A one-time login URL for the dashboard of the member at `t`, as `t`'s user.
pub async fn login_url(t: &Target) -> Result<String, Failure> {
    let mut ch = client::raw_channel(t).await?;
    let mut req = hyper::Request::post("/ui/login-codes")
        .body(tonic::body::Body::empty())
        .map_err(|e| Failure::User(format!("making the request: {e}")))?;
    if let Some(token) = &t.token {
        let v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Failure::User("--token: the token holds characters a header cannot carry".into())
        })?;
        req.headers_mut().insert(AUTHORIZATION, v);
    }
    let unreachable = |e: &dyn std::error::Error| {
        Failure::Unreachable(format!(
            "asking {} for a dashboard login: {}",
            t.addr,
            client::source_text(e)
        ))
    };
    std::future::poll_fn(|cx| ch.poll_ready(cx))
        .await
        .map_err(|e| unreachable(&e))?;
    let reply = ch.call(req).await.map_err(|e| unreachable(&e))?;
    let status = reply.status();
    let body = reply
        .into_body()
        .collect()
        .await
        .map_err(|e| unreachable(&e))?
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if !status.is_success() {
        let why = json["message"].as_str().unwrap_or("no reason given");
        return Err(Failure::User(format!(
            "{} refused a dashboard login ({status}): {why}",
            t.addr
        )));
    }
    match json["path"].as_str() {
        Some(path) => Ok(format!("https://{}{path}", t.addr)),
        None => Err(Failure::User(format!(
            "{} answered without a login path: is it a Skiff member of this version?",
            t.addr
        ))),
    }
}
