use std::collections::BTreeMap;

use skiff_proto::model::container::{Container, ResourceRequirements};
use skiff_proto::model::{Condition, ConditionStatus, PodPhase, PodStatus};

use super::*;

fn pod(name: &str, cpu_request: Option<&str>) -> Pod {
    let mut p = Pod::default();
    p.metadata.namespace = "ns".into();
    p.metadata.name = name.into();
    let mut requests = BTreeMap::new();
    if let Some(r) = cpu_request {
        requests.insert("cpu".to_owned(), Quantity::parse(r).unwrap());
    }
    p.spec.containers.push(Container {
        name: "c".into(),
        resources: ResourceRequirements {
            requests,
            ..Default::default()
        },
        ..Default::default()
    });
    p.status = Some(PodStatus {
        phase: PodPhase::Running,
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            ..Default::default()
        }],
        ..Default::default()
    });
    p
}

fn cpu_metric(percent: i32) -> MetricSpec {
    let mut m = default_metrics().remove(0);
    if let Some(r) = &mut m.resource {
        r.target.average_utilization = Some(percent);
    }
    m
}

fn http(name: &str, per_pod: &str) -> MetricSpec {
    MetricSpec {
        type_: MetricSourceType::Pods,
        resource: None,
        pods: Some(PodsMetricSource {
            metric: MetricIdentifier {
                name: name.into(),
                selector: None,
            },
            target: MetricTarget {
                type_: MetricTargetType::AverageValue,
                average_value: Quantity::parse(per_pod).ok(),
                ..Default::default()
            },
        }),
    }
}

fn rates(of: &[(&str, PodRates)]) -> Rates {
    of.iter().map(|(n, r)| (format!("ns/{n}"), *r)).collect()
}

#[test]
fn cpu_utilization_is_usage_over_requests() {
    let (a, b) = (pod("a", Some("100m")), pod("b", Some("100m")));
    let pods = [&a, &b];
    let busy = PodRates {
        cpu: 0.2,
        ..Default::default()
    };
    let rates = rates(&[("a", busy), ("b", busy)]);
    let r = Round {
        now: Instant::now(),
        current: 2,
        pods: &pods,
        rates: &rates,
        window: DEFAULT_WINDOW,
        hold: false,
    };
    // 200 % of requests against 50 %: four times the pods.
    let v = evaluate(&cpu_metric(50), &r, &mut Memory::default()).unwrap();
    assert_eq!(v.desired, 8);
    let current = &v.status.resource.unwrap().current;
    assert_eq!(current.average_utilization, Some(200));
    assert_eq!(current.average_value.as_ref().unwrap().as_str(), "200m");
}

#[test]
fn cpu_utilization_needs_requests_and_figures() {
    let a = pod("a", None);
    let pods = [&a];
    let rates = rates(&[("a", PodRates::default())]);
    let r = Round {
        now: Instant::now(),
        current: 1,
        pods: &pods,
        rates: &rates,
        window: DEFAULT_WINDOW,
        hold: false,
    };
    let e = evaluate(&cpu_metric(50), &r, &mut Memory::default()).unwrap_err();
    assert_eq!(e.reason, "FailedGetResourceMetric");
    assert!(e.message.contains("missing request for cpu"), "{e:?}");
    let none = Rates::new();
    let r = Round { rates: &none, ..r };
    let e = evaluate(&cpu_metric(50), &r, &mut Memory::default()).unwrap_err();
    assert!(e.message.contains("no figures"), "{e:?}");
}

#[test]
fn a_burst_of_concurrency_panics_and_never_scales_down_meanwhile() {
    let a = pod("a", None);
    let pods = [&a];
    let t = Instant::now();
    let mut memory = Memory::default();
    let m = http(HTTP_REQUESTS_IN_FLIGHT, "2");
    let round = |at: Instant, c: f64, memory: &mut Memory| {
        let rates = rates(&[(
            "a",
            PodRates {
                concurrency: c,
                ..Default::default()
            },
        )]);
        let r = Round {
            now: at,
            current: 1,
            pods: &pods,
            rates: &rates,
            window: Duration::from_secs(60),
            hold: false,
        };
        evaluate(&m, &r, memory).unwrap().desired
    };
    for i in 0..10 {
        assert_eq!(round(t + Duration::from_secs(i), 0.0, &mut memory), 1);
    }
    // 8 in flight for 2 per pod: 4 pods at once (the panic window sees the burst).
    assert_eq!(round(t + Duration::from_secs(10), 8.0, &mut memory), 4);
    assert!(memory.panic_until.is_some());
    // Then a quiet second: still 4 while panicking.
    assert_eq!(round(t + Duration::from_secs(11), 0.0, &mut memory), 4);
}

#[test]
fn zero_only_after_a_whole_idle_window_and_not_just_after_a_wake() {
    let a = pod("a", None);
    let pods = [&a];
    let t = Instant::now();
    let mut memory = Memory::default();
    let m = http(HTTP_REQUESTS_PER_SECOND, "10");
    let idle = rates(&[("a", PodRates::default())]);
    let mut r = Round {
        now: t,
        current: 1,
        pods: &pods,
        rates: &idle,
        window: Duration::from_secs(10),
        hold: false,
    };
    assert_eq!(evaluate(&m, &r, &mut memory).unwrap().desired, 1);
    r.now = t + Duration::from_secs(10);
    r.hold = true;
    assert_eq!(evaluate(&m, &r, &mut memory).unwrap().desired, 1);
    r.hold = false;
    assert_eq!(evaluate(&m, &r, &mut memory).unwrap().desired, 0);
}

#[test]
fn windows_come_from_the_annotation_within_bounds() {
    let mut a = BTreeMap::new();
    assert_eq!(window(&a), DEFAULT_WINDOW);
    a.insert(WINDOW_ANNOTATION.to_owned(), "10s".to_owned());
    assert_eq!(window(&a), Duration::from_secs(10));
    a.insert(WINDOW_ANNOTATION.to_owned(), "1s".to_owned());
    assert_eq!(window(&a), Duration::from_secs(6));
    a.insert(WINDOW_ANNOTATION.to_owned(), "soon".to_owned());
    assert_eq!(window(&a), DEFAULT_WINDOW);
    assert_eq!(quantity(1.5).unwrap().as_str(), "1500m");
    assert_eq!(quantity(3.0).unwrap().as_str(), "3");
}
