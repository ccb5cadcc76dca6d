//! The routing table: what the router knows, compiled for the request path. Rules by
//! host (exact, then wildcard, then any host), each with its matches and weighted
//! backends; every Service port's ready endpoints. Built again whenever a watched object
//! changes; an endpoint's counters live on across builds (see [`Table::build`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Method};

use super::activate::Wakeable;
use super::balance::{Backend, Endpoint, Via};

/// A Service by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// How a request path is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Exact(String),
    /// Element-wise: `/api` matches `/api` and `/api/v1`, not `/apis`.
    Prefix(String),
}

impl PathMatch {
    /// A prefix without its trailing `/` (except the root), as Kubernetes compares them.
    pub fn prefix(p: &str) -> PathMatch {
        let t = p.trim_end_matches('/');
        PathMatch::Prefix(if t.is_empty() { "/".into() } else { t.into() })
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) if p == "/" => true,
            PathMatch::Prefix(p) => {
                path.starts_with(p.as_str())
                    && matches!(path.as_bytes().get(p.len()), None | Some(b'/'))
            }
        }
    }

    /// Longer, exact matches first.
    fn rank(&self) -> (u8, usize) {
        match self {
            PathMatch::Exact(p) => (0, usize::MAX - p.len()),
            PathMatch::Prefix(p) => (1, usize::MAX - p.len()),
        }
    }
}

/// A Service port, by number or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

/// One weighted backend of a rule, as written.
#[derive(Debug, Clone)]
pub struct BackendSpec {
    pub service: ServiceKey,
    pub port: PortRef,
    pub weight: u32,
}

/// One rule of a route, as written.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    pub path: PathMatch,
    pub method: Option<Method>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub query: Vec<(String, String)>,
    pub backends: Vec<BackendSpec>,
    pub timeout: Option<Duration>,
    /// HttpFilters run on the rule's requests, in order.
    pub filters: Vec<ServiceKey>,
}

/// An Ingress or an HTTPRoute, reduced to what routing needs.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// `ingress/NAMESPACE/NAME` or `httproute/NAMESPACE/NAME`: the access log's and
    /// metrics' route label.
    pub name: String,
    /// Empty: every host. `*.example.com`: any subdomain.
    pub hosts: Vec<String>,
    pub rules: Vec<RuleSpec>,
    /// Creation time: older routes win ties, as Gateway API says.
    pub created: i64,
}

/// A Service port and the ready endpoints behind it.
#[derive(Debug, Clone)]
pub struct PortSpec {
    pub port: u16,
    pub name: Option<String>,
    /// Ready endpoints: the pod's address and target port, and the node it runs on.
    pub endpoints: Vec<(SocketAddr, Option<String>)>,
    /// With no endpoint: the Deployment at zero a request wakes.
    pub wake: Option<Arc<Wakeable>>,
}

/// What a rule chose for one weighted backend.
pub type Target = Result<Arc<Backend>, Arc<str>>;

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub route: Arc<str>,
    path: PathMatch,
    method: Option<Method>,
    headers: Vec<(HeaderName, HeaderValue)>,
    query: Vec<(String, String)>,
    pub backends: Vec<(u32, Target)>,
    pub total_weight: u32,
    pub timeout: Option<Duration>,
    pub filters: Vec<ServiceKey>,
    /// Precedence (Gateway API's): exact paths, longer prefixes, a method, more headers,
    /// more query parameters, the older route, then its name and the rule's place.
    rank: (u8, usize, u8, usize, usize, i64, Arc<str>, usize),
}

impl Rule {
    fn matches(&self, method: &Method, path: &str, query: Option<&str>, h: &HeaderMap) -> bool {
        self.path.matches(path)
            && self.method.as_ref().is_none_or(|m| m == method)
            && self.headers.iter().all(|(n, v)| h.get(n) == Some(v))
            && self.query.iter().all(|(n, v)| {
                // The first value of a repeated parameter counts, as Gateway API says.
                query
                    .and_then(|q| {
                        q.split('&')
                            .filter_map(|kv| kv.split_once('='))
                            .find(|(k, _)| k == n)
                    })
                    .is_some_and(|(_, x)| x == v)
            })
    }
}

/// Where the nodes' routers take requests from other nodes: node name to peer address.
pub type Nodes = HashMap<String, SocketAddr>;

