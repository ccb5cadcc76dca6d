//! The scheduler's view of the cluster: every node with what it offers and what its pods
//! already hold. Scheduling a pod reads it without changing it; the loop then records
//! the placement (`assume`) before the next pod, and keeps the view moving with the
//! cache's changes between cycles.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use skiff_proto::Object;
use skiff_proto::model::scheduling::{PodAffinityTerm, Taint};
use skiff_proto::model::{ConditionStatus, Node, PodPhase, Runtime};

use super::resources::Resources;
use crate::store::{Stored, key};

/// The node label that names the node itself (Kubernetes' well-known label).
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// A pod to place, with what the filters and scores read of it worked out once.
#[derive(Debug, Clone)]
pub struct PodInfo {
    pub key: String,
    pub pod: Arc<Stored>,
    pub requests: Resources,
    pub wasm: bool,
    pub priority: i32,
    /// The uid of the controller that owns it (replicas spread from each other).
    pub owner: Option<String>,
}

impl PodInfo {
    /// `None` when the object is not a pod.
    pub fn new(pod: Arc<Stored>) -> Option<PodInfo> {
        let Object::Pod(p) = &pod.object else {
            return None;
        };
        let owner = p.metadata.controller().map(|o| o.uid.clone());
        Some(PodInfo {
            key: key::of(&pod.object),
            requests: Resources::of_pod(&p.spec),
            wasm: p.spec.is_wasm(),
            priority: p.spec.priority.unwrap_or(0),
            owner,
            pod,
        })
    }

    pub fn spec(&self) -> &skiff_proto::model::PodSpec {
        match &self.pod.object {
            Object::Pod(p) => &p.spec,
            _ => unreachable!("PodInfo holds pods only"),
        }
    }

    pub fn meta(&self) -> &skiff_proto::model::ObjectMeta {
        self.pod.object.metadata()
    }

    pub fn images(&self) -> impl Iterator<Item = &str> {
        self.spec().containers.iter().map(|c| c.image.as_str())
    }
}

/// What a placed pod holds on its node, and what other pods' placement reads of it.
#[derive(Debug, Clone)]
pub struct Placed {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub requests: Resources,
    pub scoring: Resources,
    pub priority: i32,
    pub owner: Option<String>,
    pub anti_affinity: Vec<PodAffinityTerm>,
    pub images: Vec<String>,
}

impl Placed {
    pub fn of(p: &PodInfo) -> Placed {
        let spec = p.spec();
        Placed {
            namespace: p.meta().namespace.clone(),
            labels: p.meta().labels.clone(),
            requests: p.requests,
            scoring: p.requests.for_scoring(p.wasm),
            priority: p.priority,
            owner: p.owner.clone(),
            anti_affinity: spec
                .affinity
                .as_ref()
                .and_then(|a| a.pod_anti_affinity.as_ref())
                .map(|a| {
                    a.required_during_scheduling_ignored_during_execution
                        .clone()
                })
                .unwrap_or_default(),
            images: p.images().map(str::to_owned).collect(),
        }
    }
}

/// One node as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub ready: bool,
    pub runtimes: Vec<Runtime>,
    pub allocatable: Resources,
    /// Requests of the pods placed here, exactly.
    pub requested: Resources,
    /// The same with scoring's non-zero defaults.
    pub scoring: Resources,
    pub pods: BTreeMap<String, Placed>,
    /// Artifacts of pods placed here (count), and those the node reports ready.
    pub images: HashMap<String, usize>,
    pub reported: std::collections::HashSet<String>,
    /// Pods here per controlling owner (uid), for spreading replicas.
    pub owners: HashMap<String, usize>,
    /// Pods here with required anti-affinity terms.
    pub anti_pods: usize,
}

impl NodeInfo {
    pub fn new(node: &Node) -> NodeInfo {
        let status = node.status.clone().unwrap_or_default();
        let alloc = if status.allocatable.is_empty() {
            &status.capacity
        } else {
            &status.allocatable
        };
        let mut labels = node.metadata.labels.clone();
        labels
            .entry(HOSTNAME_LABEL.to_owned())
            .or_insert_with(|| node.metadata.name.clone());
        NodeInfo {
            name: node.metadata.name.clone(),
            labels,
            taints: node.spec.taints.clone(),
            unschedulable: node.spec.unschedulable == Some(true),
            ready: status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True),
            runtimes: status.runtimes.clone(),
            allocatable: Resources::of_node(alloc),
            requested: Resources::default(),
            scoring: Resources::default(),
            pods: BTreeMap::new(),
            images: HashMap::new(),
            reported: status
                .images
                .iter()
                .flat_map(|i| i.names.iter().cloned())
                .collect(),
            owners: HashMap::new(),
            anti_pods: 0,
        }
    }

    /// Whether the node has `image` (reported ready, or in use by a pod here).
    pub fn has_image(&self, image: &str) -> bool {
        self.images.contains_key(image) || self.reported.contains(image)
    }

    pub fn add(&mut self, pod_key: &str, placed: Placed) {
        self.remove(pod_key);
        self.requested += placed.requests;
        self.scoring += placed.scoring;
        for i in &placed.images {
            *self.images.entry(i.clone()).or_insert(0) += 1;
        }
        if let Some(o) = &placed.owner {
            *self.owners.entry(o.clone()).or_insert(0) += 1;
        }
        if !placed.anti_affinity.is_empty() {
            self.anti_pods += 1;
        }
        self.pods.insert(pod_key.to_owned(), placed);
    }

    pub fn remove(&mut self, pod_key: &str) {
        if let Some(p) = self.pods.remove(pod_key) {
            self.requested -= p.requests;
            self.scoring -= p.scoring;
            for i in &p.images {
                decrement(&mut self.images, i);
            }
            if let Some(o) = &p.owner {
                decrement(&mut self.owners, o);
            }
            if !p.anti_affinity.is_empty() {
                self.anti_pods -= 1;
            }
        }
    }
}

