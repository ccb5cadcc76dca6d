//! The node agent, Skiff's kubelet: it registers its Node, heartbeats, watches the pods
//! bound to it and runs them.
//!
//! # Layout
//! - `control`: [`ControlPlane`], the connection to whichever member answers.
//! - `given`: what a container starts with: env and volumes from ConfigMaps, Secrets and
//!   the pod's fields.
//! - `network`: each pod's own address.
//! - `probe`: readiness probes (`httpGet`, `tcpSocket`).
//! - `register`: the Node object and its heartbeat.
//! - `serve`: the agent's API for the control plane (container logs).
//! - `worker`: one pod: artifacts, init containers, containers, restarts, status.
//! - `status`: a pod's status, derived from its containers' states as the kubelet does.
//! - `backoff`: restart back-off (`CrashLoopBackOff`).
//! - `activate`: scale from zero on this node (an instance at once, the Deployment
//!   scaled up).
//!
//! On start the agent lists its pods: finished ones (Succeeded, Failed) stay finished, and
//! the others start again (Wasm instances live in the agent's process, so they ended with
//! it); their compiled artifacts come from the compile cache on disk.

mod activate;
mod backoff;
mod control;
mod given;
mod network;
mod probe;
mod register;
mod serve;
mod status;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use skiff_proto::Object;
use skiff_proto::grpc::api::{ObjectKey, WatchEventType};
use skiff_proto::grpc::node::node_service_server::NodeServiceServer;
use skiff_proto::model::pod::{Pod, PodPhase, PodStatus};
use skiff_proto::model::values::Time;
use tokio::task::JoinHandle;

pub use backoff::BackoffPolicy;
pub use control::{ControlPlane, object as decode};

use crate::Error;
use crate::logs::LogPolicy;
use crate::router::{Locals, Router, RouterLimits};
use crate::runtime::{WasmRuntime, WorkloadRuntime};
use crate::wasm::{CompileCache, Host, HostConfig};
use network::PodNetwork;

/// What this node offers.
#[derive(Debug, Clone)]
pub struct Capacity {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub pods: u32,
    /// Wasm instances alive at once (the pooling allocator's size).
    pub instances: u32,
}

/// How an agent runs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub name: String,
    /// Control-plane members (any of them will do).
    pub control: Vec<String>,
    pub data_dir: PathBuf,
    pub labels: BTreeMap<String, String>,
    pub capacity: Capacity,
    /// The address other nodes and the control plane reach this one at.
    pub address: String,
    /// Where the agent's own API listens (port 0: any free port; the Node's status says
    /// which).
    pub listen: SocketAddr,
    pub heartbeat: Duration,
    pub backoff: BackoffPolicy,
    /// How big container logs grow before rotation.
    pub logs: LogPolicy,
    /// How often a pod's usage is sampled (and reported when it changed).
    pub usage_interval: Duration,
    /// Where the router's ingress listener listens (port 0: any free port; the Node's
    /// status says which).
    pub ingress: SocketAddr,
    pub router: RouterLimits,
}

/// What every pod worker shares.
pub struct Shared {
    cp: Arc<ControlPlane>,
    runtime: Arc<dyn WorkloadRuntime>,
    network: Arc<PodNetwork>,
    data_dir: PathBuf,
    backoff: BackoffPolicy,
    logs: LogPolicy,
    /// The node's address (`status.hostIP` of its pods).
    host_ip: String,
    /// Routes the pods' in-cluster calls.
    router: Arc<Router>,
    usage_interval: Duration,
}

impl Shared {
    /// The pod's folder: its logs and emptyDir volumes.
    fn pod_dir(&self, pod: &Pod) -> PathBuf {
        let m = &pod.metadata;
        let d = self.data_dir.join("pods").join(format!(
            "{}_{}_{}",
            m.namespace,
            m.name,
            m.uid.as_deref().unwrap_or("-")
        ));
        if let Err(e) = std::fs::create_dir_all(&d) {
            tracing::warn!(dir = %d.display(), error = %e, "creating a pod folder");
        }
        d
    }

    async fn report(&self, pod: &Pod, status: &PodStatus) -> Result<(), Error> {
        let json = serde_json::to_vec(status).map_err(|e| Error::ControlPlane {
            reason: format!("encoding a pod status: {e}"),
        })?;
        let key = ObjectKey {
            kind: "Pod".into(),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
        };
        self.cp.update_status(key, json).await
    }
}

