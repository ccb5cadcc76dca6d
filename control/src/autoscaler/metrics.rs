//! What each of an HPA's metrics asks for, from the pods' live rates: Resource metrics
//! (CPU, memory) as Kubernetes' HPA computes them from the pods' requests, and Pods
//! metrics of HTTP traffic as Knative's autoscaler does (a stable and a panic window).

use std::time::{Duration, Instant};

use skiff_proto::model::Pod;
use skiff_proto::model::autoscaling::*;
use skiff_proto::model::quantity::Quantity;

use super::behavior::proposal;
use super::observe::{PodRates, Rates, Window};

/// How long Pods metrics are averaged over (Knative's stable window), unless the HPA's
/// `autoscaling.knative.dev/window` annotation says.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
/// The annotation that sets the stable window (`6s` to `1h`).
pub const WINDOW_ANNOTATION: &str = "autoscaling.knative.dev/window";
/// Panic when the panic window asks for this many times the ready pods.
pub const PANIC_THRESHOLD: f64 = 2.0;

/// One HPA's windows and panic state, kept across rounds.
#[derive(Debug, Default)]
pub struct Memory {
    pub windows: std::collections::HashMap<String, Window>,
    pub panic_until: Option<Instant>,
    /// The most replicas asked for in this panic (Knative never scales down in one).
    pub panic_peak: i32,
}

/// What one metric said.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub desired: i32,
    pub status: MetricStatus,
    /// `cpu resource utilization (percentage of request)`, as events name it.
    pub what: String,
}

/// Why a metric could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    /// `FailedGetResourceMetric` or `FailedGetPodsMetric`.
    pub reason: &'static str,
    pub message: String,
}

/// The figures of one round for one HPA's target.
pub struct Round<'a> {
    pub now: Instant,
    /// The target's `spec.replicas`.
    pub current: i32,
    /// Its active pods.
    pub pods: &'a [&'a Pod],
    pub rates: &'a Rates,
    pub window: Duration,
    /// Keep at least one replica: the target was woken from zero within the window.
    pub hold: bool,
}

impl Round<'_> {
    fn rates_of(&self, p: &Pod) -> Option<&PodRates> {
        self.rates
            .get(&format!("{}/{}", p.metadata.namespace, p.metadata.name))
    }

    fn ready(&self) -> i32 {
        self.pods
            .iter()
            .filter(|p| crate::controllers::pods::is_ready(p))
            .count() as i32
    }
}

/// The stable window of `hpa` (its annotation, else [`DEFAULT_WINDOW`]).
pub fn window(annotations: &std::collections::BTreeMap<String, String>) -> Duration {
    annotations
        .get(WINDOW_ANNOTATION)
        .and_then(|w| humantime::parse_duration(w.trim()).ok())
        .map(|w| w.clamp(Duration::from_secs(6), Duration::from_secs(3600)))
        .unwrap_or(DEFAULT_WINDOW)
}

/// A figure as a quantity: `250m`, `3`.
pub fn quantity(v: f64) -> Option<Quantity> {
    let milli = (v * 1000.0).round().max(0.0) as u64;
    let text = if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    };
    Quantity::parse(&text).ok()
}

/// What `m` asks for this round.
pub fn evaluate(m: &MetricSpec, r: &Round<'_>, memory: &mut Memory) -> Result<Verdict, Failed> {
    match (m.type_, &m.resource, &m.pods) {
        (MetricSourceType::Resource, Some(res), _) => resource(res, r),
        (MetricSourceType::Pods, _, Some(p)) => pods(p, r, memory),
        _ => Err(Failed {
            reason: "FailedGetResourceMetric",
            message: "the metric names no source".into(),
        }),
    }
}

