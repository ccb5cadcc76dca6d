//! Node IPAM: every node gets a range of the cluster CIDR for its container pods
//! (`spec.podCIDR`, Kubernetes' node IPAM controller with its default `/24` per node). A
//! range is never given twice: the ranges in use are read from the cache and remembered
//! as they are written (the cache may not show a write yet when the next node comes), and
//! one worker hands them out.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use skiff_proto::{Kind, Object};

use super::runner::{Next, Reconciler, own_key};
use crate::machinery::cache::{Cache, Change};
use crate::machinery::client::Client;

/// The cluster's pod addresses and how they are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterCidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
    /// Each node's range (`/24`: 254 pods).
    pub node_prefix: u8,
}

impl Default for ClusterCidr {
    fn default() -> Self {
        ClusterCidr {
            network: Ipv4Addr::new(10, 88, 0, 0),
            prefix: 16,
            node_prefix: 24,
        }
    }
}

impl ClusterCidr {
    /// Parses `ADDRESS/BITS` with `node_prefix` bits per node.
    pub fn parse(text: &str, node_prefix: u8) -> Result<ClusterCidr, String> {
        let (network, prefix) = skiff_proto::validate::cidr::ipv4_cidr(text)?;
        if !(8..=28).contains(&prefix) || node_prefix <= prefix || node_prefix > 30 {
            return Err(format!(
                "{text:?} with /{node_prefix} per node: the cluster prefix must be 8 to 28 bits and shorter than the nodes' (at most 30)"
            ));
        }
        Ok(ClusterCidr {
            network,
            prefix,
            node_prefix,
        })
    }

    /// How many node ranges there are.
    pub fn ranges(&self) -> u32 {
        1 << (self.node_prefix - self.prefix)
    }

    /// The `i`th node range, as `ADDRESS/BITS`.
    pub fn range(&self, i: u32) -> String {
        let base = u32::from(self.network) + (i << (32 - self.node_prefix));
        format!("{}/{}", Ipv4Addr::from(base), self.node_prefix)
    }
}

pub struct NodeIpam {
    pub cache: Cache,
    pub client: Client,
    pub cidr: ClusterCidr,
    /// Ranges handed out by this controller, which the cache may not show yet.
    given: Mutex<HashSet<String>>,
}

impl NodeIpam {
    pub fn new(cache: Cache, client: Client, cidr: ClusterCidr) -> Self {
        NodeIpam {
            cache,
            client,
            cidr,
            given: Mutex::default(),
        }
    }

    /// The first range no node has.
    fn free(&self) -> Option<String> {
        let mut used: HashSet<String> =
            self.given.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for s in self.cache.list(Kind::Node, None) {
            if let Object::Node(n) = &s.object
                && let Some(c) = &n.spec.pod_cidr
            {
                used.insert(c.clone());
            }
        }
        (0..self.cidr.ranges())
            .map(|i| self.cidr.range(i))
            .find(|r| !used.contains(r))
    }
}

impl Reconciler for NodeIpam {
    const NAME: &'static str = "node-ipam";
    const KIND: Kind = Kind::Node;

    fn keys(&self, c: &Change, _: &Cache) -> Vec<String> {
        own_key(c, Kind::Node)
    }

    async fn reconcile(&self, key: &str) -> Next {
        let Some(s) = self.cache.get_key(Kind::Node, key) else {
            return Ok(None);
        };
        let Object::Node(n) = &s.object else {
            return Ok(None);
        };
        if n.spec.pod_cidr.is_some() {
            return Ok(None);
        }
        let Some(range) = self.free() else {
            tracing::error!(node = %n.metadata.name, cidr = ?self.cidr, "no pod CIDR left for the node (CIDRNotAvailable); widen --cluster-cidr");
            return Ok(Some(std::time::Duration::from_secs(30)));
        };
        let mut n2 = n.clone();
        n2.spec.pod_cidr = Some(range.clone());
        n2.spec.pod_cidrs = vec![range.clone()];
        self.client.update(&Object::Node(n2), s.revision).await?;
        tracing::info!(node = %n.metadata.name, pod_cidr = %range, "pod CIDR assigned");
        self.given
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(range);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cut_the_cluster_cidr_in_order() {
        let c = ClusterCidr::default();
        assert_eq!(c.ranges(), 256);
        assert_eq!(c.range(0), "10.88.0.0/24");
        assert_eq!(c.range(255), "10.88.255.0/24");
        let p = ClusterCidr::parse("10.244.7.9/16", 24).unwrap();
        assert_eq!(p.range(1), "10.244.1.0/24");
        for bad in ["10.0.0.0", "10.0.0.0/33", "x/16", "10.0.0.0/4"] {
            assert!(ClusterCidr::parse(bad, 24).is_err(), "{bad}");
        }
        assert!(ClusterCidr::parse("10.0.0.0/24", 24).is_err());
    }
}
