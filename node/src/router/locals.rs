//! The endpoints on this node that the router calls in-process, by the address their pod
//! serves on: a runtime registers one when a run starts serving (the Wasm runtime, for
//! its HTTP handlers) and it is removed when the run ends. Local endpoints without one
//! (containers) are reached over TCP at their address.
//!
//! A Wasm handler has no socket of its own, so it answers whichever port of its pod's
//! address a Service targets: a call to a port nothing registered goes to the pod's only
//! handler, if it has exactly one (a pod with several serves each on its own port).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use hyper::{Request, Response};

use super::Body;

/// Something that answers HTTP requests in this process.
#[tonic::async_trait]
pub trait LocalEndpoint: Send + Sync {
    /// The answer to `req`, or why there is none (the workload failed).
    async fn call(self: Arc<Self>, req: Request<Body>) -> Result<Response<Body>, String>;
}

/// In-process endpoints by address.
#[derive(Default)]
pub struct Locals {
    /// By address, then by port.
    handlers: RwLock<HashMap<IpAddr, Ports>>,
}

/// One address's handlers, by port.
type Ports = Vec<(u16, Arc<dyn LocalEndpoint>)>;

/// A handler's place in [`Locals`], given back when dropped (the run ended).
pub struct Registration {
    locals: Arc<Locals>,
    addr: SocketAddr,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut h = self
            .locals
            .handlers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(ports) = h.get_mut(&self.addr.ip()) {
            ports.retain(|(p, _)| *p != self.addr.port());
            if ports.is_empty() {
                h.remove(&self.addr.ip());
            }
        }
    }
}

impl Locals {
    /// Serves `addr` with `handler` until the registration is dropped.
    pub fn register(
        self: &Arc<Self>,
        addr: SocketAddr,
        handler: Arc<dyn LocalEndpoint>,
    ) -> Registration {
        let mut h = self.handlers.write().unwrap_or_else(|p| p.into_inner());
        let ports = h.entry(addr.ip()).or_default();
        ports.retain(|(p, _)| *p != addr.port());
        ports.push((addr.port(), handler));
        Registration {
            locals: self.clone(),
            addr,
        }
    }

    /// The handler serving `addr`: the one on its port, else its address's only one.
    pub fn get(&self, addr: &SocketAddr) -> Option<Arc<dyn LocalEndpoint>> {
        let h = self.handlers.read().unwrap_or_else(|p| p.into_inner());
        let ports = h.get(&addr.ip())?;
        match ports.iter().find(|(p, _)| *p == addr.port()) {
            Some((_, handler)) => Some(handler.clone()),
            None if ports.len() == 1 => ports.first().map(|(_, handler)| handler.clone()),
            None => None,
        }
    }

    /// How many handlers are registered.
    pub fn len(&self) -> usize {
        self.handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(Vec::len)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Says(&'static str);

    #[tonic::async_trait]
    impl LocalEndpoint for Says {
        async fn call(self: Arc<Self>, _: Request<Body>) -> Result<Response<Body>, String> {
            Err(self.0.to_owned())
        }
    }

    async fn who(l: &Locals, addr: &str) -> Option<String> {
        let h = l.get(&addr.parse().unwrap())?;
        let req = Request::new(super::super::proxy::empty());
        h.call(req).await.err()
    }

    #[tokio::test]
    async fn a_pods_only_handler_answers_every_port_and_several_answer_their_own() {
        let l = Arc::new(Locals::default());
        let one = l.register("127.0.0.2:8080".parse().unwrap(), Arc::new(Says("one")));
        assert_eq!(who(&l, "127.0.0.2:8080").await.as_deref(), Some("one"));
        assert_eq!(who(&l, "127.0.0.2:80").await.as_deref(), Some("one"));
        assert_eq!(who(&l, "127.0.0.3:80").await, None);
        let two = l.register("127.0.0.2:9090".parse().unwrap(), Arc::new(Says("two")));
        assert_eq!(who(&l, "127.0.0.2:9090").await.as_deref(), Some("two"));
        assert_eq!(who(&l, "127.0.0.2:8080").await.as_deref(), Some("one"));
        assert_eq!(
            who(&l, "127.0.0.2:80").await,
            None,
            "two handlers: no guessing"
        );
        assert_eq!(l.len(), 2);
        drop(two);
        assert_eq!(who(&l, "127.0.0.2:80").await.as_deref(), Some("one"));
        drop(one);
        assert!(l.is_empty());
    }
}
