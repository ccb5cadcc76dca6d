//! The Wasm runtime: artifacts by digest from an [`ArtifactSource`] or from OCI
//! registries (`pull`), verified and compiled once ([`CompileCache`]); a `wasi:http`
//! handler runs as a server on the pod's address (a fresh instance per request, called
//! in-process by the router), a command or preview 1 module as a process-like run. A
//! pod's sandbox is a loopback address of its own (`network`). Runs live in the agent's
//! process: none outlives it, so there is nothing to adopt.
//!
//! # Modules
//! - `pull`: Wasm OCI artifacts from registries.
//! - `network`: each pod's own loopback address.

mod network;
mod pull;

use std::any::Any;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::{Request, Response};
use skiff_proto::artifact::{ArtifactRef, OciReference, parse_wasm_image};
use skiff_proto::model::node::Runtime;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use wasmtime::component::Component;

use super::{
    ArtifactSource, NotStarted, Outcome, PodRef, Prepared, Pull, Reason, Running, Sandbox,
    StartSpec, WorkloadRuntime,
};
use crate::Error;
use crate::logs::Stream;
use crate::router::{Body, LocalEndpoint, Locals, Registration};
use crate::single_flight::SingleFlight;
use crate::wasm::capability;
use crate::wasm::{
    CompileCache, Handler, Host, HttpPre, HttpSpec, Output, RunSpec, Workload, bind, run, serve,
};
use network::{PodIp, PodNetwork};

/// Requests one HTTP pod serves at once; the rest wait.
const MAX_INSTANCES: usize = 64;
/// Per-request deadline of an HTTP handler whose pod sets none.
const REQUEST_DEADLINE: Duration = Duration::from_secs(60);
/// The port an HTTP handler serves on when its container names none.
const DEFAULT_PORT: u16 = 8080;

/// Wasm workloads in this process's wasmtime.
pub struct WasmRuntime {
    host: Arc<Host>,
    cache: Arc<CompileCache>,
    source: Arc<dyn ArtifactSource>,
    /// Artifacts being fetched and compiled, and references being pulled: a thousand pods
    /// of one new component compile it once.
    compiles: SingleFlight<Workload>,
    pulls: SingleFlight<(String, Workload)>,
    /// Compilations at once (Cranelift already spreads one over every core).
    compiling: Semaphore,
    /// OCI references pulled, and the digest each resolved to.
    resolved: Mutex<HashMap<String, String>>,
    /// HTTP handlers pre-instantiated, by digest.
    http: Mutex<HashMap<String, HttpPre>>,
    /// The HTTP handlers running, which the router calls in-process.
    locals: Arc<Locals>,
    /// The pods' addresses.
    network: Arc<PodNetwork>,
    /// Fetches and compile times.
    metrics: crate::metrics::NodeMetrics,
}

impl WasmRuntime {
    pub fn new(
        host: Host,
        cache: CompileCache,
        source: Arc<dyn ArtifactSource>,
        locals: Arc<Locals>,
    ) -> WasmRuntime {
        WasmRuntime {
            host: Arc::new(host),
            cache: Arc::new(cache),
            source,
            compiles: SingleFlight::default(),
            pulls: SingleFlight::default(),
            compiling: Semaphore::new(2),
            resolved: Mutex::default(),
            http: Mutex::default(),
            locals,
            network: Arc::default(),
            metrics: Default::default(),
        }
    }

    /// Counts fetches and compiles into `m` (the node's series).
    pub fn measured(mut self, m: crate::metrics::NodeMetrics) -> Self {
        self.metrics = m;
        self
    }

