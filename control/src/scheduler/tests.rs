//! Each filter and score on its own, the summary of an unschedulable pod, and the
//! property that no plan over-commits a node.

use proptest::prelude::*;
use skiff_proto::model::Runtime;
use skiff_proto::model::scheduling::{NodeSelectorOperator, TaintEffect};

use super::framework::Policy;
use super::plugins::spread::ZONE_LABEL;
use super::resources::Resources;
use super::snapshot::HOSTNAME_LABEL;
use super::testing::{Harness, node, pod};

#[test]
fn not_ready_and_cordoned_nodes_take_no_pods_unless_tolerated() {
    let mut h = Harness::new(vec![
        node("down").not_ready().obj(),
        node("cordoned").cordoned().obj(),
    ]);
    let r = h.plan(vec![
        pod("p").obj(),
        pod("ds").tolerate("node.kubernetes.io/not-ready").obj(),
        pod("drain-proof")
            .tolerate("node.kubernetes.io/unschedulable")
            .obj(),
    ]);
    assert_eq!(
        r.why("p"),
        "0/2 nodes available: 1 node(s) were not ready, 1 node(s) were unschedulable"
    );
    assert_eq!(r.node_of("ds"), Some("down"));
    assert_eq!(r.node_of("drain-proof"), Some("cordoned"));
}

#[test]
fn a_pod_goes_only_where_its_runtime_runs() {
    let mut h = Harness::new(vec![
        node("oci").runtimes(&[Runtime::Oci]).obj(),
        node("wasm").runtimes(&[Runtime::Wasm]).obj(),
    ]);
    let r = h.plan(vec![pod("w").wasm().image("fn:v1").obj(), pod("c").obj()]);
    assert_eq!(r.node_of("w"), Some("wasm"));
    assert_eq!(r.node_of("c"), Some("oci"));
    let mut h = Harness::new(vec![node("oci").runtimes(&[Runtime::Oci]).obj()]);
    let r = h.plan(vec![pod("w").wasm().obj()]);
    assert_eq!(r.why("w"), "0/1 nodes available: 1 did not run wasm");
}

#[test]
fn requests_must_fit_in_every_dimension() {
    let small = || {
        node("small")
            .alloc("cpu", "1")
            .alloc("memory", "1Gi")
            .alloc("pods", "2")
            .alloc("wasm-instances", "1")
    };
    let mut h = Harness::new(vec![small().obj()]);
    let r = h.plan(vec![
        pod("big-cpu").req("cpu", "1500m").obj(),
        pod("big-mem").req("memory", "2Gi").obj(),
        pod("w1").wasm().obj(),
        pod("w2").wasm().obj(),
        pod("c1").req("cpu", "1").obj(),
        pod("c2").obj(),
    ]);
    assert_eq!(r.why("big-cpu"), "0/1 nodes available: 1 insufficient cpu");
    assert_eq!(
        r.why("big-mem"),
        "0/1 nodes available: 1 insufficient memory"
    );
    assert_eq!(r.node_of("w1"), Some("small"));
    // One instance slot only.
    assert_eq!(
        r.why("w2"),
        "0/1 nodes available: 1 insufficient wasm-instances"
    );
    assert_eq!(r.node_of("c1"), Some("small"));
    // w1 and c1 fill the two pod slots; c2 is short of a slot (CPU too: c1 took it all,
    // but c2 requests none).
    assert_eq!(r.why("c2"), "0/1 nodes available: 1 too many pods");
    // Limits do not count.
    let mut limited = pod("limited").obj();
    limited.spec.containers[0].resources.limits.insert(
        "cpu".into(),
        skiff_proto::model::Quantity::parse("64").unwrap(),
    );
    let mut h = Harness::new(vec![small().obj()]);
    assert_eq!(h.plan(vec![limited]).node_of("limited"), Some("small"));
}

#[test]
fn node_selector_and_required_affinity_filter_by_label() {
    let nodes = || {
        vec![
            node("a").label("disk", "ssd").label("gen", "3").obj(),
            node("b").label("disk", "hdd").label("gen", "5").obj(),
        ]
    };
    let mut h = Harness::new(nodes());
    let r = h.plan(vec![
        pod("sel").selector("disk", "ssd").obj(),
        pod("in")
            .require_node("disk", NodeSelectorOperator::In, &["hdd"])
            .obj(),
        pod("gt")
            .require_node("gen", NodeSelectorOperator::Gt, &["4"])
            .obj(),
        pod("none").selector("disk", "nvme").obj(),
        pod("absent")
            .require_node("gpu", NodeSelectorOperator::Exists, &[])
            .obj(),
    ]);
    assert_eq!(r.node_of("sel"), Some("a"));
    assert_eq!(r.node_of("in"), Some("b"));
    assert_eq!(r.node_of("gt"), Some("b"));
    assert_eq!(
        r.why("none"),
        "0/2 nodes available: 2 didn't match node selector or affinity"
    );
    assert!(r.unfit.contains_key("absent"));
}

