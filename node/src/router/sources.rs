//! What the routing table is made of, watched from the control plane: Services and their
//! Endpoints, Ingresses, HTTPRoutes and the HttpFilters they name, and Nodes (where each node's router listens). Each
//! kind is listed, then watched; every change rebuilds the table (changes that arrive
//! together make one build).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use skiff_proto::grpc::api::WatchEventType;
use skiff_proto::model::deployment::Deployment;
use skiff_proto::model::endpoints::Endpoints;
use skiff_proto::model::httproute::{self, HttpRoute, PathMatchType};
use skiff_proto::model::ingress::{Ingress, IngressBackend, PathType};
use skiff_proto::model::plugin::PluginSpec;
use skiff_proto::model::service::Service;
use skiff_proto::model::values::Time;
use skiff_proto::{Kind, Object};
use tokio::sync::Notify;

use super::Router;
use super::activate::{ACTIVATED_ANNOTATION, Wakeable};
use super::table::{
    BackendSpec, Nodes, PathMatch, PortRef, PortSpec, RouteSpec, RuleSpec, ServiceKey, Table,
};
use crate::cluster::ControlPlane;

/// An Ingress's request timeout (a duration such as `30s`), as ingress-nginx's
/// `proxy-read-timeout` annotation sets one.
pub const TIMEOUT_ANNOTATION: &str = "skiff.dev/request-timeout";

/// The watched objects, by namespace and name.
#[derive(Default)]
struct Sources {
    services: HashMap<ServiceKey, Service>,
    endpoints: HashMap<ServiceKey, Endpoints>,
    ingresses: HashMap<ServiceKey, Ingress>,
    routes: HashMap<ServiceKey, HttpRoute>,
    /// HttpFilters' components and limits.
    filters: HashMap<ServiceKey, PluginSpec>,
    nodes: Nodes,
    /// Every Deployment (a request may wake one that is autoscaled to zero).
    deployments: HashMap<ServiceKey, Deployment>,
    /// HorizontalPodAutoscalers with `minReplicas: 0`: the Deployment each one scales.
    to_zero: HashMap<ServiceKey, ServiceKey>,
    /// What a request may wake, kept across builds while it is needed.
    wakeables: HashMap<ServiceKey, Arc<Wakeable>>,
}

const KINDS: [Kind; 8] = [
    Kind::HttpFilter,
    Kind::HorizontalPodAutoscaler,
    Kind::Service,
    Kind::Endpoints,
    Kind::Ingress,
    Kind::HttpRoute,
    Kind::Node,
    Kind::Deployment,
];

/// Keeps `router`'s table current until the task is dropped.
pub async fn watch(router: Arc<Router>, cp: Arc<ControlPlane>) {
    let sources = Arc::new(Mutex::new(Sources::default()));
    let changed = Arc::new(Notify::new());
    let mut tasks = tokio::task::JoinSet::new();
    for kind in KINDS {
        tasks.spawn(follow(kind, cp.clone(), sources.clone(), changed.clone()));
    }
    loop {
        changed.notified().await;
        let (table, fresh) = {
            let mut s = sources.lock().unwrap_or_else(|p| p.into_inner());
            let before: Vec<Arc<Wakeable>> = s.wakeables.values().cloned().collect();
            let table = build(&mut s, router.node(), &router.table());
            router.filters.sync(&s.filters);
            let fresh: Vec<Arc<Wakeable>> = s
                .wakeables
                .values()
                .filter(|w| !before.iter().any(|b| Arc::ptr_eq(b, w)))
                .cloned()
                .collect();
            (table, fresh)
        };
        router.set_table(table);
        // Ready the instance of each Deployment that went to zero, so the request that
        // wakes it waits for nothing but the instance itself.
        for w in fresh {
            router.prewarm(w);
        }
    }
}

fn key_of(o: &Object) -> ServiceKey {
    let m = o.metadata();
    ServiceKey {
        namespace: m.namespace.clone(),
        name: m.name.clone(),
    }
}

