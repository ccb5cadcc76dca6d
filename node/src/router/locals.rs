//! The Wasm HTTP handlers running on this node, by the address their pod serves on: the
//! router calls them in-process. The Wasm runtime adds a handler when a pod's HTTP
//! container starts and removes it when the run ends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use crate::wasm::Handler;

/// Handlers by address.
#[derive(Default)]
pub struct Locals {
    handlers: RwLock<HashMap<SocketAddr, Arc<Handler>>>,
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
    pub fn register(self: &Arc<Self>, addr: SocketAddr, handler: Arc<Handler>) -> Registration {
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(addr, handler);
        Registration {
            locals: self.clone(),
            addr,
        }
    }

    pub fn get(&self, addr: &SocketAddr) -> Option<Arc<Handler>> {
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