    /// The compiled workload for the artifact with sha256 `hex`: from the cache, or
    /// fetched from the store and compiled once however many pods ask at the same time.
    async fn compiled(&self, hex: String) -> Result<Workload, NotStarted> {
        if let Some(w) = self.cache.cached(&hex) {
            return Ok(w);
        }
        self.compiles
            .run(&hex, async {
                let began = std::time::Instant::now();
                let fetched = self.source.fetch(&format!("sha256:{hex}")).await;
                self.metrics
                    .pulled("wasm", fetched.is_ok(), began.elapsed());
                let bytes = fetched.map_err(|e| NotStarted::new("ArtifactNotFound", e))?;
                self.compile(hex.clone(), bytes).await
            })
            .await
    }

    /// The compiled workload for the OCI artifact `r`: pulled once (later pods of the same
    /// reference use what it resolved to, as `imagePullPolicy: IfNotPresent` does).
    async fn pulled(
        &self,
        r: &OciReference,
        credentials: &crate::oci::Credentials,
    ) -> Result<(String, Workload), NotStarted> {
        let key = r.to_string();
        let known = self
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some(hex) = known
            && let Some(w) = self.cache.cached(&hex)
        {
            return Ok((hex, w));
        }
        self.pulls
            .run(&key, async {
                let began = std::time::Instant::now();
                let pulled = pull::pull(r, credentials).await;
                self.metrics.pulled("wasm", pulled.is_ok(), began.elapsed());
                let (hex, bytes) = pulled?;
                let w = self.compile(hex.clone(), bytes).await?;
                self.resolved
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.clone(), hex.clone());
                Ok((hex, w))
            })
            .await
    }

    /// An HTTP handler's pre-instantiation, made once per component and shared by its
    /// pods.
    fn http_pre(&self, hex: String, component: &Component) -> Result<HttpPre, NotStarted> {
        let mut pres = self.http.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = pres.get(&hex) {
            return Ok(p.clone());
        }
        let p = HttpPre::new(&self.host, component)
            .map_err(|e| NotStarted::new("InvalidComponent", e.to_string()))?;
        pres.insert(hex, p.clone());
        Ok(p)
    }

    /// The pre-instantiated handler for `image`, at once and without a pod: only when
    /// the artifact is compiled on this node and is an HTTP handler (scale from zero).
    pub fn http_pre_now(&self, image: &str) -> Option<HttpPre> {
        let hex = match parse_wasm_image(image) {
            Ok(ArtifactRef::Digest(hex)) => hex,
            Ok(ArtifactRef::Oci(r)) => self
                .resolved
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&r.to_string())
                .cloned()?,
            _ => return None,
        };
        let Workload::HttpHandler(component) = self.cache.cached(&hex)? else {
            return None;
        };
        self.http_pre(hex, &component).ok()
    }

    /// A handler over `pre` with `spec`.
    pub fn handler(&self, pre: &HttpPre, spec: HttpSpec) -> Handler {
        Handler::new(&self.host, pre, spec)
    }

    /// The prepared workload.
    fn prepared(&self, hex: String, workload: Workload) -> Result<Arc<dyn Prepared>, NotStarted> {
        let http = match &workload {
            Workload::HttpHandler(component) => Some(self.http_pre(hex, component)?),
            _ => None,
        };
        Ok(Arc::new(PreparedWasm {
            host: self.host.clone(),
            workload,
            http,
            locals: self.locals.clone(),
        }))
    }

    /// Verifies `bytes` against `hex` and compiles them (into the cache).
    async fn compile(&self, hex: String, bytes: Vec<u8>) -> Result<Workload, NotStarted> {
        let _turn = self
            .compiling
            .acquire()
            .await
            .map_err(|e| NotStarted::new("InvalidComponent", format!("compiling: {e}")))?;
        let cache = self.cache.clone();
        let began = std::time::Instant::now();
        match tokio::task::spawn_blocking(move || cache.load(&hex, || Ok(bytes))).await {
            Ok(Ok(w)) => {
                self.metrics.compiled(began.elapsed());
                Ok(w)
            }
            Ok(Err(e @ Error::DigestMismatch { .. })) => {
                Err(NotStarted::new("ArtifactNotFound", e.to_string()))
            }
            Ok(Err(e)) => Err(NotStarted::new("InvalidComponent", e.to_string())),
            Err(e) => Err(NotStarted::new(
                "InvalidComponent",
                format!("compiling: {e}"),
            )),
        }
    }
}

