//! The `wasm` bench's cluster side: one `skiff control` member and one `skiff node` agent
//! as child processes, Wasm artifacts uploaded to the store, pods created through the API
//! (bound to the node at creation, as the scheduler would bind them), and a watch that
//! records when each pod is seen Running.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use skiff_proto::grpc::api::artifact_service_client::ArtifactServiceClient;
use skiff_proto::grpc::api::object_service_client::ObjectServiceClient;
use skiff_proto::grpc::api::{CreateRequest, UploadArtifactRequest, WatchRequest};
use tonic::transport::Channel;

use crate::cluster::{Cluster, Proc};

/// The node the bench's pods are bound to.
pub const NODE: &str = "bench";

/// A member and an agent.
pub struct NodeCluster {
    pub control: Cluster,
    pub agent: Proc,
}

impl NodeCluster {
    /// Starts one member, then an agent with room for `pods` pods and `instances` live
    /// instances, and waits until the agent's Node is registered.
    pub async fn start(
        bin: &Path,
        parent: &Path,
        pods: u32,
        instances: u32,
    ) -> Result<NodeCluster> {
        Self::start_with(bin, parent, 1, pods, instances).await
    }

    /// [`NodeCluster::start`] with `members` control-plane members (the agent talks to
    /// the first).
    pub async fn start_with(
        bin: &Path,
        parent: &Path,
        members: usize,
        pods: u32,
        instances: u32,
    ) -> Result<NodeCluster> {
        Self::start_args(bin, parent, members, pods, instances, &[]).await
    }

    /// [`NodeCluster::start_with`], the agent with `extra` flags.
    pub async fn start_args(
        bin: &Path,
        parent: &Path,
        members: usize,
        pods: u32,
        instances: u32,
        extra: &[&str],
    ) -> Result<NodeCluster> {
        let control = Cluster::skiff_members(bin, parent, members)?;
        Self::with_control(control, pods, instances, extra).await
    }

    /// An agent (with `extra` flags) for members already started.
    pub async fn with_control(
        control: Cluster,
        pods: u32,
        instances: u32,
        extra: &[&str],
    ) -> Result<NodeCluster> {
        let api = control.api[0].clone();
        let data = control.dir().join("node");
        let creds = crate::pki::node(NODE, &control.dir().join("node-credentials"))?;
        let creds = creds.display().to_string();
        let args: Vec<String> = [
            "node",
            "--credentials",
            &creds,
            "--name",
            NODE,
            "--control",
            &api,
            "--listen",
            "127.0.0.1:0",
            "--ingress-addr",
            "127.0.0.1:0",
            "--peer-listen",
            "127.0.0.1:0",
            "--max-pods",
            &pods.to_string(),
            "--max-instances",
            &instances.to_string(),
            "--usage-seconds",
            "60",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .chain(["--data-dir".to_string(), data.display().to_string()])
        .collect();
        let copy = control.dir().join("skiff");
        let mut agent = Proc::new(
            "skiff node".into(),
            &copy,
            args,
            control.dir().join("node.log"),
        );
        agent.start()?;
        let mut c = NodeCluster { control, agent };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            c.control.check_running()?;
            c.agent.check_running()?;
            if let Ok(ch) = crate::channel(&api).await {
                let got = ObjectServiceClient::new(ch)
                    .get(skiff_proto::grpc::api::GetRequest {
                        key: Some(skiff_proto::grpc::api::ObjectKey {
                            kind: "Node".into(),
                            namespace: String::new(),
                            name: NODE.into(),
                        }),
                        consistency: 0,
                    })
                    .await;
                if got.is_ok() {
                    return Ok(c);
                }
            }
            if Instant::now() > deadline {
                bail!("the node never registered:\n{}", c.agent.log_tail(2000));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn api(&self) -> &str {
        &self.control.api[0]
    }

    /// The agent's resident memory (bytes), from /proc/PID/status.
    pub fn agent_rss(&self) -> Option<u64> {
        rss(self.agent.pid()?)
    }
}

/// `VmRSS` of process `pid`, in bytes.
pub fn rss(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Uploads `bytes` to the artifact store; returns `sha256:<hex>`.
pub async fn upload(api: &str, bytes: &[u8]) -> Result<String> {
    let digest = format!("sha256:{}", skiff_node::wasm::sha256_hex(bytes));
    let chunks: Vec<UploadArtifactRequest> = bytes
        .chunks(1 << 20)
        .map(|c| UploadArtifactRequest {
            digest: digest.clone(),
            size: bytes.len() as u64,
            data: c.to_vec(),
        })
        .collect();
    ArtifactServiceClient::new(crate::channel(api).await?)
        .upload(tokio_stream::iter(chunks))
        .await
        .with_context(|| format!("uploading {digest}"))?;
    Ok(digest)
}

/// A component with a custom section named after `i` appended: the same code, another
/// digest (so the node compiles and caches it as a distinct artifact).
pub fn variant(component: &[u8], i: usize) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let name = format!("skiff-bench-variant-{i}");
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section
    leb(body.len(), &mut out);
    out.extend(body);
    out
}

/// A Wasm pod bound to the bench node, as JSON.
pub fn pod(name: &str, image: &str, args: &[&str]) -> Vec<u8> {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"bench": "wasm"}},
        "spec": {
            "nodeName": NODE,
            "runtimeClassName": "wasm",
            "containers": [{
                "name": "main",
                "image": image,
                "args": args,
                "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
            }],
        },
    })
    .to_string()
    .into_bytes()
}