/// Lists, then watches, objects of `kind` into `sources`, forever.
async fn follow(
    kind: Kind,
    cp: Arc<ControlPlane>,
    sources: Arc<Mutex<Sources>>,
    changed: Arc<Notify>,
) {
    loop {
        let (items, revision) = match cp.list(kind, "").await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(kind = kind.name(), error = %e, "router: listing");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        {
            let mut s = sources.lock().unwrap_or_else(|p| p.into_inner());
            s.clear(kind);
            for o in items {
                s.put(o);
            }
        }
        changed.notify_one();
        let mut stream = match cp.watch(kind, "", revision).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(kind = kind.name(), error = %e, "router: watching");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        while let Ok(Some(ev)) = stream.message().await {
            let Some(env) = ev.object.as_ref() else {
                continue;
            };
            let Ok(o) = crate::cluster::object(env) else {
                continue;
            };
            {
                let mut s = sources.lock().unwrap_or_else(|p| p.into_inner());
                if ev.r#type == WatchEventType::Deleted as i32 {
                    s.remove(&o);
                } else {
                    s.put(o);
                }
            }
            changed.notify_one();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Sources {
    fn clear(&mut self, kind: Kind) {
        match kind {
            Kind::Service => self.services.clear(),
            Kind::Endpoints => self.endpoints.clear(),
            Kind::Ingress => self.ingresses.clear(),
            Kind::HttpRoute => self.routes.clear(),
            Kind::HttpFilter => self.filters.clear(),
            Kind::Node => self.nodes.clear(),
            Kind::Deployment => self.deployments.clear(),
            Kind::HorizontalPodAutoscaler => self.to_zero.clear(),
            _ => {}
        }
    }

    fn put(&mut self, o: Object) {
        let k = key_of(&o);
        match o {
            Object::Service(s) => drop(self.services.insert(k, s)),
            Object::Endpoints(e) => drop(self.endpoints.insert(k, e)),
            Object::Ingress(i) => drop(self.ingresses.insert(k, i)),
            Object::HttpRoute(r) => drop(self.routes.insert(k, r)),
            Object::HttpFilter(f) => drop(self.filters.insert(k, f.spec)),
            Object::Deployment(d) => drop(self.deployments.insert(k, d)),
            Object::HorizontalPodAutoscaler(h) => {
                let r = &h.spec.scale_target_ref;
                if h.spec.min_replicas == Some(0) && r.kind == Kind::Deployment.name() {
                    let target = ServiceKey {
                        namespace: k.namespace.clone(),
                        name: r.name.clone(),
                    };
                    self.to_zero.insert(k, target);
                } else {
                    self.to_zero.remove(&k);
                }
            }
            Object::Node(n) => {
                let addr = n
                    .status
                    .as_ref()
                    .and_then(|s| s.peer_address())
                    .and_then(|a| a.parse::<SocketAddr>().ok());
                match addr {
                    Some(a) => drop(self.nodes.insert(k.name, a)),
                    None => drop(self.nodes.remove(&k.name)),
                }
            }
            _ => {}
        }
    }

    fn remove(&mut self, o: &Object) {
        let k = key_of(o);
        match o {
            Object::Service(_) => drop(self.services.remove(&k)),
            Object::Endpoints(_) => drop(self.endpoints.remove(&k)),
            Object::Ingress(_) => drop(self.ingresses.remove(&k)),
            Object::HttpRoute(_) => drop(self.routes.remove(&k)),
            Object::HttpFilter(_) => drop(self.filters.remove(&k)),
            Object::Node(_) => drop(self.nodes.remove(&k.name)),
            Object::Deployment(_) => drop(self.deployments.remove(&k)),
            Object::HorizontalPodAutoscaler(_) => drop(self.to_zero.remove(&k)),
            _ => {}
        }
    }
}

/// The table for `s`.
fn build(s: &mut Sources, me: &str, prev: &Table) -> Table {
    let mut wakeables = HashMap::new();
    let mut services: HashMap<ServiceKey, Vec<PortSpec>> = HashMap::new();
    for (k, svc) in &s.services {
        let mut ports = ports(svc, s.endpoints.get(k));
        if ports.iter().all(|p| p.endpoints.is_empty())
            && let Some(w) = wakeable(s, k, svc)
        {
            for p in &mut ports {
                p.wake = Some(w.clone());
            }
            wakeables.insert(w.deployment.clone(), w);
        }
        services.insert(k.clone(), ports);
    }
    s.wakeables = wakeables;
    let mut routes = Vec::new();
    for (k, i) in &s.ingresses {
        routes.extend(ingress(k, i));
    }
    for (k, r) in &s.routes {
        routes.push(http_route(k, r));
    }
    Table::build(&routes, &services, &s.nodes, me, prev)
}

/// The Deployment behind Service `k` (which has no ready endpoint) that a request may
/// wake: its pods would be the Service's, it is a Wasm workload, and an HPA with
/// `minReplicas: 0` scales it.
fn wakeable(s: &Sources, k: &ServiceKey, svc: &Service) -> Option<Arc<Wakeable>> {
    if svc.spec.selector.is_empty() {
        return None;
    }
    let scalable = s
        .to_zero
        .values()
        .filter_map(|dk| Some((dk, s.deployments.get(dk)?)));
    let (dk, d) = scalable.into_iter().find(|(dk, d)| {
        let labels = &d.spec.template.metadata.labels;
        dk.namespace == k.namespace
            && d.spec.template.spec.is_wasm()
            && svc
                .spec
                .selector
                .iter()
                .all(|(l, v)| labels.get(l) == Some(v))
            && (d.spec.replicas == Some(0) || waking(d))
    })?;
    Some(match s.wakeables.get(dk) {
        Some(w) if w.is_for(&d.spec.template) => w.clone(),
        _ => Arc::new(Wakeable::new(dk.clone(), d.spec.template.clone())),
    })
}

/// Woken in the last minute and not available yet: its first pod is still starting. (A
/// Deployment whose pods fail readiness for longer is not served around its probes.)
fn waking(d: &Deployment) -> bool {
    let available = d.status.as_ref().map_or(0, |s| s.available_replicas);
    let recent = d
        .metadata
        .annotations
        .get(ACTIVATED_ANNOTATION)
        .and_then(|t| Time::parse(t).ok())
        .is_some_and(|t| Time::now().unix_seconds.saturating_sub(t.unix_seconds) < 60);
    available == 0 && recent
}

/// A Service's ports and each one's ready endpoints.
fn ports(svc: &Service, eps: Option<&Endpoints>) -> Vec<PortSpec> {
    let single = svc.spec.ports.len() == 1;
    svc.spec
        .ports
        .iter()
        .filter_map(|p| {
            let port = u16::try_from(p.port).ok()?;
            let mut endpoints = Vec::new();
            for subset in eps.map(|e| e.subsets.as_slice()).unwrap_or_default() {
                let target = subset
                    .ports
                    .iter()
                    .find(|ep| ep.name == p.name || (single && subset.ports.len() == 1))
                    .and_then(|ep| u16::try_from(ep.port).ok());
                let Some(target) = target else { continue };
                for a in &subset.addresses {
                    if let Ok(ip) = a.ip.parse::<IpAddr>() {
                        endpoints.push((SocketAddr::new(ip, target), a.node_name.clone()));
                    }
                }
            }
            Some(PortSpec {
                port,
                name: p.name.clone(),
                endpoints,
                wake: None,
            })
        })
        .collect()
}

fn created(o: &skiff_proto::model::meta::ObjectMeta) -> i64 {
    o.creation_timestamp
        .map_or(0, |t| i64::try_from(t.unix_seconds).unwrap_or(i64::MAX))
}

fn ingress_backend(ns: &str, b: &IngressBackend) -> Option<BackendSpec> {
    let svc = b.service.as_ref()?;
    let port = match (&svc.port.name, svc.port.number) {
        (Some(n), _) => PortRef::Name(n.clone()),
        (None, Some(n)) => PortRef::Number(u16::try_from(n).ok()?),
        (None, None) => return None,
    };
    Some(BackendSpec {
        service: ServiceKey {
            namespace: ns.into(),
            name: svc.name.clone(),
        },
        port,
        weight: 1,
    })
}

/// An Ingress: a route per rule (each rule has its own host), and one for the default
/// backend on every host.
fn ingress(k: &ServiceKey, i: &Ingress) -> Vec<RouteSpec> {
    let name = format!("ingress/{k}");
    let timeout = i
        .metadata
        .annotations
        .get(TIMEOUT_ANNOTATION)
        .and_then(|t| humantime::parse_duration(t).ok());
    let mut out = Vec::new();
    for rule in &i.spec.rules {
        let rules = rule
            .http
            .iter()
            .flat_map(|h| &h.paths)
            .filter_map(|p| {
                let path = p.path.as_deref().unwrap_or("/");
                Some(RuleSpec {
                    path: match p.path_type {
                        PathType::Exact => PathMatch::Exact(path.into()),
                        PathType::Prefix | PathType::ImplementationSpecific => {
                            PathMatch::prefix(path)
                        }
                    },
                    method: None,
                    headers: Vec::new(),
                    query: Vec::new(),
                    backends: vec![ingress_backend(&k.namespace, &p.backend)?],
                    timeout,
                    filters: Vec::new(),
                })
            })
            .collect();
        out.push(RouteSpec {
            name: name.clone(),
            hosts: rule.host.iter().cloned().collect(),
            rules,
            created: created(&i.metadata),
        });
    }
    if let Some(b) = i
        .spec
        .default_backend
        .as_ref()
        .and_then(|b| ingress_backend(&k.namespace, b))
    {
        out.push(RouteSpec {
            name,
            hosts: Vec::new(),
            rules: vec![RuleSpec {
                path: PathMatch::prefix("/"),
                method: None,
                headers: Vec::new(),
                query: Vec::new(),
                backends: vec![b],
                timeout,
                filters: Vec::new(),
            }],
            created: created(&i.metadata),
        });
    }
    out
}

/// An HTTPRoute: a rule per match (matches within a rule are alternatives).
fn http_route(k: &ServiceKey, r: &HttpRoute) -> RouteSpec {
    let mut rules = Vec::new();
    for rule in &r.spec.rules {
        let backends: Vec<BackendSpec> = rule
            .backend_refs
            .iter()
            // Only Services in the route's own namespace (the API refuses others; one
            // stored before that rule is ignored, as the Gateway API ignores a reference
            // no ReferenceGrant allows).
            .filter(|b| b.namespace.as_ref().is_none_or(|ns| *ns == k.namespace))
            .filter_map(|b| {
                Some(BackendSpec {
                    service: ServiceKey {
                        namespace: k.namespace.clone(),
                        name: b.name.clone(),
                    },
                    port: PortRef::Number(u16::try_from(b.port?).ok()?),
                    weight: b.weight(),
                })
            })
            .collect();
        let timeout = rule
            .timeouts
            .as_ref()
            .and_then(|t| t.request.as_deref())
            .and_then(|t| httproute::parse_duration(t).ok());
        // HttpFilters of the route's namespace (the API refuses other filter kinds).
        let filters: Vec<ServiceKey> = rule
            .filters
            .iter()
            .filter_map(|f| f.extension_ref.as_ref())
            .map(|r| ServiceKey {
                namespace: k.namespace.clone(),
                name: r.name.clone(),
            })
            .collect();
        let default = [httproute::HttpRouteMatch::default()];
        let matches = if rule.matches.is_empty() {
            &default[..]
        } else {
            &rule.matches[..]
        };
        for m in matches {
            let path = match &m.path {
                Some(p) if p.type_ == PathMatchType::Exact => PathMatch::Exact(p.value.clone()),
                Some(p) => PathMatch::prefix(&p.value),
                None => PathMatch::prefix("/"),
            };
            // A match that cannot be compiled is left out whole: dropping one of its
            // conditions would widen it to requests it was written to exclude.
            let method = match m.method.as_deref().map(str::parse::<hyper::Method>) {
                None => None,
                Some(Ok(x)) => Some(x),
                Some(Err(_)) => continue,
            };
            let headers: Option<Vec<_>> = m
                .headers
                .iter()
                .map(|h| {
                    Some((
                        HeaderName::from_bytes(h.name.to_ascii_lowercase().as_bytes()).ok()?,
                        HeaderValue::from_bytes(h.value.as_bytes()).ok()?,
                    ))
                })
                .collect();
            let Some(headers) = headers else {
                tracing::warn!(route = %k, "router: a header match cannot be compiled; the match is left out");
                continue;
            };
            rules.push(RuleSpec {
                path,
                method,
                headers,
                query: m
                    .query_params
                    .iter()
                    .map(|q| (q.name.clone(), q.value.clone()))
                    .collect(),
                backends: backends.clone(),
                timeout,
                filters: filters.clone(),
            });
        }
    }
    RouteSpec {
        name: format!("httproute/{k}"),
        hosts: r.spec.hostnames.clone(),
        rules,
        created: created(&r.metadata),
    }
}