/// Runs the agent until `shutdown` completes.
pub async fn run(
    config: AgentConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    let host = Host::new(&HostConfig {
        instances: config.capacity.instances.max(1),
        ..HostConfig::default()
    })?;
    let cache = CompileCache::open(&config.data_dir.join("compiled"), host.engine())?;
    let mut config = config;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::Io {
            path: PathBuf::from(config.listen.to_string()),
            what: "listening for the agent's API on".into(),
            source: e,
        })?;
    if let Ok(a) = listener.local_addr() {
        config.listen = a;
    }
    let api = tonic::transport::Server::builder()
        .add_service(NodeServiceServer::new(serve::NodeApi {
            data_dir: config.data_dir.clone(),
            logs: config.logs,
        }))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    let api = tokio::spawn(api);
    let _stop_api = AbortOnDrop(api);
    let ingress = tokio::net::TcpListener::bind(config.ingress)
        .await
        .map_err(|e| Error::Io {
            path: PathBuf::from(config.ingress.to_string()),
            what: "listening for ingress on".into(),
            source: e,
        })?;
    if let Ok(a) = ingress.local_addr() {
        config.ingress = a;
    }
    let cp = Arc::new(ControlPlane::new(config.control.clone()));
    let locals = Arc::new(Locals::default());
    let router = Router::new(config.name.clone(), locals.clone(), config.router.clone());
    let _serve = AbortOnDrop(tokio::spawn(crate::router::serve(router.clone(), ingress)));
    let _watch = AbortOnDrop(tokio::spawn(crate::router::watch(
        router.clone(),
        cp.clone(),
    )));
    tracing::info!(node = %config.name, ingress = %config.ingress, "router listening");
    let runtime = Arc::new(WasmRuntime::new(host, cache, cp.clone(), locals));
    router.set_activator(Arc::new(activate::NodeActivator {
        runtime: runtime.clone(),
        cp: cp.clone(),
        data_dir: config.data_dir.clone(),
        logs: config.logs,
    }));
    let since = Time::now();
    register::register(&cp, &config, since, runtime.images()).await?;
    tracing::info!(node = %config.name, "node registered");
    let shared = Arc::new(Shared {
        cp,
        runtime,
        network: Arc::default(),
        data_dir: config.data_dir.clone(),
        backoff: config.backoff,
        logs: config.logs,
        host_ip: config.address.clone(),
        router,
        usage_interval: config.usage_interval,
    });
    let beat = {
        let (shared, config) = (shared.clone(), config.clone());
        async move {
            let mut tick = tokio::time::interval(config.heartbeat);
            loop {
                tick.tick().await;
                let images = shared.runtime.images();
                if let Err(e) = register::heartbeat(&shared.cp, &config, since, images).await {
                    tracing::warn!(error = %e, "heartbeat");
                }
            }
        }
    };
    tokio::select! {
        () = shutdown => Ok(()),
        () = beat => Ok(()),
        r = follow(shared.clone(), &config.name) => r,
    }
}

/// Keeps a worker running for every pod bound to `node` that has not finished.
async fn follow(shared: Arc<Shared>, node: &str) -> Result<(), Error> {
    let mut workers: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        let (pods, revision) = shared.cp.pods(node).await?;
        let listed: Vec<String> = pods.iter().filter_map(uid).collect();
        workers.retain(|k, w| {
            let keep = listed.contains(k);
            if !keep {
                w.abort();
            }
            keep
        });
        for p in pods {
            start(&shared, &mut workers, p);
        }
        let mut stream = shared.cp.watch_pods(node, revision).await?;
        loop {
            let ev = match stream.message().await {
                Ok(Some(ev)) => ev,
                // The stream ended or broke: list again.
                Ok(None) | Err(_) => break,
            };
            let Some(env) = ev.object.as_ref() else {
                continue;
            };
            let o = control::object(env)?;
            if ev.r#type == WatchEventType::Deleted as i32 {
                if let Some(w) = uid(&o).and_then(|k| workers.remove(&k)) {
                    w.abort();
                }
            } else {
                start(&shared, &mut workers, o);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Aborts a task when dropped, so a task the agent started ends with the agent.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn uid(o: &Object) -> Option<String> {
    o.metadata().uid.clone()
}

/// Starts a worker for `o` unless it has one, is being deleted, is not a Wasm pod, or has
/// finished.
fn start(shared: &Arc<Shared>, workers: &mut HashMap<String, JoinHandle<()>>, o: Object) {
    let Object::Pod(pod) = o else { return };
    let Some(k) = pod.metadata.uid.clone() else {
        return;
    };
    if pod.metadata.deletion_timestamp.is_some() {
        if let Some(w) = workers.remove(&k) {
            w.abort();
        }
        return;
    }
    let finished = pod
        .status
        .as_ref()
        .is_some_and(|s| matches!(s.phase, PodPhase::Succeeded | PodPhase::Failed));
    if workers.contains_key(&k) || finished || !pod.spec.is_wasm() {
        return;
    }
    tracing::info!(pod = %pod.metadata.name, namespace = %pod.metadata.namespace, "starting pod");
    workers.insert(k, tokio::spawn(worker::run_pod(shared.clone(), pod)));
}
