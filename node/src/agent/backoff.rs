//! Restart back-off, as the kubelet does it: a workload that keeps failing waits 10 s
//! before its first restart, then twice as long each time up to 5 minutes
//! (`CrashLoopBackOff` meanwhile); one that ran for 10 minutes without failing starts
//! over at 10 s.

use std::time::Duration;

/// The back-off schedule (Kubernetes' values by default).
#[derive(Debug, Clone, Copy)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// A run at least this long resets the back-off.
    pub reset_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }
}

/// One workload's back-off state.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    next: Duration,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Backoff {
        Backoff {
            policy,
            next: policy.initial,
        }
    }

    /// How long to wait before restarting a run that lasted `ran`.
    pub fn after_run(&mut self, ran: Duration) -> Duration {
        if ran >= self.policy.reset_after {
            self.next = self.policy.initial;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(self.policy.max);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_reset_after_a_long_run() {
        let mut b = Backoff::new(BackoffPolicy::default());
        let short = Duration::from_secs(1);
        let waits: Vec<u64> = (0..7).map(|_| b.after_run(short).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(b.after_run(Duration::from_secs(600)).as_secs(), 10);
        assert_eq!(b.after_run(short).as_secs(), 20);
    }
}
