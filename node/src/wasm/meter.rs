//! Per-pod limits as a guest meets them, and what it used.
//! - Memory: a [`wasmtime::ResourceLimiter`] refuses growth past `limits.memory` with a
//!   trap, and remembers that it did, so the outcome reads `OOMKilled`.
//! - CPU: each epoch tick a guest runs through costs it one tick of CPU; within each
//!   100 ms period it may run its share (`limits.cpu` of one core), then sleeps until the
//!   next period, as the Linux CFS quota throttles a container.
//! - Deadline: past it, the guest is interrupted and the outcome is `DeadlineExceeded`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{ResourceLimiter, UpdateDeadline};

use crate::runtime::{Limits, Usage};

/// The accounting period of the CPU share (CFS' default).
pub const CPU_PERIOD: Duration = Duration::from_millis(100);

/// One instance's meter: the limits, and what happened against them.
pub struct Meter {
    limits: Limits,
    tick: Duration,
    started: Instant,
    period_start: Instant,
    used_in_period: Duration,
    /// CPU time the guest ran (in ticks, so approximately).
    pub cpu: Duration,
    /// The largest linear memory it had.
    pub peak_memory: usize,
    /// It asked for more memory than its limit.
    pub out_of_memory: bool,
    /// It ran past its deadline.
    pub deadline_exceeded: bool,
    /// The pod's counters, and the memory this instance holds in them.
    usage: Option<Arc<Usage>>,
    held: u64,
}

impl Meter {
    pub fn new(limits: Limits, tick: Duration) -> Meter {
        let now = Instant::now();
        Meter {
            limits,
            tick,
            started: now,
            period_start: now,
            used_in_period: Duration::ZERO,
            cpu: Duration::ZERO,
            peak_memory: 0,
            out_of_memory: false,
            deadline_exceeded: false,
            usage: None,
            held: 0,
        }
    }

    /// Starts the deadline again from now (a plugin's next call in the same instance).
    pub fn restart_deadline(&mut self) {
        self.started = Instant::now();
    }

    /// Counts this instance's memory in the pod's `usage` while it lives.
    pub fn charged_to(mut self, usage: Arc<Usage>) -> Meter {
        self.usage = Some(usage);
        self
    }

    fn hold(&mut self, current: usize, desired: usize) {
        let more = desired.saturating_sub(current) as u64;
        self.held += more;
        if let Some(u) = &self.usage {
            u.grew(more);
        }
    }

    /// Called at every epoch tick the guest runs through: what the guest does next.
    pub fn on_tick(&mut self) -> UpdateDeadline {
        self.cpu += self.tick;
        if self
            .limits
            .deadline
            .is_some_and(|d| self.started.elapsed() >= d)
        {
            self.deadline_exceeded = true;
            return UpdateDeadline::Interrupt;
        }
        let Some(millis) = self.limits.cpu_millis else {
            // No share to keep: still let other tasks on this thread run.
            return UpdateDeadline::Yield(1);
        };
        let now = Instant::now();
        if now.duration_since(self.period_start) >= CPU_PERIOD {
            self.period_start = now;
            self.used_in_period = Duration::ZERO;
        }
        self.used_in_period += self.tick;
        let quota = CPU_PERIOD * u32::try_from(millis.min(64_000)).unwrap_or(1000) / 1000;
        if self.used_in_period < quota {
            return UpdateDeadline::Yield(1);
        }
        // Its share of this period is spent: sleep until the next one.
        let wake = self.period_start + CPU_PERIOD;
        self.period_start = wake;
        self.used_in_period = Duration::ZERO;
        UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                wake,
            ))),
        )
    }

    fn allow(&mut self, desired_bytes: usize) -> wasmtime::Result<bool> {
        if let Some(limit) = self.limits.memory_bytes
            && desired_bytes as u64 > limit
        {
            self.out_of_memory = true;
            wasmtime::bail!(
                "memory limit exceeded: the guest asked for {desired_bytes} bytes, its pod's limits.memory is {limit}"
            );
        }
        Ok(true)
    }
}

impl ResourceLimiter for Meter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.allow(desired)?;
        self.peak_memory = self.peak_memory.max(desired);
        self.hold(current, desired);
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A table element is a pointer: count tables against the same limit.
        self.allow(desired.saturating_mul(8))
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if let Some(u) = &self.usage {
            u.released(self.held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_past_the_limit_is_refused_and_remembered() {
        let mut m = Meter::new(
            Limits {
                memory_bytes: Some(1 << 20),
                ..Limits::default()
            },
            Duration::from_millis(5),
        );
        assert!(m.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!m.out_of_memory);
        let e = m.memory_growing(1 << 20, 2 << 20, None).unwrap_err();
        assert!(e.to_string().contains("limits.memory"), "{e}");
        assert!(m.out_of_memory);
        assert_eq!(m.peak_memory, 1 << 20);
    }

    #[tokio::test]
    async fn a_guest_past_its_share_sleeps_until_the_next_period() {
        let tick = Duration::from_millis(5);
        let mut m = Meter::new(
            Limits {
                cpu_millis: Some(100),
                ..Limits::default()
            },
            tick,
        );
        // 100m of one core: 10 ms per 100 ms period, so two 5 ms ticks.
        assert!(matches!(m.on_tick(), UpdateDeadline::Yield(1)));
        assert!(matches!(m.on_tick(), UpdateDeadline::YieldCustom(1, _)));
        assert_eq!(m.cpu, tick * 2);
        let mut d = Meter::new(
            Limits {
                deadline: Some(Duration::ZERO),
                ..Limits::default()
            },
            tick,
        );
        assert!(matches!(d.on_tick(), UpdateDeadline::Interrupt));
        assert!(d.deadline_exceeded);
    }
}
