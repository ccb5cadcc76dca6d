//! The Node object: registered when the agent starts (capacity, runtimes, labels,
//! address), and its `Ready` condition's heartbeat renewed every few seconds. The node
//! lifecycle controller marks a node whose heartbeat stops NotReady.

use std::collections::BTreeMap;

use skiff_proto::Object;
use skiff_proto::grpc::api::ObjectKey;
use skiff_proto::model::condition::{Condition, ConditionStatus};
use skiff_proto::model::meta::ObjectMeta;
use skiff_proto::model::node::{
    DaemonEndpoint, Node, NodeAddress, NodeDaemonEndpoints, NodeStatus, NodeSystemInfo,
};
use skiff_proto::model::quantity::Quantity;
use skiff_proto::model::values::Time;

use super::AgentConfig;
use crate::Error;
use crate::cluster::ControlPlane;
use crate::runtime::Runtimes;

fn quantity(text: String) -> Result<Quantity, Error> {
    Quantity::parse(&text).map_err(|reason| Error::ControlPlane {
        reason: format!("node capacity {text:?}: {reason}"),
    })
}

/// The node's status as this agent reports it, heartbeat at `now`, with the artifacts
/// it has ready.
pub fn status(
    config: &AgentConfig,
    now: Time,
    since: Time,
    runtimes: &Runtimes,
) -> Result<NodeStatus, Error> {
    let c = &config.capacity;
    let mut capacity = BTreeMap::new();
    capacity.insert("cpu".to_owned(), quantity(format!("{}m", c.cpu_millis))?);
    capacity.insert("memory".to_owned(), quantity(c.memory_bytes.to_string())?);
    capacity.insert("pods".to_owned(), quantity(c.pods.to_string())?);
    capacity.insert(
        "wasm-instances".to_owned(),
        quantity(c.instances.to_string())?,
    );
    Ok(NodeStatus {
        allocatable: capacity.clone(),
        capacity,
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            reason: Some("AgentReady".into()),
            message: Some("the node agent is running and heartbeating".into()),
            last_transition_time: Some(since),
            last_heartbeat_time: Some(now),
            ..Default::default()
        }],
        addresses: vec![NodeAddress {
            type_: "InternalIP".into(),
            address: config.address.clone(),
        }],
        runtimes: runtimes.kinds(),
        images: runtimes.images(),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            agent_endpoint: Some(DaemonEndpoint {
                port: config.listen.port(),
            }),
            router_endpoint: Some(DaemonEndpoint {
                port: config.ingress.port(),
            }),
            peer_endpoint: Some(DaemonEndpoint {
                port: config.peer_listen.port(),
            }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: std::env::consts::ARCH.into(),
            operating_system: std::env::consts::OS.into(),
            kernel_version: String::new(),
            agent_version: env!("CARGO_PKG_VERSION").into(),
        }),
    })
}

fn key(config: &AgentConfig) -> ObjectKey {
    ObjectKey {
        kind: "Node".into(),
        namespace: String::new(),
        name: config.name.clone(),
    }
}

/// Creates (or updates) the Node object, then reports its status.
pub async fn register(
    cp: &ControlPlane,
    config: &AgentConfig,
    since: Time,
    runtimes: &Runtimes,
) -> Result<(), Error> {
    // The kubelet's well-known labels, under the ones the node was given.
    let mut labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_owned(), config.name.clone()),
        (
            "kubernetes.io/os".to_owned(),
            std::env::consts::OS.to_owned(),
        ),
        (
            "kubernetes.io/arch".to_owned(),
            crate::oci::platform().1.to_owned(),
        ),
    ]);
    labels.extend(config.labels.clone());
    let node = Object::Node(Node {
        metadata: ObjectMeta {
            name: config.name.clone(),
            labels,
            ..Default::default()
        },
        ..Default::default()
    });
    cp.apply(&node).await?;
    // The control plane writes the Node too (its pod CIDR): a write that lost that race
    // is made again.
    let mut tries = 0;
    loop {
        match heartbeat(cp, config, since, runtimes).await {
            Err(e) if tries < 10 && e.to_string().contains("was modified") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            done => return done,
        }
    }
}

/// Renews the `Ready` heartbeat (with the whole status, so a node object that lost it
/// gets it back).
pub async fn heartbeat(
    cp: &ControlPlane,
    config: &AgentConfig,
    since: Time,
    runtimes: &Runtimes,
) -> Result<(), Error> {
    let s = status(config, Time::now(), since, runtimes)?;
    let json = serde_json::to_vec(&s).map_err(|e| Error::ControlPlane {
        reason: format!("encoding the node status: {e}"),
    })?;
    cp.update_status(key(config), json).await
}
