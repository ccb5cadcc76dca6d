//! The router: every node's front door for HTTP, in place of kube-proxy, an ingress
//! controller and Knative's activator. A request is matched to a route (an Ingress or an
//! HTTPRoute rule) or an in-cluster Service name, a backend is chosen by weight, and an
//! endpoint by the power of two choices; a local Wasm pod is called in-process, a pod on
//! another node through that node's router.
//!
//! # Layout
//! - `table`: the compiled routing table and its matching rules (pure).
//! - `balance`: endpoints, backends, weighted choice and two choices.
//! - `filters`: HttpFilters (Wasm components) loaded once per node and run on the
//!   requests and responses of the rules that name them.
//! - `dispatch`: a routed request to an endpoint, a woken instance, or held.
//! - `proxy`: sending one request to one endpoint.
//! - `peer`: the TLS hop to another node's router (node certificates, pooled per node).
//! - `outbound`: pods' in-cluster calls (the `wasi:http` outgoing hook).
//! - `locals`: this node's Wasm handlers, called in-process.
//! - `listen`: the HTTP/1.1 and HTTP/2 ingress listener and its limits.
//! - `sources`: Services, Endpoints, Ingresses, HTTPRoutes and Nodes, watched and turned
//!   into the table.
//! - `metrics`: counters and histograms per route and per endpoint.
//! - `traffic`: what each pod on this node is asked (in flight, answered, errors,
//!   latency), for the autoscaler and the per-pod series.
//! - `activate`: scale from zero: waking a Deployment, holding requests meanwhile.
//! - `dns`: the pods' resolver for Service names, on the pod network's gateway.

mod activate;
mod balance;
mod dispatch;
pub mod dns;
mod filters;
pub(crate) mod listen;
mod locals;
mod metrics;
mod outbound;
mod peer;
mod proxy;
mod sources;
pub mod table;
pub mod traffic;

use std::net::IpAddr;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};

pub use activate::{ACTIVATED_ANNOTATION, Activator};
pub use filters::FilterLoader;
pub use listen::{serve, serve_peers, serve_pods};
pub use locals::{LocalEndpoint, Locals, Registration};
pub use sources::watch;
pub use table::Table;

use balance::Backend;
use proxy::{ENDPOINT_HEADER, Upstreams};
use traffic::Traffic;

/// A request or response body as `wasi:http` and the router pass it on.
pub type Body = wasmtime_wasi_http::WasiBody;

/// What a router accepts and how long it waits.
#[derive(Debug, Clone)]
pub struct RouterLimits {
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: u64,
    /// Larger request heads are refused with 431.
    pub max_header_bytes: usize,
    /// How long a request may wait for its response head, unless its route says (504).
    pub timeout: Duration,
    /// Other endpoints tried after one took a request and failed before answering
    /// (idempotent requests without a body only). Endpoints that refuse a request (nothing
    /// sent) do not count: up to 16 of them are tried.
    pub retries: usize,
    /// Requests held at once, waiting for a Service woken from zero (more get 503).
    pub max_held: usize,
    /// How long a held request waits for an endpoint (then 503).
    pub hold_timeout: Duration,
}

impl Default for RouterLimits {
    fn default() -> Self {
        RouterLimits {
            max_body_bytes: 16 << 20,
            max_header_bytes: 32 << 10,
            timeout: Duration::from_secs(60),
            retries: 2,
            max_held: 1024,
            hold_timeout: Duration::from_secs(30),
        }
    }
}

/// One node's router.
pub struct Router {
    node: String,
    table: RwLock<Arc<Table>>,
    /// Counts table builds, so held requests look again.
    built: tokio::sync::watch::Sender<u64>,
    upstreams: Upstreams,
    limits: RouterLimits,
    metrics: metrics::Metrics,
    activator: OnceLock<Arc<dyn Activator>>,
    /// The cluster's HttpFilters, loaded on this node.
    filters: Arc<filters::Filters>,
    held: tokio::sync::Semaphore,
    /// Itself, for the in-cluster calls of instances it wakes.
    me: std::sync::Weak<Router>,
    /// This node's pods by address: their namespace (for their in-cluster calls) and
    /// what they are asked.
    pods: RwLock<std::collections::HashMap<IpAddr, Arc<Traffic>>>,
}

/// A pod's place in the router's address book, given back when dropped.
pub struct PodAddress {
    router: Arc<Router>,
    ip: IpAddr,
    traffic: Arc<Traffic>,
}

impl PodAddress {
    /// What the pod is asked.
    pub fn traffic(&self) -> &Arc<Traffic> {
        &self.traffic
    }
}

