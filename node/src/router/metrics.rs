//! The router's counters and latency histograms, per route and per endpoint, in the
//! Prometheus text format (`prometheus-client`), each route's figures as the node's stats
//! report them, and its access log. An endpoint's series
//! go when it leaves the table, so pods coming and going do not pile series up.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteCode {
    route: String,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    service: String,
    endpoint: String,
}

use super::traffic::{Traffic, TrafficSnapshot};

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    // 100 µs to ~6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

/// The router's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RouteCode, Counter>,
    route_latency: Histograms<RouteLabel>,
    endpoint_requests: Family<EndpointLabels, Counter>,
    endpoint_latency: Histograms<EndpointLabels>,
    /// The endpoints that have series.
    endpoints: Mutex<HashSet<EndpointLabels>>,
    /// Each route's figures, as the node's stats report them.
    routes: RwLock<HashMap<String, Arc<Traffic>>>,
    /// The series of defined routes (HTTPRoutes and Ingresses), to drop with the route.
    route_series: Mutex<HashSet<RouteCode>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            requests: Family::default(),
            route_latency: Histograms::new_with_constructor(latency as fn() -> _),
            endpoint_requests: Family::default(),
            endpoint_latency: Histograms::new_with_constructor(latency as fn() -> _),
            endpoints: Mutex::default(),
            routes: RwLock::default(),
            route_series: Mutex::default(),
        };
        let mut own = Registry::default();
        m.register(&mut own);
        *m.registry.lock().unwrap_or_else(|p| p.into_inner()) = own;
        m
    }
}

impl Metrics {
    /// One answered request on `route` (`-` when none matched).
    pub fn request(&self, route: &str, code: u16, took: Duration) {
        let series = RouteCode {
            route: route.to_owned(),
            code,
        };
        let new = self.requests.get(&series).is_none();
        self.requests.get_or_create(&series).inc();
        self.route_latency
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
        // The routes people define (not in-cluster calls by Service name, nor requests
        // another node sent on).
        if route.starts_with("httproute/") || route.starts_with("ingress/") {
            self.route(route).record(code, took);
            if new {
                self.route_series
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(series);
            }
        }
    }

    fn route(&self, route: &str) -> Arc<Traffic> {
        if let Some(t) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
        {
            return t.clone();
        }
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        routes
            .entry(route.to_owned())
            .or_insert_with(|| Arc::new(Traffic::new("", route)))
            .clone()
    }

    /// Each route's figures now (route label, counters).
    pub fn routes(&self) -> Vec<(String, TrafficSnapshot)> {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        routes
            .iter()
            .map(|(r, t)| (r.clone(), t.snapshot()))
            .collect()
    }

    /// One request an endpoint answered (`service` is `NAMESPACE/NAME`).
    pub fn endpoint(&self, service: &str, endpoint: &str, took: Duration) {
        let l = EndpointLabels {
            service: service.to_owned(),
            endpoint: endpoint.to_owned(),
        };
        // Only an endpoint's first request takes the lock of the set.
        let new = self.endpoint_requests.get(&l).is_none();
        self.endpoint_requests.get_or_create(&l).inc();
        self.endpoint_latency
            .get_or_create(&l)
            .observe(took.as_secs_f64());
        if new {
            self.endpoints
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(l);
        }
    }

    /// Drops the series of endpoints not in `current` (`(service, endpoint)` pairs).
    pub fn keep_endpoints(&self, current: &HashSet<(String, String)>) {
        let mut seen = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|l| {
            let keep = current.contains(&(l.service.clone(), l.endpoint.clone()));
            if !keep {
                self.endpoint_requests.remove(l);
                self.endpoint_latency.remove(l);
            }
            keep
        });
    }

    /// Drops the figures of defined routes not in `current` (a deleted HTTPRoute or
    /// Ingress).
    /// Their Prometheus series go too.
    pub fn keep_routes(&self, current: &HashSet<Arc<str>>) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        routes.retain(|r, _| current.contains(r.as_str()));
        let mut series = self.route_series.lock().unwrap_or_else(|p| p.into_inner());
        series.retain(|s| {
            let keep = current.contains(s.route.as_str());
            if !keep {
                self.requests.remove(s);
                self.route_latency.remove(&RouteLabel {
                    route: s.route.clone(),
                });
            }
            keep
        });
    }

    /// Registers the router's series in `registry` too (the node's `/metrics`).
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("skiff_router");
        r.register(
            "requests",
            "Requests answered, by route and status code",
            self.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from a request's arrival to its response head, by route",
            self.route_latency.clone(),
        );
        r.register(
            "endpoint_requests",
            "Requests sent to each endpoint, by Service and endpoint address",
            self.endpoint_requests.clone(),
        );
        r.register(
            "endpoint_duration_seconds",
            "Time an endpoint took to answer (response head), by Service and endpoint",
            self.endpoint_latency.clone(),
        );
    }

    /// Everything, in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::warn!(error = %e, "encoding the router's metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_counts_its_requests_errors_and_latency() {
        let m = Metrics::default();
        m.request("httproute/default/web", 200, Duration::from_millis(3));
        m.request("httproute/default/web", 502, Duration::from_millis(300));
        // No route matched: not a route's figure.
        m.request("-", 404, Duration::from_millis(1));
        m.request("service/default/web", 200, Duration::from_millis(1));
        let routes = m.routes();
        assert_eq!(routes.len(), 1, "{routes:?}");
        let (route, t) = &routes[0];
        assert_eq!(route, "httproute/default/web");
        assert_eq!((t.requests, t.errors, t.in_flight), (2, 1, 0));
        // 3 ms in the first bucket (≤ 5 ms), 300 ms in the ≤ 500 ms one.
        assert_eq!((t.buckets[0], t.buckets[6]), (1, 1), "{:?}", t.buckets);
    }

    #[test]
    fn a_deleted_route_takes_its_figures_and_series_with_it() {
        let m = Metrics::default();
        m.request("httproute/default/old", 200, Duration::from_millis(3));
        m.request("httproute/default/kept", 200, Duration::from_millis(3));
        m.request("service/default/web", 200, Duration::from_millis(1));
        let kept: Arc<str> = Arc::from("httproute/default/kept");
        m.keep_routes(&HashSet::from([kept]));
        let routes: Vec<String> = m.routes().into_iter().map(|(r, _)| r).collect();
        assert_eq!(routes, ["httproute/default/kept"]);
        let text = m.encode();
        assert!(!text.contains("httproute/default/old"), "{text}");
        assert!(text.contains("httproute/default/kept"), "{text}");
        // In-cluster calls by Service name are not routes anyone deletes.
        assert!(text.contains("service/default/web"), "{text}");
    }
}
