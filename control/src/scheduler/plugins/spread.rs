//! Topology spread: pods that belong together (a selector's matches, or one controller's
//! replicas) are spread over the domains of a node label. `DoNotSchedule` constraints
//! filter; all of them score, fewer like pods in the node's domain scoring higher.
//!
//! A pod with a controlling owner and no constraints of its own gets Kubernetes' system
//! defaults: spread over hostnames and zones, as a preference, so a Deployment's
//! replicas do not all share the node that fails.

use std::collections::HashMap;

use skiff_proto::model::scheduling::{TopologySpreadConstraint, UnsatisfiableConstraintAction};

use crate::scheduler::framework::{Cycle, Filter, Score, Unfit, normalize_by_max};
use crate::scheduler::snapshot::{HOSTNAME_LABEL, NodeInfo, PodInfo, Snapshot};

/// The zone label (Kubernetes' well-known label).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// Pods like this one per domain value, for each constraint.
#[derive(Debug, Default)]
pub struct Counts {
    constraints: Vec<(TopologySpreadConstraint, HashMap<String, i64>)>,
}

fn system_defaults() -> Vec<TopologySpreadConstraint> {
    [(HOSTNAME_LABEL, 3), (ZONE_LABEL, 5)]
        .into_iter()
        .map(|(key, skew)| TopologySpreadConstraint {
            max_skew: skew,
            topology_key: key.to_owned(),
            when_unsatisfiable: UnsatisfiableConstraintAction::ScheduleAnyway,
            label_selector: None,
        })
        .collect()
}

impl Counts {
    /// Whether replicas of one owner can share counts: they spread by the system
    /// defaults (owner-based), not by constraints of their own.
    pub fn shareable(pod: &PodInfo) -> bool {
        pod.owner.is_some() && pod.spec().topology_spread_constraints.is_empty()
    }

    /// One more like pod placed on `node`.
    pub fn record(&mut self, node: &NodeInfo) {
        for (c, per) in &mut self.constraints {
            if let Some(v) = node.labels.get(&c.topology_key) {
                *per.entry(v.clone()).or_insert(0) += 1;
            }
        }
    }

    pub fn compute(pod: &PodInfo, snapshot: &Snapshot) -> Counts {
        let own = &pod.spec().topology_spread_constraints;
        let constraints = if own.is_empty() {
            if pod.owner.is_none() {
                return Counts::default();
            }
            system_defaults()
        } else {
            own.clone()
        };
        let ns = pod.meta().namespace.as_str();
        let counted = |c: &TopologySpreadConstraint, node: &NodeInfo| -> i64 {
            match (&c.label_selector, &pod.owner) {
                (Some(sel), _) => node
                    .pods
                    .values()
                    .filter(|p| p.namespace == ns && sel.matches(&p.labels))
                    .count() as i64,
                (None, Some(owner)) => node.owners.get(owner).copied().unwrap_or(0) as i64,
                (None, None) => 0,
            }
        };
        let constraints = constraints
            .into_iter()
            .map(|c| {
                let mut per = HashMap::new();
                for node in &snapshot.nodes {
                    if let Some(v) = node.labels.get(&c.topology_key) {
                        *per.entry(v.clone()).or_insert(0) += counted(&c, node);
                    }
                }
                (c, per)
            })
            .collect();
        Counts { constraints }
    }
}

pub struct TopologySpread;

impl Filter for TopologySpread {
    fn name(&self) -> &'static str {
        "TopologySpread"
    }

    /// Placing the pod here must keep its domain within `maxSkew` of the emptiest one.
    fn filter(&self, cx: &Cycle<'_>, node: &NodeInfo) -> Result<(), Vec<Unfit>> {
        for (c, per) in &cx.spread_counts().constraints {
            if c.when_unsatisfiable != UnsatisfiableConstraintAction::DoNotSchedule {
                continue;
            }
            let Some(v) = node.labels.get(&c.topology_key) else {
                return Err(vec![Unfit(format!(
                    "didn't have the topology spread label {}",
                    c.topology_key
                ))]);
            };
            let here = per.get(v).copied().unwrap_or(0);
            let min = per.values().copied().min().unwrap_or(0);
            if here + 1 - min > i64::from(c.max_skew.max(1)) {
                return Err(vec![Unfit(
                    "didn't match pod topology spread constraints".into(),
                )]);
            }
        }
        Ok(())
    }
}

impl Score for TopologySpread {
    fn name(&self) -> &'static str {
        "TopologySpread"
    }

    fn weight(&self) -> i64 {
        2
    }

    /// Like pods in the node's domains (fewer is better); a node without a constraint's
    /// label counts as the fullest domain.
    fn score(&self, cx: &Cycle<'_>, node: &NodeInfo) -> i64 {
        cx.spread_counts()
            .constraints
            .iter()
            .map(|(c, per)| match node.labels.get(&c.topology_key) {
                Some(v) => per.get(v).copied().unwrap_or(0),
                None => per.values().copied().max().unwrap_or(0) + 1,
            })
            .sum()
    }

    fn normalize(&self, scores: &mut [i64]) {
        normalize_by_max(scores, true);
    }
}
