//! The DaemonSet controller: one pod on every node the template may run on.
//! - A node qualifies when it matches the template's node selector and required node
//!   affinity and the pod tolerates its `NoSchedule`/`NoExecute` taints. Daemon pods
//!   tolerate not-ready, unreachable and cordoned nodes, as Kubernetes adds.
//! - Each pod is pinned to its node by required node affinity on `metadata.name`, and
//!   bound by the scheduler, so resources are still counted (Kubernetes does the same).
//! - Pods on nodes that no longer qualify (or are gone) are deleted.
//! - Rolling update: pods of an older template (the `controller-revision-hash` label)
//!   are replaced at most `maxUnavailable` (default 1) at a time; `OnDelete` replaces
//!   only pods someone deleted.

use std::collections::BTreeMap;

use skiff_proto::model::daemonset::{DaemonSet, DaemonSetStatus, DaemonSetUpdateStrategyType};
use skiff_proto::model::event::EventType;
use skiff_proto::model::scheduling::*;
use skiff_proto::model::values::Time;
use skiff_proto::model::{Node, Pod, PodTemplateSpec};
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::deployment::{history::template_hash, rollout};
use super::pods;
use super::runner::{Next, Reconciler, live, own_key, owner_keys};
use crate::machinery::cache::{Cache, Change};
use crate::machinery::client::Client;
use crate::scheduler::plugins::node_affinity::term_matches;
use crate::scheduler::plugins::node_ready::{
    NOT_READY_TAINT, UNREACHABLE_TAINT, UNSCHEDULABLE_TAINT,
};
use crate::scheduler::plugins::taints::tolerated;

pub const REVISION_HASH: &str = "controller-revision-hash";

pub struct DaemonSetController {
    pub cache: Cache,
    pub client: Client,
}

/// The component its events name (Kubernetes').
const COMPONENT: &str = "daemonset-controller";

impl DaemonSetController {
    fn event(&self, ds: &DaemonSet, t: EventType, reason: &str, message: String) {
        self.client
            .event(COMPONENT, Kind::DaemonSet, &ds.metadata, t, reason, message);
    }
}

/// The tolerations every daemon pod gets, on top of its template's.
fn daemon_tolerations() -> Vec<Toleration> {
    [
        (NOT_READY_TAINT, TaintEffect::NoExecute),
        (UNREACHABLE_TAINT, TaintEffect::NoExecute),
        (UNSCHEDULABLE_TAINT, TaintEffect::NoSchedule),
    ]
    .into_iter()
    .map(|(key, effect)| Toleration {
        key: Some(key.into()),
        operator: Some(TolerationOperator::Exists),
        value: None,
        effect: Some(effect),
        toleration_seconds: None,
    })
    .collect()
}

/// Whether the template's pod may run on `node`.
pub fn qualifies(template: &PodTemplateSpec, node: &Node) -> bool {
    let spec = &template.spec;
    let labels = &node.metadata.labels;
    let selector = spec
        .node_selector
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v));
    let affinity = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_none_or(|r| {
            r.node_selector_terms
                .iter()
                .any(|t| term_matches(t, &node.metadata.name, labels))
        });
    let mut tolerations = spec.tolerations.clone();
    tolerations.extend(daemon_tolerations());
    let taints_ok = node
        .spec
        .taints
        .iter()
        .all(|t| t.effect == TaintEffect::PreferNoSchedule || tolerated(&tolerations, t));
    selector && affinity && taints_ok
}