fn resource(res: &ResourceMetricSource, r: &Round<'_>) -> Result<Verdict, Failed> {
    let failed = |message: String| Failed {
        reason: "FailedGetResourceMetric",
        message,
    };
    let cpu = res.name == "cpu";
    let mut usage = 0.0;
    let mut requested = 0.0;
    let mut counted = 0;
    for p in r.pods {
        let Some(rates) = r.rates_of(p) else { continue };
        counted += 1;
        usage += if cpu { rates.cpu } else { rates.memory };
        for c in &p.spec.containers {
            match c.resources.requests.get(&res.name) {
                Some(q) if cpu => requested += q.milli_value() as f64 / 1000.0,
                Some(q) => requested += q.value() as f64,
                None if res.target.type_ == MetricTargetType::Utilization => {
                    return Err(failed(format!(
                        "missing request for {} in container {} of pod {}",
                        res.name, c.name, p.metadata.name
                    )));
                }
                None => {}
            }
        }
    }
    if counted == 0 {
        return Err(failed(format!(
            "unable to get metrics for resource {}: no figures for the pods yet",
            res.name
        )));
    }
    let n = counted as f64;
    let (desired, current, what) = match res.target.type_ {
        MetricTargetType::Utilization => {
            let target = f64::from(res.target.average_utilization.unwrap_or(80));
            let utilization = if requested > 0.0 {
                usage / requested * 100.0
            } else {
                0.0
            };
            (
                proposal(counted, utilization * n, target),
                MetricValueStatus {
                    average_utilization: Some(utilization.floor() as i32),
                    average_value: quantity(usage / n),
                    value: None,
                },
                format!("{} resource utilization (percentage of request)", res.name),
            )
        }
        _ => {
            let target = res
                .target
                .average_value
                .as_ref()
                .map_or(0.0, |q| q.milli_value() as f64 / 1000.0);
            (
                proposal(counted, usage, target),
                MetricValueStatus {
                    average_value: quantity(usage / n),
                    ..Default::default()
                },
                format!("{} resource", res.name),
            )
        }
    };
    Ok(Verdict {
        desired,
        status: MetricStatus {
            type_: MetricSourceType::Resource,
            resource: Some(ResourceMetricStatus {
                name: res.name.clone(),
                current,
            }),
            pods: None,
        },
        what,
    })
}

fn pods(p: &PodsMetricSource, r: &Round<'_>, memory: &mut Memory) -> Result<Verdict, Failed> {
    let name = p.metric.name.as_str();
    let per_second = name == HTTP_REQUESTS_PER_SECOND;
    if !per_second && name != HTTP_REQUESTS_IN_FLIGHT {
        return Err(Failed {
            reason: "FailedGetPodsMetric",
            message: format!("unknown metric {name:?}"),
        });
    }
    let total: f64 = r
        .pods
        .iter()
        .filter_map(|pod| r.rates_of(pod))
        .map(|x| if per_second { x.rps } else { x.concurrency })
        .sum();
    let target = p
        .target
        .average_value
        .as_ref()
        .map_or(0.0, |q| q.milli_value() as f64 / 1000.0);
    let panic_window = (r.window / 10).max(Duration::from_secs(1));
    let w = memory.windows.entry(name.to_owned()).or_default();
    // Kept a little longer than the window, so a window's worth of idle can be told.
    w.push(r.now, total, r.window * 2);
    let stable = w.average(r.now, r.window);
    let panic = w.average(r.now, panic_window);
    let ready = r.ready();
    let base = ready.max(r.current.min(1));
    let mut desired = proposal(base, stable, target);
    if ready > 0 && target > 0.0 && panic / (target * f64::from(ready)) >= PANIC_THRESHOLD {
        memory.panic_until = Some(r.now + r.window);
    }
    if memory.panic_until.is_some_and(|t| r.now < t) {
        // A burst: follow the panic window, and never scale down meanwhile.
        desired = desired
            .max(proposal(base, panic, target))
            .max(r.current)
            .max(memory.panic_peak);
        memory.panic_peak = desired;
    } else {
        memory.panic_until = None;
        memory.panic_peak = 0;
    }
    // Zero only after a whole window without a request, and not just after a wake.
    if desired == 0 && r.current > 0 && (r.hold || !w.idle_for(r.now, r.window)) {
        desired = 1;
    }
    let per_pod = stable / f64::from(ready.max(1));
    Ok(Verdict {
        desired,
        status: MetricStatus {
            type_: MetricSourceType::Pods,
            resource: None,
            pods: Some(PodsMetricStatus {
                metric: MetricIdentifier {
                    name: name.to_owned(),
                    selector: None,
                },
                current: MetricValueStatus {
                    average_value: quantity(per_pod),
                    ..Default::default()
                },
            }),
        },
        what: format!("pods metric {name}"),
    })
}

/// The metric an HPA without metrics has: 80 % CPU utilisation, as Kubernetes'.
pub fn default_metrics() -> Vec<MetricSpec> {
    vec![MetricSpec {
        type_: MetricSourceType::Resource,
        resource: Some(ResourceMetricSource {
            name: "cpu".into(),
            target: MetricTarget {
                type_: MetricTargetType::Utilization,
                average_utilization: Some(80),
                ..Default::default()
            },
        }),
        pods: None,
    }]
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
