//! The node's side of the pod network's gateway: once a container pod has an address, the
//! node answers its pods there: DNS for Service names on port 53, and the router on port
//! 80 and on every other port a Service offers (kept in step with the routing table), so
//! a container calls `http://backend.default.svc:8080/` as a Wasm guest does.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::router::{self, Router};

/// The gateways served, each with its listeners' tasks (stopped when dropped).
#[derive(Default)]
pub struct Gateways {
    served: Mutex<HashMap<IpAddr, Tasks>>,
}

/// Tasks stopped when dropped.
#[derive(Default)]
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
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
        let mut tasks = Tasks::default();
        match tokio::net::UdpSocket::bind(SocketAddr::new(gateway, 53)).await {
            Ok(socket) => {
                tasks
                    .0
                    .push(tokio::spawn(router::dns::serve(router.clone(), socket, v4)))
            }
            Err(e) => tracing::warn!(%gateway, error = %e, "pods' DNS: cannot listen on port 53"),
        }
        tasks
            .0
            .push(tokio::spawn(serve_ports(router.clone(), gateway)));
        tracing::info!(%gateway, "serving DNS and in-cluster calls to the pod network");
        served.insert(gateway, tasks);
    }
}

/// The router on `gateway`, port 80 and every port a Service offers, listeners opened and
/// closed as the routing table changes.
async fn serve_ports(router: Arc<Router>, gateway: IpAddr) {
    let mut tables = router.tables();
    let mut listening: HashMap<u16, Tasks> = HashMap::new();
    let mut refused: HashSet<u16> = HashSet::new();
    loop {
        let mut wanted = router.table().service_ports();
        wanted.insert(80);
        listening.retain(|port, _| wanted.contains(port));
        for port in wanted {
            if listening.contains_key(&port) {
                continue;
            }
            match tokio::net::TcpListener::bind(SocketAddr::new(gateway, port)).await {
                Ok(l) => {
                    let task = tokio::spawn(router::serve_pods(router.clone(), l));
                    listening.insert(port, Tasks(vec![task]));
                    refused.remove(&port);
                }
                // Said once per port; tried again when the table next changes.
                Err(e) if refused.insert(port) => {
                    tracing::warn!(%gateway, port, error = %e, "pods' router: cannot listen")
                }
                Err(_) => {}
            }
        }
        if tables.changed().await.is_err() {
            return;
        }
    }
}
