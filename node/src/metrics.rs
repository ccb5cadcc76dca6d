//! What the node agent measures, as series for `/metrics`: pods by phase, container
//! starts and restarts, image and artifact pulls and Wasm compile times, each pod's usage
//! under cAdvisor's names (`container_cpu_usage_seconds_total`,
//! `container_memory_working_set_bytes`, with `namespace`, `pod` and `container` labels)
//! and what its node's router saw it asked (`skiff_pod_http_*`).
//!
//! Per-pod series are read from [`Pods`] at each scrape, so a pod's series go with it.
//! A pod with one container is labelled with that container's name; a pod with several
//! is reported once, with `container=""` (its usage is counted for the pod as a whole),
//! as cAdvisor reports a pod's own cgroup.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use skiff_proto::model::pod::PodPhase;

use crate::router::traffic::{Traffic, TrafficSnapshot};
use crate::runtime::{Usage, UsageSnapshot};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Pull {
    runtime: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuntimeLabel {
    runtime: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn seconds() -> Histogram {
    // 1 ms to ~65 s, doubling.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The agent's series. Cheap to clone: clones update the same series.
#[derive(Clone, Debug)]
pub struct NodeMetrics {
    pulls: Family<Pull, Counter>,
    pull_seconds: Histograms<RuntimeLabel>,
    compile_seconds: Histogram,
    starts: Family<RuntimeLabel, Counter>,
    restarts: Family<RuntimeLabel, Counter>,
    /// The pods on this node now.
    pub pods: Arc<Pods>,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        NodeMetrics {
            pulls: Family::default(),
            pull_seconds: Histograms::new_with_constructor(seconds as fn() -> _),
            compile_seconds: seconds(),
            starts: Family::default(),
            restarts: Family::default(),
            pods: Arc::default(),
        }
    }
}

impl NodeMetrics {
    pub fn register(&self, registry: &mut Registry) {
        // Every runtime and result has a series from the start (zeros, not "no data").
        for runtime in ["wasm", "container"] {
            for result in ["success", "failure"] {
                let _ = self.pulls.get_or_create(&Pull { runtime, result });
            }
            let _ = self.pull_seconds.get_or_create(&RuntimeLabel { runtime });
            let _ = self.starts.get_or_create(&RuntimeLabel { runtime });
            let _ = self.restarts.get_or_create(&RuntimeLabel { runtime });
        }
        let r = registry.sub_registry_with_prefix("skiff_agent");
        r.register(
            "pulls",
            "Images (containers) and artifacts (Wasm) fetched, by runtime and result",
            self.pulls.clone(),
        );
        r.register(
            "pull_duration_seconds",
            "How long fetching an image or artifact took, by runtime",
            self.pull_seconds.clone(),
        );
        r.register(
            "compile_duration_seconds",
            "How long compiling a Wasm component took (once per component per node)",
            self.compile_seconds.clone(),
        );
        r.register(
            "container_starts",
            "Runs of containers started, by runtime",
            self.starts.clone(),
        );
        r.register(
            "container_restarts",
            "Containers restarted after their run ended, by runtime",
            self.restarts.clone(),
        );
        registry.register_collector(Box::new(self.pods.clone()));
    }

    /// A fetch of an image or artifact by `runtime` ended (`ok` or not) after `took`.
    pub fn pulled(&self, runtime: &'static str, ok: bool, took: Duration) {
        let result = if ok { "success" } else { "failure" };
        self.pulls.get_or_create(&Pull { runtime, result }).inc();
        self.pull_seconds
            .get_or_create(&RuntimeLabel { runtime })
            .observe(took.as_secs_f64());
    }

    pub fn compiled(&self, took: Duration) {
        self.compile_seconds.observe(took.as_secs_f64());
    }

    pub fn started(&self, runtime: &'static str) {
        self.starts.get_or_create(&RuntimeLabel { runtime }).inc();
    }

    pub fn restarted(&self, runtime: &'static str) {
        self.restarts.get_or_create(&RuntimeLabel { runtime }).inc();
    }
}

/// One pod on this node, as its series show it.
#[derive(Debug)]
pub struct PodEntry {
    pub namespace: String,
    pub name: String,
    /// The container the series name (empty for a pod of several).
    pub container: String,
    pub usage: Arc<Usage>,
    pub traffic: Option<Arc<Traffic>>,
    /// Runs in the agent's process (a Wasm pod): its CPU is the agent's.
    pub in_process: bool,
    phase: AtomicU8,
}

impl PodEntry {
    pub fn new(
        namespace: &str,
        name: &str,
        containers: &[&str],
        usage: Arc<Usage>,
        traffic: Option<Arc<Traffic>>,
        in_process: bool,
    ) -> PodEntry {
        PodEntry {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            container: match containers {
                [only] => (*only).to_owned(),
                _ => String::new(),
            },
            usage,
            traffic,
            in_process,
            phase: AtomicU8::new(phase_index(PodPhase::Pending)),
        }
    }

    pub fn set_phase(&self, p: PodPhase) {
        self.phase.store(phase_index(p), Ordering::Relaxed);
    }

    pub fn phase(&self) -> PodPhase {
        PHASES[usize::from(self.phase.load(Ordering::Relaxed)).min(PHASES.len() - 1)]
    }
}

const PHASES: [PodPhase; 5] = [
    PodPhase::Pending,
    PodPhase::Running,
    PodPhase::Succeeded,
    PodPhase::Failed,
    PodPhase::Unknown,
];

pub fn phase_name(p: PodPhase) -> &'static str {
    match p {
        PodPhase::Pending => "Pending",
        PodPhase::Running => "Running",
        PodPhase::Succeeded => "Succeeded",
        PodPhase::Failed => "Failed",
        PodPhase::Unknown => "Unknown",
    }
}

fn phase_index(p: PodPhase) -> u8 {
    PHASES.iter().position(|q| *q == p).unwrap_or(4) as u8
}

/// The pods on this node by uid, each registered by its worker while it runs.
#[derive(Debug, Default)]
pub struct Pods(Mutex<HashMap<String, Arc<PodEntry>>>);

/// A pod's place in [`Pods`], given back when dropped.
pub struct Listed {
    pods: Arc<Pods>,
    uid: String,
    pub entry: Arc<PodEntry>,
}

impl Drop for Listed {
    fn drop(&mut self) {
        let mut m = self.pods.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.get(&self.uid)
            .is_some_and(|e| Arc::ptr_eq(e, &self.entry))
        {
            m.remove(&self.uid);
        }
    }
}

/// One pod's figures at one moment.
#[derive(Debug, Clone)]
pub struct PodSample {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub container: String,
    pub phase: PodPhase,
    pub in_process: bool,
    pub usage: UsageSnapshot,
    pub traffic: Option<TrafficSnapshot>,
}

impl Pods {
    /// Lists the pod `uid` until the guard is dropped.
    pub fn add(self: &Arc<Self>, uid: &str, entry: PodEntry) -> Listed {
        let entry = Arc::new(entry);
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uid.to_owned(), entry.clone());
        Listed {
            pods: self.clone(),
            uid: uid.to_owned(),
            entry,
        }
    }

    /// Every pod's figures now, in namespace and name order.
    pub fn sample(&self) -> Vec<PodSample> {
        let entries: Vec<(String, Arc<PodEntry>)> = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(uid, e)| (uid.clone(), e.clone()))
            .collect();
        let mut out: Vec<PodSample> = entries
            .into_iter()
            .map(|(uid, e)| PodSample {
                uid,
                namespace: e.namespace.clone(),
                name: e.name.clone(),
                container: e.container.clone(),
                phase: e.phase(),
                in_process: e.in_process,
                usage: e.usage.snapshot(),
                traffic: e.traffic.as_ref().map(|t| t.snapshot()),
            })
            .collect();
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        out
    }
}

