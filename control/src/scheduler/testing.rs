//! The scheduler's test harness: fluent builders for nodes and pods (Kubernetes'
//! `MakePod().Name("p").Node("n1").Obj()`), and a harness that feeds a snapshot to the
//! planner and records the plan (Nomad's `scheduler/tests/testing.go`), with no store.

use std::collections::BTreeMap;
use std::sync::Arc;

use skiff_proto::Object;
use skiff_proto::model::meta::OwnerReference;
use skiff_proto::model::node::NodeStatus;
use skiff_proto::model::scheduling::*;
use skiff_proto::model::*;

use super::framework::{self, Diagnosis, Policy, Sampling};
use super::plugins::default_profile;
use super::snapshot::{PodInfo, Snapshot};
use crate::store::Stored;

fn q(s: &str) -> Quantity {
    Quantity::parse(s).expect("a test quantity")
}

pub struct MakeNode(Node);

/// A Ready node that runs Wasm and containers: 4 CPUs, 8 GiB, 110 pods, 1,000 instances.
pub fn node(name: &str) -> MakeNode {
    let mut n = Node::default();
    n.metadata.name = name.to_owned();
    let mut alloc = BTreeMap::new();
    alloc.insert("cpu".into(), q("4"));
    alloc.insert("memory".into(), q("8Gi"));
    alloc.insert("pods".into(), q("110"));
    alloc.insert("wasm-instances".into(), q("1000"));
    n.status = Some(NodeStatus {
        allocatable: alloc,
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            ..Default::default()
        }],
        runtimes: vec![Runtime::Wasm, Runtime::Oci],
        ..Default::default()
    });
    MakeNode(n)
}

impl MakeNode {
    fn status(&mut self) -> &mut NodeStatus {
        self.0.status.get_or_insert_with(Default::default)
    }

    pub fn alloc(mut self, resource: &str, v: &str) -> Self {
        self.status().allocatable.insert(resource.into(), q(v));
        self
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0.metadata.labels.insert(k.into(), v.into());
        self
    }

    pub fn taint(mut self, key: &str, effect: TaintEffect) -> Self {
        self.0.spec.taints.push(Taint {
            key: key.into(),
            value: None,
            effect,
            time_added: None,
        });
        self
    }

    /// The node reports `image` ready (in `status.images`).
    pub fn reports(mut self, image: &str) -> Self {
        self.status()
            .images
            .push(skiff_proto::model::node::ContainerImage {
                names: vec![image.into()],
                size_bytes: Some(1 << 20),
            });
        self
    }

    pub fn cordoned(mut self) -> Self {
        self.0.spec.unschedulable = Some(true);
        self
    }

    pub fn not_ready(mut self) -> Self {
        for c in &mut self.status().conditions {
            c.status = ConditionStatus::False;
        }
        self
    }

    pub fn runtimes(mut self, r: &[Runtime]) -> Self {
        self.status().runtimes = r.to_vec();
        self
    }

    pub fn obj(self) -> Node {
        self.0
    }
}

pub struct MakePod(Pod);

/// A pending container pod in `default` with one container and no requests.
pub fn pod(name: &str) -> MakePod {
    let mut p = Pod::default();
    p.metadata.name = name.to_owned();
    p.metadata.namespace = "default".into();
    p.spec.containers.push(Container {
        name: "main".into(),
        image: "app:v1".into(),
        ..Default::default()
    });
    MakePod(p)
}

impl MakePod {
    pub fn wasm(mut self) -> Self {
        self.0.spec.runtime_class_name = Some("wasm".into());
        self
    }

    pub fn req(mut self, resource: &str, v: &str) -> Self {
        self.0.spec.containers[0]
            .resources
            .requests
            .insert(resource.into(), q(v));
        self
    }

    pub fn image(mut self, image: &str) -> Self {
        self.0.spec.containers[0].image = image.into();
        self
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0.metadata.labels.insert(k.into(), v.into());
        self
    }

    pub fn node(mut self, n: &str) -> Self {
        self.0.spec.node_name = Some(n.into());
        self
    }

    pub fn selector(mut self, k: &str, v: &str) -> Self {
        self.0.spec.node_selector.insert(k.into(), v.into());
        self
    }

    pub fn tolerate(mut self, key: &str) -> Self {
        self.0.spec.tolerations.push(Toleration {
            key: Some(key.into()),
            operator: Some(TolerationOperator::Exists),
            ..Default::default()
        });
        self
    }

    fn affinity(&mut self) -> &mut Affinity {
        self.0.spec.affinity.get_or_insert_with(Default::default)
    }

    pub fn require_node(mut self, key: &str, op: NodeSelectorOperator, values: &[&str]) -> Self {
        let na = self
            .affinity()
            .node_affinity
            .get_or_insert_with(Default::default);
        na.required_during_scheduling_ignored_during_execution
            .get_or_insert_with(Default::default)
            .node_selector_terms
            .push(NodeSelectorTerm {
                match_expressions: vec![NodeSelectorRequirement {
                    key: key.into(),
                    operator: op,
                    values: values.iter().map(|v| v.to_string()).collect(),
                }],
                match_fields: vec![],
            });
        self
    }

