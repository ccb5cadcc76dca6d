//! The scheduling framework: filters say whether a pod may run on a node, scores rank the
//! nodes that may, and [`schedule`] runs them in the order a [`Profile`] lists them
//! (Kubernetes' filter/score plugins; Nomad's feasibility checks then rank iterators).
//!
//! A filter's "does not fit" ([`Unfit`]) is an answer, not a failure: the reasons are
//! counted over all nodes into the message an unschedulable pod gets.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use super::plugins::{anti_affinity, spread};
use super::snapshot::{NodeInfo, PodInfo, Snapshot};

/// Why a pod may not run on a node, as a phrase counted in the summary
/// (`insufficient memory`, `had untolerated taint {gpu}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unfit(pub String);

/// How nodes are ranked by what is already allocated on them (a cluster-wide setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Bin-pack Wasm pods (density is the point of them), spread containers.
    #[default]
    Auto,
    /// Prefer the most allocated node that fits (Kubernetes' `MostAllocated`).
    BinPack,
    /// Prefer the least allocated node (Kubernetes' `LeastAllocated`).
    Spread,
}

impl Policy {
    pub fn parse(s: &str) -> Result<Policy, String> {
        match s.trim() {
            "" | "auto" => Ok(Policy::Auto),
            "binpack" | "bin-pack" | "MostAllocated" => Ok(Policy::BinPack),
            "spread" | "LeastAllocated" => Ok(Policy::Spread),
            other => Err(format!(
                "unknown scheduling policy {other:?}; use auto, binpack or spread"
            )),
        }
    }

    /// Whether this pod is bin-packed.
    pub fn packs(self, pod: &PodInfo) -> bool {
        match self {
            Policy::Auto => pod.wasm,
            Policy::BinPack => true,
            Policy::Spread => false,
        }
    }
}

/// What scheduling one pod reads: the pod, the snapshot, the policy, and what some
/// plugins work out once per pod rather than once per node.
pub struct Cycle<'a> {
    pub pod: &'a PodInfo,
    pub snapshot: &'a Snapshot,
    pub policy: Policy,
    anti: OnceCell<anti_affinity::Forbidden>,
    spread: OnceCell<spread::Counts>,
}

impl<'a> Cycle<'a> {
    pub fn new(pod: &'a PodInfo, snapshot: &'a Snapshot, policy: Policy) -> Self {
        Cycle {
            pod,
            snapshot,
            policy,
            anti: OnceCell::new(),
            spread: OnceCell::new(),
        }
    }

    /// Topology domains the pod's anti-affinity (or others' against it) rules out.
    pub fn forbidden(&self) -> &anti_affinity::Forbidden {
        self.anti
            .get_or_init(|| anti_affinity::Forbidden::compute(self.pod, self.snapshot))
    }

    /// Pods like this one per topology domain, for spreading.
    pub fn spread_counts(&self) -> &spread::Counts {
        self.spread
            .get_or_init(|| spread::Counts::compute(self.pod, self.snapshot))
    }

    /// Uses counts worked out before (for an earlier replica of the same owner).
    pub fn with_spread(self, counts: spread::Counts) -> Self {
        let _ = self.spread.set(counts);
        self
    }

    /// The counts this cycle used, if it worked them out.
    pub fn into_spread(self) -> Option<spread::Counts> {
        self.spread.into_inner()
    }
}

/// One feasibility check.
pub trait Filter: Send + Sync {
    fn name(&self) -> &'static str;
    fn filter(&self, cx: &Cycle<'_>, node: &NodeInfo) -> Result<(), Vec<Unfit>>;
}

/// One ranking: a raw score per feasible node, then normalised to 0..=100.
pub trait Score: Send + Sync {
    fn name(&self) -> &'static str;
    fn weight(&self) -> i64;
    fn score(&self, cx: &Cycle<'_>, node: &NodeInfo) -> i64;
    /// Scales raw scores to 0..=100 (the default: they already are).
    fn normalize(&self, _scores: &mut [i64]) {}
}

/// Scales scores to 0..=100 by the largest; `reverse` makes the smallest best.
pub fn normalize_by_max(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    for s in scores.iter_mut() {
        let v = if max > 0 { *s * 100 / max } else { 0 };
        *s = if reverse { 100 - v } else { v };
    }
}

/// How many feasible nodes to find before scoring: all of them in small clusters; in
/// large ones a share (Kubernetes' `percentageOfNodesToScore`), taken from a start that
/// moves on with every pod so all nodes get their turn.
#[derive(Debug, Clone, Copy)]
pub struct Sampling {
    pub min_nodes: usize,
    pub percentage: usize,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            min_nodes: 100,
            percentage: 10,
        }
    }
}

impl Sampling {
    /// Every node, always (tests and small clusters).
    pub const ALL: Sampling = Sampling {
        min_nodes: usize::MAX,
        percentage: 100,
    };

