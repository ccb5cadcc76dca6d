//! What each pod on this node is asked, counted where every request for it passes: the
//! router of its node (requests from other nodes arrive through it too). Requests in
//! flight now, the time-integral of that number (so an average concurrency over any
//! interval is two readings apart, as Knative's queue-proxy reports it), requests
//! answered, errors (5xx, or no answer), and latency to the response head.
//!
//! The autoscaler reads these live (through the agent's stats API), and the agent serves
//! them as series per pod, removed when the pod goes. The router counts each route's
//! requests in the same form ([`Traffic::record`]), for the dashboard's charts.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Upper bounds of the latency buckets, in milliseconds (the last bucket is unbounded).
pub const LATENCY_BOUNDS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// One pod's counters.
#[derive(Debug)]
pub struct Traffic {
    pub namespace: String,
    pub name: String,
    in_flight: AtomicI64,
    /// Σ over requests of (end − start) in ns, where a request still in flight has only
    /// its `−start` in: add `in_flight × now` to read the integral.
    busy: AtomicI64,
    requests: AtomicU64,
    errors: AtomicU64,
    latency_ns: AtomicU64,
    buckets: [AtomicU64; LATENCY_BOUNDS_MS.len() + 1],
}

/// The counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficSnapshot {
    pub in_flight: u64,
    /// ∫ in_flight dt since the pod started, in nanosecond-requests.
    pub busy_ns: u128,
    pub requests: u64,
    pub errors: u64,
    /// Σ latency of the answered requests.
    pub latency_ns: u64,
    /// Answered requests per latency bucket (see [`LATENCY_BOUNDS_MS`]), not cumulative.
    pub buckets: Vec<u64>,
}

/// Nanoseconds from the first reading in this process to `at`.
fn ns(at: Instant) -> i64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    i64::try_from(at.saturating_duration_since(base).as_nanos()).unwrap_or(i64::MAX)
}

fn now_ns() -> i64 {
    ns(Instant::now())
}

impl Traffic {
    pub fn new(namespace: &str, name: &str) -> Traffic {
        Traffic {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            in_flight: AtomicI64::new(0),
            busy: AtomicI64::new(0),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency_ns: AtomicU64::new(0),
            buckets: Default::default(),
        }
    }

    /// A request begins; the guard ends it (as an error when dropped unanswered).
    pub fn begin(&self) -> InFlight<'_> {
        // One clock reading at each end serves the integral and the latency.
        let at = Instant::now();
        self.busy.fetch_sub(ns(at), Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            traffic: self,
            at,
            ended: false,
        }
    }

    pub fn snapshot(&self) -> TrafficSnapshot {
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        let busy = i128::from(self.busy.load(Ordering::Relaxed))
            + i128::from(in_flight) * i128::from(now_ns());
        TrafficSnapshot {
            in_flight: u64::try_from(in_flight).unwrap_or(0),
            busy_ns: u128::try_from(busy).unwrap_or(0),
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            latency_ns: self.latency_ns.load(Ordering::Relaxed),
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        }
    }

    /// Out of flight at `now`, counted or not.
    fn land(&self, now: Instant) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.busy.fetch_add(ns(now), Ordering::Relaxed);
    }

    fn end(&self, since: Instant, error: bool) {
        let now = Instant::now();
        self.land(now);
        self.count(now.saturating_duration_since(since), error);
    }

    /// A request answered with `status` after `took`, not counted in flight (a route's
    /// figures, told once the request is done).
    pub fn record(&self, status: u16, took: Duration) {
        self.count(took, status >= 500);
    }

    fn count(&self, took: Duration, error: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.latency_ns.fetch_add(ns, Ordering::Relaxed);
        let ms = took.as_millis();
        let i = LATENCY_BOUNDS_MS
            .iter()
            .position(|b| ms <= u128::from(*b))
            .unwrap_or(LATENCY_BOUNDS_MS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// A request in flight (see [`Traffic::begin`]).
pub struct InFlight<'a> {
    traffic: &'a Traffic,
    at: Instant,
    ended: bool,
}

impl InFlight<'_> {
    /// The response head went out with `status` (a 5xx counts as an error).
    pub fn answered(mut self, status: u16) {
        self.ended = true;
        self.traffic.end(self.at, status >= 500);
    }

    /// Nothing reached the pod (it was gone, or not listening yet): not a request it
    /// answered.
    pub fn not_sent(mut self) {
        self.ended = true;
        self.traffic.land(Instant::now());
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.traffic.end(self.at, true);
        }
    }
}

impl TrafficSnapshot {
    /// Average requests in flight between `earlier` and this one, `elapsed` apart.
    pub fn concurrency_since(&self, earlier: &TrafficSnapshot, elapsed: Duration) -> f64 {
        let ns = elapsed.as_nanos();
        if ns == 0 {
            return self.in_flight as f64;
        }
        self.busy_ns.saturating_sub(earlier.busy_ns) as f64 / ns as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integral_counts_requests_in_flight_and_done() {
        let t = Traffic::new("ns", "pod");
        let before = t.snapshot();
        let a = t.begin();
        let b = t.begin();
        std::thread::sleep(Duration::from_millis(20));
        a.answered(200);
        let mid = t.snapshot();
        assert_eq!(mid.in_flight, 1);
        assert_eq!(mid.requests, 1);
        // Two requests for ~20 ms: at least 40 ms of request time.
        assert!(mid.busy_ns - before.busy_ns >= 40_000_000, "{mid:?}");
        drop(b);
        let after = t.snapshot();
        assert_eq!((after.in_flight, after.requests, after.errors), (0, 2, 1));
        assert_eq!(after.buckets.iter().sum::<u64>(), 2);
        assert!(after.busy_ns >= mid.busy_ns);
    }

    #[test]
    fn average_concurrency_over_an_interval() {
        let earlier = TrafficSnapshot {
            busy_ns: 1_000_000_000,
            ..Default::default()
        };
        let now = TrafficSnapshot {
            busy_ns: 5_000_000_000,
            ..Default::default()
        };
        let c = now.concurrency_since(&earlier, Duration::from_secs(2));
        assert!((c - 2.0).abs() < 1e-9, "{c}");
    }

    #[test]
    fn latency_lands_in_its_bucket() {
        let t = Traffic::new("ns", "pod");
        for _ in 0..2 {
            t.in_flight.fetch_add(1, Ordering::Relaxed);
        }
        let ago = |d| {
            Instant::now()
                .checked_sub(d)
                .expect("the clock is past a minute")
        };
        t.end(ago(Duration::from_millis(7)), false);
        t.end(ago(Duration::from_secs(60)), true);
        let s = t.snapshot();
        assert_eq!(s.buckets[1], 1);
        assert_eq!(s.buckets[LATENCY_BOUNDS_MS.len()], 1);
        assert_eq!(s.errors, 1);
    }
}
