//! What a pod uses, shared by all its runs: CPU time, memory held now and at most,
//! requests served. The agent reports it in the pod's status, so `skiff get pod -o yaml`
//! shows real figures (Wasm shims that report nothing are a common complaint).
//!
//! A Wasm pod's CPU is the time its futures spend being polled ([`Charged`]): the guest's
//! code and the host calls it makes, not the time it waits. That is what a CFS quota would
//! count for a container, measured with the monotonic clock. A container's figures are read
//! from its cgroup.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Counters for one pod.
#[derive(Debug, Default)]
pub struct Usage {
    cpu_nanos: AtomicU64,
    memory_bytes: AtomicU64,
    peak_memory_bytes: AtomicU64,
    requests: AtomicU64,
    failures: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageSnapshot {
    pub cpu: Duration,
    /// Linear memory (and tables) the pod's live instances hold.
    pub memory_bytes: u64,
    pub peak_memory_bytes: u64,
    pub requests: u64,
    /// Requests whose instance trapped or never answered.
    pub failures: u64,
}

impl Usage {
    pub fn snapshot(&self) -> UsageSnapshot {
        UsageSnapshot {
            cpu: Duration::from_nanos(self.cpu_nanos.load(Ordering::Relaxed)),
            memory_bytes: self.memory_bytes.load(Ordering::Relaxed),
            peak_memory_bytes: self.peak_memory_bytes.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    /// Sets the counters to figures read whole (from a cgroup).
    pub(crate) fn set(&self, cpu: Duration, memory_bytes: u64, peak_memory_bytes: u64) {
        let n = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
        self.cpu_nanos.store(n, Ordering::Relaxed);
        self.memory_bytes.store(memory_bytes, Ordering::Relaxed);
        self.peak_memory_bytes
            .fetch_max(peak_memory_bytes.max(memory_bytes), Ordering::Relaxed);
    }

    pub(crate) fn cpu(&self, d: Duration) {
        let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.cpu_nanos.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn grew(&self, bytes: u64) {
        let now = self.memory_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak_memory_bytes.fetch_max(now, Ordering::Relaxed);
    }

    pub(crate) fn released(&self, bytes: u64) {
        self.memory_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// A future whose time in `poll` is charged to a pod's CPU.
pub struct Charged<F> {
    inner: Pin<Box<F>>,
    usage: Arc<Usage>,
}

impl<F: Future> Charged<F> {
    pub fn new(inner: F, usage: Arc<Usage>) -> Charged<F> {
        Charged {
            inner: Box::pin(inner),
            usage,
        }
    }
}

impl<F: Future> Future for Charged<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let began = Instant::now();
        let out = self.inner.as_mut().poll(cx);
        self.usage.cpu(began.elapsed());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn polling_is_charged_and_waiting_is_not() {
        let usage = Arc::new(Usage::default());
        let whole = Instant::now();
        Charged::new(
            async {
                let spin = Instant::now();
                while spin.elapsed() < Duration::from_millis(30) {}
                tokio::time::sleep(Duration::from_millis(200)).await;
            },
            usage.clone(),
        )
        .await;
        let (cpu, whole) = (usage.snapshot().cpu, whole.elapsed());
        assert!(cpu >= Duration::from_millis(30), "{cpu:?}");
        // However loaded the machine, the 200 ms asleep are outside every poll.
        assert!(
            cpu + Duration::from_millis(200) <= whole,
            "the sleep is not CPU: {cpu:?} of {whole:?}"
        );
    }

    #[test]
    fn memory_held_goes_up_and_down_and_the_peak_stays() {
        let u = Usage::default();
        u.grew(100);
        u.grew(50);
        u.released(150);
        u.grew(10);
        let s = u.snapshot();
        assert_eq!((s.memory_bytes, s.peak_memory_bytes), (10, 150));
    }
}
