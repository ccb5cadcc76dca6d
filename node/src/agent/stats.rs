//! The agent's `Stats` answer: what the node and each pod use and are asked now, and what
//! each route was asked, read from the series the agent keeps ([`crate::metrics::Pods`],
//! the router's traffic), with CPU as a rate over a short window that a sampler moves
//! every [`WINDOW`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use skiff_proto::grpc::node::{HttpStats, NodeStats, PodStats, RouteStats, StatsResponse};

use crate::metrics::{PodSample, Pods, phase_name};
use crate::router::Router;
use crate::router::traffic::{LATENCY_BOUNDS_MS, TrafficSnapshot};
use skiff_proto::model::pod::PodPhase;

/// How often the CPU baseline moves: rates cover the last 5–10 s, as `kubectl top`'s
/// cover the last scrape interval.
pub const WINDOW: Duration = Duration::from_secs(5);

/// CPU counters at one moment.
#[derive(Debug, Clone)]
struct Baseline {
    at: Instant,
    node_cpu: u64,
    pods: HashMap<String, u64>,
}

/// The node's figures, and the baseline its rates are measured from.
pub struct Stats {
    pods: Arc<Pods>,
    router: Arc<Router>,
    baseline: Mutex<Option<Baseline>>,
}

impl Stats {
    pub fn new(pods: Arc<Pods>, router: Arc<Router>) -> Stats {
        Stats {
            pods,
            router,
            baseline: Mutex::new(None),
        }
    }

    fn now(&self) -> (Instant, u64, u64, Vec<PodSample>) {
        let pods = self.pods.sample();
        let (own_cpu, own_memory) = own_usage();
        // Wasm pods run in the agent's process (their CPU is its CPU); container pods'
        // figures come from their cgroups.
        let containers = pods.iter().filter(|p| !p.in_process);
        let (cpu, memory) = containers.fold((own_cpu, own_memory), |(c, m), p| {
            (
                c.saturating_add(nanos(p.usage.cpu)),
                m.saturating_add(p.usage.memory_bytes),
            )
        });
        (Instant::now(), cpu, memory, pods)
    }

    /// Moves the baseline to now (the sampler calls this every [`WINDOW`]).
    pub fn sample(&self) {
        let (at, node_cpu, _, pods) = self.now();
        let pods = pods
            .into_iter()
            .map(|p| (p.uid, nanos(p.usage.cpu)))
            .collect();
        *self.baseline.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Baseline { at, node_cpu, pods });
    }

    /// The answer to `Stats`.
    pub fn answer(&self) -> StatsResponse {
        let (at, node_cpu, memory, pods) = self.now();
        let base = self
            .baseline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let window = base.as_ref().map(|b| at.duration_since(b.at));
        let rate = |now: u64, then: Option<u64>| -> u64 {
            match (then, window) {
                (Some(then), Some(w)) if !w.is_zero() => {
                    let used = now.saturating_sub(then) as f64;
                    (used / w.as_nanos() as f64 * 1000.0).round() as u64
                }
                _ => 0,
            }
        };
        let window_millis = window.map_or(0, |w| u32::try_from(w.as_millis()).unwrap_or(u32::MAX));
        let (wasm_pods, container_pods) = running(&pods);
        let node = NodeStats {
            cpu_nanos: node_cpu,
            cpu_millicores: rate(node_cpu, base.as_ref().map(|b| b.node_cpu)),
            window_millis,
            memory_bytes: memory,
            wasm_pods,
            container_pods,
        };
        let pods = pods
            .into_iter()
            .map(|p| {
                let cpu = nanos(p.usage.cpu);
                let then = base.as_ref().and_then(|b| b.pods.get(&p.uid).copied());
                PodStats {
                    cpu_millicores: rate(cpu, then),
                    window_millis: if then.is_some() { window_millis } else { 0 },
                    cpu_nanos: cpu,
                    memory_bytes: p.usage.memory_bytes,
                    http: p.traffic.as_ref().map(http),
                    phase: phase_name(p.phase).to_owned(),
                    namespace: p.namespace,
                    name: p.name,
                    uid: p.uid,
                    container: p.container,
                }
            })
            .collect();
        let unix_millis = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let routes = self
            .router
            .route_traffic()
            .into_iter()
            .map(|(route, t)| RouteStats {
                route,
                http: Some(http(&t)),
            })
            .collect();
        StatsResponse {
            unix_millis,
            node: Some(node),
            pods,
            routes,
        }
    }
}

