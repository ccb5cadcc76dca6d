//! What the `router` fuzz target in `fuzz/` runs, here so the inputs it keeps
//! (`fuzz/seeds/router`, `fuzz/regressions/router`) are replayed by the ordinary tests too.
//!
//! One input is what a client sends on one connection to a node's ingress (or, with the
//! first byte's low bit set, to the pods' gateway, as a pod of namespace `default`): the
//! rest of the bytes are written to the router's connection handler, the same one the
//! listeners run (hyper's HTTP/1.1 and HTTP/2 server with the router's limits), over an
//! in-memory stream, and the client's side is closed. The router has a fixed table: an
//! Ingress with exact, prefix, method, header and query rules, a wildcard host, an
//! HTTPRoute for every host with weighted backends and a timeout, Services whose
//! endpoints are in-process handlers on this node (one answers, one fails), and a Service
//! with no endpoint. No socket, no Wasm: what is fuzzed is the router's own handling of
//! whatever arrives.
//!
//! Properties: the handler returns (no panic, no hang: every route's timeout is short);
//! whatever it writes back is HTTP (a status line of HTTP/1.x, or HTTP/2 frames after the
//! client's preface); and the router never answers 500, which it keeps for its own
//! mistakes (a rule whose backends all have weight 0, a target it cannot resolve): the
//! table here has neither.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::router::table::{
    BackendSpec, PathMatch, PortRef, PortSpec, RouteSpec, RuleSpec, ServiceKey, Table,
};
use crate::router::{Body, LocalEndpoint, Locals, Registration, Router, RouterLimits};

/// The pod address the gateway variant calls from.
const POD: [u8; 4] = [10, 1, 0, 9];
/// How much of the response the harness reads at most.
const MAX_RESPONSE: usize = 1 << 20;
/// How long one input may take before the harness calls it a hang.
/// (Under libFuzzer's own `-timeout=10`, so the harness's message is the one seen.)
const WITHIN: Duration = Duration::from_secs(5);

/// Answers 200 with the request's method, path and body length, after reading the body.
struct Echo;

#[tonic::async_trait]
impl LocalEndpoint for Echo {
    async fn call(self: Arc<Self>, req: Request<Body>) -> Result<Response<Body>, String> {
        let head = format!("{} {}", req.method(), req.uri().path());
        let body = req.into_body().collect().await.map_err(|e| e.to_string())?;
        let text = format!("{head} {}\n", body.to_bytes().len());
        Ok(Response::new(
            Full::new(text.into())
                .map_err(|e| match e {})
                .boxed_unsync(),
        ))
    }
}

/// Fails every call, as a workload that trapped.
struct Fails;

#[tonic::async_trait]
impl LocalEndpoint for Fails {
    async fn call(self: Arc<Self>, _: Request<Body>) -> Result<Response<Body>, String> {
        Err("the handler trapped".into())
    }
}

/// The router under test and what keeps its endpoints registered.
struct Harness {
    rt: tokio::runtime::Runtime,
    router: Arc<Router>,
    _endpoints: Vec<Registration>,
    _pod: crate::router::PodAddress,
}

fn key(name: &str) -> ServiceKey {
    ServiceKey {
        namespace: "default".into(),
        name: name.into(),
    }
}

fn to(name: &str, weight: u32) -> BackendSpec {
    BackendSpec {
        service: key(name),
        port: PortRef::Number(80),
        weight,
    }
}

fn rule(path: PathMatch, backends: Vec<BackendSpec>) -> RuleSpec {
    RuleSpec {
        path,
        method: None,
        headers: Vec::new(),
        query: Vec::new(),
        backends,
        timeout: Some(Duration::from_secs(2)),
        filters: Vec::new(),
    }
}

fn routes() -> Vec<RouteSpec> {
    let mut post = rule(PathMatch::Exact("/api".into()), vec![to("api", 1)]);
    post.method = Some(Method::POST);
    let mut canary = rule(PathMatch::prefix("/"), vec![to("broken", 1)]);
    canary.headers = vec![(
        hyper::header::HeaderName::from_static("x-canary"),
        hyper::header::HeaderValue::from_static("yes"),
    )];
    let mut v2 = rule(PathMatch::prefix("/docs"), vec![to("empty", 1)]);
    v2.query = vec![("v".into(), "2".into())];
    vec![
        RouteSpec {
            name: "ingress/default/web".into(),
            hosts: vec!["web.example".into(), "*.wild.example".into()],
            rules: vec![
                rule(PathMatch::prefix("/"), vec![to("web", 1)]),
                post,
                canary,
                v2,
                rule(PathMatch::Exact("/docs".into()), vec![to("api", 1)]),
            ],
            created: 1,
        },
        RouteSpec {
            name: "httproute/default/split".into(),
            hosts: Vec::new(),
            rules: vec![rule(
                PathMatch::prefix("/split"),
                vec![to("web", 3), to("broken", 1), to("api", 1)],
            )],
            created: 2,
        },
    ]
}

