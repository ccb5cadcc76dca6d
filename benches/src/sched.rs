//! The `scheduler` bench's cluster side: simulated nodes that register, heartbeat and
//! acknowledge their pods (marking them Running), all in this process, and a watch that
//! records when each pod was first seen and when it was first seen bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{
    ApplyRequest, ObjectKey, UpdateStatusRequest, WatchEventType, WatchRequest,
};
use tokio::sync::mpsc;
use tonic::transport::Channel;

/// The status a simulated node reports: room for 110 pods, 1,000 Wasm instances.
fn node_status() -> serde_json::Value {
    serde_json::json!({
        "capacity": {"cpu": "32", "memory": "64Gi", "pods": "110", "wasm-instances": "1000"},
        "allocatable": {"cpu": "32", "memory": "64Gi", "pods": "110", "wasm-instances": "1000"},
        "runtimes": ["wasm", "oci"],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "AgentReady",
            "lastHeartbeatTime": skiff_proto::model::values::Time::now().to_string(),
        }],
    })
}

fn node_key(name: &str) -> ObjectKey {
    ObjectKey {
        kind: "Node".into(),
        namespace: String::new(),
        name: name.into(),
    }
}

/// Registers `n` nodes `sim-0`.. (labelled with one of 10 zones), `clients` at a time
/// over `channels`.
pub async fn register(channels: &[Channel], n: usize, clients: usize) -> Result<Vec<String>> {
    let names: Vec<String> = (0..n).map(|i| format!("sim-{i}")).collect();
    let queue = Arc::new(Mutex::new(names.clone()));
    let mut tasks = Vec::new();
    for i in 0..clients.max(1) {
        let mut c = ObjectServiceClient::new(channels[i % channels.len()].clone());
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let Some(name) = next else {
                    return Ok::<(), anyhow::Error>(());
                };
                let zone = name.trim_start_matches("sim-").parse::<usize>().unwrap_or(0) % 10;
                let manifest = serde_json::json!({
                    "apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": format!("z{zone}")}},
                })
                .to_string();
                c.apply(ApplyRequest {
                    manifest: manifest.into_bytes(),
                    ..Default::default()
                })
                .await
                .with_context(|| format!("registering {name}"))?;
                c.update_status(UpdateStatusRequest {
                    key: Some(node_key(&name)),
                    expected_resource_version: 0,
                    status_json: node_status().to_string().into_bytes(),
                })
                .await
                .with_context(|| format!("reporting {name}'s status"))?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(names)
}

/// Heartbeats every node once per `every`, spread evenly over the period, until dropped.
pub fn heartbeat(
    channel: Channel,
    names: Vec<String>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut c = ObjectServiceClient::new(channel);
        let gap = every / names.len().max(1) as u32;
        loop {
            for name in &names {
                let _ = c
                    .update_status(UpdateStatusRequest {
                        key: Some(node_key(name)),
                        expected_resource_version: 0,
                        status_json: node_status().to_string().into_bytes(),
                    })
                    .await;
                tokio::time::sleep(gap).await;
            }
        }
    })
}

/// When a pod was first seen, and first seen bound.
pub type Times = (Instant, Option<Instant>);

/// [`Times`] of each pod, by name.
#[derive(Clone, Default)]
pub struct Seen {
    inner: Arc<Mutex<HashMap<String, Times>>>,
}

impl Seen {
    /// Watches every pod from now on; pods seen bound are sent to `bound` (the simulated
    /// agents acknowledge them).
    pub async fn watch(channel: Channel, bound: mpsc::UnboundedSender<String>) -> Result<Seen> {
        let seen = Seen::default();
        let mut stream = ObjectServiceClient::new(channel)
            .watch(WatchRequest {
                kind: "Pod".into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        let s = seen.clone();
        tokio::spawn(async move {
            while let Ok(Some(ev)) = stream.message().await {
                let now = Instant::now();
                if ev.r#type == WatchEventType::Deleted as i32 {
                    continue;
                }
                let Some(o) = ev.object else { continue };
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(&o.json) else {
                    continue;
                };
                let name = v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let is_bound = v["spec"]["nodeName"].is_string();
                let mut m = s.inner.lock().unwrap_or_else(|p| p.into_inner());
                let e = m.entry(name.clone()).or_insert((now, None));
                if is_bound && e.1.is_none() {
                    e.1 = Some(now);
                    let _ = bound.send(name);
                }
            }
        });
        Ok(seen)
    }

    /// (first seen, first seen bound) of every pod whose name starts with `prefix`.
    pub fn of(&self, prefix: &str) -> Vec<Times> {
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        m.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| *v)
            .collect()
    }
}

/// What the simulated agents' status writes came to.
#[derive(Default)]
pub struct Acks {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub first_error: Mutex<Option<String>>,
}

impl Acks {
    /// Writes answered, either way.
    pub fn landed(&self) -> u64 {
        self.ok.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }
}

/// The simulated agents: each bound pod is marked Running, `clients` at a time; every
/// write's outcome is counted.
pub fn acknowledge(
    channels: Vec<Channel>,
    mut bound: mpsc::UnboundedReceiver<String>,
    clients: usize,
) -> (tokio::task::JoinHandle<()>, Arc<Acks>) {
    let acks = Arc::new(Acks::default());
    let counted = acks.clone();
    let task = tokio::spawn(async move {
        let (tx, rx) = async_channel(clients * 4);
        for i in 0..clients.max(1) {
            let mut c = ObjectServiceClient::new(channels[i % channels.len()].clone());
            let (rx, acks) = (rx.clone(), counted.clone());
            tokio::spawn(async move {
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some(name) = next else { return };
                    let status = serde_json::json!({
                        "phase": "Running",
                        "conditions": [{"type": "Ready", "status": "True"}],
                        "containerStatuses": [{"name": "main", "ready": true, "state": {"running": {}}}],
                    });
                    let written = c
                        .update_status(UpdateStatusRequest {
                            key: Some(ObjectKey {
                                kind: "Pod".into(),
                                namespace: "default".into(),
                                name,
                            }),
                            expected_resource_version: 0,
                            status_json: status.to_string().into_bytes(),
                        })
                        .await;
                    match written {
                        Ok(_) => acks.ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            let mut first =
                                acks.first_error.lock().unwrap_or_else(|p| p.into_inner());
                            first.get_or_insert_with(|| e.to_string());
                            acks.failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            });
        }
        while let Some(name) = bound.recv().await {
            if tx.send(name).await.is_err() {
                return;
            }
        }
    });
    (task, acks)
}

type Shared = Arc<tokio::sync::Mutex<mpsc::Receiver<String>>>;

fn async_channel(n: usize) -> (mpsc::Sender<String>, Shared) {
    let (tx, rx) = mpsc::channel(n.max(1));
    (tx, Arc::new(tokio::sync::Mutex::new(rx)))
}