#[test]
fn preferred_node_affinity_ranks_without_excluding() {
    let mut h = Harness::new(vec![
        node("a").label("zone", "x").obj(),
        node("b").label("zone", "y").obj(),
    ]);
    let r = h.plan(vec![pod("p").prefer_node(50, "zone", "y").obj()]);
    assert_eq!(r.node_of("p"), Some("b"));
    let r = h.plan(vec![pod("q").prefer_node(50, "zone", "nowhere").obj()]);
    assert!(r.node_of("q").is_some());
}

#[test]
fn taints_repel_pods_that_do_not_tolerate_them() {
    let mut h = Harness::new(vec![
        node("gpu1").taint("gpu", TaintEffect::NoSchedule).obj(),
        node("gpu2").taint("gpu", TaintEffect::NoExecute).obj(),
        node("m1").alloc("memory", "1Gi").obj(),
        node("m2").alloc("memory", "1Gi").obj(),
        node("m3").alloc("memory", "1Gi").obj(),
    ]);
    let r = h.plan(vec![
        pod("big").req("memory", "4Gi").obj(),
        pod("tolerant").req("memory", "4Gi").tolerate("gpu").obj(),
    ]);
    // The summary the issue asks for, word for word.
    assert_eq!(
        r.why("big"),
        "0/5 nodes available: 3 insufficient memory, 2 had untolerated taint {gpu}"
    );
    assert!(r.node_of("tolerant").is_some_and(|n| n.starts_with("gpu")));
}

#[test]
fn prefer_no_schedule_taints_lower_the_score() {
    let mut h = Harness::new(vec![
        node("meh")
            .taint("spot", TaintEffect::PreferNoSchedule)
            .obj(),
        node("fine").obj(),
    ]);
    assert_eq!(h.plan(vec![pod("p").obj()]).node_of("p"), Some("fine"));
    let mut h = Harness::new(vec![
        node("meh")
            .taint("spot", TaintEffect::PreferNoSchedule)
            .obj(),
    ]);
    assert_eq!(h.plan(vec![pod("p").obj()]).node_of("p"), Some("meh"));
}

#[test]
fn required_anti_affinity_keeps_replicas_apart_both_ways() {
    let nodes = || vec![node("a").obj(), node("b").obj()];
    let mut h = Harness::new(nodes());
    let r = h.plan(vec![
        pod("web-1")
            .label("app", "web")
            .anti("web", HOSTNAME_LABEL)
            .obj(),
        pod("web-2")
            .label("app", "web")
            .anti("web", HOSTNAME_LABEL)
            .obj(),
        pod("web-3")
            .label("app", "web")
            .anti("web", HOSTNAME_LABEL)
            .obj(),
    ]);
    assert_ne!(r.node_of("web-1"), r.node_of("web-2"));
    assert_eq!(
        r.why("web-3"),
        "0/2 nodes available: 2 didn't satisfy pod anti-affinity"
    );
    // Symmetry: a placed pod's anti-affinity keeps out a newcomer it selects.
    let mut h = Harness::new(nodes()).with_pods(vec![
        pod("loner").node("a").anti("noisy", HOSTNAME_LABEL).obj(),
    ]);
    let r = h.plan(vec![pod("n").label("app", "noisy").obj()]);
    assert_eq!(r.node_of("n"), Some("b"));
}

#[test]
fn wasm_pods_bin_pack_and_containers_spread_and_the_policy_switches_both() {
    let nodes = || vec![node("a").obj(), node("b").obj()];
    let busy = || {
        vec![
            pod("busy")
                .node("a")
                .image("other:v1")
                .req("cpu", "2")
                .obj(),
        ]
    };
    let mut h = Harness::new(nodes()).with_pods(busy());
    let r = h.plan(vec![pod("w").wasm().image("fn:v1").obj(), pod("c").obj()]);
    assert_eq!(r.node_of("w"), Some("a"), "Wasm pods pack");
    assert_eq!(r.node_of("c"), Some("b"), "containers spread");

    let mut h = Harness::new(nodes())
        .with_pods(busy())
        .policy(Policy::Spread);
    assert_eq!(h.plan(vec![pod("w").wasm().obj()]).node_of("w"), Some("b"));
    let mut h = Harness::new(nodes())
        .with_pods(busy())
        .policy(Policy::BinPack);
    assert_eq!(h.plan(vec![pod("c").obj()]).node_of("c"), Some("a"));
    assert_eq!(Policy::parse("binpack"), Ok(Policy::BinPack));
    assert!(
        Policy::parse("random")
            .unwrap_err()
            .contains("auto, binpack or spread")
    );
}

#[test]
fn replicas_of_one_owner_spread_over_hosts_by_default() {
    let mut h = Harness::new(vec![node("a").obj(), node("b").obj(), node("c").obj()]);
    let r = h.plan(
        (0..3)
            .map(|i| pod(&format!("r{i}")).wasm().owner("rs-1").obj())
            .collect(),
    );
    let mut hosts: Vec<_> = r.placed.values().cloned().collect();
    hosts.sort();
    assert_eq!(hosts, vec!["a", "b", "c"]);
}

