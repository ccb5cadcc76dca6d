//! The canary strategy's decisions, as Argo Rollouts makes them: which revision is stable,
//! which step the new one is at, how many replicas each gets, and what share of traffic
//! the new one has. Pure: the controller reads the world, calls [`plan`], and writes what
//! it says (ReplicaSet scales, the Services' selectors, the route's weights, the status).
//!
//! - No stable revision yet, or the template is the stable one: that revision gets every
//!   replica and all traffic; others go to zero.
//! - A new template: the stable revision keeps every replica; each `setWeight` scales the
//!   new one to that share of `replicas` (at least 1) and moves the weight once those are
//!   available; a `pause` waits for its duration or for `skiff rollout promote`. After the
//!   last step the new revision scales to every replica, then becomes the stable one.
//! - An analysis verdict that fails more than `failureLimit` times, or `skiff rollout
//!   abort`, aborts: all traffic and replicas back to the stable revision, a Warning
//!   event, and the canary stays aborted until the template changes again.

use std::time::Duration;

use skiff_proto::model::canary::{
    ABORT_ANNOTATION, CanaryPhase, CanaryStatus, CanaryStrategy, PROMOTE_ANNOTATION,
};
use skiff_proto::model::event::EventType;
use skiff_proto::model::httproute::parse_duration;
use skiff_proto::model::values::Time;

use super::analysis::Verdict;

/// One ReplicaSet of the Deployment, as the plan needs it.
#[derive(Debug, Clone)]
pub struct SetView {
    pub hash: String,
    pub revision: u64,
    pub spec: i32,
    pub available: i32,
}

/// What to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Replicas per set (indexes into the sets given), only where they change.
    pub scales: Vec<(usize, i32)>,
    /// The revisions the stable and canary Services select.
    pub stable_hash: String,
    pub canary_hash: String,
    /// The canary Service's share of the route, in percent.
    pub weight: i32,
    pub status: CanaryStatus,
    /// When to look again (a pause ending, the next analysis).
    pub requeue: Option<Duration>,
    pub event: Option<(EventType, &'static str, String)>,
    /// Annotations (`promote`, `abort`) used up or stale, to remove: an old one must not
    /// act on a later canary of the same revision.
    pub clear: Vec<&'static str>,
}

/// What the plan is made from.
pub struct Input<'a> {
    pub strategy: &'a CanaryStrategy,
    /// A digest of `strategy.steps`.
    pub steps_hash: &'a str,
    pub status: Option<&'a CanaryStatus>,
    pub promote: Option<&'a str>,
    pub abort: Option<&'a str>,
    pub sets: &'a [SetView],
    pub new_idx: usize,
    pub want: i32,
    pub now: Time,
    /// This reconcile's analysis of the canary, if one was due.
    pub verdict: Option<Verdict>,
}

/// The annotations `skiff rollout promote` and `abort` write.
pub fn requests(d: &skiff_proto::model::Deployment) -> (Option<&str>, Option<&str>) {
    let a = &d.metadata.annotations;
    (
        a.get(PROMOTE_ANNOTATION).map(String::as_str),
        a.get(ABORT_ANNOTATION).map(String::as_str),
    )
}

/// The replicas a weight of `w` percent takes out of `want` (at least one when above 0).
pub fn replicas_for(want: i32, w: i32) -> i32 {
    if w <= 0 || want <= 0 {
        return 0;
    }
    let n = (i64::from(want) * i64::from(w) + 99) / 100;
    i32::try_from(n).unwrap_or(want).clamp(1, want)
}