#[tonic::async_trait]
impl WorkloadRuntime for WasmRuntime {
    fn kind(&self) -> Runtime {
        Runtime::Wasm
    }

    async fn sandbox(&self, pod: &PodRef) -> Result<Arc<dyn Sandbox>, NotStarted> {
        let ip = self.network.allocate(&pod.uid);
        Ok(Arc::new(WasmSandbox {
            addr: ip.ip.into(),
            ip: Mutex::new(Some(ip)),
        }))
    }

    fn images(&self) -> Vec<skiff_proto::model::node::ContainerImage> {
        let resolved = self
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut out: Vec<_> = self
            .cache
            .compiled()
            .into_iter()
            .map(|(hex, size)| {
                let mut names = vec![format!("sha256:{hex}")];
                names.extend(
                    resolved
                        .iter()
                        .filter(|(_, d)| **d == hex)
                        .map(|(r, _)| r.clone()),
                );
                names.sort();
                skiff_proto::model::node::ContainerImage {
                    names,
                    size_bytes: Some(size),
                }
            })
            .collect();
        out.sort_by(|a, b| a.names.cmp(&b.names));
        out
    }

    async fn prepare(&self, image: &str, pull: &Pull) -> Result<Arc<dyn Prepared>, NotStarted> {
        let (hex, workload) = self.workload(image, pull).await?;
        self.prepared(hex, workload)
    }
}

impl WasmRuntime {
    /// The compiled artifact `image` names (a digest or an OCI reference), and its digest.
    pub async fn workload(
        &self,
        image: &str,
        pull: &Pull,
    ) -> Result<(String, Workload), NotStarted> {
        let hex = match parse_wasm_image(image) {
            Ok(ArtifactRef::Digest(hex)) => hex,
            Ok(ArtifactRef::Oci(r)) => return self.pulled(&r, &pull.credentials).await,
            Ok(ArtifactRef::Path(p)) => {
                return Err(NotStarted::new(
                    "ArtifactNotFound",
                    format!(
                        "{p} is a file on a client's machine; apply the pod with `skiff apply`, which uploads it"
                    ),
                ));
            }
            Err(why) => return Err(NotStarted::new("InvalidImageName", why)),
        };
        let workload = self.compiled(hex.clone()).await?;
        Ok((hex, workload))
    }

    /// The node's Wasm engine.
    pub fn host(&self) -> &Host {
        &self.host
    }
}

struct PreparedWasm {
    host: Arc<Host>,
    workload: Workload,
    http: Option<HttpPre>,
    locals: Arc<Locals>,
}

fn create_error(e: impl std::fmt::Display) -> NotStarted {
    NotStarted::new("CreateContainerError", e.to_string())
}

