//! The `api` bench's operations, for Skiff's object API and etcd's v3 API alike, each as a
//! [`Writer`] so [`crate::load`] drives them: apply a new object (etcd: put), get one
//! (linearizable range of one key), list 100 (range over a prefix), and watch fan-out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{
    ApplyRequest, GetRequest, ListRequest, ObjectKey, ReadConsistency, WatchRequest,
};
use tokio::sync::Mutex;
use tonic::transport::Channel;

use crate::Writer;
use crate::etcd::pb::kv_client::KvClient;
use crate::etcd::pb::watch_client::WatchClient;
use crate::etcd::pb::{self, RangeRequest};
use crate::skiff::manifest;

/// Objects that gets read (`get-0` .. `get-999`) and that a list returns (`list-0` ..
/// `list-99`, in their own namespace or prefix).
pub const GET_OBJECTS: usize = 1000;
pub const LIST_OBJECTS: usize = 100;

/// Which operation a client repeats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Apply,
    Get,
    List,
}

/// A ConfigMap named `name` in `namespace`, as JSON (1 KiB).
pub fn manifest_in(name: &str, namespace: &str) -> Vec<u8> {
    let m = String::from_utf8(manifest(name)).unwrap_or_default();
    m.replace(
        "\"namespace\":\"default\"",
        &format!("\"namespace\":\"{namespace}\""),
    )
    .into_bytes()
}

fn pick(name: &str, n: usize) -> usize {
    name.bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
        % n
}

#[derive(Clone)]
pub struct SkiffOp {
    pub op: Op,
    pub api: ObjectServiceClient<Channel>,
}

