//! The router's listeners: the ingress (HTTP/1.1 and HTTP/2, prior knowledge), the pods'
//! gateway, and the peer listener other nodes' routers use (TLS, node certificates only),
//! all with the router's limits on request heads (431) and bodies (413). `GET /metrics` with the Host
//! `skiff-router` answers the router's metrics.

use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use super::{Body, Router, answer};

/// The Host that reaches the router itself rather than a route.
pub const ROUTER_HOST: &str = "skiff-router";

/// Serves ingress on `listener` until the task is dropped.
pub async fn serve(router: Arc<Router>, listener: TcpListener) {
    serve_as(router, listener, false).await
}

/// Serves the pods of this node's pod network on `listener` (on its gateway) until the
/// task is dropped: their calls are in-cluster calls, from their pod's namespace.
pub async fn serve_pods(router: Arc<Router>, listener: TcpListener) {
    serve_as(router, listener, true).await
}

/// The HTTP server settings of the ingress and pod listeners, with `router`'s limits.
pub(crate) fn ingress_builder(router: &Router) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper answers 431 itself when a request head outgrows its read buffer.
    builder
        .http1()
        .max_buf_size(router.limits.max_header_bytes.max(8192))
        .keep_alive(true)
        // A client that sends its head too slowly is let go (hyper answers 408).
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder
        .http2()
        .max_header_list_size(u32::try_from(router.limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Serves one connection of the ingress or pod listener (`from`) until it ends.
pub(crate) async fn serve_connection<I>(
    router: Arc<Router>,
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    from: From,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let router = router.clone();
        async move { Ok::<_, Infallible>(ingress(&router, req, from).await) }
    });
    if let Err(e) = builder.serve_connection(TokioIo::new(io), service).await {
        tracing::debug!(error = %e, "ingress connection");
    }
}

async fn serve_as(router: Arc<Router>, listener: TcpListener, pods: bool) {
    let builder = Arc::new(ingress_builder(&router));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accepting an ingress connection");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (router, builder) = (router.clone(), builder.clone());
        tokio::spawn(async move {
            let from = if pods {
                From::Pod(peer.ip())
            } else {
                From::Ingress
            };
            serve_connection(router, &builder, stream, from).await;
        });
    }
}

/// Who sent a request, by the listener it came in on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum From {
    /// The ingress: anyone.
    Ingress,
    /// A pod of this node, at this address.
    Pod(IpAddr),
    /// Another node's router (its node certificate checked).
    Peer,
}

/// Serves other nodes' routers on `incoming` (TLS; connections whose certificate names no
/// node are closed) until the task is dropped.
pub async fn serve_peers(router: Arc<Router>, mut incoming: skiff_pki::TlsIncoming) {
    use tokio_stream::StreamExt;
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    while let Some(conn) = incoming.next().await {
        let Ok(conn) = conn else { continue };
        let node = conn
            .peer()
            .identity
            .as_ref()
            .and_then(|i| i.node_name().map(str::to_owned));
        if node.is_none() {
            tracing::debug!(remote = %conn.peer().remote, "a router peer that is not a node; closed");
            continue;
        }
        let (router, builder) = (router.clone(), builder.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let router = router.clone();
                async move { Ok::<_, Infallible>(ingress(&router, req, From::Peer).await) }
            });
            if let Err(e) = builder.serve_connection(TokioIo::new(conn), service).await {
                tracing::debug!(error = %e, ?node, "router peer connection");
            }
        });
    }
}

/// One request from a listener.
async fn ingress(router: &Router, req: Request<Incoming>, from: From) -> Response<Body> {
    let limits = &router.limits;
    let head: usize = req
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if head > limits.max_header_bytes {
        return answer(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "the request head is {head} bytes; this router takes at most {}",
                limits.max_header_bytes
            ),
        );
    }
    if let Some(n) = req.body().size_hint().upper()
        && req.body().size_hint().lower() == n
        && n > limits.max_body_bytes
    {
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is {n} bytes; this router takes at most {}",
                limits.max_body_bytes
            ),
        );
    }
    let websocket = req
        .headers()
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("websocket"));
    if websocket {
        return answer(
            StatusCode::NOT_IMPLEMENTED,
            "WebSocket upgrades are not routed yet",
        );
    }
    if req.method() == hyper::Method::GET
        && req.uri().path() == "/metrics"
        && host_of(&req) == Some(ROUTER_HOST)
    {
        let mut r = answer(StatusCode::OK, router.metrics());
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        return r;
    }
    let max = limits.max_body_bytes;
    let req = req.map(|b| {
        Capped {
            inner: b,
            left: max,
            max,
        }
        .boxed_unsync()
    });
    match from {
        From::Pod(peer) => {
            let namespace = router.pod_namespace(peer.to_canonical());
            router.from_pod(req, namespace.as_deref()).await
        }
        From::Peer => router.from_peer(req).await,
        From::Ingress => router.ingress(req).await,
    }
}

fn host_of<B>(req: &Request<B>) -> Option<&str> {
    req.uri().host().or_else(|| {
        req.headers()
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.split(':').next().unwrap_or(h))
    })
}

/// A request body that fails once it passes `max` bytes (a chunked body whose size was
/// not known up front).
struct Capped {
    inner: Incoming,
    left: u64,
    max: u64,
}

impl hyper::body::Body for Capped {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => f,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(d) = frame.data_ref() {
            let n = d.len() as u64;
            if n > self.left {
                let max = self.max;
                return Poll::Ready(Some(Err(wasmtime_wasi_http::Error::HttpRequestBodySize(
                    Some(max),
                ))));
            }
            self.left -= n;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