/// The running pods among `pods` (one sample each): Wasm pods and container pods.
fn running(pods: &[PodSample]) -> (u32, u32) {
    let (mut wasm, mut containers) = (0u32, 0u32);
    for p in pods {
        if p.phase != PodPhase::Running {
            continue;
        }
        if p.in_process {
            wasm = wasm.saturating_add(1);
        } else {
            containers = containers.saturating_add(1);
        }
    }
    (wasm, containers)
}

fn http(t: &TrafficSnapshot) -> HttpStats {
    HttpStats {
        requests: t.requests,
        errors: t.errors,
        in_flight: t.in_flight,
        busy_nanos: u64::try_from(t.busy_ns).unwrap_or(u64::MAX),
        latency_nanos: t.latency_ns,
        latency_buckets: t.buckets.clone(),
        latency_bounds_millis: LATENCY_BOUNDS_MS.to_vec(),
    }
}

/// Moves `stats`' baseline every [`WINDOW`] until dropped.
pub async fn sample(stats: Arc<Stats>) {
    let mut tick = tokio::time::interval(WINDOW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        stats.sample();
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// This process's CPU time (user + system) and resident memory, from `/proc/self`.
fn own_usage() -> (u64, u64) {
    let ticks = rustix::param::clock_ticks_per_second().max(1);
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command (which may hold spaces) close with ')'.
            let rest = s.get(s.rfind(')')? + 1..)?;
            let f: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the whole line (11, 12 here).
            let user: u64 = f.get(11)?.parse().ok()?;
            let system: u64 = f.get(12)?.parse().ok()?;
            Some((user + system).saturating_mul(1_000_000_000) / ticks)
        })
        .unwrap_or(0);
    let page = rustix::param::page_size() as u64;
    let memory = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages.saturating_mul(page));
    (cpu, memory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::PodEntry;
    use crate::router::traffic::Traffic;

    #[test]
    fn the_answer_has_every_pod_and_the_process_usage() {
        let pods = Arc::new(Pods::default());
        let traffic = Arc::new(Traffic::new("ns", "web"));
        let _l = pods.add(
            "u1",
            PodEntry::new(
                "ns",
                "web",
                &["c"],
                Arc::default(),
                Some(traffic.clone()),
                true,
            ),
        );
        let router = crate::router::Router::new(
            "n1".into(),
            Arc::default(),
            crate::router::RouterLimits::default(),
            &crate::fuzzing::node_tls(),
        );
        let stats = Stats::new(pods, router);
        stats.sample();
        traffic.begin().answered(200);
        // Burn a little CPU so the process has some.
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        let a = stats.answer();
        let node = a.node.unwrap();
        assert!(node.cpu_nanos > 0 && node.memory_bytes > 0, "{node:?}");
        assert_eq!(a.pods.len(), 1);
        let p = &a.pods[0];
        assert_eq!(
            (p.namespace.as_str(), p.name.as_str(), p.uid.as_str()),
            ("ns", "web", "u1")
        );
        assert_eq!(p.phase, "Pending");
        let http = p.http.as_ref().unwrap();
        assert_eq!((http.requests, http.errors, http.in_flight), (1, 0, 0));
        assert_eq!(
            http.latency_buckets.len(),
            http.latency_bounds_millis.len() + 1
        );
        // No route asked yet: none reported.
        assert!(a.routes.is_empty(), "{:?}", a.routes);
    }
}