#[tonic::async_trait]
impl Prepared for PreparedWasm {
    async fn start(
        &self,
        sandbox: &Arc<dyn Sandbox>,
        container: &str,
        spec: StartSpec,
    ) -> Result<Box<dyn Running>, NotStarted> {
        if let Some(c) = self.workload.component() {
            capability::check(self.host.engine(), c, &spec.grants, container)
                .map_err(|m| NotStarted::new("CreateContainerConfigError", m))?;
        }
        let stdout = Output::new(spec.log.sink(Stream::Stdout));
        let stderr = Output::new(spec.log.sink(Stream::Stderr));
        if let Some(pre) = &self.http {
            let mut limits = spec.limits;
            limits.deadline = Some(limits.deadline.unwrap_or(REQUEST_DEADLINE));
            let handler = Handler::new(
                &self.host,
                pre,
                HttpSpec {
                    env: spec.env,
                    dirs: spec.mounts,
                    stdout,
                    stderr,
                    limits,
                    max_instances: MAX_INSTANCES,
                    usage: spec.usage,
                    outbound: spec.outbound,
                    grants: spec.grants,
                },
            );
            let addr = SocketAddr::new(sandbox.ip(), spec.port.unwrap_or(DEFAULT_PORT));
            let listener = bind(addr).await.map_err(create_error)?;
            let handler = Arc::new(handler);
            // The router calls the handler in-process; the pod's own address serves
            // whoever connects to it directly.
            let registration = self.locals.register(addr, handler.clone());
            let task = tokio::spawn({
                let handler = handler.clone();
                async move {
                    serve(handler, listener).await;
                    Outcome::ended(Reason::Error, 1, "the HTTP listener stopped")
                }
            });
            return Ok(Box::new(Run {
                task,
                address: Some(addr),
                server: Some((handler, registration)),
            }));
        }
        let (host, workload) = (self.host.clone(), self.workload.clone());
        // argv: `command` then `args`, or the container's name then `args`.
        let mut args = if spec.command.is_empty() {
            vec![container.to_owned()]
        } else {
            spec.command
        };
        args.extend(spec.args);
        let run_spec = RunSpec {
            args,
            env: spec.env,
            dirs: spec.mounts,
            stdout,
            stderr,
            limits: spec.limits,
            usage: spec.usage,
            grants: spec.grants,
        };
        let task = tokio::spawn(async move {
            match run(&host, &workload, run_spec).await {
                Ok(o) => o,
                Err(e) => Outcome::ended(Reason::Error, 128, e.to_string()),
            }
        });
        Ok(Box::new(Run {
            task,
            address: None,
            server: None,
        }))
    }
}

/// The router calls a pod's handler in-process.
#[tonic::async_trait]
impl LocalEndpoint for Handler {
    async fn call(self: Arc<Self>, req: Request<Body>) -> Result<Response<Body>, String> {
        self.handle(req).await.map_err(|e| format!("{e:#}"))
    }
}

/// A run in a task of its own, ended (aborted) when dropped: it lives in this process.
struct Run {
    task: JoinHandle<Outcome>,
    address: Option<SocketAddr>,
    /// An HTTP handler, and its place among the router's in-process endpoints (given back
    /// when the run stops).
    server: Option<(Arc<Handler>, Registration)>,
}

impl Drop for Run {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tonic::async_trait]
impl Running for Run {
    fn address(&self) -> Option<SocketAddr> {
        self.address
    }

    async fn wait(&mut self) -> Outcome {
        match (&mut self.task).await {
            Ok(o) => o,
            Err(e) => Outcome::ended(Reason::Error, 128, format!("the run's task ended: {e}")),
        }
    }

    /// A server stops taking requests at once and finishes those in flight within
    /// `grace`; a command has no signal to heed, so it is interrupted.
    async fn stop(&mut self, grace: Duration) -> Outcome {
        if let Some((handler, registration)) = self.server.take() {
            drop(registration);
            self.task.abort();
            let drained = tokio::time::timeout(grace, handler.drain()).await.is_ok();
            return if drained {
                Outcome::ended(Reason::Completed, 0, "stopped")
            } else {
                Outcome::ended(
                    Reason::Error,
                    137,
                    format!("requests still in flight after the {grace:?} grace period"),
                )
            };
        }
        if self.task.is_finished() {
            return self.wait().await;
        }
        self.task.abort();
        Outcome::ended(Reason::Error, 137, "stopped (interrupted)")
    }
}

/// A Wasm pod's sandbox: its loopback address, given back when removed.
struct WasmSandbox {
    ip: Mutex<Option<PodIp>>,
    addr: IpAddr,
}

#[tonic::async_trait]
impl Sandbox for WasmSandbox {
    fn ip(&self) -> IpAddr {
        self.addr
    }

    async fn remove(&self) {
        self.ip.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