impl Collector for Pods {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pods = self.sample();
        let mut by_phase = [0i64; PHASES.len()];
        for p in &pods {
            by_phase[usize::from(phase_index(p.phase))] += 1;
        }
        {
            let mut m = encoder.encode_descriptor(
                "skiff_agent_pods",
                "Pods on this node, by phase",
                None,
                MetricType::Gauge,
            )?;
            for (phase, n) in PHASES.iter().zip(by_phase) {
                let labels = [("phase", phase_name(*phase))];
                ConstGauge::new(n).encode(m.encode_family(&labels)?)?;
            }
        }
        let ids = |p: &PodSample| -> [(&'static str, String); 3] {
            [
                ("namespace", p.namespace.clone()),
                ("pod", p.name.clone()),
                ("container", p.container.clone()),
            ]
        };
        {
            let mut m = encoder.encode_descriptor(
                "container_cpu_usage_seconds",
                "CPU time the pod's containers used (Wasm: time its code ran)",
                None,
                MetricType::Counter,
            )?;
            for p in &pods {
                ConstCounter::new(p.usage.cpu.as_secs_f64()).encode(m.encode_family(&ids(p))?)?;
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "container_memory_working_set_bytes",
                "Memory the pod's containers hold now (Wasm: its instances' linear memory)",
                None,
                MetricType::Gauge,
            )?;
            for p in &pods {
                let bytes = i64::try_from(p.usage.memory_bytes).unwrap_or(i64::MAX);
                ConstGauge::new(bytes).encode(m.encode_family(&ids(p))?)?;
            }
        }
        let served: Vec<(&PodSample, &TrafficSnapshot)> = pods
            .iter()
            .filter_map(|p| Some((p, p.traffic.as_ref()?)))
            .collect();
        let names = |p: &PodSample| -> [(&'static str, String); 2] {
            [("namespace", p.namespace.clone()), ("pod", p.name.clone())]
        };
        {
            let mut m = encoder.encode_descriptor(
                "skiff_pod_http_requests",
                "HTTP requests the pod answered (through its node's router)",
                None,
                MetricType::Counter,
            )?;
            for (p, t) in &served {
                ConstCounter::new(t.requests).encode(m.encode_family(&names(p))?)?;
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "skiff_pod_http_request_errors",
                "HTTP requests the pod answered with a 5xx, or never answered",
                None,
                MetricType::Counter,
            )?;
            for (p, t) in &served {
                ConstCounter::new(t.errors).encode(m.encode_family(&names(p))?)?;
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "skiff_pod_http_requests_in_flight",
                "HTTP requests the pod is answering now",
                None,
                MetricType::Gauge,
            )?;
            for (p, t) in &served {
                let n = i64::try_from(t.in_flight).unwrap_or(i64::MAX);
                ConstGauge::new(n).encode(m.encode_family(&names(p))?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(m: &NodeMetrics) -> String {
        let mut r = Registry::default();
        m.register(&mut r);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        text
    }

    #[test]
    fn a_pods_series_go_with_it() {
        let m = NodeMetrics::default();
        let traffic = Arc::new(Traffic::new("shop", "web-1"));
        let listed = m.pods.add(
            "uid-1",
            PodEntry::new(
                "shop",
                "web-1",
                &["web"],
                Arc::default(),
                Some(traffic),
                true,
            ),
        );
        listed.entry.set_phase(PodPhase::Running);
        let text = scrape(&m);
        assert!(
            text.contains(r#"skiff_agent_pods{phase="Running"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"container_cpu_usage_seconds_total{namespace="shop",pod="web-1",container="web"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"container_memory_working_set_bytes{namespace="shop",pod="web-1",container="web"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"skiff_pod_http_requests_total{namespace="shop",pod="web-1"} 0"#),
            "{text}"
        );
        drop(listed);
        let text = scrape(&m);
        assert!(!text.contains("web-1"), "{text}");
        assert!(
            text.contains(r#"skiff_agent_pods{phase="Running"} 0"#),
            "{text}"
        );
    }

    #[test]
    fn a_pod_of_several_containers_is_reported_once() {
        let m = NodeMetrics::default();
        let _l = m.pods.add(
            "uid-2",
            PodEntry::new("ns", "p", &["a", "b"], Arc::default(), None, false),
        );
        let text = scrape(&m);
        assert!(
            text.contains(
                r#"container_cpu_usage_seconds_total{namespace="ns",pod="p",container=""} 0"#
            ),
            "{text}"
        );
        assert!(
            !text.contains(r#"skiff_pod_http_requests_total{namespace="ns""#),
            "{text}"
        );
    }
}
