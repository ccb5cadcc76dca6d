//! The container runtime's upkeep, on the heartbeat: the pod network comes up once the
//! control plane has given the Node its `spec.podCIDR`, and images no container has used
//! for a while are collected.

use std::time::Duration;

use skiff_proto::{Kind, Object};
use tokio::time::Instant;

use crate::cluster::ControlPlane;
use crate::runtime::ContainerRuntime;

/// How often unused images are looked for, and how long one stays unused before it goes.
const GC_EVERY: Duration = Duration::from_secs(300);
const UNUSED_FOR: Duration = Duration::from_secs(3600);

pub async fn network_and_gc(
    rt: &ContainerRuntime,
    cp: &ControlPlane,
    node: &str,
    last_gc: &mut Instant,
) {
    if !rt.has_network() {
        match cp.get(Kind::Node, "", node).await {
            Ok(Some(Object::Node(n))) => {
                if let Some(cidr) = &n.spec.pod_cidr
                    && let Err(e) = rt.set_pod_cidr(cidr)
                {
                    tracing::warn!(pod_cidr = %cidr, error = %e, "the node's pod CIDR");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "reading the node for its pod CIDR"),
        }
    }
    rt.expire_ready();
    if last_gc.elapsed() >= GC_EVERY {
        *last_gc = Instant::now();
        let store = rt.image_store();
        let _ = tokio::task::spawn_blocking(move || store.collect_garbage(UNUSED_FOR)).await;
    }
}
