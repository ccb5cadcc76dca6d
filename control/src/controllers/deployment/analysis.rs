//! A canary's analysis: what the routers measured for the new revision's pods between two
//! readings (requests, 5xx or unanswered, latency buckets to the response head), read live
//! from the agents of their nodes, and judged against the strategy's thresholds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use skiff_proto::grpc::node::HttpStats;
use skiff_proto::model::Node;
use skiff_proto::model::canary::CanaryAnalysis;

use crate::usage::NodeStats;

/// The new revision's traffic between two readings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    /// Answered requests per latency bucket, and the buckets' upper bounds (the last
    /// bucket has none).
    pub buckets: Vec<u64>,
    pub bounds_ms: Vec<u64>,
}

impl Totals {
    /// The bound under which 99 % of the answered requests fell; `None` when they did not
    /// fall under the last bound (or there were none).
    pub fn p99_ms(&self) -> Option<u64> {
        let answered: u64 = self.buckets.iter().sum();
        if answered == 0 {
            return None;
        }
        let want = answered - answered / 100;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return self.bounds_ms.get(i).copied();
            }
        }
        None
    }

    fn add(&mut self, now: &HttpStats, before: Option<&HttpStats>) {
        let sub = |a: u64, b: Option<u64>| a.saturating_sub(b.unwrap_or(0));
        self.requests += sub(now.requests, before.map(|b| b.requests));
        self.errors += sub(now.errors, before.map(|b| b.errors));
        if self.bounds_ms.is_empty() {
            self.bounds_ms = now.latency_bounds_millis.clone();
        }
        if self.buckets.len() < now.latency_buckets.len() {
            self.buckets.resize(now.latency_buckets.len(), 0);
        }
        for (i, n) in now.latency_buckets.iter().enumerate() {
            let b = before.and_then(|b| b.latency_buckets.get(i).copied());
            self.buckets[i] += sub(*n, b);
        }
    }
}

/// What a check concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Too few requests to judge.
    Inconclusive(String),
    Passed(String),
    Failed(String),
}

/// Judges `t` against `a`'s thresholds.
pub fn judge(a: &CanaryAnalysis, t: &Totals) -> Verdict {
    let min = u64::try_from(a.min_requests()).unwrap_or(0);
    if t.requests < min {
        return Verdict::Inconclusive(format!(
            "analysis inconclusive: {} requests to the new revision (it takes {min})",
            t.requests
        ));
    }
    let ok = t.requests - t.errors.min(t.requests);
    let percent = ok as f64 * 100.0 / t.requests as f64;
    let p99 = t.p99_ms();
    let p99_text = match p99 {
        Some(ms) => format!("p99 ≤ {ms} ms"),
        None => format!("p99 > {} ms", t.bounds_ms.last().copied().unwrap_or(0)),
    };
    let figures = format!(
        "{percent:.1}% of {} requests succeeded, {p99_text}",
        t.requests
    );
    if percent < f64::from(a.min_success_percent()) {
        return Verdict::Failed(format!(
            "{figures}: below the minimum success rate of {}%",
            a.min_success_percent()
        ));
    }
    if let Some(max) = a.max_p99_millis {
        let max = u64::try_from(max).unwrap_or(0);
        // A bucket bound is an upper bound: p99 ≤ bound ≤ max passes for sure; a bound
        // above `max` is counted as too slow.
        if p99.is_none_or(|ms| ms > max) {
            return Verdict::Failed(format!("{figures}: above the p99 limit of {max} ms"));
        }
    }
    Verdict::Passed(figures)
}

/// The last reading of one canary.
struct Reading {
    at: Instant,
    hash: String,
    pods: HashMap<String, HttpStats>,
}

/// Reads canaries' traffic, remembering each Deployment's last reading (on the leader;
/// a new leader starts with one interval without a verdict).
pub struct Analyst {
    nodes: Arc<dyn NodeStats>,
    last: Mutex<HashMap<String, Reading>>,
}