pub fn plan(i: Input<'_>) -> Plan {
    let new = &i.sets[i.new_idx];
    let steps = &i.strategy.steps;
    let n_steps = i32::try_from(steps.len()).unwrap_or(i32::MAX);
    let prev = i.status.cloned().unwrap_or_default();
    let stable_idx = prev
        .stable_hash
        .as_ref()
        .and_then(|h| i.sets.iter().position(|s| &s.hash == h))
        .or_else(|| {
            // No record (a Deployment switched to Canary): the newest revision with pods.
            (0..i.sets.len())
                .filter(|&k| k != i.new_idx && i.sets[k].spec > 0)
                .max_by_key(|&k| i.sets[k].revision)
        })
        .filter(|&k| k != i.new_idx);
    let mut scales = Vec::new();
    let mut scale = |k: usize, n: i32| {
        if i.sets[k].spec != n {
            scales.push((k, n));
        }
    };
    let Some(stable_idx) = stable_idx else {
        // Steady: one revision, everything.
        for k in 0..i.sets.len() {
            scale(k, if k == i.new_idx { i.want } else { 0 });
        }
        return Plan {
            scales,
            stable_hash: new.hash.clone(),
            canary_hash: new.hash.clone(),
            weight: 0,
            status: CanaryStatus {
                stable_hash: Some(new.hash.clone()),
                canary_hash: None,
                current_step: n_steps,
                step_started_at: None,
                weight: 0,
                phase: CanaryPhase::Healthy,
                message: prev.message.filter(|_| prev.phase == CanaryPhase::Healthy),
                ..Default::default()
            },
            requeue: None,
            event: None,
            clear: clear(&i, None, 0),
        };
    };
    let stable = &i.sets[stable_idx];
    let same = prev.canary_hash.as_ref() == Some(&new.hash)
        && prev.steps_hash.as_deref() == Some(i.steps_hash);
    let mut st = if same {
        prev
    } else {
        CanaryStatus {
            canary_hash: Some(new.hash.clone()),
            step_started_at: Some(i.now),
            steps_hash: Some(i.steps_hash.to_owned()),
            ..Default::default()
        }
    };
    st.stable_hash = Some(stable.hash.clone());
    for k in 0..i.sets.len() {
        if k != i.new_idx && k != stable_idx {
            scale(k, 0);
        }
    }
    scale(stable_idx, i.want);
    let mut event = None;
    let mut abort = |st: &mut CanaryStatus, why: String| {
        if st.phase != CanaryPhase::Aborted {
            event = Some((EventType::Warning, "RolloutAborted", why.clone()));
        }
        st.phase = CanaryPhase::Aborted;
        st.message = Some(why);
    };
    if i.abort == Some(new.hash.as_str()) {
        abort(&mut st, "Rollout aborted by skiff rollout abort".into());
    }
    if st.phase != CanaryPhase::Aborted {
        match i.verdict.clone() {
            Some(Verdict::Failed(why)) => {
                st.failed_checks += 1;
                let limit = i
                    .strategy
                    .analysis
                    .as_ref()
                    .map_or(0, |a| a.failure_limit());
                if st.failed_checks > limit {
                    abort(
                        &mut st,
                        format!("Rollout aborted: canary analysis failed: {why}"),
                    );
                } else {
                    st.message = Some(format!("analysis check failed: {why}"));
                }
            }
            Some(Verdict::Passed(m)) => {
                st.passed_checks += 1;
                st.message = Some(m);
            }
            Some(Verdict::Inconclusive(m)) => st.message = Some(m),
            None => {}
        }
    }
    if st.phase == CanaryPhase::Aborted {
        scale(i.new_idx, 0);
        st.weight = 0;
        let clear = clear(&i, Some(&new.hash), st.current_step);
        return Plan {
            scales,
            stable_hash: stable.hash.clone(),
            canary_hash: new.hash.clone(),
            weight: 0,
            status: st,
            requeue: None,
            event,
            clear,
        };
    }
    let full = i.promote == Some(format!("{}:full", new.hash).as_str());
    if full {
        st.current_step = n_steps;
    }
    // With an analysis, traffic on the canary must have passed a check before a timed
    // pause ends or the canary is promoted (a manual promote needs none).
    let judged = i.strategy.analysis.is_none() || st.weight == 0 || st.passed_checks > 0;
    let was_promoting = st.phase == CanaryPhase::Promoting;
    let mut promoted_now = full;
    let mut requeue = None;
    let started = |st: &CanaryStatus| st.step_started_at.unwrap_or(i.now);
    let advance = |st: &mut CanaryStatus| {
        st.current_step += 1;
        st.step_started_at = Some(i.now);
    };
    // A pause keeps the canary at its weight's share of the replicas, whatever they are now.
    let mut canary_spec = replicas_for(i.want, st.weight);
    st.phase = CanaryPhase::Progressing;
    while let Some(step) = usize::try_from(st.current_step)
        .ok()
        .and_then(|k| steps.get(k))
    {
        if let Some(w) = step.set_weight {
            canary_spec = replicas_for(i.want, w);
            if new.available >= canary_spec {
                st.weight = w;
                advance(&mut st);
                continue;
            }
            break;
        }
        let promoted = i.promote == Some(format!("{}:{}", new.hash, st.current_step).as_str());
        let wait = step
            .pause
            .as_ref()
            .and_then(|p| p.duration.as_deref())
            .and_then(|d| parse_duration(d).ok());
        let waited =
            Duration::from_secs(i.now.unix_seconds.saturating_sub(started(&st).unix_seconds));
        if promoted || (judged && wait.is_some_and(|w| waited >= w)) {
            promoted_now |= promoted;
            advance(&mut st);
            continue;
        }
        st.phase = CanaryPhase::Paused;
        requeue = wait.map(|w| w.saturating_sub(waited).max(Duration::from_secs(1)));
        break;
    }
    let mut stable_hash = stable.hash.clone();
    if st.current_step >= n_steps && !(was_promoting || judged || promoted_now) {
        // Every step done, but the analysis has not passed the canary yet.
        st.phase = CanaryPhase::Paused;
    } else if st.current_step >= n_steps {
        st.phase = CanaryPhase::Promoting;
        canary_spec = i.want;
        if new.available >= i.want {
            // The new revision has every replica: it becomes the stable one.
            stable_hash = new.hash.clone();
            st.stable_hash = Some(new.hash.clone());
            st.canary_hash = None;
            st.phase = CanaryPhase::Healthy;
            st.weight = 0;
            st.failed_checks = 0;
            event = Some((
                EventType::Normal,
                "RolloutCompleted",
                format!("Rollout completed: revision {} promoted", new.hash),
            ));
        }
    }
    scale(i.new_idx, canary_spec);
    if let Some(a) = &i.strategy.analysis
        && st.weight > 0
    {
        let every = Duration::from_secs(u64::try_from(a.interval_seconds()).unwrap_or(5));
        requeue = Some(requeue.map_or(every, |r: Duration| r.min(every)));
    }
    let clear = clear(&i, st.canary_hash.as_deref(), st.current_step);
    Plan {
        clear,
        scales,
        canary_hash: if st.phase == CanaryPhase::Healthy {
            stable_hash.clone()
        } else {
            new.hash.clone()
        },
        stable_hash,
        weight: st.weight,
        status: st,
        requeue,
        event,
    }
}

/// The `promote`/`abort` annotations to remove after this look: an abort is used at once
/// (the status keeps it), a promote once it no longer names canary `hash`'s current `step`.
fn clear(i: &Input<'_>, hash: Option<&str>, step: i32) -> Vec<&'static str> {
    let mut out = Vec::new();
    if i.abort.is_some() {
        out.push(ABORT_ANNOTATION);
    }
    if let Some(p) = i.promote
        && hash.is_none_or(|h| p != format!("{h}:{step}"))
    {
        out.push(PROMOTE_ANNOTATION);
    }
    out
}

#[cfg(test)]
#[path = "canary_tests.rs"]
mod tests;