/// The pod for `node`: the template, pinned there, with the daemon tolerations.
fn pod_for(ds: &DaemonSet, hash: &str, node: &str) -> Object {
    let mut t = ds.spec.template.clone();
    t.metadata.labels.insert(REVISION_HASH.into(), hash.into());
    t.spec.tolerations.extend(daemon_tolerations());
    let pin = NodeSelectorTerm {
        match_expressions: vec![],
        match_fields: vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: NodeSelectorOperator::In,
            values: vec![node.to_owned()],
        }],
    };
    let na = t
        .spec
        .affinity
        .get_or_insert_with(Default::default)
        .node_affinity
        .get_or_insert_with(Default::default);
    // Replaces any required terms: they were already checked by `qualifies`.
    na.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![pin],
    });
    let prefix = format!("{}-", ds.metadata.name);
    pods::from_template(&t, &ds.metadata, Kind::DaemonSet, &prefix)
}

/// The node a daemon pod is for: where it is bound, or where it is pinned.
fn node_of(p: &Pod) -> Option<String> {
    if let Some(n) = p.spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n.to_owned());
    }
    let terms = &p
        .spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms
        .iter()
        .flat_map(|t| &t.match_fields)
        .find(|r| r.key == "metadata.name")
        .and_then(|r| r.values.first().cloned())
}

impl Reconciler for DaemonSetController {
    const NAME: &'static str = "daemonset";
    const KIND: Kind = Kind::DaemonSet;

