//! The node agent, Skiff's kubelet: it registers its Node, heartbeats, watches the pods
//! bound to it and runs them.
//!
//! # Layout
//! - `given`: what a container starts with: env and volumes from ConfigMaps, Secrets and
//!   the pod's fields.
//! - `probe`: readiness probes (`httpGet`, `tcpSocket`).
//! - `register`: the Node object and its heartbeat.
//! - `serve`: the agent's API for the control plane (container logs, stats).
//! - `stats`: what the node and its pods use and are asked now (CPU over a window).
//! - `worker`: one pod: its sandbox, init containers, containers, restarts, status, and
//!   stopping it gracefully.
//! - `settings`: a container's limits, security context and grace period, from the spec.
//! - `status`: a pod's status, derived from its containers' states as the kubelet does.
//! - `states`: the waiting and terminated states of a container's run.
//! - `backoff`: restart back-off (`CrashLoopBackOff`).
//! - `events`: a pod's events (`Pulled`, `Started`, `BackOff`, `Unhealthy`, ...).
//! - `filters`: the router's HttpFilter loader (components from the Wasm runtime).
//! - `gateway`: DNS and the router on the pod network's gateway, for container pods.
//! - `containers`: the container runtime's upkeep: the node's pod CIDR, image garbage
//!   collection.
//! - `activate`: scale from zero on this node (an instance at once, the Deployment
//!   scaled up).
//!
//! The agent holds one runtime per `runtimeClassName` it serves ([`Runtimes`]) and registers
//! its Node with the runtimes it has. On start it lists its pods: finished ones (Succeeded,
//! Failed) stay finished, and a worker follows each of the others: it adopts the runs that
//! outlived the last agent (containers) and starts the rest again (Wasm instances live in
//! the agent's process, so they ended with it; their compiled artifacts come from the
//! compile cache on disk). What earlier agents left for pods that are gone is swept.

mod activate;
mod backoff;
mod containers;
mod events;
mod filters;
mod gateway;
mod given;
mod probe;
mod register;
mod serve;
mod settings;
mod states;
mod stats;
mod status;
mod worker;

use std::collections::{BTreeMap, HashMap, HashSet};
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

use crate::Error;
use crate::cluster::{self, ControlPlane, PodApi};
use crate::logs::LogPolicy;
use crate::metrics::NodeMetrics;
use crate::router::{Locals, Router, RouterLimits};
use crate::runtime::{ContainerConfig, ContainerRuntime, Runtimes, WasmRuntime};
use crate::wasm::{CompileCache, Host, HostConfig};

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
    /// The container runtime's settings (`None`: Wasm pods only).
    pub containers: Option<ContainerConfig>,
    /// Where other nodes' routers send requests for this node's pods (TLS, node
    /// certificates only; port 0: any free port, the Node's status says which).
    pub peer_listen: SocketAddr,
    /// The node's certificate (`system:node:NAME`) and the cluster CA: the agent's API
    /// serves members only, and it reaches the control plane with it.
    pub tls: skiff_pki::Tls,
    /// Where the agent's series are registered (served by whoever holds the registry:
    /// `skiff node --metrics-addr`).
    pub metrics: Arc<std::sync::Mutex<prometheus_client::registry::Registry>>,
}

