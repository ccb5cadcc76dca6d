//! The endpoints on this node that the router calls in-process, by the address their pod
//! serves on: a runtime registers one when a run starts serving (the Wasm runtime, for
//! its HTTP handlers) and it is removed when the run ends. Local endpoints without one
//! (containers) are reached over TCP at their address.

use std::collections::HashMap;
use std::net::SocketAddr;
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
    handlers: RwLock<HashMap<SocketAddr, Arc<dyn LocalEndpoint>>>,
}

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
        h.remove(&self.addr);
    }
}

impl Locals {
    /// Serves `addr` with `handler` until the registration is dropped.
    pub fn register(
        self: &Arc<Self>,
        addr: SocketAddr,
        handler: Arc<dyn LocalEndpoint>,
    ) -> Registration {
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(addr, handler);
        Registration {
            locals: self.clone(),
            addr,
        }
    }

    pub fn get(&self, addr: &SocketAddr) -> Option<Arc<dyn LocalEndpoint>> {
        self.handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(addr)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