impl Analyst {
    pub fn new(nodes: Arc<dyn NodeStats>) -> Analyst {
        Analyst {
            nodes,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// When `interval` has passed since the last reading of Deployment `key`'s canary
    /// `hash`, reads its pods (`uids`, on `nodes`) and returns the traffic between the
    /// two readings; `None` when it is not time yet, or this is the first reading.
    pub async fn read(
        &self,
        key: &str,
        hash: &str,
        uids: &[String],
        nodes: &[Node],
        interval: Duration,
    ) -> Option<Totals> {
        let due = {
            let last = self.lock();
            last.get(key)
                .is_none_or(|r| r.hash != hash || r.at.elapsed() >= interval)
        };
        if !due {
            return None;
        }
        let answers = join_all(nodes.iter().map(|n| self.nodes.stats(n))).await;
        let mut pods = HashMap::new();
        for answer in answers {
            match answer {
                Ok(s) => pods.extend(
                    s.pods
                        .into_iter()
                        .filter(|p| uids.contains(&p.uid))
                        .filter_map(|p| Some((p.uid, p.http?))),
                ),
                Err(e) => {
                    // Without a node's pods this interval would be short of them and the
                    // next one would count their traffic twice: no verdict, and the last
                    // reading stays.
                    tracing::debug!(error = %e.message(), "no canary figures from a node");
                    return None;
                }
            }
        }
        let now = Reading {
            at: Instant::now(),
            hash: hash.to_owned(),
            pods,
        };
        let mut last = self.lock();
        let before = last.insert(key.to_owned(), now)?;
        if before.hash != hash {
            return None;
        }
        let now = last.get(key)?;
        let mut t = Totals::default();
        for (uid, s) in &now.pods {
            t.add(s, before.pods.get(uid));
        }
        Some(t)
    }

    /// Forgets Deployment `key` (its canary ended).
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Reading>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(requests: u64, errors: u64, buckets: &[u64]) -> Totals {
        Totals {
            requests,
            errors,
            buckets: buckets.to_vec(),
            bounds_ms: vec![5, 10, 25],
        }
    }

    #[test]
    fn p99_is_the_bound_of_the_bucket_holding_the_99th_percentile() {
        assert_eq!(totals(100, 0, &[99, 1, 0, 0]).p99_ms(), Some(5));
        assert_eq!(totals(100, 0, &[98, 1, 1, 0]).p99_ms(), Some(10));
        assert_eq!(totals(100, 0, &[90, 0, 0, 10]).p99_ms(), None);
        assert_eq!(totals(0, 0, &[0, 0, 0, 0]).p99_ms(), None);
    }

    #[test]
    fn checks_fail_on_errors_or_latency_and_wait_for_enough_requests() {
        let a = CanaryAnalysis {
            min_success_percent: Some(95),
            max_p99_millis: Some(10),
            min_requests: Some(20),
            ..Default::default()
        };
        assert!(matches!(
            judge(&a, &totals(10, 5, &[5, 0, 0, 0])),
            Verdict::Inconclusive(_)
        ));
        assert!(matches!(
            judge(&a, &totals(100, 1, &[99, 0, 0, 0])),
            Verdict::Passed(_)
        ));
        let Verdict::Failed(why) = judge(&a, &totals(100, 20, &[80, 0, 0, 0])) else {
            panic!("20 % errors pass");
        };
        assert!(why.contains("80.0% of 100 requests succeeded"), "{why}");
        assert!(matches!(
            judge(&a, &totals(100, 0, &[50, 0, 50, 0])),
            Verdict::Failed(_)
        ));
        assert!(matches!(
            judge(&a, &totals(100, 0, &[50, 0, 0, 50])),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn traffic_is_the_difference_between_readings() {
        let s = |requests, errors, b: [u64; 2]| HttpStats {
            requests,
            errors,
            latency_buckets: b.to_vec(),
            latency_bounds_millis: vec![5],
            ..Default::default()
        };
        let mut t = Totals::default();
        t.add(&s(30, 3, [20, 7]), Some(&s(10, 1, [5, 4])));
        // A pod new since the last reading counts from zero.
        t.add(&s(5, 0, [5, 0]), None);
        assert_eq!(
            (t.requests, t.errors, t.buckets.clone()),
            (25, 2, vec![20, 3])
        );
        assert_eq!(t.bounds_ms, vec![5]);
    }
}
