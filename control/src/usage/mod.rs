//! What pods and nodes use and are asked now, read from the node agents (`NodeService.Stats`)
//! when someone needs it: `skiff top` and metrics.k8s.io ([`api`]), and the autoscalers.
//! Nothing of it is stored: it is live, as metrics-server's is.
//!
//! [`NodeStats`] is the seam: [`Dialing`] asks the real agents (over TLS, with this
//! member's certificate, one channel per node kept open); tests of the autoscalers may
//! give figures of their own.

pub mod api;

use std::collections::HashMap;
use std::sync::Mutex;

use skiff_proto::grpc::node::node_service_client::NodeServiceClient;
use skiff_proto::grpc::node::{StatsRequest, StatsResponse};
use skiff_proto::model::Node;
use tonic::Status;
use tonic::transport::Channel;

/// Where a node's figures come from.
#[tonic::async_trait]
pub trait NodeStats: Send + Sync {
    /// Node `node`'s figures now; `Err` says why they cannot be had.
    async fn stats(&self, node: &Node) -> Result<StatsResponse, Status>;
}

/// Asks each node's agent, keeping one channel per node (redialled when its address
/// changes or a call fails).
pub struct Dialing {
    dialer: skiff_pki::Dialer,
    channels: Mutex<HashMap<String, (String, Channel)>>,
}

impl Dialing {
    pub fn new(dialer: skiff_pki::Dialer) -> Dialing {
        Dialing {
            dialer,
            channels: Mutex::default(),
        }
    }

    async fn channel(&self, name: &str, address: &str) -> Result<Channel, Status> {
        let known = self
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .filter(|(a, _)| a == address)
            .map(|(_, c)| c.clone());
        if let Some(c) = known {
            return Ok(c);
        }
        let c = self.dialer.node(name, address).await.map_err(|e| {
            Status::unavailable(format!(
                "node {name}'s agent at {address} cannot be reached: {e}"
            ))
        })?;
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), (address.to_owned(), c.clone()));
        Ok(c)
    }
}

#[tonic::async_trait]
impl NodeStats for Dialing {
    async fn stats(&self, node: &Node) -> Result<StatsResponse, Status> {
        let name = &node.metadata.name;
        let address = node
            .status
            .as_ref()
            .and_then(|s| s.agent_address())
            .ok_or_else(|| Status::unavailable(format!("node {name} reports no agent endpoint")))?;
        let channel = self.channel(name, &address).await?;
        let r = NodeServiceClient::new(channel).stats(StatsRequest {}).await;
        match r {
            Ok(r) => Ok(r.into_inner()),
            Err(e) => {
                // Dial afresh next time.
                self.channels
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(name);
                Err(Status::unavailable(format!(
                    "node {name}'s agent did not answer: {}",
                    e.message()
                )))
            }
        }
    }
}

/// The Nodes (from `cache`) that `pods` are bound to, each once, by name.
pub fn nodes_of<'a>(
    cache: &crate::machinery::cache::Cache,
    pods: impl IntoIterator<Item = &'a skiff_proto::model::Pod>,
) -> Vec<Node> {
    let names: std::collections::BTreeSet<&str> = pods
        .into_iter()
        .filter_map(|p| p.spec.node_name.as_deref())
        .collect();
    names
        .into_iter()
        .filter_map(
            |n| match &cache.get(skiff_proto::Kind::Node, "", n)?.object {
                skiff_proto::Object::Node(n) => Some(n.clone()),
                _ => None,
            },
        )
        .collect()
}
