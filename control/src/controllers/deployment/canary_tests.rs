use skiff_proto::model::canary::{CanaryAnalysis, CanaryPause, CanaryStep};

use super::*;

fn strategy() -> CanaryStrategy {
    let w = |w| CanaryStep {
        set_weight: Some(w),
        pause: None,
    };
    let pause = |d: Option<&str>| CanaryStep {
        set_weight: None,
        pause: Some(CanaryPause {
            duration: d.map(str::to_owned),
        }),
    };
    CanaryStrategy {
        stable_service: "s".into(),
        canary_service: "c".into(),
        http_route: "r".into(),
        steps: vec![w(20), pause(Some("10s")), w(50), pause(None)],
        analysis: Some(CanaryAnalysis {
            failure_limit: Some(1),
            ..Default::default()
        }),
    }
}

fn set(hash: &str, revision: u64, spec: i32, available: i32) -> SetView {
    SetView {
        hash: hash.into(),
        revision,
        spec,
        available,
    }
}

fn at(s: u64) -> Time {
    Time { unix_seconds: s }
}

struct Run {
    strategy: CanaryStrategy,
    steps_hash: String,
    want: i32,
    status: Option<CanaryStatus>,
    promote: Option<String>,
    abort: Option<String>,
}

impl Run {
    fn new() -> Run {
        Run {
            strategy: strategy(),
            steps_hash: "s1".into(),
            want: 10,
            status: None,
            promote: None,
            abort: None,
        }
    }

    /// One reconcile over `sets` (the new one last) at second `now`.
    fn step(&mut self, sets: &[SetView], now: u64, verdict: Option<Verdict>) -> Plan {
        let p = plan(Input {
            strategy: &self.strategy,
            steps_hash: &self.steps_hash,
            status: self.status.as_ref(),
            promote: self.promote.as_deref(),
            abort: self.abort.as_deref(),
            sets,
            new_idx: sets.len() - 1,
            want: self.want,
            now: at(now),
            verdict,
        });
        self.status = Some(p.status.clone());
        p
    }
}

#[test]
fn the_first_revision_takes_everything_at_once() {
    let mut r = Run::new();
    let p = r.step(&[set("a", 1, 0, 0)], 0, None);
    assert_eq!(p.scales, [(0, 10)]);
    assert_eq!((p.stable_hash.as_str(), p.weight), ("a", 0));
    assert_eq!(p.status.phase, CanaryPhase::Healthy);
}

#[test]
fn a_new_revision_walks_the_steps_and_becomes_stable() {
    let mut r = Run::new();
    r.step(&[set("a", 1, 0, 0)], 0, None);
    // setWeight 20: two canary replicas, no traffic until they are available.
    let p = r.step(&[set("a", 1, 10, 10), set("b", 2, 0, 0)], 1, None);
    assert_eq!(p.scales, [(1, 2)]);
    assert_eq!((p.stable_hash.as_str(), p.canary_hash.as_str()), ("a", "b"));
    assert_eq!((p.weight, p.status.current_step), (0, 0));
    // Available: weight 20, then the 10 s pause.
    let p = r.step(&[set("a", 1, 10, 10), set("b", 2, 2, 2)], 2, None);
    assert_eq!((p.weight, p.status.current_step), (20, 1));
    assert_eq!(p.status.phase, CanaryPhase::Paused);
    assert!(p.requeue.is_some_and(|d| d <= Duration::from_secs(10)));
    // The pause has passed, but not the analysis: it holds until a check passes.
    let p = r.step(&[set("a", 1, 10, 10), set("b", 2, 2, 2)], 12, None);
    assert_eq!(
        (p.status.phase, p.status.current_step),
        (CanaryPhase::Paused, 1)
    );
    let passed = Some(Verdict::Passed("99.9% of 100 requests succeeded".into()));
    let p = r.step(&[set("a", 1, 10, 10), set("b", 2, 2, 2)], 12, passed);
    assert_eq!(p.scales, [(1, 5)]);
    assert_eq!(p.status.current_step, 2);
    let p = r.step(&[set("a", 1, 10, 10), set("b", 2, 5, 5)], 13, None);
    assert_eq!((p.weight, p.status.current_step), (50, 3));
    // Paused without a duration: it waits for `promote`, however long.
    let p = r.step(&[set("a", 1, 10, 10), set("b", 2, 5, 5)], 10_000, None);
    assert_eq!(
        (p.status.phase, p.status.current_step),
        (CanaryPhase::Paused, 3)
    );
    r.promote = Some("b:3".into());
    let p = r.step(&[set("a", 1, 10, 10), set("b", 2, 5, 5)], 10_001, None);
    assert_eq!(p.status.phase, CanaryPhase::Promoting);
    assert_eq!((p.scales.clone(), p.weight), (vec![(1, 10)], 50));
    // Used up: the annotation goes, so a later canary of b is not promoted by it.
    assert_eq!(p.clear, [PROMOTE_ANNOTATION]);
    r.promote = None;
    // Every replica available: b is stable; the next look retires a.
    let p = r.step(&[set("a", 1, 10, 10), set("b", 2, 10, 10)], 10_002, None);
    assert_eq!((p.stable_hash.as_str(), p.weight), ("b", 0));
    assert_eq!(p.status.phase, CanaryPhase::Healthy);
    assert_eq!(p.event.map(|e| e.1), Some("RolloutCompleted"));
    let p = r.step(&[set("a", 1, 10, 10), set("b", 2, 10, 10)], 10_003, None);
    assert_eq!(p.scales, [(0, 0)]);
}