impl Drop for PodAddress {
    fn drop(&mut self) {
        self.router
            .pods
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.ip);
    }
}

/// A response the router makes itself: `status` and a one-line reason.
pub fn answer(status: StatusCode, why: impl Into<String>) -> Response<Body> {
    let mut text = why.into();
    text.push('\n');
    let mut r = Response::new(
        Full::new(Bytes::from(text))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Where a request goes.
struct Decision {
    route: Arc<str>,
    backend: Arc<Backend>,
    timeout: Duration,
    /// The rule's HttpFilters.
    filters: Vec<table::ServiceKey>,
}

impl Router {
    /// A router for node `node`; `tls` (the node's certificate) secures the hop to other
    /// nodes' routers.
    pub fn new(
        node: String,
        locals: Arc<Locals>,
        limits: RouterLimits,
        tls: &skiff_pki::Tls,
    ) -> Arc<Router> {
        Arc::new_cyclic(|me| Router {
            me: me.clone(),
            pods: RwLock::default(),
            node,
            table: RwLock::default(),
            built: tokio::sync::watch::Sender::new(0),
            upstreams: Upstreams::new(locals, tls),
            held: tokio::sync::Semaphore::new(limits.max_held),
            limits,
            metrics: metrics::Metrics::default(),
            activator: OnceLock::new(),
            filters: Arc::default(),
        })
    }

    /// Gets `w`'s local instance ready in the background.
    fn prewarm(&self, w: Arc<activate::Wakeable>) {
        if let (Some(a), Some(me)) = (self.activator.get().cloned(), self.me.upgrade()) {
            tokio::spawn(async move {
                w.instance(&a, || me.outbound(&w.deployment.namespace))
                    .await;
            });
        }
    }

    /// In-cluster calls as pods of `namespace` make them (the router itself may be going
    /// away: then calls go out as any request would).
    fn outbound_for(&self, namespace: &str) -> Arc<dyn crate::wasm::Outbound> {
        match self.me.upgrade() {
            Some(me) => me.outbound(namespace),
            None => Arc::new(outbound::Nowhere),
        }
    }

    /// What loads HttpFilters' components (set once, by the agent).
    pub fn set_filter_loader(&self, l: Arc<dyn FilterLoader>) {
        self.filters.set_loader(l);
    }

    /// What wakes Deployments scaled to zero (set once, by the agent).
    pub fn set_activator(&self, a: Arc<dyn Activator>) {
        let _ = self.activator.set(a);
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn limits(&self) -> &RouterLimits {
        &self.limits
    }

    /// The table in use.
    pub fn table(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Changes each time a new table is put in use.
    pub fn tables(&self) -> tokio::sync::watch::Receiver<u64> {
        self.built.subscribe()
    }

    /// Puts `t` in use.
    pub fn set_table(&self, t: Table) {
        self.metrics.keep_endpoints(&t.endpoint_labels());
        self.metrics.keep_routes(&t.route_labels());
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(t);
        self.built.send_modify(|n| *n += 1);
    }

    /// Registers the router's series in the node's registry.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.metrics.register(registry);
    }

    /// The metrics, in the Prometheus text format.
    pub fn metrics(&self) -> String {
        self.metrics.encode()
    }

    /// What each route was asked since the router started.
    pub fn route_traffic(&self) -> Vec<(String, traffic::TrafficSnapshot)> {
        self.metrics.routes()
    }

    /// A call from a pod of this node's pod network, in `namespace` (when the pod is
    /// known): routed as an in-cluster call; nothing may name an endpoint.
    pub async fn from_pod(&self, req: Request<Body>, namespace: Option<&str>) -> Response<Body> {
        self.route(req, namespace).await
    }

    /// The namespace of the pod at `ip` on this node.
    pub fn pod_namespace(&self, ip: IpAddr) -> Option<String> {
        self.traffic_of(ip).map(|t| t.namespace.clone())
    }

    /// Records that the pod `namespace/name` is at `ip` until the guard is dropped, and
    /// counts what it is asked.
    pub fn register_pod(self: &Arc<Self>, ip: IpAddr, namespace: &str, name: &str) -> PodAddress {
        let traffic = Arc::new(Traffic::new(namespace, name));
        self.pods
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ip, traffic.clone());
        PodAddress {
            router: self.clone(),
            ip,
            traffic,
        }
    }

    /// The counters of the pod at `ip` on this node.
    fn traffic_of(&self, ip: IpAddr) -> Option<Arc<Traffic>> {
        self.pods
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ip)
            .cloned()
    }

    /// A request from the ingress listener: routed (an endpoint it names is ignored; only
    /// other nodes' routers, on the peer listener, may name one).
    pub async fn ingress(&self, req: Request<Body>) -> Response<Body> {
        self.route(req, None).await
    }

    /// A request from another node's router (its certificate checked by the peer
    /// listener): for the local endpoint it names.
    pub async fn from_peer(&self, mut req: Request<Body>) -> Response<Body> {
        match req.headers_mut().remove(ENDPOINT_HEADER) {
            Some(v) => self.forwarded(v, req, Instant::now()).await,
            None => answer(
                StatusCode::BAD_REQUEST,
                format!("a request between routers names its endpoint in {ENDPOINT_HEADER}"),
            ),
        }
    }

    /// Routes `req`: from the ingress listener (`caller` is `None`), or from a pod in
    /// namespace `caller` (an in-cluster call, which may name a Service by itself).
    pub async fn route(&self, mut req: Request<Body>, caller: Option<&str>) -> Response<Body> {
        let start = Instant::now();
        // Only a node's router may name an endpoint (see `ingress`).
        req.headers_mut().remove(ENDPOINT_HEADER);
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let host = req
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| {
                req.headers()
                    .get(hyper::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        match self.decide(&req, &host, caller) {
            Ok(d) => {
                let calls = match d.filters.is_empty() {
                    true => Vec::new(),
                    false => match self.filters.before(&d.filters, &mut req, &host).await {
                        Ok(calls) => calls,
                        Err(answered) => {
                            self.log(&d.route, &method, &host, &path, answered.status(), start);
                            return answered;
                        }
                    },
                };
                let timeout = d.timeout;
                let sent = self.dispatch(&d, req);
                let resp = if timeout.is_zero() {
                    sent.await
                } else {
                    match tokio::time::timeout(timeout, sent).await {
                        Ok(r) => r,
                        Err(_) => answer(
                            StatusCode::GATEWAY_TIMEOUT,
                            format!(
                                "{} did not answer within {timeout:?} (the route's timeout)",
                                d.backend.service
                            ),
                        ),
                    }
                };
                let resp = match calls.is_empty() {
                    true => resp,
                    false => filters::after(calls, resp).await,
                };
                self.log(&d.route, &method, &host, &path, resp.status(), start);
                resp
            }
            Err((status, why)) => {
                self.log("-", &method, &host, &path, status, start);
                answer(status, why)
            }
        }
    }

    fn log(
        &self,
        route: &str,
        method: &hyper::Method,
        host: &str,
        path: &str,
        status: StatusCode,
        start: Instant,
    ) {
        let took = start.elapsed();
        self.metrics.request(route, status.as_u16(), took);
        tracing::info!(
            target: "skiff::access",
            route,
            %method,
            host,
            path,
            status = status.as_u16(),
            micros = took.as_micros() as u64,
        );
    }

    /// The route and backend for a request, or the answer that says why there is none.
    fn decide(
        &self,
        req: &Request<Body>,
        authority: &str,
        caller: Option<&str>,
    ) -> Result<Decision, (StatusCode, String)> {
        let table = self.table();
        let host = table::canonical_host(authority);
        let port = authority
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok());
        // A pod names a Service by itself or in full; outside callers in full only
        // (`NAME.NAMESPACE.svc`), and their routes come first.
        let service = || {
            let full = host.ends_with(".svc") || host.ends_with(".svc.cluster.local");
            let named = caller.is_some() || full;
            let backend = table.service(&host, port, caller.unwrap_or(""));
            named.then_some(backend).flatten().map(|backend| Decision {
                route: format!("service/{}", backend.service).into(),
                backend,
                timeout: self.limits.timeout,
                filters: Vec::new(),
            })
        };
        if caller.is_some()
            && let Some(d) = service()
        {
            return Ok(d);
        }
        let rule = table.route(
            &host,
            req.method(),
            req.uri().path(),
            req.uri().query(),
            req.headers(),
        );
        if let Some(rule) = rule {
            let target = balance::weighted(&rule.backends, rule.total_weight).ok_or_else(|| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("{}: every backend has weight 0", rule.route),
                )
            })?;
            let backend = target.as_ref().map_err(|why| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("{}: {why}", rule.route),
                )
            })?;
            return Ok(Decision {
                route: rule.route.clone(),
                backend: backend.clone(),
                timeout: rule.timeout.unwrap_or(self.limits.timeout),
                filters: rule.filters.clone(),
            });
        }
        if let Some(d) = service() {
            return Ok(d);
        }
        Err((
            StatusCode::NOT_FOUND,
            format!(
                "no route for host {host:?} and path {:?} (see `skiff get ingress,httproute -A`)",
                req.uri().path()
            ),
        ))
    }
}