/// What every pod worker shares.
pub struct Shared {
    api: Arc<dyn PodApi>,
    runtimes: Runtimes,
    data_dir: PathBuf,
    backoff: BackoffPolicy,
    logs: LogPolicy,
    /// The node's address (`status.hostIP` of its pods).
    host_ip: String,
    /// Routes the pods' in-cluster calls.
    router: Arc<Router>,
    /// Where container pods' DNS and in-cluster calls are answered.
    gateways: gateway::Gateways,
    usage_interval: Duration,
    metrics: NodeMetrics,
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
        self.api.update_status(key, json).await
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
    let metrics = NodeMetrics::default();
    let locals = Arc::new(Locals::default());
    let router = Router::new(
        config.name.clone(),
        locals.clone(),
        config.router.clone(),
        &config.tls,
    );
    let stats = Arc::new(stats::Stats::new(metrics.pods.clone(), router.clone()));
    let _sampler = AbortOnDrop(tokio::spawn(stats::sample(stats.clone())));
    let listener = bind(&mut config.listen, "listening for the agent's API on").await?;
    // Only the control plane's members call a node's agent (for logs).
    let api = tonic::transport::Server::builder()
        .add_service(tonic::service::interceptor::InterceptedService::new(
            NodeServiceServer::new(serve::NodeApi {
                data_dir: config.data_dir.clone(),
                logs: config.logs,
                stats: stats.clone(),
            }),
            members_only,
        ))
        .serve_with_incoming(skiff_pki::TlsIncoming::new(
            listener,
            config.tls.server_config(),
        ));
    let api = tokio::spawn(api);
    let _stop_api = AbortOnDrop(api);
    let ingress = bind(&mut config.ingress, "listening for ingress on").await?;
    let peers = bind(
        &mut config.peer_listen,
        "listening for other nodes' routers on",
    )
    .await?;
    let cp = Arc::new(ControlPlane::new(
        config.control.clone(),
        skiff_pki::Dialer::new(config.tls.clone()),
    ));
    let _serve = AbortOnDrop(tokio::spawn(crate::router::serve(router.clone(), ingress)));
    let _peers = AbortOnDrop(tokio::spawn(crate::router::serve_peers(
        router.clone(),
        skiff_pki::TlsIncoming::new(peers, config.tls.server_config()),
    )));
    let _watch = AbortOnDrop(tokio::spawn(crate::router::watch(
        router.clone(),
        cp.clone(),
    )));
    tracing::info!(node = %config.name, ingress = %config.ingress, "router listening");
    {
        let mut r = config.metrics.lock().unwrap_or_else(|p| p.into_inner());
        metrics.register(&mut r);
        router.register_metrics(&mut r);
    }
    let wasm =
        Arc::new(WasmRuntime::new(host, cache, cp.clone(), locals).measured(metrics.clone()));
    router.set_activator(Arc::new(activate::NodeActivator {
        runtime: wasm.clone(),
        cp: cp.clone(),
        data_dir: config.data_dir.clone(),
        logs: config.logs,
    }));
    router.set_filter_loader(Arc::new(filters::NodeFilters {
        runtime: wasm.clone(),
    }));
    let mut runtimes = Runtimes::default();
    runtimes.add(skiff_proto::model::pod::WASM_RUNTIME_CLASS, wasm);
    let containers = match &config.containers {
        Some(c) => match ContainerRuntime::new(c.clone()).await {
            Ok(rt) => {
                let rt = Arc::new(rt.measured(metrics.clone()));
                runtimes.add("", rt.clone());
                Some(rt)
            }
            Err(e) => {
                tracing::warn!(error = %e, "this node runs Wasm pods only");
                None
            }
        },
        None => None,
    };
    let since = Time::now();
    register::register(&cp, &config, since, &runtimes).await?;
    tracing::info!(node = %config.name, runtimes = ?runtimes.kinds(), "node registered");
    let shared = Arc::new(Shared {
        api: cp.clone(),
        runtimes,
        data_dir: config.data_dir.clone(),
        backoff: config.backoff,
        logs: config.logs,
        host_ip: config.address.clone(),
        router,
        gateways: gateway::Gateways::default(),
        usage_interval: config.usage_interval,
        metrics: metrics.clone(),
    });
    let beat = {
        let (shared, config, cp) = (shared.clone(), config.clone(), cp.clone());
        async move {
            let mut tick = tokio::time::interval(config.heartbeat);
            let mut last_gc = tokio::time::Instant::now();
            loop {
                tick.tick().await;
                if let Some(rt) = &containers {
                    containers::network_and_gc(rt, &cp, &config.name, &mut last_gc).await;
                }
                if let Err(e) = register::heartbeat(&cp, &config, since, &shared.runtimes).await {
                    tracing::warn!(error = %e, "heartbeat");
                }
            }
        }
    };
    tokio::select! {
        () = shutdown => Ok(()),
        () = beat => Ok(()),
        r = follow(shared.clone(), &cp, &config.name) => r,
    }
}

