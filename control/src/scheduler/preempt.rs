//! Preemption: a pod that fits nowhere may evict pods of lower priority, as
//! kube-scheduler's default preemption does.
//! - On each node, every lower-priority pod is taken away in a trial; if the pod still
//!   does not fit, nothing on that node can help.
//! - Otherwise pods are given back, highest priority first, while the pod still fits;
//!   those that cannot be are the victims.
//! - The node whose victims have the lowest top priority wins; then the one with the
//!   fewest victims; then the lowest sum of their priorities.

use super::framework::{Cycle, Profile};
use super::snapshot::{PodInfo, Snapshot};

/// Where a pod goes once `victims` (pod keys) are gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preemption {
    pub node: String,
    pub victims: Vec<String>,
}

/// The best preemption for `pod`, if any node can be made to fit it.
pub fn find(
    profile: &Profile,
    snapshot: &Snapshot,
    cx: &Cycle<'_>,
    pod: &PodInfo,
) -> Option<Preemption> {
    let fits = |node: &super::snapshot::NodeInfo| {
        profile.filters.iter().all(|f| f.filter(cx, node).is_ok())
    };
    let mut best: Option<((i32, usize, i64), Preemption)> = None;
    for node in &snapshot.nodes {
        let mut lower: Vec<(&String, &super::snapshot::Placed)> = node
            .pods
            .iter()
            .filter(|(_, p)| p.priority < pod.priority)
            .collect();
        if lower.is_empty() {
            continue;
        }
        let mut trial = node.clone();
        for (k, _) in &lower {
            trial.remove(k);
        }
        if !fits(&trial) {
            continue;
        }
        lower.sort_by(|a, b| b.1.priority.cmp(&a.1.priority).then(a.0.cmp(b.0)));
        let mut victims = Vec::new();
        let (mut top, mut sum) = (i32::MIN, 0i64);
        for (k, placed) in lower {
            trial.add(k, placed.clone());
            if !fits(&trial) {
                trial.remove(k);
                top = top.max(placed.priority);
                sum += i64::from(placed.priority);
                victims.push(k.clone());
            }
        }
        let rank = (top, victims.len(), sum);
        if best.as_ref().is_none_or(|(r, _)| rank < *r) {
            best = Some((
                rank,
                Preemption {
                    node: node.name.clone(),
                    victims,
                },
            ));
        }
    }
    best.map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::framework::{Policy, Sampling};
    use crate::scheduler::plugins::default_profile;
    use crate::scheduler::testing::{Harness, node, pod};

    #[test]
    fn the_fewest_lowest_priority_pods_make_room() {
        let nodes = vec![
            node("a").alloc("cpu", "4").obj(),
            node("b").alloc("cpu", "4").obj(),
        ];
        let placed = vec![
            // a: two pods of priority 10 (2 CPUs each).
            pod("a1").node("a").req("cpu", "2").priority(10).obj(),
            pod("a2").node("a").req("cpu", "2").priority(10).obj(),
            // b: one of priority 5 and one of priority 100 (higher than the newcomer).
            pod("b1").node("b").req("cpu", "2").priority(5).obj(),
            pod("b2").node("b").req("cpu", "2").priority(100).obj(),
        ];
        let h = Harness::new(nodes).with_pods(placed);
        let profile = default_profile(Sampling::ALL);
        let newcomer = pod("vip").req("cpu", "2").priority(50).info();
        let cx = Cycle::new(&newcomer, &h.snapshot, Policy::Spread);
        let p = find(&profile, &h.snapshot, &cx, &newcomer).unwrap();
        assert_eq!(
            p.node, "b",
            "evicting priority 5 beats evicting priority 10"
        );
        assert_eq!(p.victims, vec!["Pod/default/b1"]);

        // Needing 3 CPUs: on a both must go (two victims); on b only b1 may go, and 2
        // CPUs are not enough.
        let big = pod("big").req("cpu", "3").priority(50).info();
        let cx = Cycle::new(&big, &h.snapshot, Policy::Spread);
        let p = find(&profile, &h.snapshot, &cx, &big).unwrap();
        assert_eq!(p.node, "a");
        assert_eq!(p.victims.len(), 2);

        // Nothing of lower priority: no preemption.
        let low = pod("low").req("cpu", "3").priority(1).info();
        let cx = Cycle::new(&low, &h.snapshot, Policy::Spread);
        assert_eq!(find(&profile, &h.snapshot, &cx, &low), None);
    }
}
