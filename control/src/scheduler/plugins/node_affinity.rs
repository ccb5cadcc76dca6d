//! Node selection by labels: `nodeSelector` and required node affinity filter, preferred
//! node affinity scores.

use std::collections::BTreeMap;

use skiff_proto::model::scheduling::{
    NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm,
};

use crate::scheduler::framework::{Cycle, Filter, Score, Unfit, normalize_by_max};
use crate::scheduler::snapshot::NodeInfo;

fn requirement_holds(r: &NodeSelectorRequirement, value: Option<&String>) -> bool {
    let number = |s: &str| s.trim().parse::<i64>().ok();
    match r.operator {
        NodeSelectorOperator::In => value.is_some_and(|v| r.values.contains(v)),
        NodeSelectorOperator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
        NodeSelectorOperator::Exists => value.is_some(),
        NodeSelectorOperator::DoesNotExist => value.is_none(),
        NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| number(v)),
                r.values.first().and_then(|b| number(b)),
            ) else {
                return false;
            };
            if r.operator == NodeSelectorOperator::Gt {
                v > bound
            } else {
                v < bound
            }
        }
    }
}

/// Whether one term (its requirements ANDed) matches a node. `matchFields` knows
/// `metadata.name`. A term with no requirement matches nothing, as in Kubernetes.
pub fn term_matches(t: &NodeSelectorTerm, name: &str, labels: &BTreeMap<String, String>) -> bool {
    if t.match_expressions.is_empty() && t.match_fields.is_empty() {
        return false;
    }
    let name = name.to_owned();
    t.match_expressions
        .iter()
        .all(|r| requirement_holds(r, labels.get(&r.key)))
        && t.match_fields.iter().all(|r| {
            let v = (r.key == "metadata.name").then_some(&name);
            requirement_holds(r, v)
        })
}

pub struct NodeAffinity;

impl Filter for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn filter(&self, cx: &Cycle<'_>, node: &NodeInfo) -> Result<(), Vec<Unfit>> {
        let spec = cx.pod.spec();
        let selector_ok = spec
            .node_selector
            .iter()
            .all(|(k, v)| node.labels.get(k) == Some(v));
        let required = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        let affinity_ok = required.is_none_or(|r| {
            r.node_selector_terms
                .iter()
                .any(|t| term_matches(t, &node.name, &node.labels))
        });
        if selector_ok && affinity_ok {
            Ok(())
        } else {
            Err(vec![Unfit("didn't match node selector or affinity".into())])
        }
    }
}

impl Score for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn weight(&self) -> i64 {
        2
    }

    /// The sum of the weights of the preferred terms the node matches.
    fn score(&self, cx: &Cycle<'_>, node: &NodeInfo) -> i64 {
        let Some(a) = cx
            .pod
            .spec()
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
        else {
            return 0;
        };
        a.preferred_during_scheduling_ignored_during_execution
            .iter()
            .filter(|p| term_matches(&p.preference, &node.name, &node.labels))
            .map(|p| i64::from(p.weight.max(0)))
            .sum()
    }

    fn normalize(&self, scores: &mut [i64]) {
        normalize_by_max(scores, false);
    }
}
