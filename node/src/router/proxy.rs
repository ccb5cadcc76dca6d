//! Sending one request to one endpoint: a local endpoint that has a [`LocalEndpoint`]
//! in-process, anything else over pooled keep-alive connections (another node's router, or
//! the endpoint's own address: a container's).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::Body;
use super::balance::{Endpoint, Via};
use super::locals::Locals;
use super::peer::{PeerBook, PeerConnector};

/// The header a router sets when it sends a request on to the router of the endpoint's
/// node: the endpoint (`ip:port`) that node calls.
pub const ENDPOINT_HEADER: &str = "skiff-endpoint";

/// Set on a router's 503 for a forwarded request it could not give to the pod (the pod
/// stopped): nothing reached a workload, so the sender may try another endpoint.
pub const NOT_SENT_HEADER: &str = "skiff-not-sent";

/// Headers that describe one connection, not the request (RFC 9110, 7.6.1).
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
    "transfer-encoding",
];

/// Why an endpoint did not answer.
#[derive(Debug)]
pub enum Failure {
    /// Nothing was sent (the connection was refused, or the local pod is gone): another
    /// endpoint may be tried, with the request when it is given back.
    NotSent(String, Option<Box<Request<Body>>>),
    /// The endpoint failed after the request was sent.
    Failed(String),
}

/// Sends requests to endpoints.
pub struct Upstreams {
    client: Client<HttpConnector, Body>,
    /// To other nodes' routers: TLS with this node's certificate, pooled per node.
    peers: Client<PeerConnector, Body>,
    book: Arc<PeerBook>,
    locals: Arc<Locals>,
}

impl Upstreams {
    pub fn new(locals: Arc<Locals>, tls: &skiff_pki::Tls) -> Upstreams {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(1)));
        let pool = || {
            let mut b = Client::builder(TokioExecutor::new());
            b.pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(1024);
            b
        };
        let client = pool().build(connector);
        let book = Arc::new(PeerBook::default());
        let peers = pool().build(PeerConnector::new(tls.client_config(), book.clone()));
        Upstreams {
            client,
            peers,
            book,
            locals,
        }
    }

    /// Sends `req` to `ep`.
    pub async fn send(&self, ep: &Endpoint, req: Request<Body>) -> Result<Response<Body>, Failure> {
        match &ep.via {
            Via::Local => self.local(ep.addr, req).await,
            Via::Node(router, node) => {
                let mut req = req;
                let value = HeaderValue::from_str(&ep.label)
                    .map_err(|e| Failure::Failed(format!("endpoint {}: {e}", ep.label)))?;
                req.headers_mut()
                    .insert(HeaderName::from_static(ENDPOINT_HEADER), value);
                let resp = self.to_peer(*router, node, req).await?;
                if resp.headers().contains_key(NOT_SENT_HEADER) {
                    return Err(Failure::NotSent(
                        format!("{} is gone from its node", ep.label),
                        None,
                    ));
                }
                Ok(resp)
            }
            Via::Direct => self.remote(ep.addr, req).await,
        }
    }

    /// Whether the endpoint at `addr` is called in-process.
    pub fn in_process(&self, addr: SocketAddr) -> bool {
        self.locals.get(&addr).is_some()
    }

    /// Calls the endpoint on this node that serves `addr`: in-process when its runtime
    /// registered it, else over TCP at its address (a container listening in its pod's
    /// network namespace).
    pub async fn local(
        &self,
        addr: SocketAddr,
        req: Request<Body>,
    ) -> Result<Response<Body>, Failure> {
        match self.locals.get(&addr) {
            Some(handler) => handler.call(req).await.map_err(Failure::Failed),
            None => self.remote(addr, req).await,
        }
    }

    async fn remote(&self, to: SocketAddr, req: Request<Body>) -> Result<Response<Body>, Failure> {
        self.forward(&self.client, &to.to_string(), req).await
    }

    /// To node `node`'s router at `addr`: the URI names the node (the connection is
    /// checked against its name, and pooled per node), the book says where it is.
    async fn to_peer(
        &self,
        addr: SocketAddr,
        node: &str,
        req: Request<Body>,
    ) -> Result<Response<Body>, Failure> {
        let host = skiff_pki::identity::node_server_name(node);
        self.book.note(&host, addr);
        self.forward(&self.peers, &format!("{host}:{}", addr.port()), req)
            .await
    }

    async fn forward<C>(
        &self,
        client: &Client<C, Body>,
        to: &str,
        mut req: Request<Body>,
    ) -> Result<Response<Body>, Failure>
    where
        C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
    {
        let pq = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        // An HTTP/2 request's host is in its URI: keep it as the Host header.
        if !req.headers().contains_key(header::HOST)
            && let Some(a) = req.uri().authority()
            && let Ok(v) = HeaderValue::from_str(a.as_str())
        {
            req.headers_mut().insert(header::HOST, v);
        }
        *req.uri_mut() = Uri::try_from(format!("http://{to}{pq}"))
            .map_err(|e| Failure::Failed(format!("{to}{pq}: {e}")))?;
        // HTTP/2 may split the Cookie header; HTTP/1.1 servers expect one (RFC 9113
        // 8.2.3).
        if req.version() == hyper::Version::HTTP_2
            && req.headers().get_all(header::COOKIE).iter().count() > 1
        {
            let joined: Vec<&str> = req
                .headers()
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if let Ok(v) = HeaderValue::from_str(&joined.join("; ")) {
                req.headers_mut().insert(header::COOKIE, v);
            }
        }
        *req.version_mut() = hyper::Version::HTTP_11;
        let trailers = req
            .headers()
            .get(header::TE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("trailers"));
        strip_hop_by_hop(req.headers_mut());
        // The next hop sends trailers back only when asked to.
        if trailers {
            req.headers_mut()
                .insert(header::TE, HeaderValue::from_static("trailers"));
        }
        match client.request(req).await {
            Ok(mut resp) => {
                strip_hop_by_hop(resp.headers_mut());
                Ok(resp.map(|b| b.map_err(Into::into).boxed_unsync()))
            }
            Err(e) if e.is_connect() => {
                Err(Failure::NotSent(format!("connecting to {to}: {e}"), None))
            }
            Err(e) => Err(Failure::Failed(format!("{to}: {e}"))),
        }
    }
}

/// Removes the headers that describe one connection: the standard ones and those the
/// `Connection` header names.
fn strip_hop_by_hop(h: &mut hyper::HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in HOP_BY_HOP {
        h.remove(n);
    }
}

/// A request's head, kept to send it again with an empty body when that is safe: an
/// idempotent method and no body.
pub struct Spare {
    method: Method,
    uri: Uri,
    version: hyper::Version,
    headers: hyper::HeaderMap,
}

impl Spare {
    pub fn of(req: &Request<Body>) -> Option<Spare> {
        use hyper::body::Body as _;
        let idempotent = matches!(
            *req.method(),
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::TRACE
                | Method::PUT
                | Method::DELETE
        );
        (idempotent && req.body().is_end_stream()).then(|| Spare {
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            headers: req.headers().clone(),
        })
    }

    pub fn request(&self) -> Request<Body> {
        let mut r = Request::new(empty());
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = self.uri.clone();
        *r.version_mut() = self.version;
        *r.headers_mut() = self.headers.clone();
        r
    }
}

/// An empty body.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}
