//! Node: a machine running a Skiff node agent, with what it offers and how it is doing.

use skiff_proto_macros::model;
use std::collections::BTreeMap;

use super::condition::Condition;
use super::meta::ObjectMeta;
use super::quantity::Quantity;
use super::scheduling::Taint;

#[model]
pub struct Node {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NodeSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<NodeStatus>,
}

#[model]
pub struct NodeSpec {
    /// The addresses this node gives its container pods (assigned by the control plane
    /// from the cluster CIDR, one range per node).
    #[serde(rename = "podCIDR", skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    #[serde(rename = "podCIDRs", default, skip_serializing_if = "Vec::is_empty")]
    pub pod_cidrs: Vec<String>,
    /// Cordoned: no new pods are scheduled here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unschedulable: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
}

#[model]
pub struct NodeStatus {
    /// Everything the machine has: `cpu`, `memory`, `pods`, `wasm-instances`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<String, Quantity>,
    /// What is left for pods after the system's own reservation.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allocatable: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    /// The workload runtimes this node can run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtimes: Vec<Runtime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_info: Option<NodeSystemInfo>,
    /// Where the node's agent serves the control plane (logs), as Kubernetes' node
    /// status names the kubelet's port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daemon_endpoints: Option<NodeDaemonEndpoints>,
    /// The artifacts the node has ready (compiled components, pulled images): the
    /// scheduler prefers nodes that have a pod's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ContainerImage>,
}

/// One artifact on a node, under every name it is known by (digest, references).
#[model]
pub struct ContainerImage {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

/// The ports a node's daemons listen on (at the node's `InternalIP`).
#[model]
pub struct NodeDaemonEndpoints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_endpoint: Option<DaemonEndpoint>,
    /// The node's router (its ingress listener).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_endpoint: Option<DaemonEndpoint>,
    /// Where other nodes' routers send requests for this node's pods (TLS with node
    /// certificates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_endpoint: Option<DaemonEndpoint>,
}

#[model]
pub struct DaemonEndpoint {
    pub port: u16,
}

impl NodeStatus {
    /// `host:port` of the node's agent, when the node reports both.
    pub fn agent_address(&self) -> Option<String> {
        let port = self
            .daemon_endpoints
            .as_ref()?
            .agent_endpoint
            .as_ref()?
            .port;
        self.address_with(port)
    }

    /// `host:port` where other nodes' routers reach this node's, when it reports both.
    pub fn peer_address(&self) -> Option<String> {
        let port = self.daemon_endpoints.as_ref()?.peer_endpoint.as_ref()?.port;
        self.address_with(port)
    }

    /// `host:port` of the node's router, when the node reports both.
    pub fn router_address(&self) -> Option<String> {
        let port = self
            .daemon_endpoints
            .as_ref()?
            .router_endpoint
            .as_ref()?
            .port;
        self.address_with(port)
    }

    fn address_with(&self, port: u16) -> Option<String> {
        let ip = self
            .addresses
            .iter()
            .find(|a| a.type_ == "InternalIP")
            .or(self.addresses.first())?;
        Some(if ip.address.contains(':') {
            format!("[{}]:{port}", ip.address)
        } else {
            format!("{}:{port}", ip.address)
        })
    }
}

#[model]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// Wasm components and WASI modules in wasmtime.
    #[default]
    Wasm,
    /// OCI containers through runc.
    Oci,
}

#[model]
pub struct NodeAddress {
    /// `InternalIP`, `Hostname`, or `Router` (the node's ingress address).
    #[serde(rename = "type")]
    pub type_: String,
    pub address: String,
}

#[model]
pub struct NodeSystemInfo {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operating_system: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kernel_version: String,
    /// The skiff version of the agent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_version: String,
}