    fn wanted(self, nodes: usize) -> usize {
        (nodes * self.percentage / 100)
            .max(self.min_nodes)
            .min(nodes)
    }
}

/// The filters and scores, in order.
pub struct Profile {
    pub filters: Vec<Box<dyn Filter>>,
    pub scores: Vec<Box<dyn Score>>,
    pub sampling: Sampling,
}

/// Why a pod fits nowhere: each reason with the number of nodes it ruled out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnosis {
    pub nodes: usize,
    pub reasons: BTreeMap<Unfit, usize>,
}

impl Diagnosis {
    /// Kubernetes' summary: `0/5 nodes available: 3 insufficient memory, 2 had
    /// untolerated taint {gpu}` (most common reason first).
    pub fn message(&self) -> String {
        if self.nodes == 0 {
            return "0/0 nodes available: no nodes are registered".to_owned();
        }
        let mut reasons: Vec<_> = self.reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let parts: Vec<String> = reasons
            .iter()
            .map(|(r, n)| format!("{n} {}", r.0))
            .collect();
        format!("0/{} nodes available: {}", self.nodes, parts.join(", "))
    }
}

/// Where a pod goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub node: String,
    pub score: i64,
}

/// Picks a node for `cx.pod`: the feasible node with the highest weighted score (ties go
/// to the first found from `start`), or why there is none.
pub fn schedule(profile: &Profile, cx: &Cycle<'_>, start: usize) -> Result<Placement, Diagnosis> {
    let nodes = &cx.snapshot.nodes;
    let n = nodes.len();
    let wanted = profile.sampling.wanted(n);
    let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(wanted.min(n));
    let mut diagnosis = Diagnosis {
        nodes: n,
        ..Default::default()
    };
    for i in 0..n {
        let node = &nodes[(start + i) % n];
        match profile.filters.iter().try_for_each(|f| f.filter(cx, node)) {
            Ok(()) => {
                feasible.push(node);
                if feasible.len() >= wanted {
                    break;
                }
            }
            Err(why) => {
                for r in why {
                    *diagnosis.reasons.entry(r).or_insert(0) += 1;
                }
            }
        }
    }
    if feasible.is_empty() {
        return Err(diagnosis);
    }
    if feasible.len() == 1 {
        return Ok(Placement {
            node: feasible[0].name.clone(),
            score: 0,
        });
    }
    let mut total = vec![0i64; feasible.len()];
    let mut raw = vec![0i64; feasible.len()];
    for s in &profile.scores {
        for (r, node) in raw.iter_mut().zip(&feasible) {
            *r = s.score(cx, node);
        }
        s.normalize(&mut raw);
        for (t, r) in total.iter_mut().zip(&raw) {
            *t += r * s.weight();
        }
    }
    let (best, score) =
        total.iter().enumerate().fold(
            (0, i64::MIN),
            |(bi, bs), (i, &s)| {
                if s > bs { (i, s) } else { (bi, bs) }
            },
        );
    Ok(Placement {
        node: feasible[best].name.clone(),
        score,
    })
}

/// A cycle's decisions: where pods go, and why others fit nowhere.
#[derive(Debug, Default)]
pub struct Plan {
    pub placements: Vec<(PodInfo, Placement)>,
    pub unfit: Vec<(PodInfo, Diagnosis)>,
}

/// Places `pods` one after another, each seeing the ones before it (assumed in the
/// snapshot). `start` moves on with every pod, so sampling takes turns over the nodes.
pub fn plan(
    profile: &Profile,
    snapshot: &mut Snapshot,
    policy: Policy,
    pods: impl IntoIterator<Item = PodInfo>,
    start: &mut usize,
) -> Plan {
    let mut out = Plan::default();
    // Replicas of one owner share their spreading counts, kept current as each is placed,
    // instead of counting over every node for each of them.
    let mut memo: std::collections::HashMap<String, spread::Counts> = Default::default();
    for pod in pods {
        let n = snapshot.nodes.len().max(1);
        let shared = spread::Counts::shareable(&pod)
            .then(|| pod.owner.clone())
            .flatten();
        let mut cx = Cycle::new(&pod, snapshot, policy);
        if let Some(c) = shared.as_ref().and_then(|o| memo.remove(o)) {
            cx = cx.with_spread(c);
        }
        let placed = schedule(profile, &cx, *start % n);
        let counts = cx.into_spread();
        *start = start.wrapping_add(1);
        match placed {
            Ok(p) => {
                if let (Some(owner), Some(mut c)) = (shared, counts) {
                    if let Some(node) = snapshot.node(&p.node) {
                        c.record(node);
                    }
                    memo.insert(owner, c);
                }
                snapshot.assume(&pod, &p.node);
                out.placements.push((pod, p));
            }
            Err(d) => {
                if let (Some(owner), Some(c)) = (shared, counts) {
                    memo.insert(owner, c);
                }
                out.unfit.push((pod, d));
            }
        }
    }
    out
}
