//! The router's counters and latency histograms, per route and per endpoint, in the
//! Prometheus text format (`prometheus-client`), and its access log.

use std::sync::Mutex;
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
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("skiff_router");
        let requests = Family::<RouteCode, Counter>::default();
        let route_latency = Histograms::<RouteLabel>::new_with_constructor(latency as fn() -> _);
        let endpoint_requests = Family::<EndpointLabels, Counter>::default();
        let endpoint_latency =
            Histograms::<EndpointLabels>::new_with_constructor(latency as fn() -> _);
        registry.register(
            "requests",
            "Requests answered, by route and status code",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to its response head, by route",
            route_latency.clone(),
        );
        registry.register(
            "endpoint_requests",
            "Requests sent to each endpoint, by Service and endpoint address",
            endpoint_requests.clone(),
        );
        registry.register(
            "endpoint_duration_seconds",
            "Time an endpoint took to answer (response head), by Service and endpoint",
            endpoint_latency.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            route_latency,
            endpoint_requests,
            endpoint_latency,
        }
    }
}

impl Metrics {
    /// One answered request on `route` (`-` when none matched).
    pub fn request(&self, route: &str, code: u16, took: Duration) {
        self.requests
            .get_or_create(&RouteCode {
                route: route.to_owned(),
                code,
            })
            .inc();
        self.route_latency
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// One request an endpoint answered (`service` is `NAMESPACE/NAME`).
    pub fn endpoint(&self, service: &str, endpoint: &str, took: Duration) {
        let l = EndpointLabels {
            service: service.to_owned(),
            endpoint: endpoint.to_owned(),
        };
        self.endpoint_requests.get_or_create(&l).inc();
        self.endpoint_latency
            .get_or_create(&l)
            .observe(took.as_secs_f64());
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
