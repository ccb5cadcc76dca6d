//! Taints and tolerations: a pod may not go where a `NoSchedule` or `NoExecute` taint
//! repels it unless it tolerates the taint; `PreferNoSchedule` taints lower the score.

use skiff_proto::model::scheduling::{Taint, TaintEffect, Toleration, TolerationOperator};

use crate::scheduler::framework::{Cycle, Filter, Score, Unfit, normalize_by_max};
use crate::scheduler::snapshot::{NodeInfo, PodInfo};

/// Kubernetes' rule: the effect matches (or the toleration names none); an empty key
/// with `Exists` matches every taint; otherwise the keys match and, for `Equal`, the
/// values.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if t.effect.is_some_and(|e| e != taint.effect) {
        return false;
    }
    let op = t.operator.unwrap_or_default();
    match t.key.as_deref().filter(|k| !k.is_empty()) {
        None => op == TolerationOperator::Exists,
        Some(k) if k != taint.key => false,
        Some(_) => match op {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => {
                t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
            }
        },
    }
}

/// Whether any of `tolerations` tolerates `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// Whether the pod tolerates a `NoSchedule` taint with this key and no value.
pub fn tolerates_key(pod: &PodInfo, key: &str) -> bool {
    let taint = Taint {
        key: key.to_owned(),
        value: None,
        effect: TaintEffect::NoSchedule,
        time_added: None,
    };
    tolerated(&pod.spec().tolerations, &taint)
}

pub struct TaintToleration;

impl Filter for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn filter(&self, cx: &Cycle<'_>, node: &NodeInfo) -> Result<(), Vec<Unfit>> {
        let tolerations = &cx.pod.spec().tolerations;
        let repelled = node.taints.iter().find(|t| {
            matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute)
                && !tolerated(tolerations, t)
        });
        match repelled {
            Some(t) => Err(vec![Unfit(format!("had untolerated taint {{{}}}", t.key))]),
            None => Ok(()),
        }
    }
}

impl Score for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn weight(&self) -> i64 {
        3
    }

    /// The number of `PreferNoSchedule` taints the pod does not tolerate (fewer is better).
    fn score(&self, cx: &Cycle<'_>, node: &NodeInfo) -> i64 {
        let tolerations = &cx.pod.spec().tolerations;
        node.taints
            .iter()
            .filter(|t| t.effect == TaintEffect::PreferNoSchedule && !tolerated(tolerations, t))
            .count() as i64
    }

    fn normalize(&self, scores: &mut [i64]) {
        normalize_by_max(scores, true);
    }
}
