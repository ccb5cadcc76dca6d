//! `--metrics-addr`: the process's series at `/metrics` over plain HTTP, in the OpenMetrics
//! text format Prometheus scrapes (as kube-controller-manager's or the kubelet's metrics
//! port). Whatever runs in the process (a control-plane member, a node agent, both under
//! `skiff dev`) registers its series in one registry.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prometheus_client::registry::Registry;

/// The registry every part of the process registers in.
pub type Shared = Arc<Mutex<Registry>>;

/// What Prometheus is told it gets.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A new, empty registry.
pub fn registry() -> Shared {
    Arc::new(Mutex::new(Registry::default()))
}

/// Listens on `addr` (port 0: any free port); returns where it listens and the task that
/// serves, which runs until dropped with the runtime.
pub async fn listen(addr: SocketAddr, registry: Shared) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics-addr {addr}: cannot listen there (in use? give another port, or 127.0.0.1:0 for any)"))?;
    let local = listener
        .local_addr()
        .context("the metrics listener's address")?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let registry = registry.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let registry = registry.clone();
                    async move { Ok::<_, Infallible>(answer(&req, &registry)) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(local)
}

fn answer(req: &Request<Incoming>, registry: &Shared) -> Response<Full<Bytes>> {
    let reply = |code: StatusCode, kind: &str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = code;
        if let Ok(v) = kind.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        r
    };
    match (req.method().as_str(), req.uri().path()) {
        ("GET" | "HEAD", "/metrics") => {
            let mut text = String::new();
            let r = registry.lock().unwrap_or_else(|p| p.into_inner());
            match prometheus_client::encoding::text::encode(&mut text, &r) {
                Ok(()) => reply(StatusCode::OK, CONTENT_TYPE, text),
                Err(e) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    format!("encoding the metrics: {e}\n"),
                ),
            }
        }
        ("GET" | "HEAD", "/healthz") => reply(StatusCode::OK, "text/plain", "ok\n".into()),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: the metrics are at GET /metrics\n".into(),
        ),
    }
}