/// A pod's worker: stopped gracefully through `stop`, aborted when dropped (the agent is
/// going away; runs that can outlive it are left as they are).
struct Worker {
    task: Option<JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<Option<Duration>>,
}

impl Worker {
    /// Stops the pod's runs within `grace` and removes its sandbox, in the background
    /// (the task is let go, not aborted).
    fn stop(mut self, grace: Duration) {
        let _ = self.stop.send(Some(grace));
        drop(self.task.take());
    }
}

/// Keeps a worker running for every pod bound to `node` that has not finished, and stops
/// the worker of every pod that goes away.
async fn follow(shared: Arc<Shared>, cp: &ControlPlane, node: &str) -> Result<(), Error> {
    let mut workers: HashMap<String, (Worker, Duration)> = HashMap::new();
    let mut swept = false;
    loop {
        let (pods, revision) = cp.pods(node).await?;
        let listed: HashSet<String> = pods.iter().filter_map(uid).collect();
        for gone in workers
            .keys()
            .filter(|k| !listed.contains(*k))
            .cloned()
            .collect::<Vec<_>>()
        {
            if let Some((w, grace)) = workers.remove(&gone) {
                w.stop(grace);
            }
        }
        if !swept {
            // Once, with the first list: whatever earlier agents left for pods that are
            // no longer bound here (deleted while no agent watched) goes.
            for r in shared.runtimes.all() {
                r.sweep(&listed).await;
            }
            swept = true;
        }
        for p in pods {
            start(&shared, &mut workers, p);
        }
        let mut stream = cp.watch_pods(node, revision).await?;
        loop {
            let ev = match stream.message().await {
                Ok(Some(ev)) => ev,
                // The stream ended or broke: list again.
                Ok(None) | Err(_) => break,
            };
            let Some(env) = ev.object.as_ref() else {
                continue;
            };
            let o = cluster::object(env)?;
            if ev.r#type == WatchEventType::Deleted as i32 {
                if let Some((w, grace)) = uid(&o).and_then(|k| workers.remove(&k)) {
                    w.stop(grace);
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

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

fn uid(o: &Object) -> Option<String> {
    o.metadata().uid.clone()
}

/// Starts a worker for `o` unless it has one or has finished; stops the worker of a pod
/// being deleted.
fn start(shared: &Arc<Shared>, workers: &mut HashMap<String, (Worker, Duration)>, o: Object) {
    let Object::Pod(pod) = o else { return };
    let Some(k) = pod.metadata.uid.clone() else {
        return;
    };
    if pod.metadata.deletion_timestamp.is_some() {
        if let Some((w, grace)) = workers.remove(&k) {
            w.stop(grace);
        }
        return;
    }
    let finished = pod
        .status
        .as_ref()
        .is_some_and(|s| matches!(s.phase, PodPhase::Succeeded | PodPhase::Failed));
    if workers.contains_key(&k) || finished {
        return;
    }
    tracing::info!(pod = %pod.metadata.name, namespace = %pod.metadata.namespace, "starting pod");
    let grace = settings::grace(&pod.spec);
    let (stop, rx) = tokio::sync::watch::channel(None);
    let task = tokio::spawn(worker::run_pod(shared.clone(), pod, rx));
    workers.insert(
        k,
        (
            Worker {
                task: Some(task),
                stop,
            },
            grace,
        ),
    );
}

/// Listens on `addr` (port 0: a free one, written back into `addr`).
async fn bind(addr: &mut SocketAddr, what: &str) -> Result<tokio::net::TcpListener, Error> {
    let listener = tokio::net::TcpListener::bind(*addr)
        .await
        .map_err(|e| Error::Io {
            path: PathBuf::from(addr.to_string()),
            what: what.into(),
            source: e,
        })?;
    if let Ok(a) = listener.local_addr() {
        *addr = a;
    }
    Ok(listener)
}

/// Lets only control-plane members call the agent's API.
fn members_only(req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    let id = skiff_pki::transport::caller(req.extensions())?;
    if id.member_id().is_none() {
        return Err(skiff_pki::transport::forbidden(
            id,
            "call a node's agent (only control-plane members may)",
        ));
    }
    Ok(req)
}