/// When each pod was first seen Running (with its `podIP`, if any), from a watch on every
/// pod that starts before the pods are created.
#[derive(Clone, Default)]
pub struct Running {
    seen: Arc<Mutex<HashMap<String, Seen>>>,
}

/// When a pod was first seen Running, and its `podIP`.
type Seen = (Instant, Option<String>);

impl Running {
    pub async fn watch(api: &str) -> Result<Running> {
        let r = Running::default();
        let mut stream = ObjectServiceClient::new(crate::channel(api).await?)
            .watch(WatchRequest {
                kind: "Pod".into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        let seen = r.seen.clone();
        tokio::spawn(async move {
            while let Ok(Some(ev)) = stream.message().await {
                let Some(o) = ev.object else { continue };
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(&o.json) else {
                    continue;
                };
                let running = v["status"]["containerStatuses"][0]["state"]["running"].is_object();
                if !running {
                    continue;
                }
                let name = v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let ip = v["status"]["podIP"].as_str().map(str::to_owned);
                let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                s.entry(name).or_insert((Instant::now(), ip));
            }
        });
        Ok(r)
    }

    pub fn get(&self, name: &str) -> Option<Seen> {
        let s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        s.get(name).cloned()
    }

    /// When the first pod whose name starts with `prefix` was seen Running.
    pub fn first_with_prefix(&self, prefix: &str) -> Option<Instant> {
        let s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        s.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.0)
            .min()
    }

    pub fn count(&self, names: &[String]) -> usize {
        let s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        names.iter().filter(|n| s.contains_key(*n)).count()
    }

    /// Waits until every pod in `names` runs, or `limit` passes; returns how many run.
    pub async fn wait_all(&self, names: &[String], limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let n = self.count(names);
            if n == names.len() || Instant::now() > deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Creates every manifest with `clients` concurrent callers; returns when all are
/// acknowledged.
pub async fn create_all(api: &str, manifests: Vec<Vec<u8>>, clients: usize) -> Result<()> {
    let queue = Arc::new(Mutex::new(manifests));
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (queue, ch): (_, Channel) = (queue.clone(), crate::channel(api).await?);
        tasks.push(tokio::spawn(async move {
            let mut c = ObjectServiceClient::new(ch);
            loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let Some(manifest) = next else {
                    return Ok::<(), anyhow::Error>(());
                };
                c.create(CreateRequest {
                    manifest,
                    ..Default::default()
                })
                .await
                .context("creating a pod")?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// The runwasi `hello_wasi_http` component and the `sleep` example guest.
pub fn guests() -> Result<(Vec<u8>, Vec<u8>)> {
    let ws = crate::setup::workspace();
    let http = ws.join("../shared/conformance/components/runwasi-hello_wasi_http.wasm");
    let sleep = std::env::var_os("SKIFF_GUESTS_DIR")
        .map_or_else(
            || ws.join("examples/target/wasm32-wasip2/release"),
            PathBuf::from,
        )
        .join("sleep.wasm");
    let read = |p: &Path, hint: &str| {
        std::fs::read(p).with_context(|| format!("reading {} ({hint})", p.display()))
    };
    Ok((
        read(&http, "the conformance material lives in ../shared")?,
        read(&sleep, "build the guests with `cargo xtask guests`")?,
    ))
}
