//! Service: a stable name and ports in front of the pods a selector picks.

use skiff_proto_macros::model;
use std::collections::BTreeMap;

use super::container::Protocol;
use super::meta::ObjectMeta;
use super::values::IntOrString;

#[model]
pub struct Service {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ServiceSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ServiceStatus>,
}

#[model]
pub struct ServiceSpec {
    /// Pods with these labels are the Service's endpoints; empty means endpoints are
    /// managed by hand.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<ServiceType>,
    /// `None` makes a headless Service.
    #[serde(rename = "clusterIP", skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_affinity: Option<SessionAffinity>,
}

#[model]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

#[model]
pub enum SessionAffinity {
    #[default]
    None,
    ClientIP,
}

#[model]
pub struct ServicePort {
    /// Required when the Service has more than one port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub port: i32,
    /// A port number on the pods, or the name of a container port (default: `port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_port: Option<i32>,
}

#[model]
pub struct ServiceStatus {
    /// Addresses where the Service is reachable from outside, e.g. node routers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<String>,
}