fn decrement(counts: &mut HashMap<String, usize>, k: &str) {
    if let Some(n) = counts.get_mut(k) {
        *n -= 1;
        if *n == 0 {
            counts.remove(k);
        }
    }
}

/// Every node, and where each placed pod is.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    placed: HashMap<String, String>,
    /// Pods bound to nodes the view does not have (not registered yet, or removed):
    /// they count once their node appears.
    waiting: HashMap<String, BTreeMap<String, Placed>>,
}

/// Whether a pod holds room on its node: bound, and not finished.
pub fn holds_room(o: &Object) -> Option<&str> {
    let Object::Pod(p) = o else { return None };
    let done = p
        .status
        .as_ref()
        .is_some_and(|s| matches!(s.phase, PodPhase::Succeeded | PodPhase::Failed));
    if done {
        return None;
    }
    p.spec.node_name.as_deref().filter(|n| !n.is_empty())
}

impl Snapshot {
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// Adds or replaces a node, keeping the pods placed on it.
    pub fn upsert_node(&mut self, node: &Node) {
        let mut info = NodeInfo::new(node);
        match self.index.get(&info.name) {
            Some(&i) => {
                let old = &mut self.nodes[i];
                info.pods = std::mem::take(&mut old.pods);
                info.requested = old.requested;
                info.scoring = old.scoring;
                info.images = std::mem::take(&mut old.images);
                info.owners = std::mem::take(&mut old.owners);
                info.anti_pods = old.anti_pods;
                *old = info;
            }
            None => {
                for (k, p) in self.waiting.remove(&info.name).unwrap_or_default() {
                    info.add(&k, p);
                }
                self.index.insert(info.name.clone(), self.nodes.len());
                self.nodes.push(info);
            }
        }
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(i) = self.index.remove(name) else {
            return;
        };
        let gone = self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
        // Its pods stay recorded as placed there, so they count again if it comes back.
        if !gone.pods.is_empty() {
            self.waiting.insert(gone.name, gone.pods);
        }
    }

    /// Records that `pod` holds room on `node` (bound, or assumed while its binding is
    /// in flight).
    pub fn assume(&mut self, pod: &PodInfo, node: &str) {
        self.forget(&pod.key);
        match self.index.get(node) {
            Some(&i) => self.nodes[i].add(&pod.key, Placed::of(pod)),
            None => {
                self.waiting
                    .entry(node.to_owned())
                    .or_default()
                    .insert(pod.key.clone(), Placed::of(pod));
            }
        }
        self.placed.insert(pod.key.clone(), node.to_owned());
    }

    /// The pod no longer holds room anywhere.
    pub fn forget(&mut self, pod_key: &str) {
        let Some(node) = self.placed.remove(pod_key) else {
            return;
        };
        match self.index.get(&node) {
            Some(&i) => self.nodes[i].remove(pod_key),
            None => {
                if let Some(w) = self.waiting.get_mut(&node) {
                    w.remove(pod_key);
                    if w.is_empty() {
                        self.waiting.remove(&node);
                    }
                }
            }
        }
    }

    /// Where the pod holds room, if anywhere.
    pub fn placed_on(&self, pod_key: &str) -> Option<&str> {
        self.placed.get(pod_key).map(String::as_str)
    }

    /// Follows one pod's change (`None`: deleted).
    pub fn update_pod(&mut self, pod_key: &str, now: Option<&Arc<Stored>>) {
        let node = now.and_then(|s| holds_room(&s.object));
        match (node, now.and_then(|s| PodInfo::new(s.clone()))) {
            (Some(n), Some(info)) => {
                let n = n.to_owned();
                self.assume(&info, &n);
            }
            _ => self.forget(pod_key),
        }
    }

    /// Builds the view from every node and pod.
    pub fn build<'a>(
        nodes: impl IntoIterator<Item = &'a Node>,
        pods: impl IntoIterator<Item = &'a Arc<Stored>>,
    ) -> Snapshot {
        let mut s = Snapshot::default();
        for n in nodes {
            s.upsert_node(n);
        }
        for p in pods {
            s.update_pod(&key::of(&p.object), Some(p));
        }
        s
    }

    /// The nodes in a topology domain: those whose `topology_key` label is `value`.
    pub fn domain<'a>(
        &'a self,
        topology_key: &'a str,
        value: &'a str,
    ) -> impl Iterator<Item = &'a NodeInfo> {
        self.nodes
            .iter()
            .filter(move |n| n.labels.get(topology_key).is_some_and(|v| v == value))
    }

    /// Names of the pods placed anywhere (for tests and preemption).
    pub fn placed_pods(&self) -> HashSet<&str> {
        self.placed.keys().map(String::as_str).collect()
    }
}