    pub fn prefer_node(mut self, weight: i32, key: &str, value: &str) -> Self {
        let na = self
            .affinity()
            .node_affinity
            .get_or_insert_with(Default::default);
        na.preferred_during_scheduling_ignored_during_execution
            .push(PreferredSchedulingTerm {
                weight,
                preference: NodeSelectorTerm {
                    match_expressions: vec![NodeSelectorRequirement {
                        key: key.into(),
                        operator: NodeSelectorOperator::In,
                        values: vec![value.into()],
                    }],
                    match_fields: vec![],
                },
            });
        self
    }

    /// Required anti-affinity to pods labelled `app=<app>`, per `topology_key`.
    pub fn anti(mut self, app: &str, topology_key: &str) -> Self {
        let aa = self
            .affinity()
            .pod_anti_affinity
            .get_or_insert_with(Default::default);
        let mut sel = LabelSelector::default();
        sel.match_labels.insert("app".into(), app.into());
        aa.required_during_scheduling_ignored_during_execution
            .push(PodAffinityTerm {
                label_selector: Some(sel),
                namespaces: vec![],
                topology_key: topology_key.into(),
            });
        self
    }

    pub fn spread(mut self, key: &str, max_skew: i32, hard: bool, app: &str) -> Self {
        let mut sel = LabelSelector::default();
        sel.match_labels.insert("app".into(), app.into());
        self.0
            .spec
            .topology_spread_constraints
            .push(TopologySpreadConstraint {
                max_skew,
                topology_key: key.into(),
                when_unsatisfiable: if hard {
                    UnsatisfiableConstraintAction::DoNotSchedule
                } else {
                    UnsatisfiableConstraintAction::ScheduleAnyway
                },
                label_selector: Some(sel),
            });
        self
    }

    pub fn owner(mut self, uid: &str) -> Self {
        self.0.metadata.owner_references.push(OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "rs".into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: None,
        });
        self
    }

    pub fn priority(mut self, p: i32) -> Self {
        self.0.spec.priority = Some(p);
        self
    }

    pub fn obj(self) -> Pod {
        self.0
    }

    pub fn info(self) -> PodInfo {
        PodInfo::new(Arc::new(Stored {
            revision: 1,
            object: Object::Pod(self.0),
        }))
        .expect("a pod")
    }
}

/// Nodes and placed pods; plans are recorded, not committed.
pub struct Harness {
    pub snapshot: Snapshot,
    pub policy: Policy,
    pub sampling: Sampling,
    start: usize,
}

/// What the planner decided, by pod name.
#[derive(Debug, Default)]
pub struct Recorded {
    pub placed: BTreeMap<String, String>,
    pub unfit: BTreeMap<String, Diagnosis>,
}

impl Recorded {
    pub fn node_of(&self, pod: &str) -> Option<&str> {
        self.placed.get(pod).map(String::as_str)
    }

    pub fn why(&self, pod: &str) -> String {
        self.unfit
            .get(pod)
            .map(Diagnosis::message)
            .unwrap_or_default()
    }
}

impl Harness {
    pub fn new(nodes: Vec<Node>) -> Harness {
        let placed: Vec<Arc<Stored>> = Vec::new();
        Harness {
            snapshot: Snapshot::build(nodes.iter(), placed.iter()),
            policy: Policy::Auto,
            sampling: Sampling::ALL,
            start: 0,
        }
    }

    /// Pods already bound (they must name their node).
    pub fn with_pods(mut self, pods: Vec<Pod>) -> Harness {
        for p in pods {
            let s = Arc::new(Stored {
                revision: 1,
                object: Object::Pod(p),
            });
            self.snapshot
                .update_pod(&crate::store::key::of(&s.object), Some(&s));
        }
        self
    }

    pub fn policy(mut self, p: Policy) -> Harness {
        self.policy = p;
        self
    }

    /// Plans `pods` in order, each seeing the placements before it.
    pub fn plan(&mut self, pods: Vec<Pod>) -> Recorded {
        let profile = default_profile(self.sampling);
        let infos = pods.into_iter().map(|p| {
            PodInfo::new(Arc::new(Stored {
                revision: 1,
                object: Object::Pod(p),
            }))
            .expect("a pod")
        });
        let plan = framework::plan(
            &profile,
            &mut self.snapshot,
            self.policy,
            infos,
            &mut self.start,
        );
        let mut r = Recorded::default();
        for (pod, p) in plan.placements {
            r.placed.insert(pod.meta().name.clone(), p.node);
        }
        for (pod, d) in plan.unfit {
            r.unfit.insert(pod.meta().name.clone(), d);
        }
        r
    }
}
