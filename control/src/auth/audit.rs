//! The audit log: one JSON line per request to the client API, shaped like Kubernetes'
//! `audit.k8s.io/v1` events at the `Metadata` level: who (user, groups), what (verb and
//! object), the authorization decision and why, and the response's code. Lines are
//! written by a task of their own, so a request never waits on the disk; if the disk
//! falls behind by more than a buffer's worth, lines are dropped and counted.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use skiff_pki::Identity;
use tokio::sync::mpsc;
use tonic::Status;

use super::attributes::Attributes;

/// Lines waiting for the writer.
const BUFFER: usize = 16 * 1024;
/// How long the writer gathers lines between writes.
const GATHER: Duration = Duration::from_millis(20);
/// Past this size the log is renamed to `<file>.1` (the one before is removed).
const ROTATE_AT: u64 = 64 << 20;

/// Where audit events go (cheap to clone).
#[derive(Clone, Default)]
pub struct Audit {
    tx: Option<mpsc::Sender<String>>,
    dropped: Arc<AtomicU64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    kind: &'static str,
    api_version: &'static str,
    level: &'static str,
    stage: &'static str,
    stage_timestamp: String,
    verb: &'a str,
    user: User<'a>,
    object_ref: ObjectRef<'a>,
    #[serde(rename = "requestURI", skip_serializing_if = "str::is_empty")]
    request_uri: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    user_agent: &'a str,
    #[serde(rename = "sourceIPs", skip_serializing_if = "Vec::is_empty")]
    source_ips: Vec<String>,
    response_status: ResponseStatus<'a>,
    annotations: std::collections::BTreeMap<&'a str, String>,
}

/// Where a request came from, as Kubernetes' audit events say it: the URI asked for (a
/// REST path and query, or a gRPC method's path), the client's user agent and address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    pub uri: String,
    pub user_agent: String,
    pub source: Option<std::net::IpAddr>,
}

tokio::task_local! {
    /// The origin of the REST request being served: the REST front door sets it around
    /// a request, and its calls into the API carry it.
    pub static ORIGIN: Origin;
}

impl Origin {
    /// The origin of an HTTP request: its path and query, `user-agent` and peer address.
    pub fn of_http<B>(req: &http::Request<B>) -> Origin {
        Origin {
            uri: req
                .uri()
                .path_and_query()
                .map_or_else(|| req.uri().path().to_owned(), ToString::to_string),
            user_agent: req
                .headers()
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            source: req
                .extensions()
                .get::<skiff_pki::transport::PeerInfo>()
                .map(|p| p.remote.ip()),
        }
    }

    /// The origin of a call into the API, as the front door recorded it (see
    /// [`layer`]); empty for calls from inside the process.
    pub fn of<T>(r: &tonic::Request<T>) -> Origin {
        r.extensions().get::<Origin>().cloned().unwrap_or_default()
    }
}

/// Records every gRPC request's [`Origin`] in its extensions, where the services read it.
pub async fn layer(mut req: axum::extract::Request) -> axum::extract::Request {
    let origin = Origin::of_http(&req);
    req.extensions_mut().insert(origin);
    req
}

#[derive(Serialize)]
struct User<'a> {
    username: &'a str,
    groups: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectRef<'a> {
    resource: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    subresource: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    namespace: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    api_group: &'a str,
}

#[derive(Serialize)]
struct ResponseStatus<'a> {
    code: u16,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
}

impl Audit {
    /// Audit events appended to `path` (created with its folder).
    pub fn to_file(path: &Path) -> std::io::Result<Audit> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = open(path)?;
        let (tx, rx) = mpsc::channel(BUFFER);
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_lines(rx, file, path))?;
        Ok(Audit {
            tx: Some(tx),
            dropped: Arc::default(),
        })
    }

    /// Records one request: `who` asked for `a`, authorization said `decision` (why:
    /// `reason`), and it ended as `outcome`.
    pub fn record(
        &self,
        who: &Identity,
        from: &Origin,
        a: &Attributes,
        decision: Option<(bool, &str)>,
        outcome: Result<(), &Status>,
        extra: &[(&'static str, String)],
    ) {
        let Some(tx) = &self.tx else {
            return;
        };
        let (code, message) = match outcome {
            Ok(()) => (200, ""),
            Err(s) => (crate::rest::code_and_reason(s.code()).0, s.message()),
        };
        let mut annotations = std::collections::BTreeMap::new();
        if let Some((allowed, reason)) = decision {
            annotations.insert(
                "authorization.k8s.io/decision",
                if allowed { "allow" } else { "forbid" }.to_owned(),
            );
            annotations.insert("authorization.k8s.io/reason", reason.to_owned());
        }
        for (k, v) in extra {
            annotations.insert(k, v.clone());
        }
        let e = Event {
            kind: "Event",
            api_version: "audit.k8s.io/v1",
            level: "Metadata",
            stage: "ResponseComplete",
            stage_timestamp: humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
            verb: &a.verb,
            user: User {
                username: &who.user,
                groups: &who.groups,
            },
            object_ref: ObjectRef {
                resource: &a.resource,
                subresource: &a.subresource,
                namespace: &a.namespace,
                name: &a.name,
                api_group: &a.group,
            },
            request_uri: &from.uri,
            user_agent: &from.user_agent,
            source_ips: from.source.iter().map(ToString::to_string).collect(),
            response_status: ResponseStatus { code, message },
            annotations,
        };
        let Ok(line) = serde_json::to_string(&e) else {
            return;
        };
        if tx.try_send(line).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "the audit log falls behind: events dropped");
            }
        }
    }
}

fn open(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// The writer: lines as they come, flushed when none are waiting, rotated when large.
fn write_lines(mut rx: mpsc::Receiver<String>, file: std::fs::File, path: PathBuf) {
    let mut out = std::io::BufWriter::new(file);
    let mut written = std::fs::metadata(&path).map_or(0, |m| m.len());
    while let Some(line) = rx.blocking_recv() {
        let mut batch = vec![line];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        for l in batch {
            let ok = out
                .write_all(l.as_bytes())
                .and_then(|()| out.write_all(b"\n"));
            if let Err(e) = ok {
                tracing::warn!(path = %path.display(), error = %e, "writing the audit log");
                std::thread::sleep(Duration::from_secs(1));
            }
            written += l.len() as u64 + 1;
        }
        let _ = out.flush();
        // Lines gathered for a moment are written together: a busy API costs the log a
        // few writes a second, not one per call.
        std::thread::sleep(GATHER);
        if written > ROTATE_AT {
            let _ = std::fs::rename(&path, path.with_extension("log.1"));
            match open(&path) {
                Ok(f) => {
                    out = std::io::BufWriter::new(f);
                    written = 0;
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "rotating the audit log")
                }
            }
        }
    }
}