/// The compiled table.
#[derive(Debug, Default)]
pub struct Table {
    exact: HashMap<String, Vec<Arc<Rule>>>,
    /// `(".example.com", rules)`, longest suffix first.
    wildcard: Vec<(String, Vec<Arc<Rule>>)>,
    any: Vec<Arc<Rule>>,
    services: HashMap<ServiceKey, Vec<Arc<Backend>>>,
    /// Every endpoint by address and node, to carry counters into the next build.
    endpoints: HashMap<(SocketAddr, Option<String>), Arc<Endpoint>>,
}

/// The lower-case host without port or trailing dot.
pub fn canonical_host(authority: &str) -> String {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl Table {
    /// Compiles `routes` over `services` (each Service's ports and ready endpoints). `me`
    /// is this node's name: its endpoints are called in-process. `prev`'s endpoints keep
    /// their counters.
    pub fn build(
        routes: &[RouteSpec],
        services: &HashMap<ServiceKey, Vec<PortSpec>>,
        nodes: &Nodes,
        me: &str,
        prev: &Table,
    ) -> Table {
        let mut t = Table::default();
        for (key, ports) in services {
            let mut backends = Vec::with_capacity(ports.len());
            for p in ports {
                let eps = p
                    .endpoints
                    .iter()
                    .map(|(addr, node)| t.endpoint(prev, *addr, node.clone(), nodes, me))
                    .collect();
                let mut b = Backend::new(key.clone(), p.port, p.name.clone(), eps);
                if b.endpoints.is_empty() {
                    b.wake = p.wake.clone();
                }
                backends.push(Arc::new(b));
            }
            t.services.insert(key.clone(), backends);
        }
        let mut exact: HashMap<String, Vec<Arc<Rule>>> = HashMap::new();
        let mut wildcard: HashMap<String, Vec<Arc<Rule>>> = HashMap::new();
        for r in routes {
            let route: Arc<str> = r.name.as_str().into();
            for (index, spec) in r.rules.iter().enumerate() {
                let rule = Arc::new(t.rule(route.clone(), spec, r.created, index));
                if r.hosts.is_empty() {
                    t.any.push(rule.clone());
                }
                for h in &r.hosts {
                    let h = canonical_host(h);
                    match h.strip_prefix('*') {
                        Some(suffix) => wildcard.entry(suffix.into()).or_default(),
                        None => exact.entry(h).or_default(),
                    }
                    .push(rule.clone());
                }
            }
        }
        let order = |rules: &mut Vec<Arc<Rule>>| rules.sort_by(|a, b| a.rank.cmp(&b.rank));
        exact.values_mut().for_each(order);
        wildcard.values_mut().for_each(order);
        order(&mut t.any);
        t.exact = exact;
        t.wildcard = wildcard.into_iter().collect();
        t.wildcard
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        t
    }

    fn endpoint(
        &mut self,
        prev: &Table,
        addr: SocketAddr,
        node: Option<String>,
        nodes: &Nodes,
        me: &str,
    ) -> Arc<Endpoint> {
        let via = match node.as_deref() {
            Some(n) if n == me => Via::Local,
            Some(n) => nodes
                .get(n)
                .map_or(Via::Direct, |a| Via::Node(*a, Arc::from(n))),
            None => Via::Direct,
        };
        let key = (addr, node);
        let ep = match prev.endpoints.get(&key) {
            Some(e) if e.via == via => e.clone(),
            _ => Arc::new(Endpoint::new(addr, via)),
        };
        self.endpoints.insert(key, ep.clone());
        ep
    }

    fn rule(&self, route: Arc<str>, spec: &RuleSpec, created: i64, index: usize) -> Rule {
        let backends: Vec<(u32, Target)> = spec
            .backends
            .iter()
            .map(|b| (b.weight, self.backend(&b.service, &b.port)))
            .collect();
        Rule {
            total_weight: backends.iter().map(|(w, _)| *w).sum(),
            backends,
            rank: (
                spec.path.rank().0,
                spec.path.rank().1,
                u8::from(spec.method.is_none()),
                usize::MAX - spec.headers.len(),
                usize::MAX - spec.query.len(),
                created,
                route.clone(),
                index,
            ),
            route,
            path: spec.path.clone(),
            method: spec.method.clone(),
            headers: spec.headers.clone(),
            query: spec.query.clone(),
            timeout: spec.timeout,
            filters: spec.filters.clone(),
        }
    }

    /// The backend for `port` of Service `key`, or why there is none.
    fn backend(&self, key: &ServiceKey, port: &PortRef) -> Target {
        let Some(ports) = self.services.get(key) else {
            return Err(format!("service {key} does not exist").into());
        };
        ports
            .iter()
            .find(|b| match port {
                PortRef::Number(n) => b.port == *n,
                PortRef::Name(n) => b.port_name.as_deref() == Some(n.as_str()),
            })
            .cloned()
            .ok_or_else(|| {
                let port = match port {
                    PortRef::Number(n) => n.to_string(),
                    PortRef::Name(n) => format!("{n:?}"),
                };
                format!("service {key} has no port {port}").into()
            })
    }

    /// Whether `addr` is a ready endpoint of a pod on this node.
    /// Every `(service, endpoint)` the table sends to, as the metrics label them.
    pub fn endpoint_labels(&self) -> std::collections::HashSet<(String, String)> {
        self.services
            .values()
            .flatten()
            .flat_map(|b| {
                let service = b.service.to_string();
                b.endpoints
                    .iter()
                    .map(move |e| (service.clone(), e.label.to_string()))
            })
            .collect()
    }

    /// The label of every route in the table (`httproute/NAMESPACE/NAME`, ...).
    pub fn route_labels(&self) -> std::collections::HashSet<Arc<str>> {
        let wild = self.wildcard.iter().flat_map(|(_, rules)| rules);
        self.exact
            .values()
            .flatten()
            .chain(wild)
            .chain(&self.any)
            .map(|r| r.route.clone())
            .collect()
    }

    pub fn is_local_endpoint(&self, addr: SocketAddr) -> bool {
        self.endpoints
            .iter()
            .any(|((a, _), ep)| *a == addr && ep.via == Via::Local)
    }

    /// Port `port` of Service `key`, as it is now.
    pub fn backend_of(&self, key: &ServiceKey, port: u16) -> Option<Arc<Backend>> {
        self.backend(key, &PortRef::Number(port)).ok()
    }

    /// The first rule that matches the request, most specific host first.
    pub fn route(
        &self,
        host: &str,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Option<&Arc<Rule>> {
        let first = |rules: &'_ [Arc<Rule>]| -> Option<usize> {
            rules
                .iter()
                .position(|r| r.matches(method, path, query, headers))
        };
        if let Some(rules) = self.exact.get(host)
            && let Some(i) = first(rules)
        {
            return rules.get(i);
        }
        for (suffix, rules) in &self.wildcard {
            if host.len() > suffix.len()
                && host.ends_with(suffix.as_str())
                && let Some(i) = first(rules)
            {
                return rules.get(i);
            }
        }
        first(&self.any).and_then(|i| self.any.get(i))
    }

    /// Every port a Service offers, for the listeners in-cluster callers reach.
    pub fn service_ports(&self) -> std::collections::BTreeSet<u16> {
        self.services.values().flatten().map(|b| b.port).collect()
    }

    /// The Service an in-cluster host names: `NAME.NAMESPACE.svc[.cluster.local]`, or
    /// `NAME` in `namespace`; `port` picks the Service port (none: its only or first
    /// port).
    pub fn service(&self, host: &str, port: Option<u16>, namespace: &str) -> Option<Arc<Backend>> {
        let host = host.strip_suffix(".cluster.local").unwrap_or(host);
        let host = host.strip_suffix(".svc").unwrap_or(host);
        let key = match host.split_once('.') {
            Some((name, ns)) if !ns.contains('.') => ServiceKey {
                namespace: ns.into(),
                name: name.into(),
            },
            Some(_) => return None,
            None => ServiceKey {
                namespace: namespace.into(),
                name: host.into(),
            },
        };
        let ports = self.services.get(&key)?;
        match port {
            Some(p) => ports.iter().find(|b| b.port == p).cloned(),
            None => ports
                .iter()
                .find(|b| b.port == 80)
                .or(ports.first())
                .cloned(),
        }
    }

    /// Every route's hosts and paths, for `skiff dev` and logs.
    pub fn hosts(&self) -> Vec<String> {
        let mut out: Vec<String> = self.exact.keys().cloned().collect();
        out.extend(self.wildcard.iter().map(|(s, _)| format!("*{s}")));
        out.sort();
        out
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
