//! A Deployment's status: counts from its pods, and the `Available` and `Progressing`
//! conditions, with the progress deadline (`ProgressDeadlineExceeded` when a rollout
//! has made no progress for `progressDeadlineSeconds`).

use skiff_proto::model::canary::{CanaryPhase, CanaryStatus};
use skiff_proto::model::values::Time;
use skiff_proto::model::{Condition, ConditionStatus, Deployment, DeploymentStatus};

/// Counts over the Deployment's active pods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub replicas: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// Active pods of old ReplicaSets.
    pub old: i32,
}

pub const PROGRESSING: &str = "Progressing";
pub const AVAILABLE: &str = "Available";
pub const DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
pub const COMPLETE: &str = "NewReplicaSetAvailable";
pub const PAUSED: &str = "DeploymentPaused";
pub const UPDATED: &str = "ReplicaSetUpdated";
pub const CANARY_PAUSED: &str = "RolloutPaused";
pub const CANARY_ABORTED: &str = "RolloutAborted";

/// Whether the rollout is done: every replica updated and available, none old left.
pub fn complete(d: &Deployment, t: &Tally) -> bool {
    let want = d.spec.replicas.unwrap_or(1);
    t.updated == want && t.available >= want && t.old == 0 && t.replicas == want
}

fn condition(type_: &str, status: ConditionStatus, reason: &str, message: String) -> Condition {
    Condition {
        type_: type_.into(),
        status,
        reason: Some(reason.into()),
        message: Some(message),
        ..Default::default()
    }
}

/// Keeps the transition time when the status did not change, as Kubernetes does.
fn set(conditions: &mut Vec<Condition>, mut c: Condition, now: Time, moved: bool) {
    let old = conditions.iter().find(|o| o.type_ == c.type_);
    c.last_transition_time = match old {
        Some(o) if o.status == c.status => o.last_transition_time,
        _ => Some(now),
    };
    c.last_update_time = match old {
        Some(o) if !moved && o.reason == c.reason => o.last_update_time,
        _ => Some(now),
    };
    conditions.retain(|o| o.type_ != c.type_);
    conditions.push(c);
}

/// When the rollout last progressed (the `Progressing` condition's update time).
pub fn last_progress(d: &Deployment) -> Option<Time> {
    d.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == PROGRESSING)?
        .last_update_time
}

/// Whether the status says the deadline was exceeded.
pub fn exceeded(d: &Deployment) -> bool {
    d.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == PROGRESSING && c.reason.as_deref() == Some(DEADLINE_EXCEEDED))
    })
}

/// The next status. `moved` says this reconcile changed a ReplicaSet (progress);
/// `min_available` is `replicas - maxUnavailable`.
pub fn next(
    d: &Deployment,
    t: &Tally,
    new_rs: &str,
    moved: bool,
    min_available: i32,
    now: Time,
) -> DeploymentStatus {
    let prev = d.status.clone().unwrap_or_default();
    let progressed = moved
        || t.updated != prev.updated_replicas
        || t.available != prev.available_replicas
        || t.ready != prev.ready_replicas;
    let mut conditions = prev.conditions.clone();
    let (s, reason, message) = if t.available >= min_available {
        (
            ConditionStatus::True,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".to_owned(),
        )
    } else {
        (
            ConditionStatus::False,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".to_owned(),
        )
    };
    set(
        &mut conditions,
        condition(AVAILABLE, s, reason, message),
        now,
        false,
    );
    let deadline = i64::from(d.spec.progress_deadline_seconds.unwrap_or(600));
    let progressing = if d.spec.paused == Some(true) {
        condition(
            PROGRESSING,
            ConditionStatus::Unknown,
            PAUSED,
            "Deployment is paused".into(),
        )
    } else if complete(d, t) {
        condition(
            PROGRESSING,
            ConditionStatus::True,
            COMPLETE,
            format!("ReplicaSet \"{new_rs}\" has successfully progressed."),
        )
    } else if progressed || last_progress(d).is_none() {
        condition(
            PROGRESSING,
            ConditionStatus::True,
            UPDATED,
            format!("ReplicaSet \"{new_rs}\" is progressing."),
        )
    } else if exceeded(d)
        || last_progress(d).is_some_and(|t| {
            i64::try_from(now.unix_seconds.saturating_sub(t.unix_seconds)).unwrap_or(i64::MAX)
                >= deadline
        })
    {
        condition(
            PROGRESSING,
            ConditionStatus::False,
            DEADLINE_EXCEEDED,
            format!("ReplicaSet \"{new_rs}\" has timed out progressing."),
        )
    } else {
        // No progress yet, within the deadline: keep the condition (and its time).
        prev.conditions
            .iter()
            .find(|c| c.type_ == PROGRESSING)
            .cloned()
            .unwrap_or_else(|| {
                condition(
                    PROGRESSING,
                    ConditionStatus::True,
                    UPDATED,
                    format!("ReplicaSet \"{new_rs}\" is progressing."),
                )
            })
    };
    set(&mut conditions, progressing, now, progressed);
    DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: t.replicas,
        updated_replicas: t.updated,
        ready_replicas: t.ready,
        available_replicas: t.available,
        unavailable_replicas: (d.spec.replicas.unwrap_or(1) - t.available).max(0),
        conditions,
        collision_count: prev.collision_count,
        canary: prev.canary.clone(),
    }
}