#[test]
fn topology_spread_over_zones_is_kept_within_max_skew() {
    let nodes = vec![
        node("a1").label(ZONE_LABEL, "a").obj(),
        node("a2").label(ZONE_LABEL, "a").obj(),
        node("b1").label(ZONE_LABEL, "b").obj(),
    ];
    let mut h = Harness::new(nodes);
    let pods = (0..4)
        .map(|i| {
            pod(&format!("p{i}"))
                .label("app", "web")
                .spread(ZONE_LABEL, 1, true, "web")
                .obj()
        })
        .collect();
    let r = h.plan(pods);
    let in_b = r.placed.values().filter(|n| n.starts_with('b')).count();
    assert_eq!(in_b, 2, "{r:?}");
    // With zone b holding 2 and zone a 2, a hard skew of 1 still admits one more
    // anywhere; with a tainted-away zone it would not.
    let mut h = Harness::new(vec![
        node("a1").label(ZONE_LABEL, "a").obj(),
        node("b1")
            .label(ZONE_LABEL, "b")
            .taint("x", TaintEffect::NoSchedule)
            .obj(),
    ])
    .with_pods(vec![pod("old").node("a1").label("app", "web").obj()]);
    let r = h.plan(vec![
        pod("new")
            .label("app", "web")
            .spread(ZONE_LABEL, 1, true, "web")
            .obj(),
    ]);
    assert_eq!(
        r.why("new"),
        "0/2 nodes available: 1 didn't match pod topology spread constraints, 1 had untolerated taint {x}"
    );
}

#[test]
fn nodes_with_the_artifact_score_higher() {
    let mut h = Harness::new(vec![node("cold").obj(), node("warm").obj()]).with_pods(vec![
        pod("other")
            .node("warm")
            .image("registry/app@sha256:1")
            .obj(),
    ]);
    let r = h.plan(vec![pod("p").image("registry/app@sha256:1").obj()]);
    assert_eq!(r.node_of("p"), Some("warm"));
    // A node that reports the artifact cached (no pod of it running) counts too.
    let mut h = Harness::new(vec![
        node("cold").obj(),
        node("cached").reports("sha256:2").obj(),
    ]);
    let r = h.plan(vec![pod("q").image("sha256:2").wasm().obj()]);
    assert_eq!(r.node_of("q"), Some("cached"));
}

#[test]
fn no_nodes_is_said_plainly() {
    let mut h = Harness::new(vec![]);
    let r = h.plan(vec![pod("p").obj()]);
    assert_eq!(r.why("p"), "0/0 nodes available: no nodes are registered");
}

fn arb_node(i: usize) -> impl Strategy<Value = skiff_proto::model::Node> {
    (1u32..8, 1u32..8, 1u32..6, 1u32..6).prop_map(move |(cpu, mem, pods, inst)| {
        node(&format!("n{i}"))
            .alloc("cpu", &format!("{cpu}"))
            .alloc("memory", &format!("{mem}Gi"))
            .alloc("pods", &format!("{pods}"))
            .alloc("wasm-instances", &format!("{inst}"))
            .obj()
    })
}

fn arb_pod(i: usize) -> impl Strategy<Value = skiff_proto::model::Pod> {
    (0u32..3000, 0u32..3000, any::<bool>()).prop_map(move |(cpu, mem, wasm)| {
        let p = pod(&format!("p{i}"))
            .req("cpu", &format!("{cpu}m"))
            .req("memory", &format!("{mem}Mi"));
        if wasm { p.wasm().obj() } else { p.obj() }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the nodes and pods, no plan puts more on a node than it has.
    #[test]
    fn no_node_is_ever_over_committed(
        nodes in (1usize..6).prop_flat_map(|n| (0..n).map(arb_node).collect::<Vec<_>>()),
        pods in (0usize..40).prop_flat_map(|n| (0..n).map(arb_pod).collect::<Vec<_>>()),
        binpack in any::<bool>(),
    ) {
        let policy = if binpack { Policy::BinPack } else { Policy::Spread };
        let mut h = Harness::new(nodes.clone()).policy(policy);
        let r = h.plan(pods.clone());
        for n in &nodes {
            let have = Resources::of_node(&n.status.as_ref().unwrap().allocatable);
            let mut used = Resources::default();
            for p in &pods {
                if r.node_of(&p.metadata.name) == Some(n.metadata.name.as_str()) {
                    used += Resources::of_pod(&p.spec);
                }
            }
            prop_assert!(used.milli_cpu <= have.milli_cpu, "{used:?} > {have:?}");
            prop_assert!(used.memory <= have.memory);
            prop_assert!(used.pods <= have.pods);
            prop_assert!(used.wasm_instances <= have.wasm_instances);
        }
        // Every pod gets an answer.
        prop_assert_eq!(r.placed.len() + r.unfit.len(), pods.len());
    }
}