/// Services `web`, `api` (answering), `broken` (failing), on this node; `empty` has no
/// endpoint.
fn services() -> HashMap<ServiceKey, Vec<PortSpec>> {
    let port = |endpoints: Vec<SocketAddr>| PortSpec {
        port: 80,
        name: Some("http".into()),
        endpoints: endpoints
            .into_iter()
            .map(|a| (a, Some("n1".to_string())))
            .collect(),
        wake: None,
    };
    HashMap::from([
        (key("web"), vec![port(vec![addr(1), addr(2)])]),
        (key("api"), vec![port(vec![addr(3)])]),
        (key("broken"), vec![port(vec![addr(4)])]),
        (key("empty"), vec![port(Vec::new())]),
    ])
}

fn addr(host: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, host], 8080))
}

/// A node certificate (node `n1`) from a CA made for the run.
pub fn node_tls() -> skiff_pki::Tls {
    let ca = skiff_pki::Ca::create("fuzz").expect("a CA");
    let creds = ca
        .issue(&skiff_pki::Issue {
            role: skiff_pki::Role::Node { name: "n1".into() },
            addresses: Vec::new(),
            valid_for: Duration::from_secs(24 * 3600),
        })
        .expect("a node certificate");
    skiff_pki::Tls::new(&creds).expect("TLS from the node certificate")
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let locals = Arc::new(Locals::default());
        let limits = RouterLimits {
            max_body_bytes: 64 << 10,
            max_header_bytes: 8 << 10,
            timeout: Duration::from_secs(2),
            ..RouterLimits::default()
        };
        let router = Router::new("n1".into(), locals.clone(), limits, &node_tls());
        let echo: Arc<dyn LocalEndpoint> = Arc::new(Echo);
        let mut endpoints: Vec<Registration> = [1, 2, 3]
            .into_iter()
            .map(|h| locals.register(addr(h), echo.clone()))
            .collect();
        endpoints.push(locals.register(addr(4), Arc::new(Fails)));
        let nodes = HashMap::from([("n1".to_string(), SocketAddr::from(([127, 0, 0, 1], 1)))]);
        let table = Table::build(&routes(), &services(), &nodes, "n1", &Table::default());
        router.set_table(table);
        let pod = rt.block_on(async { router.register_pod(POD.into(), "default", "client") });
        Harness {
            rt,
            router,
            _endpoints: endpoints,
            _pod: pod,
        }
    })
}

/// What the router wrote back for one input.
#[derive(Debug, Default)]
pub struct Answered {
    /// The bytes written back (at most 1 MiB read).
    pub bytes: Vec<u8>,
    /// The status codes of the HTTP/1.x responses in them.
    pub statuses: Vec<u16>,
}

/// Runs one input (see the module's comment); panics when a property fails.
pub fn router(data: &[u8]) -> Answered {
    let Some((&first, input)) = data.split_first() else {
        return Answered::default();
    };
    let h = harness();
    let from = match first & 1 {
        0 => crate::router::listen::From::Ingress,
        _ => crate::router::listen::From::Pod(POD.into()),
    };
    let input = input.to_vec();
    let router = h.router.clone();
    let bytes = h.rt.block_on(async move {
        let (client, server) = tokio::io::duplex(64 << 10);
        let mut builder = crate::router::listen::ingress_builder(&router);
        // The client closes its side once it has sent everything: the server answers
        // what came first (the listeners drop a connection whose client half-closed).
        builder.http1().half_close(true);
        let serve = crate::router::listen::serve_connection(router, &builder, server, from);
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let send = async move {
            // The server may stop reading (a refused head): what it took is enough.
            let _ = to_server.write_all(&input).await;
            let _ = to_server.shutdown().await;
        };
        let receive = async move {
            let mut out = Vec::new();
            let _ = (&mut from_server)
                .take(MAX_RESPONSE as u64)
                .read_to_end(&mut out)
                .await;
            out
        };
        let both = async { tokio::join!(serve, send, receive).2 };
        tokio::time::timeout(WITHIN, both)
            .await
            .expect("the router's connection handler returns")
    });
    check(data.get(1..).unwrap_or_default(), bytes)
}

/// The properties of what came back for `input`.
fn check(input: &[u8], bytes: Vec<u8>) -> Answered {
    let mut out = Answered {
        statuses: statuses(&bytes),
        bytes,
    };
    if input.starts_with(b"PRI * HTTP/2.0") {
        // HTTP/2: hyper's framing, not the router's to check here.
        out.statuses.clear();
        return out;
    }
    assert!(
        out.bytes.is_empty() || out.bytes.starts_with(b"HTTP/1."),
        "the router wrote something other than HTTP: {:?}",
        String::from_utf8_lossy(&out.bytes[..out.bytes.len().min(200)])
    );
    assert!(
        !out.statuses.contains(&500),
        "the router answered 500 (its own mistake): {:?}",
        String::from_utf8_lossy(&out.bytes[..out.bytes.len().min(2000)])
    );
    out
}

/// The status codes of the HTTP/1.x status lines in `bytes` (each response's first line,
/// found by its `HTTP/1.x NNN ` start after a line break).
fn statuses(bytes: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = find(&bytes[at..], b"HTTP/1.") {
        let start = at + i;
        let line = &bytes[start..];
        if (start == 0 || bytes[..start].ends_with(b"\n"))
            && let Some(code) = line.get(9..12)
            && let Ok(code) = std::str::from_utf8(code).unwrap_or("").parse::<u16>()
        {
            out.push(code);
        }
        at = start + 7;
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
#[path = "fuzzing_tests.rs"]
mod tests;
