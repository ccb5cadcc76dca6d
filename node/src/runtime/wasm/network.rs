//! Wasm pods' addresses: every pod gets a loopback address of its own (`127.x.y.z`), chosen
//! from its uid (so an agent restart usually gives it the same one) and unique on the node,
//! so every pod can listen on the port its manifest names. Containers get addresses from
//! the node's pod CIDR instead, in network namespaces of their own.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

/// The addresses in use on this node.
#[derive(Default)]
pub struct PodNetwork {
    used: Mutex<HashSet<Ipv4Addr>>,
}

/// A pod's address, given back when dropped.
pub struct PodIp {
    pub ip: Ipv4Addr,
    network: Arc<PodNetwork>,
}

impl Drop for PodIp {
    fn drop(&mut self) {
        self.network
            .used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.ip);
    }
}

/// The `attempt`th candidate for a pod whose uid hashes to `h`: 127.1.0.1 – 127.254.255.254,
/// away from 127.0.0.1 and the ends of each range.
fn candidate(h: u32, attempt: u32) -> Ipv4Addr {
    let x = h.wrapping_add(attempt.wrapping_mul(7919));
    Ipv4Addr::new(
        127,
        1 + (x % 254) as u8,
        (x >> 8) as u8,
        1 + ((x >> 16) % 254) as u8,
    )
}

impl PodNetwork {
    /// An address for the pod with `uid`, unique among the pods of this node.
    pub fn allocate(self: &Arc<Self>, uid: &str) -> PodIp {
        // FNV-1a: stable across runs and builds, unlike std's hasher.
        let mut h: u32 = 0x811c_9dc5;
        for b in uid.as_bytes() {
            h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
        }
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let mut attempt = 0;
        let ip = loop {
            let ip = candidate(h, attempt);
            if used.insert(ip) {
                break ip;
            }
            attempt += 1;
        };
        PodIp {
            ip,
            network: self.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_stable_unique_and_given_back() {
        let n = Arc::new(PodNetwork::default());
        let a = n.allocate("uid-a");
        assert_eq!(a.ip.octets()[0], 127);
        assert_ne!(a.ip, Ipv4Addr::LOCALHOST);
        let first = a.ip;
        drop(a);
        assert_eq!(
            n.allocate("uid-a").ip,
            first,
            "the same uid, the same address"
        );
        let many: Vec<PodIp> = (0..5000).map(|i| n.allocate(&format!("pod-{i}"))).collect();
        let distinct: HashSet<Ipv4Addr> = many.iter().map(|p| p.ip).collect();
        assert_eq!(distinct.len(), 5000);
        drop(many);
        assert!(n.used.lock().unwrap().is_empty());
    }
}
