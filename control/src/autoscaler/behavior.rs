//! How far and how fast an autoscaler may move, as Kubernetes' HPA decides it, on plain
//! numbers so each rule is tested alone:
//!
//! 1. what a metric asks for: `ceil(total / target per pod)`, unless the ratio to the
//!    current replicas is within the tolerance (10 %);
//! 2. stabilisation: a scale-up goes no higher than the lowest recommendation of the
//!    scale-up window, a scale-down no lower than the highest of the scale-down window;
//! 3. policies: within each policy's period, at most `value` pods (or percent) more or
//!    fewer than at the period's start; `selectPolicy` picks the policy that allows the
//!    most change (`Max`), the least (`Min`), or none (`Disabled`);
//! 4. `minReplicas..=maxReplicas`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use skiff_proto::model::autoscaling::{
    HorizontalPodAutoscalerBehavior, HpaScalingPolicyType, HpaScalingRules, ScalingPolicySelect,
};

/// How far a metric may be from its target before replicas change.
pub const TOLERANCE: f64 = 0.1;

/// Replicas that bring `total` (summed over the pods) to `target` per pod; `current` when
/// the ratio is within [`TOLERANCE`].
pub fn proposal(current: i32, total: f64, target: f64) -> i32 {
    if target.is_nan() || target <= 0.0 || !total.is_finite() {
        return current;
    }
    if current > 0 {
        let ratio = total / (target * f64::from(current));
        if (ratio - 1.0).abs() <= TOLERANCE {
            return current;
        }
    }
    let n = (total / target).ceil();
    if n >= f64::from(i32::MAX) {
        i32::MAX
    } else {
        n.max(0.0) as i32
    }
}

/// One scaling policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub percent: bool,
    pub value: i32,
    pub period: Duration,
}

/// The rules of one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub window: Duration,
    pub select: ScalingPolicySelect,
    pub policies: Vec<Policy>,
}

impl Rules {
    /// Kubernetes' defaults: up without stabilisation, at most +100 % or +4 pods per 15 s.
    pub fn default_up() -> Rules {
        Rules {
            window: Duration::ZERO,
            select: ScalingPolicySelect::Max,
            policies: vec![
                Policy {
                    percent: true,
                    value: 100,
                    period: Duration::from_secs(15),
                },
                Policy {
                    percent: false,
                    value: 4,
                    period: Duration::from_secs(15),
                },
            ],
        }
    }

    /// Kubernetes' defaults: down after 300 s of lower recommendations, any amount.
    pub fn default_down() -> Rules {
        Rules {
            window: Duration::from_secs(300),
            select: ScalingPolicySelect::Max,
            policies: vec![Policy {
                percent: true,
                value: 100,
                period: Duration::from_secs(15),
            }],
        }
    }

    /// The spec's rules over the defaults (fields left out keep the default's).
    fn from_spec(spec: Option<&HpaScalingRules>, default: Rules) -> Rules {
        let Some(s) = spec else { return default };
        Rules {
            window: s
                .stabilization_window_seconds
                .map_or(default.window, |w| Duration::from_secs(w.max(0) as u64)),
            select: s.select_policy.unwrap_or(default.select),
            policies: if s.policies.is_empty() {
                default.policies
            } else {
                s.policies
                    .iter()
                    .map(|p| Policy {
                        percent: p.type_ == HpaScalingPolicyType::Percent,
                        value: p.value,
                        period: Duration::from_secs(p.period_seconds.max(1) as u64),
                    })
                    .collect()
            },
        }
    }
}

/// Both directions' rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Behavior {
    pub up: Rules,
    pub down: Rules,
}

impl Behavior {
    pub fn of(spec: Option<&HorizontalPodAutoscalerBehavior>) -> Behavior {
        Behavior {
            up: Rules::from_spec(spec.and_then(|b| b.scale_up.as_ref()), Rules::default_up()),
            down: Rules::from_spec(
                spec.and_then(|b| b.scale_down.as_ref()),
                Rules::default_down(),
            ),
        }
    }
}

/// What held a decision back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Within range, as recommended.
    None,
    /// A scale-up waits for its window (recommendations were lower).
    UpStabilized,
    /// A scale-down waits for its window (recommendations were higher).
    DownStabilized,
    ScaleUpLimit,
    ScaleDownLimit,
    TooManyReplicas,
    TooFewReplicas,
}