/// Puts a canary's standing into `next`, with the `Progressing` condition Argo Rollouts
/// reports for it: Unknown while paused (a pause is not a stall), False once aborted.
pub fn canary(next: &mut DeploymentStatus, prev: &[Condition], c: CanaryStatus, now: Time) {
    let held = |r: Option<&str>| matches!(r, Some(CANARY_PAUSED | CANARY_ABORTED));
    let condition = match c.phase {
        CanaryPhase::Paused => Some(condition(
            PROGRESSING,
            ConditionStatus::Unknown,
            CANARY_PAUSED,
            format!("Rollout is paused at step {}", c.current_step + 1),
        )),
        CanaryPhase::Aborted => Some(condition(
            PROGRESSING,
            ConditionStatus::False,
            CANARY_ABORTED,
            c.message
                .clone()
                .unwrap_or_else(|| "Rollout aborted".into()),
        )),
        _ if next
            .conditions
            .iter()
            .any(|o| o.type_ == PROGRESSING && held(o.reason.as_deref())) =>
        {
            Some(condition(
                PROGRESSING,
                ConditionStatus::True,
                UPDATED,
                "The canary is progressing.".into(),
            ))
        }
        _ => None,
    };
    if let Some(cond) = condition {
        // Compared with what was written, not with what `next` made of it meanwhile.
        if let Some(p) = prev
            .iter()
            .find(|o| o.type_ == PROGRESSING && o.reason == cond.reason)
        {
            next.conditions.retain(|o| o.type_ != PROGRESSING);
            next.conditions.push(p.clone());
        }
        set(&mut next.conditions, cond, now, false);
    }
    next.canary = Some(Box::new(c));
}

/// Seconds left before the deadline falls, while a rollout is under way.
pub fn until_deadline(d: &Deployment, t: &Tally, now: Time) -> Option<u64> {
    if d.spec.paused == Some(true) || complete(d, t) || exceeded(d) {
        return None;
    }
    let deadline = u64::try_from(d.spec.progress_deadline_seconds.unwrap_or(600)).unwrap_or(0);
    let since = last_progress(d).unwrap_or(now);
    Some((since.unix_seconds + deadline).saturating_sub(now.unix_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(replicas: i32, deadline: i32) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.generation = Some(2);
        d.spec.replicas = Some(replicas);
        d.spec.progress_deadline_seconds = Some(deadline);
        d
    }

    fn at(s: u64) -> Time {
        Time { unix_seconds: s }
    }

    fn reason(s: &DeploymentStatus) -> String {
        s.conditions
            .iter()
            .find(|c| c.type_ == PROGRESSING)
            .and_then(|c| c.reason.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_stuck_rollout_exceeds_its_deadline_and_a_finished_one_completes() {
        let mut dep = d(3, 10);
        let stuck = Tally {
            replicas: 4,
            updated: 1,
            ready: 3,
            available: 3,
            old: 3,
        };
        dep.status = Some(next(&dep, &stuck, "web-1", true, 2, at(100)));
        assert_eq!(reason(dep.status.as_ref().unwrap()), UPDATED);
        assert_eq!(until_deadline(&dep, &stuck, at(104)), Some(6));
        dep.status = Some(next(&dep, &stuck, "web-1", false, 2, at(105)));
        assert_eq!(reason(dep.status.as_ref().unwrap()), UPDATED);
        dep.status = Some(next(&dep, &stuck, "web-1", false, 2, at(110)));
        assert_eq!(reason(dep.status.as_ref().unwrap()), DEADLINE_EXCEEDED);
        assert_eq!(until_deadline(&dep, &stuck, at(111)), None);
        let done = Tally {
            replicas: 3,
            updated: 3,
            ready: 3,
            available: 3,
            old: 0,
        };
        let s = next(&dep, &done, "web-1", false, 2, at(120));
        assert_eq!(reason(&s), COMPLETE);
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(s.unavailable_replicas, 0);
    }
}
