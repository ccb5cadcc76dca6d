//! The node's side of the pod network's gateway: once a container pod has an address, the
//! node answers its pods there: DNS for Service names on port 53, and the router on port 80,
//! so a container calls `http://backend.default.svc/` as a Wasm guest does.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::router::{self, Router};

/// The gateways served, each with its listeners' tasks (stopped when dropped).
#[derive(Default)]
pub struct Gateways {
    served: Mutex<HashMap<IpAddr, Vec<JoinHandle<()>>>>,
}

impl Drop for Gateways {
    fn drop(&mut self) {
        for tasks in self.served.get_mut().values() {
            for t in tasks {
                t.abort();
            }
        }
    }
}

impl Gateways {
    /// Serves DNS and the router on `gateway`, unless already.
    pub async fn ensure(&self, gateway: IpAddr, router: &Arc<Router>) {
        let mut served = self.served.lock().await;
        if served.contains_key(&gateway) {
            return;
        }
        let IpAddr::V4(v4) = gateway else {
            tracing::warn!(%gateway, "pod networks are IPv4 only; no DNS for this gateway");
            return;
        };
        let mut tasks = Vec::new();
        match tokio::net::UdpSocket::bind(SocketAddr::new(gateway, 53)).await {
            Ok(socket) => tasks.push(tokio::spawn(router::dns::serve(router.clone(), socket, v4))),
            Err(e) => tracing::warn!(%gateway, error = %e, "pods' DNS: cannot listen on port 53"),
        }
        match tokio::net::TcpListener::bind(SocketAddr::new(gateway, 80)).await {
            Ok(l) => tasks.push(tokio::spawn(router::serve_pods(router.clone(), l))),
            Err(e) => {
                tracing::warn!(%gateway, error = %e, "pods' router: cannot listen on port 80")
            }
        }
        tracing::info!(%gateway, "serving DNS and in-cluster calls to the pod network");
        served.insert(gateway, tasks);
    }
}