#[test]
fn failed_checks_beyond_the_limit_abort_and_stay_aborted() {
    let mut r = Run::new();
    r.step(&[set("a", 1, 10, 10)], 0, None);
    let sets = [set("a", 1, 10, 10), set("b", 2, 2, 2)];
    r.step(&sets, 1, None);
    let bad = || Some(Verdict::Failed("80.0% of 100 requests succeeded".into()));
    let p = r.step(&sets, 2, bad());
    assert_eq!(
        (p.status.failed_checks, p.status.phase),
        (1, CanaryPhase::Paused)
    );
    assert!(p.event.is_none());
    let p = r.step(&sets, 3, bad());
    assert_eq!(p.status.phase, CanaryPhase::Aborted);
    assert_eq!((p.weight, p.scales.clone()), (0, vec![(1, 0)]));
    let (kind, reason, message) = p.event.expect("a warning");
    assert_eq!((kind, reason), (EventType::Warning, "RolloutAborted"));
    assert!(message.contains("80.0%"), "{message}");
    // Later looks keep it aborted, without another event.
    let p = r.step(&[set("a", 1, 10, 10), set("b", 2, 0, 0)], 60, None);
    assert_eq!((p.status.phase, p.event), (CanaryPhase::Aborted, None));
    // A new template starts afresh.
    let p = r.step(
        &[set("a", 1, 10, 10), set("b", 2, 0, 0), set("c", 3, 0, 0)],
        61,
        None,
    );
    assert_eq!(p.status.phase, CanaryPhase::Progressing);
    assert_eq!(p.status.canary_hash.as_deref(), Some("c"));
    assert_eq!(p.scales, [(2, 2)]);
}

#[test]
fn abort_and_full_promotion_by_annotation() {
    let mut r = Run::new();
    r.step(&[set("a", 1, 10, 10)], 0, None);
    let sets = [set("a", 1, 10, 10), set("b", 2, 2, 2)];
    r.step(&sets, 1, None);
    r.abort = Some("a".into());
    assert_ne!(r.step(&sets, 2, None).status.phase, CanaryPhase::Aborted);
    r.promote = Some("b:full".into());
    let p = r.step(&sets, 3, None);
    assert_eq!(
        (p.status.phase, p.scales.clone()),
        (CanaryPhase::Promoting, vec![(1, 10)])
    );
    r.abort = Some("b".into());
    let p = r.step(&[set("a", 1, 10, 10), set("b", 2, 10, 4)], 4, None);
    assert_eq!(p.status.phase, CanaryPhase::Aborted);
    assert_eq!(p.scales, [(1, 0)]);
}

#[test]
fn weights_take_a_share_of_replicas_rounded_up() {
    assert_eq!(replicas_for(10, 0), 0);
    assert_eq!(replicas_for(10, 1), 1);
    assert_eq!(replicas_for(10, 25), 3);
    assert_eq!(replicas_for(3, 100), 3);
    assert_eq!(replicas_for(0, 50), 0);
}

#[test]
fn a_pause_keeps_the_weights_share_of_replicas_as_they_change() {
    let mut r = Run::new();
    r.step(&[set("a", 1, 10, 10)], 0, None);
    r.step(&[set("a", 1, 10, 10), set("b", 2, 2, 2)], 1, None);
    r.want = 100;
    let p = r.step(&[set("a", 1, 10, 10), set("b", 2, 2, 2)], 2, None);
    assert_eq!(p.status.phase, CanaryPhase::Paused);
    assert_eq!(p.scales, [(0, 100), (1, 20)]);
}

#[test]
fn changed_steps_start_the_canary_again_and_stale_annotations_go() {
    let mut r = Run::new();
    r.step(&[set("a", 1, 10, 10)], 0, None);
    let sets = [set("a", 1, 10, 10), set("b", 2, 2, 2)];
    assert_eq!(r.step(&sets, 1, None).status.current_step, 1);
    r.steps_hash = "s2".into();
    let p = r.step(&sets, 2, None);
    assert_eq!(p.status.steps_hash.as_deref(), Some("s2"));
    assert_eq!(p.status.current_step, 1, "walked again from step 0: {p:?}");
    assert_eq!(p.status.step_started_at, Some(at(2)));
    // A promote of another revision or step, and any abort, are removed.
    r.promote = Some("x:1".into());
    r.abort = Some("x".into());
    let p = r.step(&sets, 3, None);
    assert_ne!(p.status.phase, CanaryPhase::Aborted);
    assert_eq!(p.clear, [ABORT_ANNOTATION, PROMOTE_ANNOTATION]);
}
