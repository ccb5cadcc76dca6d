use super::*;

fn t0() -> Instant {
    Instant::now()
}

fn quick() -> Behavior {
    Behavior {
        up: Rules {
            window: Duration::ZERO,
            ..Rules::default_up()
        },
        down: Rules {
            window: Duration::ZERO,
            ..Rules::default_down()
        },
    }
}

#[test]
fn a_proposal_within_tolerance_keeps_the_replicas() {
    // 4 pods at 2.1 per pod against 2: within 10 %.
    assert_eq!(proposal(4, 8.4, 2.0), 4);
    // 8 in flight for a target of 2 per pod: 4 pods.
    assert_eq!(proposal(1, 8.0, 2.0), 4);
    assert_eq!(proposal(4, 1.0, 2.0), 1);
    // From zero: any load asks for a pod; none asks for none.
    assert_eq!(proposal(0, 0.5, 2.0), 1);
    assert_eq!(proposal(0, 0.0, 2.0), 0);
    // A target of zero (refused by validation) changes nothing.
    assert_eq!(proposal(3, 10.0, 0.0), 3);
}

#[test]
fn scale_up_is_limited_by_the_default_policies() {
    let mut h = History::default();
    let now = t0();
    let b = Behavior::of(None);
    // From 1: +4 pods beats +100 %.
    assert_eq!(
        decide(&mut h, now, &b, 1, 20, (1, 100)),
        (5, Limit::ScaleUpLimit)
    );
    h.scaled(now, 4);
    // Within the same 15 s, the period started at 1: still at most 5.
    let later = now + Duration::from_secs(5);
    assert_eq!(
        decide(&mut h, later, &b, 5, 20, (1, 100)),
        (5, Limit::ScaleUpLimit)
    );
    // After the period, from 5: +100 % (10) beats +4.
    let after = now + Duration::from_secs(16);
    assert_eq!(
        decide(&mut h, after, &b, 5, 20, (1, 100)),
        (10, Limit::ScaleUpLimit)
    );
}

#[test]
fn scale_down_waits_for_its_window() {
    let mut h = History::default();
    let now = t0();
    let mut b = Behavior::of(None);
    b.down.window = Duration::from_secs(30);
    assert_eq!(decide(&mut h, now, &b, 4, 4, (1, 10)), (4, Limit::None));
    // The load went: 1 is recommended, but 4 was recommended within 30 s.
    let soon = now + Duration::from_secs(10);
    assert_eq!(
        decide(&mut h, soon, &b, 4, 1, (1, 10)),
        (4, Limit::DownStabilized)
    );
    let later = now + Duration::from_secs(31);
    assert_eq!(decide(&mut h, later, &b, 4, 1, (1, 10)), (1, Limit::None));
}

#[test]
fn policies_pick_the_most_or_least_change_or_none() {
    let now = t0();
    let mut b = quick();
    b.down.policies = vec![
        Policy {
            percent: false,
            value: 1,
            period: Duration::from_secs(60),
        },
        Policy {
            percent: true,
            value: 50,
            period: Duration::from_secs(60),
        },
    ];
    // Max: the policy that allows more (50 % of 10 = 5 fewer).
    assert_eq!(
        decide(&mut History::default(), now, &b, 10, 1, (1, 10)),
        (5, Limit::ScaleDownLimit)
    );
    b.down.select = ScalingPolicySelect::Min;
    assert_eq!(
        decide(&mut History::default(), now, &b, 10, 1, (1, 10)),
        (9, Limit::ScaleDownLimit)
    );
    b.down.select = ScalingPolicySelect::Disabled;
    assert_eq!(
        decide(&mut History::default(), now, &b, 10, 1, (1, 10)),
        (10, Limit::ScaleDownLimit)
    );
}

#[test]
fn bounds_come_last() {
    let now = t0();
    let b = quick();
    assert_eq!(
        decide(&mut History::default(), now, &b, 3, 8, (1, 4)),
        (4, Limit::TooManyReplicas)
    );
    assert_eq!(
        decide(&mut History::default(), now, &b, 3, 0, (2, 4)),
        (2, Limit::TooFewReplicas)
    );
    // Scale to zero when allowed, and the first replica from zero.
    assert_eq!(
        decide(&mut History::default(), now, &b, 1, 0, (0, 4)),
        (0, Limit::None)
    );
    assert_eq!(
        decide(&mut History::default(), now, &b, 0, 3, (0, 4)),
        (3, Limit::None)
    );
}

#[test]
fn spec_rules_keep_the_defaults_they_leave_out() {
    use skiff_proto::model::autoscaling::HpaScalingRules;
    let spec = HorizontalPodAutoscalerBehavior {
        scale_down: Some(HpaScalingRules {
            stabilization_window_seconds: Some(5),
            ..Default::default()
        }),
        ..Default::default()
    };
    let b = Behavior::of(Some(&spec));
    assert_eq!(b.down.window, Duration::from_secs(5));
    assert_eq!(b.down.policies, Rules::default_down().policies);
    assert_eq!(b.up, Rules::default_up());
}