/// One autoscaler's memory: its recent recommendations and scale changes.
#[derive(Debug, Default)]
pub struct History {
    recommendations: VecDeque<(Instant, i32)>,
    /// Replicas added (positive) or removed (negative), and when.
    changes: VecDeque<(Instant, i32)>,
}

impl History {
    /// Records a change of replicas made at `at`.
    pub fn scaled(&mut self, at: Instant, by: i32) {
        if by != 0 {
            self.changes.push_back((at, by));
        }
    }

    fn forget_before(&mut self, now: Instant, keep: Duration) {
        while self
            .recommendations
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > keep)
        {
            self.recommendations.pop_front();
        }
        while self
            .changes
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > keep)
        {
            self.changes.pop_front();
        }
    }

    /// Replicas changed in the last `period` in direction `up`.
    fn changed_within(&self, now: Instant, period: Duration, up: bool) -> i32 {
        self.changes
            .iter()
            .filter(|(t, _)| now.saturating_duration_since(*t) <= period)
            .filter(|(_, by)| (*by > 0) == up)
            .map(|(_, by)| by.abs())
            .sum()
    }
}

/// The replicas to have now, and what held them back, from `desired` (what the metrics ask)
/// with `current` replicas, as `behavior` allows between `min` and `max`.
pub fn decide(
    history: &mut History,
    now: Instant,
    behavior: &Behavior,
    current: i32,
    desired: i32,
    (min, max): (i32, i32),
) -> (i32, Limit) {
    let keep = behavior
        .up
        .window
        .max(behavior.down.window)
        .max(longest_period(&behavior.up))
        .max(longest_period(&behavior.down));
    history.forget_before(now, keep);
    // Stabilisation over the recommendations of each window, this one included.
    let mut up = desired;
    let mut down = desired;
    for (t, r) in &history.recommendations {
        let age = now.saturating_duration_since(*t);
        if age <= behavior.up.window {
            up = up.min(*r);
        }
        if age <= behavior.down.window {
            down = down.max(*r);
        }
    }
    history.recommendations.push_back((now, desired));
    let mut next = current.clamp(up.min(down), down.max(up));
    let mut limit = if next > desired {
        Limit::DownStabilized
    } else if next < desired {
        Limit::UpStabilized
    } else {
        Limit::None
    };
    if next > current {
        let cap = up_limit(history, now, &behavior.up, current);
        if next > cap {
            next = cap;
            limit = Limit::ScaleUpLimit;
        }
    } else if next < current {
        let floor = down_limit(history, now, &behavior.down, current);
        if next < floor {
            next = floor;
            limit = Limit::ScaleDownLimit;
        }
    }
    if next > max {
        next = max;
        limit = Limit::TooManyReplicas;
    } else if next < min {
        next = min;
        limit = Limit::TooFewReplicas;
    }
    (next, limit)
}

fn longest_period(r: &Rules) -> Duration {
    r.policies
        .iter()
        .map(|p| p.period)
        .max()
        .unwrap_or(Duration::ZERO)
}

/// The most replicas a scale-up may reach now.
fn up_limit(h: &History, now: Instant, r: &Rules, current: i32) -> i32 {
    if r.select == ScalingPolicySelect::Disabled || r.policies.is_empty() {
        return current;
    }
    let limits = r.policies.iter().map(|p| {
        let start = current - h.changed_within(now, p.period, true);
        if p.percent {
            (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
        } else {
            start.saturating_add(p.value)
        }
    });
    let l = match r.select {
        ScalingPolicySelect::Min => limits.min(),
        _ => limits.max(),
    };
    // A workload at zero may always get its first replica.
    l.unwrap_or(current).max(current).max(1)
}

/// The fewest replicas a scale-down may reach now.
fn down_limit(h: &History, now: Instant, r: &Rules, current: i32) -> i32 {
    if r.select == ScalingPolicySelect::Disabled || r.policies.is_empty() {
        return current;
    }
    let limits = r.policies.iter().map(|p| {
        let start = current + h.changed_within(now, p.period, false);
        if p.percent {
            (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)).ceil() as i32
        } else {
            start - p.value
        }
    });
    let l = match r.select {
        // The policy that allows the most change: the fewest replicas.
        ScalingPolicySelect::Min => limits.max(),
        _ => limits.min(),
    };
    l.unwrap_or(current).clamp(0, current)
}

#[cfg(test)]
#[path = "behavior_tests.rs"]
mod tests;