impl Writer for SkiffOp {
    async fn write(&self, name: String) -> Result<(), tonic::Status> {
        let mut c = self.api.clone();
        match self.op {
            Op::Apply => c
                .apply(ApplyRequest {
                    manifest: manifest(&name),
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            Op::Get => c
                .get(GetRequest {
                    key: Some(ObjectKey {
                        kind: "ConfigMap".into(),
                        namespace: "default".into(),
                        name: format!("get-{}", pick(&name, GET_OBJECTS)),
                    }),
                    consistency: ReadConsistency::Linearizable as i32,
                })
                .await
                .map(|_| ()),
            Op::List => {
                let r = c
                    .list(ListRequest {
                        kind: "ConfigMap".into(),
                        namespace: "list".into(),
                        consistency: ReadConsistency::Linearizable as i32,
                        ..Default::default()
                    })
                    .await?;
                check_count(r.into_inner().items.len())
            }
        }
    }
}

fn check_count(n: usize) -> Result<(), tonic::Status> {
    if n == LIST_OBJECTS {
        Ok(())
    } else {
        Err(tonic::Status::internal(format!(
            "listed {n} objects, expected {LIST_OBJECTS}"
        )))
    }
}

#[derive(Clone)]
pub struct EtcdOp {
    pub op: Op,
    pub kv: KvClient<Channel>,
}

/// The end of etcd's range for every key starting with `prefix`.
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

impl Writer for EtcdOp {
    async fn write(&self, name: String) -> Result<(), tonic::Status> {
        let mut c = self.kv.clone();
        match self.op {
            Op::Apply => c
                .put(pb::PutRequest {
                    key: format!("/skiff-bench/{name}").into_bytes(),
                    value: manifest(&name),
                })
                .await
                .map(|_| ()),
            Op::Get => c
                .range(RangeRequest {
                    key: format!("/get/get-{}", pick(&name, GET_OBJECTS)).into_bytes(),
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            Op::List => {
                let r = c
                    .range(RangeRequest {
                        key: b"/list/".to_vec(),
                        range_end: prefix_end("/list/"),
                        ..Default::default()
                    })
                    .await?;
                check_count(r.into_inner().kvs.len())
            }
        }
    }
}

/// Latencies of watch deliveries: from the write's start to each watcher's receipt.
#[derive(Default)]
pub struct Fanout {
    pub delivered: u64,
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
}

type Sent = Arc<Mutex<std::collections::HashMap<String, Instant>>>;

/// `conns` connections (at least one), spread round-robin over `addrs`.
/// (Skiff's over TLS with the bench's admin certificate; with `etcd`, etcd's, see
/// [`crate::etcd::channel`].)
async fn connections(addrs: &[String], conns: usize, etcd: bool) -> Result<Vec<Channel>> {
    let mut out = Vec::new();
    for i in 0..conns.max(1) {
        let addr = &addrs[i % addrs.len()];
        out.push(if etcd {
            crate::etcd::channel(addr).await?
        } else {
            crate::channel(addr).await?
        });
    }
    Ok(out)
}

/// Opens `watchers` Skiff watch streams (over `conns` connections per address) on
/// namespace `fan`, then creates `events` objects there one after another from one
/// client (named for `round`, so every round's writes are new); returns when every
/// watcher got every event (or 30 s passed).
pub async fn skiff_fanout(
    addrs: &[String],
    watchers: usize,
    conns: usize,
    events: usize,
    round: usize,
) -> Result<Fanout> {
    let channels: Vec<_> = connections(addrs, conns, false)
        .await?
        .into_iter()
        .map(ObjectServiceClient::new)
        .collect();
    let sent: Sent = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Duration>();
    // From now: list, then watch from the list's revision.
    let since = channels[0]
        .clone()
        .list(ListRequest {
            kind: "ConfigMap".into(),
            namespace: "fan".into(),
            ..Default::default()
        })
        .await
        .context("listing before the watches")?
        .into_inner()
        .resource_version;
    let mut tasks = Vec::new();
    for w in 0..watchers {
        let mut c = channels[w % channels.len()].clone();
        let mut stream = c
            .watch(WatchRequest {
                kind: "ConfigMap".into(),
                namespace: "fan".into(),
                since_revision: since,
                ..Default::default()
            })
            .await
            .context("opening a Skiff watch")?
            .into_inner();
        let (sent, tx) = (sent.clone(), tx.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = 0;
            while let Ok(Some(ev)) = stream.message().await {
                let Some(k) = ev.object.and_then(|o| o.key) else {
                    continue;
                };
                if let Some(t) = sent.lock().await.get(&k.name) {
                    let _ = tx.send(t.elapsed());
                }
                seen += 1;
                if seen == events {
                    return;
                }
            }
        }));
    }
    drop(tx);
    let mut writer = channels[0].clone();
    let start = Instant::now();
    for e in 0..events {
        let name = format!("fan-{round}-{e}");
        sent.lock().await.insert(name.clone(), Instant::now());
        writer
            .apply(ApplyRequest {
                manifest: manifest_in(&name, "fan"),
                ..Default::default()
            })
            .await
            .context("a fan-out write")?;
    }
    collect(&mut rx, watchers * events, start).await
}

/// The same fan-out on etcd: `watchers` watch streams on the prefix `/fan/`.
pub async fn etcd_fanout(
    addrs: &[String],
    watchers: usize,
    conns: usize,
    events: usize,
    round: usize,
) -> Result<Fanout> {
    let channels = connections(addrs, conns, true).await?;
    let sent: Sent = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Duration>();
    for w in 0..watchers {
        let mut c = WatchClient::new(channels[w % channels.len()].clone());
        let create = pb::WatchRequest {
            request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
                pb::WatchCreateRequest {
                    key: b"/fan/".to_vec(),
                    range_end: prefix_end("/fan/"),
                    start_revision: 0,
                },
            )),
        };
        // The request stream stays open (etcd cancels a watch whose stream closes).
        let (req_tx, req_rx) = tokio::sync::mpsc::channel(1);
        req_tx.send(create).await.ok();
        let mut stream = c
            .watch(tokio_stream::wrappers::ReceiverStream::new(req_rx))
            .await
            .context("opening an etcd watch")?
            .into_inner();
        // Wait for `created`, so no event is missed.
        let _ = stream.message().await;
        let (sent, tx) = (sent.clone(), tx.clone());
        tokio::spawn(async move {
            let _keep = req_tx;
            let mut seen = 0;
            while let Ok(Some(r)) = stream.message().await {
                for ev in r.events {
                    let Some(kv) = ev.kv else { continue };
                    let key = String::from_utf8_lossy(&kv.key).replace("/fan/", "");
                    if let Some(t) = sent.lock().await.get(&key) {
                        let _ = tx.send(t.elapsed());
                    }
                    seen += 1;
                }
                if seen >= events {
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut kv = KvClient::new(channels[0].clone());
    let start = Instant::now();
    for e in 0..events {
        let name = format!("fan-{round}-{e}");
        sent.lock().await.insert(name.clone(), Instant::now());
        kv.put(pb::PutRequest {
            key: format!("/fan/{name}").into_bytes(),
            value: manifest(&name),
        })
        .await
        .context("a fan-out put")?;
    }
    collect(&mut rx, watchers * events, start).await
}

async fn collect(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Duration>,
    expected: usize,
    start: Instant,
) -> Result<Fanout> {
    let mut f = Fanout::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while f.latencies.len() < expected {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(d)) => f.latencies.push(d),
            _ => break,
        }
    }
    f.delivered = f.latencies.len() as u64;
    f.elapsed = start.elapsed();
    Ok(f)
}
