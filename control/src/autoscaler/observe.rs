//! What the autoscalers see: each pod's rates since the last look, read live from the
//! agents of the nodes that run them (`NodeService.Stats`), and windows of a workload's
//! totals over time.
//!
//! A window averages over the time it has figures for, leading zeros left out, as
//! Knative's buckets do: a burst after an idle spell shows at once, not diluted by the
//! quiet before it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use skiff_proto::model::Node;

use crate::usage::NodeStats;

/// One pod's figures now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PodRates {
    /// Cores, over the node's last window.
    pub cpu: f64,
    pub memory: f64,
    /// Requests per second since the last look (0 the first time).
    pub rps: f64,
    /// Average requests in flight since the last look (those in flight now, the first
    /// time).
    pub concurrency: f64,
}

/// A pod's counters at the last look.
struct Last {
    at: Instant,
    requests: u64,
    busy: u64,
}

/// Reads pods' rates from their nodes.
pub struct Observer {
    nodes: Arc<dyn NodeStats>,
    last: HashMap<String, Last>,
}

/// Pods by `namespace/name`.
pub type Rates = HashMap<String, PodRates>;

impl Observer {
    pub fn new(nodes: Arc<dyn NodeStats>) -> Observer {
        Observer {
            nodes,
            last: HashMap::new(),
        }
    }

    /// The rates of every pod on `nodes` (a node that does not answer leaves its pods
    /// out, and says why in the log).
    pub async fn observe(&mut self, nodes: &[Node]) -> Rates {
        let answers = join_all(nodes.iter().map(|n| self.nodes.stats(n))).await;
        let now = Instant::now();
        let mut out = Rates::new();
        let mut seen = Vec::new();
        let mut all_answered = true;
        for (node, answer) in nodes.iter().zip(answers) {
            let stats = match answer {
                Ok(s) => s,
                Err(e) => {
                    all_answered = false;
                    tracing::debug!(node = %node.metadata.name, error = %e.message(), "no figures from a node");
                    continue;
                }
            };
            for p in stats.pods {
                let mut r = PodRates {
                    cpu: p.cpu_millicores as f64 / 1000.0,
                    memory: p.memory_bytes as f64,
                    ..Default::default()
                };
                if let Some(h) = &p.http {
                    r.concurrency = h.in_flight as f64;
                    if let Some(last) = self.last.get(&p.uid) {
                        let dt = now.saturating_duration_since(last.at).as_secs_f64();
                        if dt > 0.0 {
                            r.rps = h.requests.saturating_sub(last.requests) as f64 / dt;
                            r.concurrency =
                                h.busy_nanos.saturating_sub(last.busy) as f64 / 1e9 / dt;
                        }
                    }
                    self.last.insert(
                        p.uid.clone(),
                        Last {
                            at: now,
                            requests: h.requests,
                            busy: h.busy_nanos,
                        },
                    );
                }
                seen.push(p.uid);
                out.insert(format!("{}/{}", p.namespace, p.name), r);
            }
        }
        // Pods no node has any more are forgotten (when every node answered).
        if all_answered {
            let seen: std::collections::HashSet<_> = seen.into_iter().collect();
            self.last.retain(|uid, _| seen.contains(uid));
        }
        out
    }
}

/// A workload's totals over time.
#[derive(Debug, Default)]
pub struct Window {
    samples: VecDeque<(Instant, f64)>,
}

impl Window {
    /// Adds the total at `at`, forgetting what is older than `keep`.
    pub fn push(&mut self, at: Instant, total: f64, keep: Duration) {
        self.samples.push_back((at, total));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| at.saturating_duration_since(*t) > keep)
        {
            self.samples.pop_front();
        }
    }

    /// The average of the last `span`, over the samples from the first non-zero one on.
    pub fn average(&self, now: Instant, span: Duration) -> f64 {
        let recent = self
            .samples
            .iter()
            .filter(|(t, _)| now.saturating_duration_since(*t) <= span)
            .map(|(_, v)| *v)
            .skip_while(|v| *v == 0.0);
        let (sum, n) = recent.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
        if n == 0 { 0.0 } else { sum / f64::from(n) }
    }

    /// Whether every sample of the last `span` is zero and the window holds that long.
    pub fn idle_for(&self, now: Instant, span: Duration) -> bool {
        let covers = self
            .samples
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= span);
        covers
            && self
                .samples
                .iter()
                .filter(|(t, _)| now.saturating_duration_since(*t) <= span)
                .all(|(_, v)| *v == 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_after_idle_shows_at_once() {
        let t = Instant::now();
        let mut w = Window::default();
        let keep = Duration::from_secs(60);
        for i in 0..30 {
            w.push(t + Duration::from_secs(i), 0.0, keep);
        }
        w.push(t + Duration::from_secs(30), 8.0, keep);
        let now = t + Duration::from_secs(30);
        assert_eq!(w.average(now, Duration::from_secs(60)), 8.0);
        w.push(t + Duration::from_secs(31), 6.0, keep);
        let now = t + Duration::from_secs(31);
        assert_eq!(w.average(now, Duration::from_secs(6)), 7.0);
        // A dip to zero after the burst counts.
        w.push(t + Duration::from_secs(32), 0.0, keep);
        let now = t + Duration::from_secs(32);
        assert!((w.average(now, Duration::from_secs(60)) - 14.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn idle_needs_the_whole_span_at_zero() {
        let t = Instant::now();
        let mut w = Window::default();
        let keep = Duration::from_secs(60);
        w.push(t, 0.0, keep);
        w.push(t + Duration::from_secs(5), 0.0, keep);
        assert!(!w.idle_for(t + Duration::from_secs(5), Duration::from_secs(10)));
        w.push(t + Duration::from_secs(10), 0.0, keep);
        assert!(w.idle_for(t + Duration::from_secs(10), Duration::from_secs(10)));
        w.push(t + Duration::from_secs(11), 1.0, keep);
        assert!(!w.idle_for(t + Duration::from_secs(11), Duration::from_secs(10)));
    }
}