    fn keys(&self, c: &Change, cache: &Cache) -> Vec<String> {
        match c.kind {
            Kind::DaemonSet => own_key(c, Kind::DaemonSet),
            Kind::Pod => owner_keys(c, Kind::DaemonSet),
            // A node joining, leaving or changing labels or taints concerns every
            // DaemonSet; heartbeats (status only) do not.
            Kind::Node => {
                let spec_or_labels = |s: &Option<std::sync::Arc<crate::store::Stored>>| {
                    s.as_ref().map(|s| match &s.object {
                        Object::Node(n) => (n.spec.clone(), n.metadata.labels.clone()),
                        _ => Default::default(),
                    })
                };
                if spec_or_labels(&c.old) == spec_or_labels(&c.new) {
                    return Vec::new();
                }
                cache
                    .list(Kind::DaemonSet, None)
                    .iter()
                    .map(|s| crate::store::key::of(&s.object))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    async fn reconcile(&self, k: &str) -> Next {
        let Some(s) = live(&self.cache, Kind::DaemonSet, k) else {
            return Ok(None);
        };
        let Object::DaemonSet(ds) = &s.object else {
            return Ok(None);
        };
        let hash = template_hash(&ds.spec.template);
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let nodes: BTreeMap<String, Node> = self
            .cache
            .list(Kind::Node, None)
            .into_iter()
            .filter_map(|s| match &s.object {
                Object::Node(n) => Some((n.metadata.name.clone(), n.clone())),
                _ => None,
            })
            .collect();
        let mut per_node: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
        let mut unplaced = Vec::new();
        for s in self.cache.controlled_by(Kind::Pod, &uid) {
            let Object::Pod(p) = &s.object else { continue };
            if !pods::is_active(p) {
                continue;
            }
            match node_of(p) {
                Some(n) => per_node.entry(n).or_default().push(p.clone()),
                None => unplaced.push(p.clone()),
            }
        }
        let wanted: Vec<&String> = nodes
            .iter()
            .filter(|(_, n)| qualifies(&ds.spec.template, n))
            .map(|(name, _)| name)
            .collect();
        // Pods where none should be, and duplicates.
        let mut doomed: Vec<Pod> = unplaced;
        for (node, ps) in &mut per_node {
            if !wanted.contains(&node) {
                doomed.append(ps);
            } else if ps.len() > 1 {
                ps.sort_by(pods::deletion_order);
                let n = ps.len() - 1;
                doomed.extend(ps.drain(..n));
            }
        }
        let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
        let now = Time::now();
        let current = |p: &Pod| p.metadata.labels.get(REVISION_HASH) == Some(&hash);
        let mut create = Vec::new();
        let mut old_ones = Vec::new();
        let mut unavailable = 0;
        for node in &wanted {
            match per_node.get(*node).and_then(|ps| ps.first()) {
                None => {
                    create.push((*node).clone());
                    unavailable += 1;
                }
                Some(p) => {
                    if !pods::is_available(p, min_ready, now) {
                        unavailable += 1;
                    }
                    if !current(p) {
                        old_ones.push(p.clone());
                    }
                }
            }
        }
        let strategy = ds.spec.update_strategy.clone().unwrap_or_default();
        if strategy.type_ != Some(DaemonSetUpdateStrategyType::OnDelete) {
            let ru = strategy.rolling_update.unwrap_or_default();
            let max = rollout::resolve(
                Some(
                    &ru.max_unavailable
                        .unwrap_or(skiff_proto::model::IntOrString::Int(1)),
                ),
                wanted.len() as i32,
                false,
            )
            .map_err(Status::invalid_argument)?
            .max(1);
            // Old pods that serve nobody go first; then as many as the budget allows.
            old_ones.sort_by_key(|p| pods::is_available(p, min_ready, now));
            let mut budget = (max - unavailable).max(0);
            for p in old_ones {
                let serving = pods::is_available(&p, min_ready, now);
                if serving {
                    if budget == 0 {
                        break;
                    }
                    budget -= 1;
                }
                doomed.push(p);
            }
        }
        for p in &doomed {
            let r = self
                .client
                .delete(Kind::Pod, &p.metadata.namespace, &p.metadata.name, None)
                .await;
            if let Err(e) = r
                && e.code() != tonic::Code::NotFound
            {
                return Err(e);
            }
            let message = format!("Deleted pod: {}", p.metadata.name);
            self.event(ds, EventType::Normal, "SuccessfulDelete", message);
        }
        for node in &create {
            let made = self.client.create(&pod_for(ds, &hash, node)).await?;
            let message = format!("Created pod: {}", made.object.metadata().name);
            self.event(ds, EventType::Normal, "SuccessfulCreate", message);
        }
        // Status from what is there now.
        let placed: Vec<&Pod> = wanted
            .iter()
            .filter_map(|n| per_node.get(*n).and_then(|ps| ps.first()))
            .collect();
        let count = |f: &dyn Fn(&Pod) -> bool| placed.iter().filter(|p| f(p)).count() as i32;
        let status = DaemonSetStatus {
            desired_number_scheduled: wanted.len() as i32,
            current_number_scheduled: count(&|p| p.spec.node_name.is_some()),
            number_ready: count(&pods::is_ready),
            number_available: count(&|p| pods::is_available(p, min_ready, now)),
            number_misscheduled: per_node.iter().filter(|(n, _)| !wanted.contains(n)).count()
                as i32,
            updated_number_scheduled: count(&|p| current(p)),
            observed_generation: ds.metadata.generation,
            conditions: ds
                .status
                .as_ref()
                .map(|s| s.conditions.clone())
                .unwrap_or_default(),
        };
        if ds.status.as_ref() != Some(&status) {
            let mut next = ds.clone();
            next.status = Some(status);
            self.client
                .update_status(&Object::DaemonSet(next), s.revision)
                .await?;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_pods_go_to_matching_nodes_and_ride_out_lifecycle_taints() {
        let mut t = PodTemplateSpec::default();
        t.spec.node_selector.insert("role".into(), "edge".into());
        let mut n = Node::default();
        n.metadata.name = "n1".into();
        assert!(!qualifies(&t, &n));
        n.metadata.labels.insert("role".into(), "edge".into());
        assert!(qualifies(&t, &n));
        n.spec.taints.push(Taint {
            key: UNREACHABLE_TAINT.into(),
            value: None,
            effect: TaintEffect::NoExecute,
            time_added: None,
        });
        n.spec.unschedulable = Some(true);
        assert!(qualifies(&t, &n));
        n.spec.taints.push(Taint {
            key: "gpu".into(),
            value: None,
            effect: TaintEffect::NoSchedule,
            time_added: None,
        });
        assert!(!qualifies(&t, &n));
    }
}
