//! Load balancing: a weighted choice among a rule's backends, then the power of two
//! choices among a backend's ready endpoints: two at random, the one with fewer requests
//! outstanding wins (Mitzenmacher; what Envoy's least-request balancer does).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::activate::Wakeable;
use super::table::{ServiceKey, Target};

/// How an endpoint is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A pod on this node: called in-process when it is a Wasm handler, else over its
    /// address.
    Local,
    /// A pod on another node: through that node's router, at its peer address (TLS,
    /// checked against the node's name).
    Node(SocketAddr, Arc<str>),
    /// An address with no node (endpoints written by hand): directly.
    Direct,
}

/// One ready endpoint: a pod's address and target port.
#[derive(Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub via: Via,
    /// The metrics' and access log's label.
    pub label: Arc<str>,
    outstanding: AtomicUsize,
}

/// A request outstanding on an endpoint, counted until dropped.
pub struct Outstanding(Arc<Endpoint>);

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Endpoint {
    pub fn new(addr: SocketAddr, via: Via) -> Endpoint {
        Endpoint {
            addr,
            via,
            label: addr.to_string().into(),
            outstanding: AtomicUsize::new(0),
        }
    }

    /// Counts a request until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> Outstanding {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        Outstanding(self.clone())
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }
}

/// A Service port's ready endpoints.
#[derive(Debug)]
pub struct Backend {
    pub service: ServiceKey,
    pub port: u16,
    pub port_name: Option<String>,
    pub endpoints: Vec<Arc<Endpoint>>,
    /// With no endpoint: the Deployment at zero that a request wakes.
    pub wake: Option<Arc<Wakeable>>,
}

impl Backend {
    pub fn new(
        service: ServiceKey,
        port: u16,
        port_name: Option<String>,
        endpoints: Vec<Arc<Endpoint>>,
    ) -> Backend {
        Backend {
            service,
            port,
            port_name,
            endpoints,
            wake: None,
        }
    }

    /// An endpoint not in `tried`: the less loaded of two picked at random.
    pub fn pick(&self, tried: &[SocketAddr]) -> Option<Arc<Endpoint>> {
        if tried.is_empty() {
            return two_choices(&self.endpoints).cloned();
        }
        let left: Vec<Arc<Endpoint>> = self
            .endpoints
            .iter()
            .filter(|e| !tried.contains(&e.addr))
            .cloned()
            .collect();
        two_choices(&left).cloned()
    }
}

fn two_choices(eps: &[Arc<Endpoint>]) -> Option<&Arc<Endpoint>> {
    match eps.len() {
        0 => None,
        1 => eps.first(),
        n => {
            let i = fastrand::usize(..n);
            let mut j = fastrand::usize(..n - 1);
            if j >= i {
                j += 1;
            }
            let (a, b) = (eps.get(i)?, eps.get(j)?);
            Some(if b.outstanding() < a.outstanding() {
                b
            } else {
                a
            })
        }
    }
}

/// A backend chosen by weight (weight 0 is never chosen); `None` when all weigh 0.
pub fn weighted(backends: &[(u32, Target)], total: u32) -> Option<&Target> {
    if backends.len() == 1 {
        return backends.first().filter(|(w, _)| *w > 0).map(|(_, t)| t);
    }
    if total == 0 {
        return None;
    }
    let mut x = fastrand::u32(..total);
    for (w, t) in backends {
        if x < *w {
            return Some(t);
        }
        x -= w;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(port: u16) -> Arc<Endpoint> {
        Arc::new(Endpoint::new(([127, 0, 0, 1], port).into(), Via::Direct))
    }

    fn backend(eps: Vec<Arc<Endpoint>>) -> Backend {
        let key = ServiceKey {
            namespace: "default".into(),
            name: "web".into(),
        };
        Backend::new(key, 80, None, eps)
    }

    #[test]
    fn the_less_loaded_of_two_wins() {
        let (a, b) = (ep(1), ep(2));
        let busy: Vec<Outstanding> = (0..5).map(|_| a.begin()).collect();
        let be = backend(vec![a.clone(), b.clone()]);
        for _ in 0..100 {
            let picked = be.pick(&[]).expect("an endpoint");
            assert_eq!(picked.addr, b.addr, "two endpoints: both are compared");
        }
        drop(busy);
        assert_eq!(a.outstanding(), 0);
        assert_eq!(be.pick(&[b.addr]).expect("one left").addr, a.addr);
        assert!(be.pick(&[a.addr, b.addr]).is_none());
        assert!(backend(Vec::new()).pick(&[]).is_none());
    }

    #[test]
    fn load_spreads_over_many_endpoints() {
        let eps: Vec<_> = (1..=10).map(ep).collect();
        let be = backend(eps.clone());
        // Hold every request: with two choices the busiest endpoint stays within a few
        // requests of the mean (100); one random choice would be ~25 above it.
        let held: Vec<Outstanding> = (0..1000)
            .map(|_| be.pick(&[]).expect("an endpoint").begin())
            .collect();
        let loads: Vec<usize> = eps.iter().map(|e| e.outstanding()).collect();
        assert!(loads.iter().all(|l| *l <= 105 && *l >= 85), "{loads:?}");
        drop(held);
    }

    #[test]
    fn weights_split_traffic() {
        let t = |p| -> Target { Ok(Arc::new(backend(vec![ep(p)]))) };
        let backends = vec![(90, t(1)), (10, t(2)), (0, t(3))];
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            let Some(Ok(b)) = weighted(&backends, 100) else {
                panic!("a backend")
            };
            counts[usize::from(b.endpoints[0].addr.port() - 1)] += 1;
        }
        assert_eq!(counts[2], 0, "weight 0 is never chosen");
        assert!((89_000..91_000).contains(&counts[0]), "{counts:?}");
        assert!(weighted(&[(0, t(1))], 0).is_none());
    }
}
