//! The API server's series, named as Kubernetes names them so its dashboards and alerts
//! read them: requests by verb, resource and code (`apiserver_request_total`), their
//! latency (`apiserver_request_duration_seconds`, watches excluded as Kubernetes does),
//! and the watch streams open now (`apiserver_longrunning_requests`).
//!
//! Every label comes from a fixed vocabulary (verbs, kinds, codes), so the series are
//! bounded whatever clients send.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Latency {
    verb: &'static str,
    resource: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LongRunning {
    verb: &'static str,
    resource: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    // 250 µs to ~8 s, doubling.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The API's series. Cheap to clone: clones update the same series.
#[derive(Clone)]
pub struct ApiMetrics {
    requests: Family<Request, Counter>,
    latency: Histograms<Latency>,
    long_running: Family<LongRunning, Gauge>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            requests: Family::default(),
            latency: Histograms::new_with_constructor(latency as fn() -> _),
            long_running: Family::default(),
        }
    }
}

/// One call, as the authorizer saw it.
pub struct Call<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
}

impl ApiMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "apiserver_request",
            "API requests by verb, group, resource, subresource and HTTP code",
            self.requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "API request latency by verb and resource (watches excluded)",
            self.latency.clone(),
        );
        registry.register(
            "apiserver_longrunning_requests",
            "Watch streams open now, by resource",
            self.long_running.clone(),
        );
    }

    /// One answered call; `code` is the HTTP code Kubernetes would answer with.
    pub fn request(&self, call: &Call<'_>, code: u16, took: Duration) {
        let verb = verb(call.verb);
        let resource = word(call.resource);
        self.requests
            .get_or_create(&Request {
                verb,
                group: word(call.group),
                resource,
                subresource: word(call.subresource),
                code,
            })
            .inc();
        if verb != "WATCH" {
            self.latency
                .get_or_create(&Latency { verb, resource })
                .observe(took.as_secs_f64());
        }
    }

    /// A watch stream on `resource` that counts as open until the guard drops.
    pub fn watching(&self, resource: &str) -> Watching {
        let g = self
            .long_running
            .get_or_create(&LongRunning {
                verb: "WATCH",
                resource: word(resource),
            })
            .clone();
        g.inc();
        Watching(g)
    }
}

/// An open watch stream (see [`ApiMetrics::watching`]).
pub struct Watching(Gauge);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Kubernetes' verb names (`LIST` for a collection read, `POST` for create, ...).
fn verb(v: &str) -> &'static str {
    match v {
        "get" => "GET",
        "list" => "LIST",
        "watch" => "WATCH",
        "create" => "POST",
        "update" => "PUT",
        "patch" => "PATCH",
        "apply" => "APPLY",
        "delete" => "DELETE",
        "deletecollection" => "DELETECOLLECTION",
        _ => "OTHER",
    }
}

/// A group, resource or subresource as a label: one of the names Skiff serves, or
/// `other` (what a client sends cannot add series).
fn word(w: &str) -> &'static str {
    static WORDS: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
        std::sync::LazyLock::new(|| {
            skiff_proto::Kind::ALL
                .iter()
                .flat_map(|k| [k.resource(), k.group()])
                .chain([
                    "",
                    "status",
                    "log",
                    "scale",
                    "binding",
                    "eviction",
                    "artifacts",
                    "token",
                ])
                .collect()
        });
    WORDS.get(w).copied().unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_a_fixed_vocabulary() {
        let m = ApiMetrics::default();
        let mut r = Registry::default();
        m.register(&mut r);
        m.request(
            &Call {
                verb: "list",
                group: "apps",
                resource: "deployments",
                subresource: "",
            },
            200,
            Duration::from_millis(3),
        );
        m.request(
            &Call {
                verb: "frobnicate",
                group: "evil.example",
                resource: "x".repeat(1000).as_str(),
                subresource: "../../",
            },
            500,
            Duration::from_millis(3),
        );
        let w = m.watching("pods");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        assert!(text.contains(
            r#"apiserver_request_total{verb="LIST",group="apps",resource="deployments",subresource="",code="200"} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"apiserver_request_total{verb="OTHER",group="other",resource="other",subresource="other",code="500"} 1"#
        ), "{text}");
        assert!(text.contains(r#"apiserver_longrunning_requests{verb="WATCH",resource="pods"} 1"#));
        drop(w);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        assert!(text.contains(r#"apiserver_longrunning_requests{verb="WATCH",resource="pods"} 0"#));
    }
}
