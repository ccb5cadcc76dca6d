//! Required pod anti-affinity: a pod does not go into a topology domain (the nodes that
//! share a label value, e.g. one hostname or one zone) that holds a pod its terms
//! select, nor into one whose pods' own terms select it (the rule is symmetric, as in
//! Kubernetes).

use std::collections::HashSet;

use skiff_proto::model::scheduling::PodAffinityTerm;

use crate::scheduler::framework::{Cycle, Filter, Unfit};
use crate::scheduler::snapshot::{NodeInfo, PodInfo, Snapshot};

/// Whether `term`, written by a pod in `owner_ns`, selects a pod with these labels in
/// `namespace` (no namespaces listed: the writer's own).
fn selects(
    term: &PodAffinityTerm,
    owner_ns: &str,
    namespace: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let ns_ok = if term.namespaces.is_empty() {
        namespace == owner_ns
    } else {
        term.namespaces.iter().any(|n| n == namespace)
    };
    ns_ok
        && term
            .label_selector
            .as_ref()
            .is_some_and(|s| s.matches(labels))
}

/// Domains ruled out for one pod: `(topology key, value)` pairs.
#[derive(Debug, Default)]
pub struct Forbidden {
    domains: HashSet<(String, String)>,
    /// Nothing is forbidden (the common case: checks are skipped).
    none: bool,
}

impl Forbidden {
    pub fn compute(pod: &PodInfo, snapshot: &Snapshot) -> Forbidden {
        let own: &[PodAffinityTerm] = pod
            .spec()
            .affinity
            .as_ref()
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .map_or(&[], |a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_slice()
            });
        let ns = pod.meta().namespace.as_str();
        let labels = &pod.meta().labels;
        let mut domains = HashSet::new();
        for node in &snapshot.nodes {
            if own.is_empty() && node.anti_pods == 0 {
                continue;
            }
            for placed in node.pods.values() {
                for t in own {
                    if selects(t, ns, &placed.namespace, &placed.labels)
                        && let Some(v) = node.labels.get(&t.topology_key)
                    {
                        domains.insert((t.topology_key.clone(), v.clone()));
                    }
                }
                for t in &placed.anti_affinity {
                    if selects(t, &placed.namespace, ns, labels)
                        && let Some(v) = node.labels.get(&t.topology_key)
                    {
                        domains.insert((t.topology_key.clone(), v.clone()));
                    }
                }
            }
        }
        Forbidden {
            none: domains.is_empty(),
            domains,
        }
    }

    pub fn rules_out(&self, node: &NodeInfo) -> bool {
        !self.none
            && self
                .domains
                .iter()
                .any(|(k, v)| node.labels.get(k) == Some(v))
    }
}

pub struct PodAntiAffinity;

impl Filter for PodAntiAffinity {
    fn name(&self) -> &'static str {
        "PodAntiAffinity"
    }

    fn filter(&self, cx: &Cycle<'_>, node: &NodeInfo) -> Result<(), Vec<Unfit>> {
        if cx.forbidden().rules_out(node) {
            Err(vec![Unfit("didn't satisfy pod anti-affinity".into())])
        } else {
            Ok(())
        }
    }
}
